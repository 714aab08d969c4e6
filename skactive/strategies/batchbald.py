"""BatchBALD: the batch whose labels are jointly most informative about the model.

Reference: A. Kirsch, J. van Amersfoort and Y. Gal, "BatchBALD: Efficient
and Diverse Batch Acquisition for Deep Bayesian Active Learning", NeurIPS
2019.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from scipy.special import xlogy

from skactive._chunking import chunk_slices, take_rows
from skactive._posterior import posterior_source
from skactive._validation import draw_seed
from skactive.base import QueryStrategy
from skactive.param_validation import integer
from skactive.strategies.query_by_committee import N_SAMPLES, mutual_information

__all__ = ["BatchBALD", "batchbald_greedy", "joint_entropy"]

#: Entries of one (candidates x configurations x classes) block of joint probabilities.
_BLOCK_ENTRIES = 4_000_000


def joint_entropy(stack, *, n_configurations: int | None = None, rng=None) -> float:
    """Entropy of the joint predictive of the rows of ``stack``, in nats.

    ``H(y_1, ..., y_m) = -sum p log p`` over the ``n_classes ** m`` label
    configurations, with ``p(y_1..y_m) = mean_k prod_i p_k(y_i | x_i)``:
    exact, or, when there are more than ``n_configurations``, BatchBALD's
    estimate from that many configurations drawn from ``p``.

    Parameters
    ----------
    stack : array-like of shape (n_samples, m, n_classes)
        Class probabilities of the ``m`` rows under each posterior sample;
        sample ``k`` must be the same model for every row.
    n_configurations : int, default=None
        None: always exact.
    rng : RandomState, default=None
    """
    stack = np.asarray(stack, dtype=np.float64)
    if n_configurations is None:
        products = _configurations(stack).mean(axis=0)
        return float(-xlogy(products, products).sum())
    rng = np.random.RandomState(0) if rng is None else rng
    joint = _Joint(stack.shape[0], n_configurations, rng)
    for i in range(stack.shape[1] - 1):
        joint.add(stack[:, i, :])
    return float(joint.entropies_with(stack[:, -1:, :])[0])


def _configurations(stack: np.ndarray) -> np.ndarray:
    """``prod_i p_k(y_i)`` for every configuration: shape (n_samples, n_classes ** m)."""
    products = np.ones((stack.shape[0], 1))
    for i in range(stack.shape[1]):
        products = (products[:, :, None] * stack[:, i, None, :]).reshape(stack.shape[0], -1)
    return products


def batchbald_greedy(
    stack, n: int, *, n_configurations: int = 1_000, rng=None
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy BatchBALD picks from a stack of posterior samples.

    Each step adds the row that maximises the mutual information between
    the batch's labels and the model, ``I(y_1..y_m, y; w) =
    H(y_1..y_m, y) - sum_i E_w H(y_i | w)``. The joint entropy is exact
    while the batch has at most ``n_configurations`` label configurations
    (``n_classes ** m``); beyond, it is estimated from ``n_configurations``
    configurations drawn from the joint predictive (the paper's estimator:
    a posterior sample, then the labels under it), each extended with a
    draw for every new pick. Each step costs about ``n_rows x
    n_configurations x n_classes x n_samples`` multiply-adds.

    Parameters
    ----------
    stack : array-like of shape (n_samples, n_rows, n_classes)
        Consistent posterior samples: sample ``k`` is one model for all rows.
    n : int
        Rows to pick.
    n_configurations : int, default=1_000
    rng : RandomState, default=None
        Draws the sampled configurations (unused while exact).

    Returns
    -------
    picks : ndarray of shape (n,)
        Row indices, in the order they were picked.
    batch_information : ndarray of shape (n,)
        ``I(y_1..y_m; w)`` of the first ``m`` picks, nats (non-decreasing).
    """
    stack = np.asarray(stack, dtype=np.float64)
    rng = np.random.RandomState(0) if rng is None else rng
    n_samples, n_rows, _ = stack.shape
    conditional = -xlogy(stack, stack).sum(axis=2).mean(axis=0)  # E_w H(y_i | w)
    joint = _Joint(n_samples, n_configurations, rng)
    picks, information, available = [], [], np.ones(n_rows, dtype=bool)
    for _ in range(n):
        gains = joint.entropies_with(stack) - conditional
        gains[~available] = -np.inf
        pick = int(np.argmax(gains))
        information.append(gains[pick] - conditional[picks].sum())
        picks.append(pick)
        available[pick] = False
        joint.add(stack[:, pick, :])
    return np.asarray(picks, dtype=np.intp), np.asarray(information)


