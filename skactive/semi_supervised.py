"""Learning from the unlabelled pool: label propagation and a net that trains with it.

Unlabelled rows carry scikit-learn's label ``-1``; give
``ActiveLearner(semi_supervised=True)`` one of these estimators and every
refit sees the remaining pool that way.

References: A. Iscen, G. Tolias, Y. Avrithis and O. Chum, "Label Propagation
for Deep Semi-supervised Learning", CVPR 2019; O. Siméoni, M. Budnik,
Y. Avrithis and G. Gravier, "Rethinking deep active learning: Using
unlabeled data at model training", ICPR 2020.
"""

from __future__ import annotations

import time
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.linalg import cg
from scipy.special import xlogy
from sklearn.neighbors import NearestNeighbors
from skorch import NeuralNetClassifier
from skorch.utils import to_tensor

from skactive import _torch
from skactive._chunking import chunk_slices
from skactive._inference import unit_rows
from skactive._unlabeled import UNLABELED, UnlabeledRowsFit
from skactive._validation import check_rows
from skactive.nets import per_row_loss
from skactive.param_validation import (
    LAYER,
    RANDOM_STATE,
    SKLEARN_PARAMETER_CONSTRAINTS,
    integer,
    options,
    real,
    validate_params,
)
from skactive.pretraining import load_pretrained

KNN_BACKENDS = ("auto", "sklearn", "faiss")

#: What label propagation's parameters accept (the function's names).
_PROPAGATION_CONSTRAINTS = {
    "k": [integer(1)],
    "alpha": [real(0.0, 1.0, low_open=True, high_open=True)],
    "gamma": [real(0.0, low_open=True)],
    "max_iter": [integer(1)],
    "knn": [options(*KNN_BACKENDS)],
}

#: Rows whose neighbour similarities are computed at once (bounds memory).
_PAIR_CHUNK = 1024


def label_propagation(
    features,
    y,
    *,
    k: int = 50,
    alpha: float = 0.99,
    gamma: float = 3.0,
    max_iter: int = 20,
    knn: str = "auto",
) -> tuple[np.ndarray, np.ndarray]:
    """Pseudo-labels and certainty weights by diffusion on a kNN graph (Iscen et al.).

    Features are scaled to unit norm; each row is linked to its ``k``
    nearest neighbours by cosine similarity (itself excluded by index, so
    duplicate rows are neighbours), affinities are clipped at 0 and raised
    to ``gamma``, and the graph is symmetrised, ``W + W.T``, then normalised,
    ``D^-1/2 W D^-1/2``. For every class one conjugate-gradient solve of
    ``(I - alpha W) z = y_c`` spreads seeds ``1 / |L_c|`` from its labelled
    rows. Each row takes the class of its largest score; its weight is
    ``1 - H(z) / log(n_classes)`` of the L1-normalised scores, divided by the
    largest weight. The graph is sparse (``n x k`` entries): no ``n x n``
    matrix is formed.

    Parameters
    ----------
    features : array-like of shape (n_rows, n_features)
    y : array-like of shape (n_rows,)
        Class labels, ``-1`` for unlabelled rows.
    k : int, default=50
        Neighbours per row, ``k < n_rows``.
    alpha : float, default=0.99
        In (0, 1): how far labels spread.
    gamma : float, default=3.0
        Power of the affinities (> 0).
    max_iter : int, default=20
        Conjugate-gradient iterations per class.
    knn : {"auto", "sklearn", "faiss"}, default="auto"
        Neighbour search: scikit-learn's brute-force ``NearestNeighbors``,
        or faiss-cpu's exact inner-product index (``"auto"``: faiss when
        installed).

    Returns
    -------
    labels : ndarray of shape (n_rows,)
        The given label for labelled rows; the propagated one for the
        others, ``-1`` for a row no label reaches (an isolated node).
    weights : ndarray of shape (n_rows,)
        1 for labelled rows, the certainty in [0, 1] for the others (0 when
        no label reaches the row).
    """
    features, y, classes = _check_lp_input(features, y, k, alpha, gamma, max_iter, knn)
    graph = _normalized_graph(features, k, gamma, knn)
    labeled = y != UNLABELED
    seeds = np.zeros((len(y), len(classes)))
    for column, label in enumerate(classes):
        members = labeled & (y == label)
        seeds[members, column] = 1.0 / members.sum()
    scores = np.clip(_diffuse(graph, seeds, alpha, max_iter), 0.0, None)
    labels, weights = _certain_labels(scores, classes)
    labels[labeled], weights[labeled] = y[labeled], 1.0
    return labels, weights


