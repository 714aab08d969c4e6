"""Robust accuracy: accuracy on adversarial versions of the test rows."""

from __future__ import annotations

import numpy as np
import torch

from skactive import _torch
from skactive._validation import check_rows
from skactive.attacks import PGD_PARAMETER_CONSTRAINTS, attack_target, fgsm, label_indices, pgd
from skactive.param_validation import BATCH_SIZE, integer, options, validate_params

# The attack checks its own eps, step, norm and clip pair.
_ROBUST_ACCURACY_CONSTRAINTS = {
    "attack": [options("pgd", "fgsm")],
    "n_steps": [integer(1)],
    "clip": [options("auto", description="'auto'"), None, *PGD_PARAMETER_CONSTRAINTS["clip"][1:]],
    "batch_size": BATCH_SIZE,
}


def robust_accuracy(
    estimator,
    X,
    y,
    *,
    eps: float,
    attack: str = "pgd",
    n_steps: int = 50,
    step_size: float | None = None,
    norm: float = np.inf,
    random_start: bool = True,
    clip="auto",
    random_state=None,
    batch_size: int | None = None,
) -> float:
    """Share of rows still classified correctly after an attack within ``eps``.

    Each row is attacked at its true label (:func:`skactive.attacks.pgd` or
    :func:`~skactive.attacks.fgsm`) and the network's prediction on the
    adversarial row is compared with the label. The defaults follow the
    robust active learning reference (Guo et al., 2021): PGD with 50 steps
    and a random start; the step defaults to ``2.5 * eps / n_steps``
    (Madry et al.'s rule).

    Parameters
    ----------
    estimator : fitted estimator holding a skorch net
        A net, a ``Pipeline`` ending in one, a search, or an
        :class:`~skactive.ActiveLearner`.
    X : array-like of shape (n, ...)
    y : array-like of shape (n,)
        Labels from the estimator's classes.
    eps : float
        Attack radius in the network's input units (0.3 on [0, 1] pixels is
        the reference's Fashion-MNIST setting); 0 gives the clean accuracy.
    attack : {"pgd", "fgsm"}, default="pgd"
    n_steps : int, default=50
    step_size : float, default=None
    norm : {inf, 2}, default=inf
    random_start : bool, default=True
    clip : "auto", (float, float) or None, default="auto"
        Bounds of the *network's inputs*: every adversarial input is
        clipped into them. ``"auto"`` is ``(0, 1)`` (image pixels) when the
        network receives the rows of ``X`` as they are, and ``None`` (no
        clipping) when earlier ``Pipeline`` steps transform them (a
        ``StandardScaler``'s outputs are not bounded by 0 and 1). Pass
        bounds in the network's input space, or ``None`` for unbounded
        inputs. With ``eps=0`` and ``"auto"`` the result is the clean
        accuracy.
    random_state : int, RandomState instance or None, default=None
    batch_size : int, default=None

    Returns
    -------
    accuracy : float
    """
    validate_params(
        dict(attack=attack, n_steps=n_steps, clip=clip, batch_size=batch_size),
        _ROBUST_ACCURACY_CONSTRAINTS,
    )
    if isinstance(clip, str):
        clip = _auto_clip(estimator, X)
    if attack == "fgsm":
        adversarial = fgsm(estimator, X, y, eps=eps, norm=norm, clip=clip, batch_size=batch_size)
    else:
        if step_size is None:
            step_size = 2.5 * eps / n_steps if eps > 0 else 1.0
        adversarial = pgd(
            estimator,
            X,
            y,
            eps=eps,
            step_size=step_size,
            n_steps=n_steps,
            norm=norm,
            random_start=random_start,
            clip=clip,
            random_state=random_state,
            batch_size=batch_size,
        )
    logits_fn, _, module, classes = attack_target(estimator)
    targets = label_indices(y, classes, len(adversarial))
    # The adversarial rows are already in the module's input space (past any
    # Pipeline steps), so they are only converted, never transformed again.
    to_input = _torch.module_input(module)
    correct = 0
    size = _torch.batch_size_on(_torch.module_device(module), batch_size)
    with _torch.evaluation_mode(module), torch.no_grad():
        for start in range(0, len(adversarial), size):
            x = to_input(adversarial[start : start + size])
            predicted = logits_fn(x).argmax(dim=1).cpu().numpy()
            correct += int((predicted == targets[start : start + size]).sum())
    return correct / len(adversarial)


def _auto_clip(estimator, X):
    """(0, 1) when the network's inputs are the rows themselves, else None.

    Decided on the first rows: a pipeline step that only casts the dtype
    (:class:`~skactive.preprocessing.AsType`) keeps them, a scaler does not.
    """
    if isinstance(estimator, torch.nn.Module):
        return (0.0, 1.0)
    transform = _torch.find_network(estimator, what="robust_accuracy").transform
    if transform is None:
        return (0.0, 1.0)
    probe = np.asarray(check_rows(X, name="X")[:8], dtype=np.float64)
    moved = np.asarray(transform(probe), dtype=np.float64)
    same = moved.shape == probe.shape and np.allclose(moved, probe, rtol=1e-6, atol=1e-6)
    return (0.0, 1.0) if same else None


def robust_accuracy_scorer(*, eps: float, **attack_params):
    """A scikit-learn scorer: ``scorer(estimator, X, y) -> robust accuracy``.

    Use it as ``scoring=`` in ``cross_val_score`` or ``GridSearchCV``;
    ``attack_params`` go to :func:`robust_accuracy`.
    """

    def scorer(estimator, X, y):
        return robust_accuracy(estimator, X, y, eps=eps, **attack_params)

    scorer.__name__ = f"robust_accuracy(eps={eps})"
    return scorer
