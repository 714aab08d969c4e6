"""EGL: expected gradient length.

References: B. Settles, M. Craven and S. Ray, "Multiple-Instance Active
Learning", NIPS 2008; J. Zhang et al. style EGL for deep networks as in
Y. Zhang, M. Lease and B. C. Wallace, "Active Discriminative Text
Representation Learning", AAAI 2017.
"""

from __future__ import annotations

import threading
from typing import ClassVar

import numpy as np
import torch
from torch.func import functional_call, grad, vmap

from skactive import _torch
from skactive.base import QueryStrategy
from skactive.param_validation import options

_PARAMETER_SETS = ("all", "last_layer")
_FUNCTORCH_LOCK = threading.Lock()


class EGL(QueryStrategy):
    """Select rows whose expected training gradient is largest.

    For a row ``x`` the score is ``sum_k p(k|x) * ||grad_theta L(x, k)||``:
    the norm of the gradient of the cross-entropy loss, taken *per sample*
    as if ``x`` had label ``k``, weighted by the model's belief in ``k``.

    Parameters
    ----------
    parameters : {"all", "last_layer"}, default="all"
        Which parameters ``theta`` the gradient is taken over. ``"all"``:
        every parameter with ``requires_grad`` (weights and biases of all
        layers, batch-norm scales and shifts included), with per-sample
        gradients from ``torch.func`` (``vmap`` of ``grad``), one class at a
        time. ``"last_layer"``: only the weight and bias of the last
        ``nn.Linear``, in closed form
        ``||grad||^2 = ||p - e_k||^2 (||h||^2 + 1)`` with ``h`` its input;
        much faster, and requires that layer to produce the logits.
    candidates : int, default=None
        Score only a random subset of this many pool rows (None: all).
    chunk_size : int, default=None
        Rows per chunk of the pool: what one joblib worker scores at a time
        (``n_jobs``) and the progress bar's step; bounds memory whatever the
        pool size (None: 1024).
    batch_size : int, default=None
        Rows per vectorised gradient batch (None: 64 on CPU, 512 on a GPU
        for ``"all"``; 128 / 1024 for ``"last_layer"``).
    n_jobs : int, default=None
        Workers scoring chunks in parallel through joblib (None: one, unless
        a ``joblib.parallel_backend`` context such as ``"dask"`` is active).
    random_state : int, RandomState instance or None, default=None
        Seed for the candidate subset and tie-breaking.

    Attributes
    ----------
    candidates_, indices_, extras_ : see :class:`~skactive.QueryStrategy`
    scores_ : ndarray of shape (n_candidates,)
        Expected gradient lengths (larger is more informative).
    """

    _skactive_constraints: ClassVar[dict[str, list]] = {
        "parameters": [options(*_PARAMETER_SETS)],
    }

    def __init__(
        self,
        *,
        parameters: str = "all",
        candidates: int | None = None,
        chunk_size: int | None = None,
        batch_size: int | None = None,
        n_jobs: int | None = None,
        random_state=None,
    ):
        self.parameters = parameters
        self.candidates = candidates
        self.chunk_size = chunk_size
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.random_state = random_state

    def prepare(self, estimator):
        return _torch.find_network(estimator, what="EGL")

    def score_rows(self, network, X_chunk: np.ndarray) -> np.ndarray:
        # Gradients of every parameter hold two passes per row at once.
        batch = network.batch_size_for(
            self.batch_size, per_row_cost=2 if self.parameters == "all" else 1
        )
        score = _all_parameters if self.parameters == "all" else _last_layer
        out = []
        with _torch.evaluation_mode(network.module):
            for start in range(0, len(X_chunk), batch):
                out.append(score(network, network.to_input(X_chunk[start : start + batch])))
        return torch.cat(out).double().cpu().numpy()


def _all_parameters(network, x: torch.Tensor) -> torch.Tensor:
    module = network.module
    params = {k: v.detach() for k, v in module.named_parameters() if v.requires_grad}
    frozen = {k: v.detach() for k, v in module.named_parameters() if not v.requires_grad}
    buffers = dict(module.named_buffers())

    def loss(theta, row, label):
        out = functional_call(module, ({**theta, **frozen}, buffers), (row.unsqueeze(0),))
        return torch.nn.functional.cross_entropy(network.as_logits(out), label.unsqueeze(0))

    per_sample_grad = vmap(grad(loss), in_dims=(None, 0, 0))
    with torch.no_grad():
        proba = torch.softmax(network.logits(x), dim=1)
    expected = torch.zeros(len(x), dtype=proba.dtype, device=x.device)
    # torch.func's transform stack is not thread-safe: chunks scored by
    # joblib's threading backend take turns here (processes run in parallel).
    with _FUNCTORCH_LOCK:
        for k in range(proba.shape[1]):
            labels = torch.full((len(x),), k, dtype=torch.long, device=x.device)
            grads = per_sample_grad(params, x, labels)
            sq_norm = sum(g.detach().flatten(1).pow(2).sum(dim=1) for g in grads.values())
            expected += proba[:, k] * sq_norm.sqrt()
    return expected


def _last_layer(network, x: torch.Tensor) -> torch.Tensor:
    try:
        h, logits, layer = _torch.last_layer_features(network, x)
    except ValueError as exc:
        raise ValueError(f"parameters='last_layer': {exc}; use parameters='all'") from exc
    proba = torch.softmax(logits, dim=1)
    # ||p - e_k||^2 = ||p||^2 - 2 p_k + 1 for every class k at once.
    residual = (proba.pow(2).sum(dim=1, keepdim=True) - 2 * proba + 1).clamp_min(0)
    if network.is_binary:
        # One output unit: the gradient reaching it is p_1 - [k = 1], whose
        # square is half of ||p - e_k||^2 over the two columns.
        residual = residual / 2
    scale = h.pow(2).sum(dim=1, keepdim=True) + (1.0 if layer.bias is not None else 0.0)
    return (proba * (residual * scale).sqrt()).sum(dim=1)