class _Joint:
    """The picked rows' label configurations: all of them, or sampled ones.

    ``products[k, s]`` is ``prod_i p_k(y_{s,i})`` for configuration ``s``.
    Sampled configurations are rescaled column by column (``log_scale``)
    so that long batches do not underflow; exact ones never need it.
    """

    def __init__(self, n_samples: int, n_configurations: int, rng):
        self.products = np.ones((n_samples, 1))
        self.log_scale = np.zeros(1)
        self.n_configurations = n_configurations
        self.rng, self.owners = rng, None  # owners: the sample each configuration came from

    def entropies_with(self, stack: np.ndarray) -> np.ndarray:
        """``H(picked labels, y_j)`` for every row ``j`` of ``stack`` (nats)."""
        n_samples, n_rows, n_classes = stack.shape
        width = self.products.shape[1]
        out = np.empty(n_rows)
        for rows in chunk_slices(n_rows, max(1, _BLOCK_ENTRIES // (width * n_classes))):
            block = stack[:, rows, :].reshape(n_samples, -1)
            # joint[s, j, c] = mean_k products[k, s] p_k(c | x_j), through one matrix product.
            joint = (self.products.T @ block).reshape(width, -1, n_classes) / n_samples
            if self.owners is None:
                out[rows] = -xlogy(joint, joint).sum(axis=(0, 2))
                continue
            # E over sampled configurations of -sum_y p(y | config) log p(config, y).
            ratio = joint / self.products.mean(axis=0)[:, None, None]
            logs = np.log(np.maximum(joint, 1e-300)) + self.log_scale[:, None, None]
            out[rows] = -(ratio * logs).sum(axis=2).mean(axis=0)
        return out

    def add(self, probabilities: np.ndarray) -> None:
        """Extend every configuration with a new pick's label (``(n_samples, n_classes)``)."""
        n_samples, n_classes = probabilities.shape
        exact = self.owners is None
        if exact and self.products.shape[1] * n_classes <= self.n_configurations:
            self.products = (self.products[:, :, None] * probabilities[:, None, :]).reshape(
                n_samples, -1
            )
            return
        if exact:
            self._start_sampling()
        labels = _draw(probabilities[self.owners], self.rng)
        self.products = self.products * probabilities[:, labels]
        scale = self.products.max(axis=0)
        self.products = self.products / scale
        self.log_scale = self.log_scale + np.log(scale)

    def _start_sampling(self) -> None:
        """Draw configurations from the exact joint: a posterior sample, then its labels."""
        n_samples = self.products.shape[0]
        owners = np.sort(self.rng.randint(n_samples, size=self.n_configurations))
        chosen = np.concatenate(
            [
                _draw(np.repeat(self.products[k : k + 1], np.sum(owners == k), axis=0), self.rng)
                for k in range(n_samples)
            ]
        )
        self.products, self.owners = self.products[:, chosen], owners
        self.log_scale = np.zeros(len(chosen))


def _draw(probabilities: np.ndarray, rng) -> np.ndarray:
    """One category per row of ``probabilities`` (rows need not sum to 1), by inverse CDF."""
    cdf = np.cumsum(probabilities, axis=1)
    u = rng.random_sample(len(cdf)) * cdf[:, -1]
    return np.minimum((u[:, None] >= cdf).sum(axis=1), probabilities.shape[1] - 1)


class BatchBALD(QueryStrategy):
    """Select the batch whose labels carry the most joint information about the model.

    BALD scores rows one at a time, so a batch of near-duplicates, each
    informative alone, teaches little more than one of them. BatchBALD
    (Kirsch et al., NeurIPS 2019) picks greedily the row that maximises the
    mutual information of the *whole batch's* labels with the model
    (:func:`batchbald_greedy`); its first pick is BALD's. The posterior
    samples must be the same models for every row: a
    :class:`~skactive.Committee` or a fitted ensemble as they are, and a
    single net through *consistent* MC dropout (each pass draws one mask
    per dropout layer for all rows, so a row's samples depend on neither
    its batch nor its position).

    The whole candidate stack ``(n_samples, n_candidates, n_classes)`` is
    held in memory (float64: 16 MB for 10 samples, 20,000 candidates and
    10 classes); ``candidates`` bounds it.

    Parameters
    ----------
    n_samples : int, default=10
        Consistent MC-dropout passes of a single net (at least 2); ignored
        for committees and ensembles.
    n_configurations : int, default=1_000
        Joint entropies are exact while the batch has at most this many
        label configurations (``n_classes ** m``: 3 picks of 10 classes),
        then estimated from this many configurations sampled from the joint
        predictive. Time per pick grows linearly with it.
    candidates : int, default=None
        Consider only a random subset of this many pool rows (None: all).
    chunk_size : int, default=None
        Rows per chunk of the pool: what one joblib worker scores at a time
        (``n_jobs``) and the progress bar's step; bounds memory whatever the
        pool size (None: 1024).
    batch_size : int, default=None
        Rows per forward pass (None: 128 on CPU, 1024 on a GPU). The dropout
        masks are drawn per pass and seeded per chunk, so another
        ``batch_size`` or ``chunk_size`` gives other (equally valid) samples,
        as a different seed would; ``n_jobs`` and joblib backends give
        identical scores.
    random_state : int, RandomState instance or None, default=None
        Seeds the candidate subset, the dropout masks and the sampled
        configurations.

    Attributes
    ----------
    candidates_, indices_, extras_ : see :class:`~skactive.QueryStrategy`
    scores_ : ndarray of shape (n_candidates,)
        BALD of every candidate (the first greedy step's gains; the later
        picks follow the joint gains, not this order).
    batch_information_ : ndarray of shape (n,)
        Mutual information of the first ``m`` picks' labels with the model
        (nats). Exact while the joint is; beyond, an estimate whose noise
        can exceed small increments (every candidate of a step is scored on
        the same configurations, so the picks are steadier than the values).
    """

    _skactive_constraints: ClassVar[dict[str, list]] = {
        "n_samples": [N_SAMPLES],
        "n_configurations": [integer(1)],
    }

    def __init__(
        self,
        *,
        n_samples: int = 10,
        n_configurations: int = 1_000,
        candidates: int | None = None,
        chunk_size: int | None = None,
        batch_size: int | None = None,
        random_state=None,
    ):
        self.n_samples = n_samples
        self.n_configurations = n_configurations
        self.candidates = candidates
        self.chunk_size = chunk_size
        self.batch_size = batch_size
        self.random_state = random_state

    def prepare(self, estimator):
        source = posterior_source(
            estimator, n_samples=self.n_samples, what="BatchBALD", consistent=True
        )
        if source.is_stochastic:
            source.batch_size = self.batch_size
        return source

    def rank_candidates(self, source, X_pool, candidates, n, rng, **labeled):
        seed = draw_seed(rng)
        with source.context():
            stack = np.concatenate(
                [
                    source(take_rows(X_pool, candidates[rows]), seed)
                    for rows in chunk_slices(len(candidates), self._chunk_size())
                ],
                axis=1,
            )
        picks, self.batch_information_ = batchbald_greedy(
            stack,
            n,
            n_configurations=int(self.n_configurations),
            rng=rng,
        )
        return picks, mutual_information(stack)
