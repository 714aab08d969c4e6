"""Batched DeepFool (Moosavi-Dezfooli, Fawzi & Frossard, CVPR 2016).

One routine attacks a whole chunk of rows at once on the network's device:
each iteration takes one forward pass and one batched backward pass for all
candidate classes of all rows still running, and rows that have crossed the
decision boundary leave the batch immediately.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from skactive import _speedups, _torch
from skactive._chunking import chunk_slices
from skactive._validation import check_random_state_param, check_rows
from skactive.param_validation import (
    BATCH_SIZE,
    integer,
    options,
    real,
    satisfies,
    validate_params,
)


def _is_interval(clip) -> bool:
    try:
        low, high = clip
    except (TypeError, ValueError):
        return False
    numbers_ = all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in (low, high))
    return numbers_ and bool(np.isfinite([low, high]).all()) and low < high


_NORM = [options(2, np.inf, description="2 or numpy.inf")]
_CLIP = [None, satisfies(_is_interval, "a pair (low, high) of numbers with low < high")]

#: What DeepFool's parameters accept, here and in DFAL.
DEEPFOOL_PARAMETER_CONSTRAINTS = {
    "max_iter": [integer(1)],
    "overshoot": [real(0.0)],
    "norm": _NORM,
    "top_k": [None, integer(2)],
    "clip": _CLIP,
}

#: What PGD's parameters accept, here and in adversarial training.
PGD_PARAMETER_CONSTRAINTS = {
    "eps": [real(0.0)],
    "step_size": [real(0.0, low_open=True)],
    "n_steps": [integer(1)],
    "norm": _NORM,
    "clip": _CLIP,
}

#: Added to every step's length, as in the reference implementation, so a
#: step lands just past the linearised boundary rather than on it.
_STEP_MARGIN = 1e-4
_TINY = 1e-12


@dataclass
class DeepFoolResult:
    """Outcome of DeepFool on a set of rows.

    Attributes
    ----------
    adversarial : ndarray of shape (n, ...)
        ``x + perturbation`` (clipped when ``clip`` was given). For rows that
        did not converge, the last iterate.
    norms : ndarray of shape (n,)
        Norm (L2 or L-inf) of ``adversarial - x``; ``inf`` where DeepFool
        did not flip the prediction within ``max_iter`` iterations or hit a
        numerical failure.
    converged : ndarray of shape (n,), bool
        Whether the prediction flipped.
    n_iter : ndarray of shape (n,)
        Gradient steps taken per row.
    original_class, adversarial_class : ndarray of shape (n,)
        Predicted class of ``x`` and of ``adversarial``.
    """

    adversarial: np.ndarray
    norms: np.ndarray
    converged: np.ndarray
    n_iter: np.ndarray
    original_class: np.ndarray
    adversarial_class: np.ndarray


def deepfool(
    model,
    X,
    *,
    max_iter: int = 50,
    overshoot: float = 0.02,
    norm: float = 2,
    top_k: int | None = None,
    clip: tuple[float, float] | None = None,
    batch_size: int | None = None,
) -> DeepFoolResult:
    """Minimal adversarial perturbations of ``X`` by DeepFool.

    Parameters
    ----------
    model : torch.nn.Module, TorchNetwork or fitted estimator holding a skorch net
        Must return logits (a skorch net whose module returns probabilities
        is handled through log-probabilities). For an estimator, the pool is
        first passed through any earlier ``Pipeline`` steps, and the result
        is in the network's input space.
    X : array-like of shape (n, ...)
        Rows to attack.
    max_iter : int, default=50
        Gradient steps per row before giving up (its norm is then ``inf``).
    overshoot : float, default=0.02
        The adversarial example is ``x + (1 + overshoot) * r`` where ``r``
        is the accumulated DeepFool perturbation (applied once, to the total).
    norm : {2, inf}, default=2
        Norm of the perturbation (``inf`` gives the L-inf variant).
    top_k : int, default=None
        Consider only the ``top_k`` classes with the largest initial logits
        (the predicted one included), as the DeepFool authors do for many
        classes. None: all classes.
    clip : (float, float), default=None
        Bounds of valid inputs, e.g. ``(0, 1)`` for images.
    batch_size : int, default=None
        Rows attacked together; bounds memory. None: 128 on CPU (cache
        friendly), 1024 on a GPU.

    Returns
    -------
    result : DeepFoolResult
    """

    validate_params(
        dict(max_iter=max_iter, overshoot=overshoot, norm=norm, top_k=top_k, clip=clip),
        DEEPFOOL_PARAMETER_CONSTRAINTS,
    )
    if not isinstance(X, torch.Tensor):
        X = check_rows(X, name="X")
    logits_fn, to_input, module, _ = attack_target(model, what="deepfool")
    batch_size = _torch.batch_size_on(_torch.module_device(module), batch_size)

    parts = []
    with _torch.evaluation_mode(module), _speedups.cpu_channels_last(module) as nhwc:
        for rows in chunk_slices(len(X), batch_size):
            x = to_input(X[rows])
            if nhwc and x.dim() == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            parts.append(
                deepfool_batch(
                    logits_fn,
                    x,
                    max_iter=max_iter,
                    overshoot=overshoot,
                    norm=norm,
                    top_k=top_k,
                    clip=clip,
                )
            )
    return _concatenate(parts)


def deepfool_screen(
    model, X, *, norm: float = 2, n_classes: int = 1, batch_size: int | None = None
) -> np.ndarray:
    """DeepFool's first linearised step, as a cheap estimate of each row's distance.

    For each row, the distance to the nearest of the ``n_classes`` runner-up
    classes' linearised boundaries, ``(f_p - f_k) / ||grad (f_k - f_p)||``
    (the dual norm of ``norm``), which is DeepFool's first step restricted
    to those classes: exact for a linear model, a ranking proxy otherwise.
    It costs one forward pass and ``n_classes`` backward passes per batch,
    about ``n_classes + 2`` forward passes, against DeepFool's several
    iterations of a forward pass and one backward pass per class.

    Parameters
    ----------
    model, X, norm, batch_size : see :func:`deepfool`
    n_classes : int, default=1
        Runner-up classes considered (by logit).

    Returns
    -------
    distances : ndarray of shape (n,)
        ``inf`` where every considered gradient is zero.
    """
    validate_params(
        {"norm": norm, "n_classes": n_classes, "batch_size": batch_size},
        {"norm": _NORM, "n_classes": [integer(1)], "batch_size": BATCH_SIZE},
    )
    if not isinstance(X, torch.Tensor):
        X = check_rows(X, name="X")
    logits_fn, to_input, module, _ = attack_target(model, what="the DeepFool screen")
    batch_size = _torch.batch_size_on(_torch.module_device(module), batch_size)
    dual = 1 if norm == np.inf else 2
    parts = []
    with _torch.evaluation_mode(module):
        for rows in chunk_slices(len(X), batch_size):
            x = to_input(X[rows]).detach().requires_grad_(True)
            logits = logits_fn(x)
            top = logits.topk(min(n_classes + 1, logits.shape[1]), dim=1).indices
            best = logits.gather(1, top[:, :1])
            distance = torch.full((len(x),), float("inf"), dtype=torch.float64)
            for j in range(1, top.shape[1]):
                # Rows are independent in eval mode: one backward gives every row's gradient.
                gap = (best - logits.gather(1, top[:, j : j + 1])).squeeze(1)
                (gradient,) = torch.autograd.grad(gap.sum(), x, retain_graph=j < top.shape[1] - 1)
                length = gradient.flatten(1).norm(p=dual, dim=1).double()
                step = (gap.detach().double() / length).cpu()
                step[~torch.isfinite(step)] = float("inf")
                distance = torch.minimum(distance, step)
            parts.append(distance.numpy())
    return np.concatenate(parts) if parts else np.empty(0)


def deepfool_batch(
    logits_fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    *,
    max_iter: int = 50,
    overshoot: float = 0.02,
    norm: float = 2,
    top_k: int | None = None,
    clip: tuple[float, float] | None = None,
) -> DeepFoolResult:
    """DeepFool on one batch ``x`` already on the model's device.

    The model must be in eval mode (batch-norm statistics frozen) so rows do
    not interact. See :func:`deepfool` for the parameters.
    """
    validate_params(
        dict(max_iter=max_iter, overshoot=overshoot, norm=norm, top_k=top_k, clip=clip),
        DEEPFOOL_PARAMETER_CONSTRAINTS,
    )
    x = x.detach()
    n = x.shape[0]
    with torch.no_grad():
        logits0 = logits_fn(x)
    n_classes = logits0.shape[1]
    k = n_classes if top_k is None else min(top_k, n_classes)
    # Candidate classes per row, the predicted one first.
    classes = logits0.topk(k, dim=1).indices
    original = classes[:, 0]
    others = classes[:, 1:]

    r_total = torch.zeros_like(x)
    n_iter = torch.zeros(n, dtype=torch.long, device=x.device)
    adv_class = original.clone()
    active = torch.arange(n, device=x.device)
    scale = 1.0 + overshoot
    for step in range(max_iter + 1):
        if step > 0 or clip is not None:
            # A gradient-free check first: the costly backward pass then runs
            # only on rows that have not crossed the boundary yet.
            with torch.no_grad():
                pred = logits_fn(_perturb(x[active], r_total[active], scale, clip)).argmax(dim=1)
            adv_class[active] = pred
            active = active[pred == original[active]]
        if step == max_iter or active.numel() == 0:
            break
        x_adv = _perturb(x[active], r_total[active], scale, clip).requires_grad_(True)
        r_total[active] += _step(logits_fn(x_adv), x_adv, original[active], others[active], norm)
        n_iter[active] += 1

    x_adv = _perturb(x, r_total, scale, clip).detach()
    diff = (x_adv - x).flatten(1)
    norms = diff.norm(p=norm, dim=1).double()
    converged = adv_class != original
    bad = ~converged | ~torch.isfinite(norms)
    norms[bad] = torch.inf
    return DeepFoolResult(
        adversarial=x_adv.cpu().numpy(),
        norms=norms.cpu().numpy(),
        converged=(converged & ~bad).cpu().numpy(),
        n_iter=n_iter.cpu().numpy(),
        original_class=original.cpu().numpy(),
        adversarial_class=adv_class.cpu().numpy(),
    )


def _perturb(x, r, scale, clip):
    x_adv = x + scale * r
    return x_adv if clip is None else x_adv.clamp(clip[0], clip[1])


def _step(logits, x_adv, original, others, norm):
    """DeepFool's update for every row of the working batch.

    For each candidate class k: w_k = grad(f_k - f_orig), f_k = f_k - f_orig;
    the nearest linearised boundary is argmin_k |f_k| / ||w_k||_q (q the dual
    norm), and the step moves onto it (plus a small margin).
    """
    n_rows, n_other = others.shape
    # grad_outputs[j] selects logit(other_j) - logit(original) of every row:
    # one vector-Jacobian product per class, the minimum for reverse mode.
    grad_out = torch.zeros((n_other, *logits.shape), dtype=logits.dtype, device=logits.device)
    rows = torch.arange(n_rows, device=logits.device).unsqueeze(0).expand(n_other, n_rows)
    grad_out[torch.arange(n_other).unsqueeze(1), rows, others.T] = 1.0
    grad_out[torch.arange(n_other).unsqueeze(1), rows, original.unsqueeze(0)] = -1.0
    w = _input_gradients(logits, x_adv, grad_out).flatten(2).transpose(0, 1)
    logits = logits.detach()
    f = logits.gather(1, others) - logits.gather(1, original.unsqueeze(1))

    dual = 1 if norm == np.inf else 2
    w_norm = w.norm(p=dual, dim=2)
    distance = f.abs() / (w_norm + _TINY)
    best = distance.argmin(dim=1, keepdim=True)  # running minimum over classes
    length = (distance.gather(1, best).squeeze(1) + _STEP_MARGIN).unsqueeze(1)
    w_best = w.gather(1, best.unsqueeze(2).expand(-1, 1, w.shape[2])).squeeze(1)
    if norm == np.inf:
        direction = w_best.sign()
    else:
        direction = w_best / (w_best.norm(dim=1, keepdim=True) + _TINY)
    return (length * direction).view(-1, *x_adv.shape[1:]).detach()


def _input_gradients(logits, x, grad_out) -> torch.Tensor:
    """Stack of ``grad_out[j]``-weighted input gradients, shape (n_other, *x.shape)."""
    if x.device.type == "cuda":
        # One vmapped backward: fewer kernel launches per iteration.
        return torch.autograd.grad(logits, x, grad_out, is_grads_batched=True)[0]
    # On CPU, plain backward passes over the retained graph beat the vmapped
    # one by 25-40 % (LeNet5, torch 2.13, 2 threads).
    last = len(grad_out) - 1
    return torch.stack(
        [
            torch.autograd.grad(logits, x, g, retain_graph=j < last)[0]
            for j, g in enumerate(grad_out)
        ]
    )


def _concatenate(parts: list[DeepFoolResult]) -> DeepFoolResult:
    return DeepFoolResult(
        *(
            np.concatenate([getattr(p, f) for p in parts])
            for f in DeepFoolResult.__dataclass_fields__
        )
    )


def fgsm(model, X, y, *, eps: float, norm: float = np.inf, clip=None, batch_size=None):
    """Fast gradient (sign) method: one step of length ``eps`` up the loss.

    Goodfellow, Shlens & Szegedy, "Explaining and Harnessing Adversarial
    Examples", ICLR 2015. With ``norm=np.inf`` the step is ``eps *
    sign(grad)``; with ``norm=2`` it is ``eps * grad / ||grad||``. It is
    :func:`pgd` with one step of size ``eps`` and no random start.

    Parameters
    ----------
    model, X, y, eps, norm, clip, batch_size : see :func:`pgd`

    Returns
    -------
    adversarial : ndarray of shape (n, ...)
        In the network's input space (after any earlier pipeline steps).
    """
    # With eps = 0 any step is projected away; 1.0 only keeps step_size valid.
    step_size = eps if isinstance(eps, numbers.Real) and eps > 0 else 1.0
    return pgd(
        model,
        X,
        y,
        eps=eps,
        step_size=step_size,
        n_steps=1,
        norm=norm,
        clip=clip,
        batch_size=batch_size,
    )


def pgd(
    model,
    X,
    y,
    *,
    eps: float,
    step_size: float,
    n_steps: int,
    norm: float = np.inf,
    random_start: bool = False,
    clip=None,
    random_state=None,
    batch_size: int | None = None,
) -> np.ndarray:
    """Projected gradient descent on the loss (Madry et al., ICLR 2018).

    Each of ``n_steps`` steps moves every row by ``step_size`` along the sign
    (L-inf) or the direction (L2) of the gradient of its cross-entropy loss
    at its true label, then projects back onto the ``eps``-ball around the
    clean row and into ``clip``. Rows are attacked in batches on the
    network's device, the network in eval mode (batch-norm statistics
    frozen, dropout off), every module's mode restored afterwards.

    Parameters
    ----------
    model : torch.nn.Module or fitted estimator holding a skorch net
        For an estimator (a net, a ``Pipeline`` ending in one, a search or
        an :class:`~skactive.ActiveLearner`), ``X`` is first passed through
        any earlier pipeline steps, and ``y`` holds the estimator's class
        labels; for a bare module, ``y`` holds output indices.
    X : array-like of shape (n, ...)
    y : array-like of shape (n,)
        True labels: the attack raises their loss.
    eps : float
        Radius of the ball, in input units (e.g. 0.3 on [0, 1] pixels).
    step_size : float
    n_steps : int
    norm : {inf, 2}, default=inf
    random_start : bool, default=False
        Start from a uniformly random point of the L-inf ball (for L2, a
        random direction at a uniformly random radius).
    clip : (float, float), default=None
        Bounds of valid inputs, e.g. ``(0, 1)``.
    random_state : int, RandomState instance or None, default=None
        Seeds the random start.
    batch_size : int, default=None
        Rows per batch (None: 128 on CPU, 1024 on a GPU).

    Returns
    -------
    adversarial : ndarray of shape (n, ...)
        In the network's input space.
    """

    validate_params(
        dict(eps=eps, step_size=step_size, n_steps=n_steps, norm=norm, clip=clip),
        PGD_PARAMETER_CONSTRAINTS,
    )
    rng = check_random_state_param(random_state)
    X = check_rows(X, name="X")
    logits_fn, to_input, module, classes = attack_target(model)
    targets = label_indices(y, classes, len(X))
    batch_size = _torch.batch_size_on(_torch.module_device(module), batch_size)
    parts = []
    with _torch.evaluation_mode(module):
        for rows in chunk_slices(len(X), batch_size):
            x = to_input(X[rows])
            target = torch.as_tensor(targets[rows], device=x.device)
            start = _random_start(x, eps, norm, rng) if random_start else None
            parts.append(
                pgd_batch(logits_fn, x, target, eps, step_size, n_steps, norm, clip, start)
                .cpu()
                .numpy()
            )
    return np.concatenate(parts)


def pgd_batch(logits_fn, x, target, eps, step_size, n_steps, norm, clip=None, start=None):
    """PGD on one batch already on the model's device (model in eval mode).

    ``start`` is an optional initial perturbation (inside the ball). See
    :func:`pgd` for the parameters.
    """
    x = x.detach()
    delta = torch.zeros_like(x) if start is None else start.to(x)
    x_adv = _project(x, x + delta, eps, norm, clip)
    for _ in range(n_steps):
        x_adv.requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(logits_fn(x_adv), target, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x_adv)
        with torch.no_grad():
            if norm == np.inf:
                step = grad.sign()
            else:
                flat = grad.flatten(1).norm(dim=1).clamp_min(_TINY)
                step = grad / flat.view(-1, *([1] * (grad.dim() - 1)))
            x_adv = _project(x, x_adv + step_size * step, eps, norm, clip)
    return x_adv.detach()


def _project(x, x_adv, eps, norm, clip):
    """Back onto the ``eps``-ball around ``x``, then into ``clip``."""
    with torch.no_grad():
        delta = x_adv - x
        if norm == np.inf:
            delta = delta.clamp(-eps, eps)
        else:
            length = delta.flatten(1).norm(dim=1).clamp_min(_TINY)
            factor = (eps / length).clamp(max=1.0)
            delta = delta * factor.view(-1, *([1] * (delta.dim() - 1)))
        out = x + delta
        return out if clip is None else out.clamp(clip[0], clip[1])


def _random_start(x, eps, norm, rng) -> torch.Tensor:
    shape = tuple(x.shape)
    if norm == np.inf:
        delta = rng.uniform(-eps, eps, size=shape)
    else:
        direction = rng.standard_normal(size=shape).reshape(shape[0], -1)
        direction /= np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), _TINY)
        radius = eps * rng.uniform(size=(shape[0], 1))
        delta = (direction * radius).reshape(shape)
    return torch.as_tensor(delta, dtype=x.dtype, device=x.device)


def attack_target(model, *, what: str = "the attack"):
    """(logits function, rows -> input tensor, module, classes or None) of ``model``.

    ``model`` is a bare module (returning logits), a TorchNetwork or an
    estimator holding a skorch net; the torch adapter decides the device
    and dtype of the inputs.
    """
    if isinstance(model, torch.nn.Module):
        return model, _torch.module_input(model), model, None
    network = model
    if not isinstance(network, _torch.TorchNetwork):
        network = _torch.find_network(model, what=what)
    classes = getattr(model, "classes_", None)
    return network.logits, network.to_input, network.module, classes


def label_indices(y, classes, n_rows: int) -> np.ndarray:
    """Output index of every label; an error names ``y`` for an unknown label."""
    y = np.asarray(y)
    if y.shape != (n_rows,):
        raise ValueError(f"y must have shape ({n_rows},), one label per row of X; got {y.shape}")
    if classes is None:
        if y.dtype.kind not in "iu" or (n_rows and y.min() < 0):
            raise ValueError("y: a bare module needs labels that are output indices 0, 1, ...")
        return y.astype(np.int64)
    classes = np.asarray(classes)
    positions = np.clip(np.searchsorted(classes, y), 0, len(classes) - 1)
    unknown = classes[positions] != y
    if unknown.any():
        raise ValueError(
            f"y: labels {np.unique(y[unknown])[:10].tolist()} are not among the estimator's "
            f"classes {classes.tolist()[:20]}"
        )
    return positions.astype(np.int64)