def _check_lp_input(features, y, k, alpha, gamma, max_iter, knn):
    features = np.asarray(check_rows(features, name="features"), dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(f"features must be 2-D (n_rows, n_features), got shape {features.shape}")
    y = np.asarray(y)
    if y.shape != (len(features),):
        raise ValueError(f"y must have shape ({len(features)},), got {y.shape}")
    validate_params(
        dict(k=k, alpha=alpha, gamma=gamma, max_iter=max_iter, knn=knn), _PROPAGATION_CONSTRAINTS
    )
    if k >= len(features):
        raise ValueError(f"k ({k}) must be smaller than the number of rows ({len(features)})")
    classes = np.unique(y[y != UNLABELED])
    if len(classes) == 0:
        raise ValueError("y has no labelled row (every label is -1); nothing to propagate")
    return features, y, classes


def _neighbours(points: np.ndarray, k: int, knn: str) -> tuple[np.ndarray, np.ndarray]:
    """(indices, cosine similarities) of each row's ``k`` nearest others.

    Rows are unit vectors, or all zero (a row without features, which must
    stay isolated whichever backend finds the neighbours).
    """
    n_search = k + 1
    faiss = None if knn == "sklearn" else _faiss()
    if knn == "faiss" and faiss is None:
        raise ImportError("knn='faiss' needs faiss-cpu: pip install 'skactive[faiss]'")
    if faiss is not None:
        index = faiss.IndexFlatIP(points.shape[1])
        index.add(np.ascontiguousarray(points, dtype=np.float32))
        similarity, indices = index.search(np.ascontiguousarray(points, dtype=np.float32), n_search)
        similarity = similarity.astype(np.float64)
    else:
        search = NearestNeighbors(n_neighbors=n_search, algorithm="brute").fit(points)
        indices = search.kneighbors(points, return_distance=False)
        # The inner products of the pairs found, as faiss returns them: exact
        # for an all-zero row too (0), where "1 - d^2 / 2" assumed unit rows.
        similarity = np.empty(indices.shape)
        for rows in chunk_slices(len(points), _PAIR_CHUNK):
            similarity[rows] = np.einsum("ij,ikj->ik", points[rows], points[indices[rows]])
    return _drop_self(indices, similarity, k)


def _drop_self(indices, similarity, k):
    """Remove each row itself from its neighbour list (by index, not by rank)."""
    rows = np.arange(len(indices))[:, None]
    is_self = indices == rows
    # A row not found among its own neighbours (many duplicates) drops its last one.
    drop_last = ~is_self.any(axis=1)
    is_self[drop_last, -1] = True
    keep = ~is_self
    return indices[keep].reshape(len(indices), k), similarity[keep].reshape(len(indices), k)


def _faiss():
    try:
        import faiss
    except ImportError:
        return None
    return faiss


def _normalized_graph(features: np.ndarray, k: int, gamma: float, knn: str) -> sp.csr_matrix:
    points = unit_rows(features)
    indices, similarity = _neighbours(points, k, knn)
    n = len(points)
    affinity = np.clip(similarity, 0.0, None) ** gamma
    W = sp.csr_matrix((affinity.ravel(), (np.repeat(np.arange(n), k), indices.ravel())), (n, n))
    W = (W + W.T).tocsr()
    W.setdiag(0.0)
    W.eliminate_zeros()
    degree = np.asarray(W.sum(axis=1)).ravel()
    scale = np.zeros(n)
    scale[degree > 0] = 1.0 / np.sqrt(degree[degree > 0])
    D = sp.diags(scale)
    return (D @ W @ D).tocsr()


def _diffuse(
    graph: sp.csr_matrix, seeds: np.ndarray, alpha: float, max_iter: int, rtol: float = 1e-6
) -> np.ndarray:
    """Solve ``(I - alpha graph) Z = seeds`` column by column with conjugate gradients."""
    system = (sp.identity(graph.shape[0], format="csr") - alpha * graph).tocsr()
    scores = np.zeros_like(seeds)
    for column in range(seeds.shape[1]):
        scores[:, column], _ = cg(system, seeds[:, column], rtol=rtol, maxiter=max_iter)
    return scores


def _certain_labels(scores: np.ndarray, classes: np.ndarray):
    total = scores.sum(axis=1)
    reached = total > 0
    labels = np.full(len(scores), UNLABELED, dtype=np.result_type(classes.dtype, np.int64))
    weights = np.zeros(len(scores))
    if not reached.any():
        return labels, weights
    probs = scores[reached] / total[reached, None]
    labels[reached] = classes[np.argmax(probs, axis=1)]
    if len(classes) > 1:
        entropy = -xlogy(probs, probs).sum(axis=1)
        certainty = 1.0 - entropy / np.log(len(classes))
    else:
        certainty = np.ones(reached.sum())
    weights[reached] = certainty / max(certainty.max(), np.finfo(float).tiny)
    return labels, weights


class LabelPropagationNet(UnlabeledRowsFit, NeuralNetClassifier):
    """A skorch classifier that also learns from unlabelled rows (label ``-1``).

    ``fit`` trains in blocks of ``lp_every`` epochs. Before each block the
    current network embeds the rows (``feature_layer``: the input of its
    last linear layer by default), :func:`label_propagation` gives every
    unlabelled row a pseudo-label and a certainty weight, and
    ``unlabeled_fraction`` of the unlabelled rows are drawn (without
    replacement, with probability proportional to the weight, as in
    Siméoni et al.'s ``prob`` mode) to train beside the labelled rows. The
    loss of a row is its certainty times its class weight ``(N / c) /
    count(class)`` times its cross-entropy, averaged over the batch.
    Without unlabelled rows ``fit`` is the plain skorch fit.

    Siméoni et al. re-run the propagation after every epoch
    (``lp_every=1``) for 200 epochs and fix 50 labelled rows in each batch
    of 128; here batches are shuffled over labelled and drawn rows, and a
    CPU setting is ``lp_every=5`` with ``max_unlabeled`` of a few thousand.

    Parameters
    ----------
    module : torch.nn.Module class
        Returns logits (the default criterion is ``CrossEntropyLoss``).
    lp_every : int, default=5
        Epochs between two propagations.
    k, alpha, gamma, lp_max_iter, knn :
        Passed to :func:`label_propagation` (``lp_max_iter`` as
        ``max_iter``).
    unlabeled_fraction : float, default=0.5
        In (0, 1]: share of the unlabelled rows trained on in each block.
    max_unlabeled : int, default=None
        Use at most this many unlabelled rows (a random subset, fixed for
        the fit); None: all of them.
    feature_layer : str, default=None
        Submodule whose output is the propagation feature; None: the input
        of the last linear layer.
    random_state : int or None, default=None
        Seeds the subset and the draws (``ActiveLearner(random_state=...)``
        sets it when left None).
    **kwargs
        Any ``NeuralNetClassifier`` parameter; ``train_split`` must be None.

    Attributes
    ----------
    lp_history_ : list of dict
        One entry per propagation: ``epoch``, ``n_pseudo`` (rows drawn),
        ``mean_weight`` and ``seconds``.
    """

    no_split_reason = "a validation split would score pseudo-labelled rows"
    _parameter_constraints = SKLEARN_PARAMETER_CONSTRAINTS
    _skactive_constraints: ClassVar[dict[str, list]] = {
        "lp_every": [integer(1)],
        **{name: _PROPAGATION_CONSTRAINTS[name] for name in ("k", "alpha", "gamma", "knn")},
        "lp_max_iter": _PROPAGATION_CONSTRAINTS["max_iter"],
        "unlabeled_fraction": [real(0.0, 1.0, low_open=True)],
        "max_unlabeled": [integer(1), None],
        "feature_layer": LAYER,
        "random_state": RANDOM_STATE,
    }

    def __init__(
        self,
        module,
        *args,
        lp_every: int = 5,
        k: int = 50,
        alpha: float = 0.99,
        gamma: float = 3.0,
        lp_max_iter: int = 20,
        knn: str = "auto",
        unlabeled_fraction: float = 0.5,
        max_unlabeled: int | None = None,
        feature_layer: str | None = None,
        random_state=None,
        criterion=torch.nn.CrossEntropyLoss,
        train_split=None,
        **kwargs,
    ):
        super().__init__(module, *args, criterion=criterion, train_split=train_split, **kwargs)
        self.lp_every = lp_every
        self.k = k
        self.alpha = alpha
        self.gamma = gamma
        self.lp_max_iter = lp_max_iter
        self.knn = knn
        self.unlabeled_fraction = unlabeled_fraction
        self.max_unlabeled = max_unlabeled
        self.feature_layer = feature_layer
        self.random_state = random_state

    def _fit_unlabeled(self, X, y, *, warm: bool, **fit_params):
        """Propagation blocks on the labelled and ``-1`` rows (see :class:`UnlabeledRowsFit`)."""
        self._check_unlabeled_params()
        rng = np.random.RandomState(self.random_state)
        labeled, unlabeled = self._rows_to_fit(y, rng)
        rows = np.concatenate([labeled, unlabeled])
        if self.k >= len(rows):
            raise ValueError(
                f"k ({self.k}) must be smaller than the rows propagated over ({len(rows)})"
            )
        X = np.asarray(X)
        classes = self._fit_classes(y[labeled])
        load_pretrained(self)
        self.lp_history_ = []
        done = 0
        while done < self.max_epochs:
            epochs = min(int(self.lp_every), self.max_epochs - done)
            train, targets = self._propagate(X, y, rows, len(labeled), classes, rng, done)
            super().partial_fit(X[train], targets, epochs=epochs, **fit_params)
            done += epochs
        self.classes_inferred_ = classes
        return self

    def _fit_classes(self, y_labeled: np.ndarray) -> np.ndarray:
        if self.classes is not None:
            return np.asarray(self.classes)
        return np.unique(y_labeled)

    def _propagate(self, X, y, rows, n_labeled, classes, rng, epoch):
        """Rows to train on next and their packed (label, weight) targets."""
        start = time.perf_counter()
        network = _torch.TorchNetwork(self)
        features = _torch.embed(network, X[rows], layer=self.feature_layer)
        labels, weights = label_propagation(
            features,
            y[rows],
            k=self.k,
            alpha=self.alpha,
            gamma=self.gamma,
            max_iter=self.lp_max_iter,
            knn=self.knn,
        )
        drawn = _draw_weighted(weights[n_labeled:], self.unlabeled_fraction, rng)
        chosen = np.concatenate([np.arange(n_labeled), n_labeled + drawn])
        reached = labels != UNLABELED
        counts = np.bincount(
            np.searchsorted(classes, labels[reached]), minlength=len(classes)
        ).astype(float)
        class_weight = (reached.sum() / len(classes)) / np.maximum(counts, 1.0)
        label_pos = np.searchsorted(classes, labels[chosen])
        row_weight = weights[chosen] * class_weight[label_pos]
        self.lp_history_.append(
            {
                "epoch": epoch,
                "n_pseudo": len(drawn),
                "mean_weight": float(weights[n_labeled:].mean()),
                "seconds": time.perf_counter() - start,
            }
        )
        targets = np.stack([label_pos, row_weight], axis=1).astype(np.float32)
        return rows[chosen], targets

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """Weighted cross-entropy for packed (label, weight) targets; skorch's otherwise."""
        y_true = to_tensor(y_true, device=self.device)
        if y_true.dim() != 2:
            return super().get_loss(y_pred, y_true, X=X, training=training)
        losses = per_row_loss(self, y_pred, y_true[:, 0].long())
        return (losses * y_true[:, 1].to(losses.dtype)).mean()


def _draw_weighted(weights: np.ndarray, fraction: float, rng) -> np.ndarray:
    """Positions of ``fraction`` of the rows, drawn without replacement, P ∝ weight."""
    eligible = np.flatnonzero(weights > 0)
    size = min(len(eligible), round(fraction * len(weights)))
    if size == 0:
        return eligible[:0]
    p = weights[eligible] / weights[eligible].sum()
    return np.sort(rng.choice(eligible, size, replace=False, p=p))
