"""DFAL: DeepFool Active Learning.

Reference: M. Ducoffe and F. Precioso, "Adversarial Active Learning for Deep
Networks: a Margin Based Approach", arXiv:1802.09841, 2018.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import ClassVar

import numpy as np

from skactive import _torch
from skactive._chunking import take_rows
from skactive.attacks import DEEPFOOL_PARAMETER_CONSTRAINTS, deepfool, deepfool_screen
from skactive.base import QueryStrategy, StrategyTags, TrainingExtras, rank_scores
from skactive.param_validation import BOOLEAN, integer, options


class DFAL(QueryStrategy):
    """Query the rows closest to the decision boundary, measured by DeepFool.

    Each candidate row is attacked with DeepFool (Moosavi-Dezfooli et al.,
    2016) against the current network; the norm of its minimal adversarial
    perturbation approximates its distance to the decision boundary, and
    the ``n`` smallest are selected. With ``twins=True`` each selected row's
    adversarial example is handed to the learner as a *twin*: trained on with
    the oracle's label of its source (two training rows for one label).

    Parameters
    ----------
    max_iter : int, default=50
        DeepFool steps per row; a row not flipped by then scores ``inf``
        (far from the boundary, ranked last).
    overshoot : float, default=0.02
        Applied once to the total perturbation.
    norm : {2, numpy.inf}, default=2
        Norm in which distances are measured.
    top_k : int, default=None
        Attack only towards the ``top_k`` most likely classes (None: all).
    candidates : int, default=None
        Score only a random subset of this many pool rows, as in the paper's
        Algorithm 1 (None: the whole pool).
    chunk_size : int, default=None
        Rows per chunk of the pool: what one joblib worker scores at a time
        (``n_jobs``) and the progress bar's step; bounds memory whatever the
        pool size (None: 1024).
    batch_size : int, default=None
        Rows attacked together on the network's device; bounds memory.
        None: 128 on CPU, 1024 on a GPU.
    clip : (float, float), default=None
        Valid input range for adversarial examples, e.g. ``(0, 1)``.
    twins : bool, default=True
        Hand the adversarial examples of the selected rows to the learner.
        ``False`` is the paper's ablation.
    screen : {"auto", "linear"} or None, default="auto"
        ``"linear"``: rank every candidate by DeepFool's first linearised
        step towards its runner-up class
        (:func:`~skactive.attacks.deepfool_screen`, about the cost of three
        forward passes), then run the exact DeepFool on the ``shortlist * n``
        rows it ranks first only, and select among those. None: exact
        DeepFool on every candidate. ``"auto"``: ``"linear"`` when
        ``candidates`` is None (the whole pool), else None.
    shortlist : int, default=10
        Size of the screened shortlist as a multiple of ``n`` (at least 1);
        clamped to the candidates, so a small pool is attacked whole. It
        doubles while the exact distances say the screen misjudged: fewer
        than ``n`` of its rows flip, or the exact top ``n`` reach into the
        shortlist's second half (then rows just outside it may belong there
        too, as with a net trained on few labels); see ``shortlist_``.
    n_jobs : int, default=None
        Workers scoring chunks in parallel through joblib (None: one, unless
        a ``joblib.parallel_backend`` context such as ``"dask"`` is active).
    random_state : int, RandomState instance or None, default=None
        Seed for the candidate subset and tie-breaking.

    Attributes
    ----------
    candidates_ : ndarray of shape (n_candidates,)
        Pool indices attacked in the last ``select``.
    scores_ : ndarray of shape (n_candidates,)
        Perturbation norms (smaller is closer to the boundary); ``inf`` for
        rows that did not flip, failed numerically, or were screened out.
    screen_scores_ : ndarray of shape (n_candidates,) or None
        The screen's distance estimate of every candidate (None when the
        last ``select`` did not screen).
    shortlist_ : ndarray of int
        Positions in ``candidates_`` that DeepFool attacked after the
        screen: the ``shortlist * n`` the screen ranks first, doubled until
        ``n`` of them flip within ``max_iter`` and the exact top ``n`` lie in
        its first half (or every candidate is in).
    n_not_converged_ : int
        Number of candidates scored ``inf``.
    indices_ : ndarray of shape (n,)
        Selected pool indices, closest first.
    adversarial_examples_ : ndarray of shape (n, ...)
        Adversarial example of each selected row, in the pool's space (in
        the network's input space when the pipeline steps before the network
        cannot be inverted); rows that did not flip hold their last iterate.
    adversarial_converged_ : ndarray of shape (n,), bool
        Whether each selected row was flipped (only those become twins).
    extras_ : TrainingExtras
        The twins (empty when ``twins=False``).

    Notes
    -----
    Inside a ``Pipeline`` DeepFool attacks the input of the final network
    step (the transformed pool); twins are mapped back with the earlier
    steps' ``inverse_transform``. Whether that mapping is right is checked
    by a round trip on the selected rows (``inverse_transform(transform(x))
    == x``); if it fails (a step without ``inverse_transform``, or a
    ``FunctionTransformer`` without ``inverse_func``, whose inverse is the
    identity), scoring still works and twins are skipped with a warning.
    """

    def __skactive_tags__(self) -> StrategyTags:
        return replace(super().__skactive_tags__(), greater_is_better=False)

    _skactive_constraints: ClassVar[dict[str, list]] = {
        **DEEPFOOL_PARAMETER_CONSTRAINTS,
        "twins": [BOOLEAN],
        "screen": [options("auto", "linear"), None],
        "shortlist": [integer(1)],
    }

    def __init__(
        self,
        *,
        max_iter: int = 50,
        overshoot: float = 0.02,
        norm: float = 2,
        top_k: int | None = None,
        candidates: int | None = None,
        chunk_size: int | None = None,
        batch_size: int | None = None,
        clip: tuple[float, float] | None = None,
        twins: bool = True,
        screen: str | None = "auto",
        shortlist: int = 10,
        n_jobs: int | None = None,
        random_state=None,
    ):
        self.max_iter = max_iter
        self.overshoot = overshoot
        self.norm = norm
        self.top_k = top_k
        self.candidates = candidates
        self.chunk_size = chunk_size
        self.batch_size = batch_size
        self.clip = clip
        self.twins = twins
        self.screen = screen
        self.shortlist = shortlist
        self.n_jobs = n_jobs
        self.random_state = random_state

    def prepare(self, estimator):
        return _torch.find_network(estimator, what="DFAL")

    def _attack(self, network, X_rows):
        return deepfool(
            network,
            X_rows,
            max_iter=self.max_iter,
            overshoot=self.overshoot,
            norm=self.norm,
            top_k=self.top_k,
            clip=self.clip,
            batch_size=self.batch_size,
        )

    def score_rows(self, network, X_chunk: np.ndarray) -> np.ndarray:
        return self._attack(network, X_chunk).norms

    def _screen_chunk(self, network, X_chunk: np.ndarray, chunk_index: int) -> np.ndarray:
        return deepfool_screen(network, X_chunk, norm=self.norm, batch_size=self.batch_size)

    def rank_candidates(self, network, X_pool, candidates, n, rng, **labeled):
        size = int(self.shortlist) * n
        screening = self.screen == "linear" or (self.screen == "auto" and self.candidates is None)
        self.screen_scores_ = None
        if not screening or size >= len(candidates):
            positions, scores = super().rank_candidates(network, X_pool, candidates, n, rng)
            self.n_not_converged_ = int(np.isinf(scores).sum())
            return positions, scores
        with self._scoring_context(network):
            estimate = self._map_chunks(
                self._screen_chunk, network, X_pool, candidates, self._chunk_size(), what="screen"
            )
        order = np.argsort(estimate, kind="stable")
        scores = np.full(len(candidates), np.inf)
        attacked = 0
        # Adaptive: the shortlist's exact distances tell where the screen
        # misjudged, and it doubles until it did not (or every candidate is in).
        while attacked < len(candidates):
            new = order[attacked:size]
            scores[new] = self._score_candidates(network, X_pool, candidates[new])
            attacked = min(size, len(candidates))
            if attacked < len(candidates) and _screen_agrees(
                scores[order[:attacked]], estimate[order[:attacked]], estimate[order[attacked]], n
            ):
                break
            size *= 2
        short = np.sort(order[:attacked])
        self.screen_scores_, self.shortlist_ = estimate, short
        self.n_not_converged_ = int(np.isinf(scores[short]).sum())
        return short[rank_scores(scores[short], n, greater_is_better=False, rng=rng)], scores

    def training_extras(self, network, X_pool, selected, X_labeled=None) -> TrainingExtras:
        # Re-attacking the n selected rows costs n/candidates of the scoring
        # and keeps memory independent of the pool size.
        rows = take_rows(X_pool, selected)
        result = self._attack(network, rows)
        adversarial = result.adversarial
        mapped = network.inverts(rows)
        if mapped and network.transform is not None:
            adversarial = np.asarray(network.inverse_transform(adversarial))
        self.adversarial_examples_ = adversarial
        self.adversarial_converged_ = result.converged
        if not self.twins:
            return TrainingExtras()
        if not mapped:
            warnings.warn(
                "DFAL: twins skipped because the Pipeline steps before the network cannot "
                "be inverted (inverse_transform(transform(x)) differs from x on the selected "
                "rows), so adversarial examples cannot be mapped back to the pool's space; "
                "scoring is unaffected",
                UserWarning,
                stacklevel=4,
            )
            return TrainingExtras()
        sources = np.flatnonzero(result.converged)
        return TrainingExtras(twins=adversarial[sources], twin_sources=sources)


def _screen_agrees(exact, estimate, next_estimate: float, n: int) -> bool:
    """Whether the shortlist's exact distances say no row beyond it belongs in the top ``n``.

    ``exact`` and ``estimate`` are DeepFool's norms and the screen's
    estimates of the shortlist's rows; ``next_estimate`` is the screen's
    estimate of the first row left out. On the shortlist, the ratio of exact
    to estimated distance shows how far the screen errs. A row left out is
    taken to be possibly closer than the ``n``-th closest found when its
    estimate, scaled by a low ratio, falls below it: the 5th percentile of
    the ratios divided by their spread (95th over 5th percentile), since
    the rows the screen misjudges most are the ones it left out. A trained
    net's ratios sit within a few percent of each other and the shortlist
    stands; a net whose boundary the first-order step mistakes (few labels,
    few epochs) spreads them, and the shortlist widens.
    """
    flipped = np.isfinite(exact) & np.isfinite(estimate) & (estimate > 0)
    if np.isfinite(exact).sum() < n:
        return False
    nth_closest = np.sort(exact[np.isfinite(exact)])[n - 1]
    if not flipped.any() or not np.isfinite(next_estimate):
        return True
    low, high = np.quantile(exact[flipped] / estimate[flipped], [0.05, 0.95])
    return bool(next_estimate * low * (low / high) > nth_closest)
