"""Preparing any classifier to train on labels encoded as 0 .. K-1.

The learner and the committee both train wrapped estimators on encoded
labels; these helpers make a skorch net (alone or ending a ``Pipeline``)
accept them, and its rows, whatever their dtype.
"""

from __future__ import annotations

import contextlib
import signal
import threading

import numpy as np
from sklearn.pipeline import Pipeline
from skorch import NeuralNet, NeuralNetBinaryClassifier

from skactive.preprocessing import AsType


def final_step(estimator):
    """The last step of a ``Pipeline``, or the estimator itself."""
    return estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator


def net_dtype(net: NeuralNet) -> np.dtype:
    """The dtype of the net's floating parameters (float32 before it is initialised)."""
    module = getattr(net, "module_", None)
    if module is not None:
        for param in module.parameters():
            if param.is_floating_point():
                return np.dtype(str(param.dtype).removeprefix("torch."))
    return np.dtype(np.float32)


def prepare_for_encoded_labels(estimator, n_classes: int):
    """Make ``estimator`` train on labels ``0 .. n_classes - 1`` and on any numeric rows.

    An estimator with a ``classes`` parameter (a skorch net, a
    :class:`~skactive.Committee`) is told every class (skorch infers them from ``y``, so a
    class missing from the training rows would shrink its ``classes_``), a
    ``NeuralNetBinaryClassifier`` is refused for other than 2 classes, and a
    ``Pipeline`` ending in a net gets an :class:`~skactive.preprocessing.AsType`
    step before the net (transformers return float64, which torch refuses
    next to float32 weights). Other estimators are returned unchanged.

    Raises
    ------
    ValueError
        Naming ``classes``, for a binary net and ``n_classes != 2``.
    """
    net = final_step(estimator)
    if not isinstance(net, NeuralNet):
        # A meta-estimator that takes every class up front (a Committee) learns them here.
        if "classes" in estimator.get_params(deep=False):
            estimator.set_params(classes=list(range(n_classes)))
        return estimator
    if isinstance(net, NeuralNetBinaryClassifier) and n_classes != 2:
        raise ValueError(
            f"classes: a NeuralNetBinaryClassifier separates exactly 2 classes, got "
            f"{n_classes}; use a NeuralNetClassifier"
        )
    if "classes" in net.get_params(deep=False):
        net.set_params(classes=list(range(n_classes)))
    steps = estimator.steps if isinstance(estimator, Pipeline) else []
    if len(steps) > 1 and not isinstance(steps[-2][1], AsType):
        estimator.set_params(steps=[*steps[:-1], ("as_net_dtype", AsType()), steps[-1]])
    return estimator


def estimator_input(estimator, X: np.ndarray) -> np.ndarray:
    """``X`` in the dtype of a bare skorch net; unchanged for anything else."""
    if isinstance(estimator, NeuralNet):
        return X.astype(net_dtype(estimator), copy=False)
    return X


def estimator_targets(estimator, y_encoded: np.ndarray) -> np.ndarray:
    """Encoded labels as the estimator trains on them (floats for a one-output net)."""
    if isinstance(final_step(estimator), NeuralNetBinaryClassifier):
        return y_encoded.astype(np.float32)
    return y_encoded


@contextlib.contextmanager
def interrupts_propagate():
    """Re-raise a Ctrl-C that skorch's training loop caught and swallowed.

    skorch ends ``fit`` early on ``KeyboardInterrupt`` and returns normally;
    a learner would then install a half-trained model. While this context
    is active (in the main thread), SIGINT is recorded, and the interrupt
    is raised again when the block returns.
    """
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or not callable(previous):
        yield
        return
    interrupted = []

    def handler(signum, frame):
        try:
            previous(signum, frame)
        except KeyboardInterrupt:
            interrupted.append(signum)
            raise

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if interrupted:
        raise KeyboardInterrupt
