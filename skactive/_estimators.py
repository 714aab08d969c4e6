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
import torch
from sklearn.pipeline import Pipeline
from skorch import NeuralNet, NeuralNetBinaryClassifier

from skactive._threads import library_threads
from skactive._torch import numpy_dtype, parameter_dtype, seeded
from skactive._wrappers import final_step
from skactive.preprocessing import AsType


def net_dtype(net: NeuralNet) -> np.dtype:
    """The numpy dtype of a skorch net's inputs (torch's default before it is initialised)."""
    module = getattr(net, "module_", None)
    dtype = torch.get_default_dtype() if module is None else parameter_dtype(module)
    return numpy_dtype(dtype)


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


def fit_encoded(estimator, X, y_encoded, n_classes: int, *, seed=None, reseed="unset", warm=False):
    """Train ``estimator`` on labels ``0 .. n_classes - 1``: how the learner and a committee fit.

    Parameters
    ----------
    estimator : estimator
        Prepared with :func:`prepare_for_encoded_labels` here.
    X : ndarray
        Training rows, cast to a bare net's dtype here.
    y_encoded : ndarray of int
        Labels as positions in the classes.
    n_classes : int
        Number of classes.
    seed : int or None
        Seeds torch during the fit and the ``random_state`` parameters
        inside the estimator that ``reseed`` names; None touches neither.
    reseed : {"unset", "all"}
        ``"unset"``: only ``random_state`` parameters left at None take the
        seed (the learner: a seed the user chose wins). ``"all"``: every one
        does (committee members must differ).
    warm : bool
        A skorch net trains on with ``partial_fit`` instead of ``fit``.

    Returns
    -------
    estimator : estimator
        The same object, fitted.
    """
    estimator = prepare_for_encoded_labels(estimator, n_classes)
    if seed is not None:
        params = estimator.get_params(deep=True)
        names = [
            name
            for name, value in params.items()
            if name.split("__")[-1] == "random_state" and (reseed == "all" or value is None)
        ]
        estimator.set_params(**dict.fromkeys(names, int(seed)))
    X_in, y_in = estimator_input(estimator, X), estimator_targets(estimator, y_encoded)
    # A Ctrl-C stops training at once, and is not swallowed by skorch.
    with seeded(seed), interrupts_propagate(), library_threads():
        if warm and isinstance(estimator, NeuralNet):
            estimator.partial_fit(X_in, y_in)
        else:
            estimator.fit(X_in, y_in)
    return estimator


def place_columns(values: np.ndarray, columns, n_columns: int, *, fill=0.0) -> np.ndarray:
    """``values`` as the columns ``columns`` of ``n_columns``, the others ``fill``.

    An estimator trained on encoded labels that never saw a class returns
    fewer columns than there are classes; this is the one place they are
    widened (the learner's :class:`ClassSpace` and a committee's members).
    """
    out = np.full((values.shape[0], n_columns), fill, dtype=values.dtype)
    out[:, columns] = values
    return out


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
