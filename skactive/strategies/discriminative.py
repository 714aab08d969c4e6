"""Discriminative Active Learning: query what a classifier tells apart from the labelled set.

Reference: D. Gissin and S. Shalev-Shwartz, "Discriminative Active
Learning", arXiv:1907.06347, 2019 (``DiscriminativeRepresentationSampling``
of the authors' code, "the one which performs best in practice").
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch import nn

from skactive import _torch
from skactive._chunking import RowView
from skactive._inference import embed_rows
from skactive._validation import draw_seed
from skactive.base import QueryStrategy, rank_scores
from skactive.param_validation import integer, real


def class_weights(n_labeled: int, n_unlabeled: int) -> tuple[float, float]:
    """Inverse-frequency weights ``N / N_c`` of the labelled (0) and unlabelled (1) classes."""
    total = n_labeled + n_unlabeled
    return total / n_labeled, total / n_unlabeled


class DiscriminativeAL(QueryStrategy):
    """Query the rows a binary classifier most confidently calls "unlabelled".

    Rows are embedded by the task network (the input of its last linear
    layer by default; the raw features for an estimator that is not a
    skorch net). The batch is built in ``n_subqueries`` steps; each step
    trains a fresh MLP (three hidden layers) to tell the labelled rows
    (class 0) from a random subsample of ``unlabeled_factor`` times as many
    unlabelled rows (class 1), with inverse-frequency class weights and
    early stopping once its training accuracy exceeds ``stop_accuracy``,
    then moves the subsample rows of highest ``P(unlabelled)`` to the
    labelled side. Rows unlike anything labelled are taken first.

    Parameters
    ----------
    n_subqueries : int, default=10
        Steps per batch (the reference's ``sub_batches``); a batch of
        ``n < n_subqueries`` rows uses ``n`` steps (the reference loops for
        ever there).
    layer : str, default=None
        Submodule whose output is the embedding (None: the input of the last
        ``nn.Linear``). Must be None for an estimator that is not a skorch net.
    unlabeled_factor : int, default=10
        Each step's unlabelled subsample holds this many times as many rows
        as the labelled side (the whole remaining pool when smaller).
    max_unlabeled : int, default=20000
        Upper bound of that subsample.
    hidden : int, default=256
        Width of the MLP's hidden layers (20 when the embedding has fewer
        than 30 dimensions, as in the reference).
    max_epochs : int, default=200
    learning_rate : float, default=1e-4
        Adam's step size.
    train_batch_size : int, default=128
        Rows per optimisation step of the MLP.
    stop_accuracy : float, default=0.98
        Stop training at the end of the first epoch whose (unweighted)
        training accuracy exceeds this.
    candidates : int, default=None
        Consider only a random subset of this many pool rows (None: all).
    random_state : int, RandomState instance or None, default=None
        Seeds the candidate subset, every subsample, and each MLP's
        initialisation and batch order.

    Attributes
    ----------
    candidates_, indices_, extras_ : see :class:`~skactive.QueryStrategy`
    scores_ : None
        Rows are not scored once: each step scores its own subsample.
    epochs_ : list of int
        Epochs each step's MLP trained for.
    """

    _skactive_constraints: ClassVar[dict[str, list]] = {
        "n_subqueries": [integer(1)],
        "unlabeled_factor": [integer(1)],
        "max_unlabeled": [integer(1)],
        "hidden": [integer(1)],
        "max_epochs": [integer(1)],
        "train_batch_size": [integer(1)],
        "learning_rate": [real(0.0, low_open=True)],
        "stop_accuracy": [real(0.0, 1.0, low_open=True)],
    }

    def __init__(
        self,
        *,
        n_subqueries: int = 10,
        layer: str | None = None,
        unlabeled_factor: int = 10,
        max_unlabeled: int = 20000,
        hidden: int = 256,
        max_epochs: int = 200,
        learning_rate: float = 1e-4,
        train_batch_size: int = 128,
        stop_accuracy: float = 0.98,
        candidates: int | None = None,
        random_state=None,
    ):
        self.n_subqueries = n_subqueries
        self.layer = layer
        self.unlabeled_factor = unlabeled_factor
        self.max_unlabeled = max_unlabeled
        self.hidden = hidden
        self.max_epochs = max_epochs
        self.learning_rate = learning_rate
        self.train_batch_size = train_batch_size
        self.stop_accuracy = stop_accuracy
        self.candidates = candidates
        self.random_state = random_state

    def rank_candidates(self, model, X_pool, candidates, n, rng, X_labeled=None, y_labeled=None):
        if X_labeled is None or len(X_labeled) == 0:
            raise ValueError(
                "X_labeled: DiscriminativeAL needs the labelled rows (it learns to tell "
                "them from the pool); pass X_labeled, or query through ActiveLearner"
            )
        points = embed_rows(model, RowView(X_pool, candidates), layer=self.layer)
        labeled = embed_rows(model, X_labeled, layer=self.layer)
        device = _torch.device_of(model)
        unlabeled = np.ones(len(points), dtype=bool)
        picks, self.epochs_ = [], []
        for size in _split(n, min(int(self.n_subqueries), n)):
            pool_rows = np.flatnonzero(unlabeled)
            wanted = int(self.unlabeled_factor) * len(labeled)
            subsample = np.sort(
                rng.choice(
                    pool_rows, min(wanted, int(self.max_unlabeled), len(pool_rows)), replace=False
                )
            )
            p_unlabeled, epochs = self._fit_and_score(
                labeled, points[subsample], device, draw_seed(rng)
            )
            self.epochs_.append(epochs)
            chosen = subsample[rank_scores(p_unlabeled, size, greater_is_better=True, rng=rng)]
            picks.extend(chosen.tolist())
            unlabeled[chosen] = False
            labeled = np.concatenate([labeled, points[chosen]])
        return np.asarray(picks, dtype=np.intp), None

    def _fit_and_score(self, labeled, unlabeled, device, seed) -> tuple[np.ndarray, int]:
        """Train a fresh discriminator; return P(unlabelled) of ``unlabeled`` and its epochs."""
        X = _torch.as_tensor(
            np.concatenate([labeled, unlabeled]), dtype=torch.float32, device=device
        )
        y = torch.cat([torch.zeros(len(labeled)), torch.ones(len(unlabeled))]).long().to(device)
        weights = torch.tensor(class_weights(len(labeled), len(unlabeled)), device=device)
        width = 20 if X.shape[1] < 30 else int(self.hidden)
        with _torch.seeded(seed):
            mlp = _discriminator(X.shape[1], width).to(device)
        generator = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.Adam(mlp.parameters(), lr=float(self.learning_rate))
        epochs = 0
        while epochs < int(self.max_epochs):
            epochs += 1
            order = torch.randperm(len(X), generator=generator).to(device)
            for batch in order.split(int(self.train_batch_size)):
                loss = nn.functional.cross_entropy(mlp(X[batch]), y[batch], reduction="none")
                # Keras' class_weight: weighted per-row losses, plain mean.
                optimizer.zero_grad()
                (loss * weights[y[batch]]).mean().backward()
                optimizer.step()
            with torch.no_grad():
                accuracy = (mlp(X).argmax(dim=1) == y).float().mean().item()
            if accuracy > float(self.stop_accuracy):
                break
        with torch.no_grad():
            logits = mlp(X[len(labeled) :])
            return torch.softmax(logits.double(), dim=1)[:, 1].cpu().numpy(), epochs


def _discriminator(n_inputs: int, width: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(n_inputs, width),
        nn.ReLU(),
        nn.Linear(width, width),
        nn.ReLU(),
        nn.Linear(width, width),
        nn.ReLU(),
        nn.Linear(width, 2),
    )


def _split(n: int, parts: int) -> list[int]:
    """``n`` as ``parts`` sizes differing by at most one, larger first."""
    base, extra = divmod(n, parts)
    return [base + (i < extra) for i in range(parts)]
