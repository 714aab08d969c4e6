"""BALD: Bayesian Active Learning by Disagreement with Monte-Carlo dropout.

References: N. Houlsby, F. Huszár, Z. Ghahramani and M. Lengyel, "Bayesian
Active Learning for Classification and Preference Learning", arXiv:1112.5745,
2011; Y. Gal, R. Islam and Z. Ghahramani, "Deep Bayesian Active Learning
with Image Data", ICML 2017.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from skactive import _torch
from skactive._validation import check_positive_int
from skactive.base import QueryStrategy


def mutual_information(proba_samples: np.ndarray) -> np.ndarray:
    """BALD score of stacked predictive samples.

    Parameters
    ----------
    proba_samples : ndarray of shape (n_samples, n_rows, n_classes)
        Class probabilities from ``n_samples`` stochastic forward passes.

    Returns
    -------
    scores : ndarray of shape (n_rows,)
        ``H[mean_t p_t] - mean_t H[p_t]`` in nats (``0 log 0 = 0``), never
        negative.
    """
    p = torch.as_tensor(np.asarray(proba_samples, dtype=np.float64))
    return _mutual_information(p.mean(0), _entropy(p).mean(0)).numpy()


def _entropy(p: torch.Tensor) -> torch.Tensor:
    return -torch.special.xlogy(p, p).sum(dim=-1)


def _mutual_information(mean_proba: torch.Tensor, mean_entropy: torch.Tensor) -> torch.Tensor:
    # Mathematically >= 0; clamp the rounding error of a deterministic net.
    return (_entropy(mean_proba) - mean_entropy).clamp_min(0.0)


class BALD(QueryStrategy):
    """Select rows on which Monte-Carlo dropout samples disagree most.

    Runs ``n_samples`` stochastic forward passes with the network's dropout
    layers switched on and batch-norm layers left in eval mode, and scores
    each row by the mutual information between its label and the weights.
    Scores are streamed chunk by chunk: only running sums of probabilities
    and entropies are kept, never a (samples x pool x classes) array.

    Parameters
    ----------
    n_samples : int, default=10
        Stochastic forward passes ``T`` (at least 2).
    candidates : int, default=None
        Score only a random subset of this many pool rows (None: all).
    batch_size : int, default=None
        Rows per forward pass (None: 128 on CPU, 1024 on a GPU). The dropout
        masks are drawn per pass, so a different ``batch_size`` gives other
        (equally valid) samples, as a different seed would; ``n_jobs`` and
        joblib backends give identical scores.
    n_jobs : int, default=None
        Workers scoring chunks in parallel through joblib (None: one, unless
        a ``joblib.parallel_backend`` context such as ``"dask"`` is active).
    random_state : int, RandomState instance or None, default=None
        Seeds the candidate subset, tie-breaking and the dropout masks.

    Attributes
    ----------
    candidates_, indices_, extras_ : see :class:`~skactive.QueryStrategy`
    scores_ : ndarray of shape (n_candidates,)
        Mutual information in nats (larger is more informative).

    Raises
    ------
    ValueError
        From ``select`` if the network has no dropout layer: its scores would
        all be zero.
    """

    #: Dropout masks are drawn per forward batch, so another ``batch_size`` or
    #: row order draws other masks, as another seed would; ``n_jobs`` does not.
    _expected_failed_checks: ClassVar[dict[str, str]] = {
        "check_picks_independent_of_batch_size": (
            "Monte-Carlo dropout masks are drawn per forward batch: another batch_size "
            "draws other masks, like another seed"
        ),
        "check_scores_follow_a_permuted_pool": (
            "a row's dropout masks depend on its position in the batch, so a permuted "
            "pool gives each row other (equally valid) samples"
        ),
    }

    def __init__(
        self,
        *,
        n_samples: int = 10,
        candidates: int | None = None,
        batch_size: int | None = None,
        n_jobs: int | None = None,
        random_state=None,
    ):
        self.n_samples = n_samples
        self.candidates = candidates
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _validate_params_before_select(self) -> None:
        if check_positive_int(self.n_samples, "n_samples") < 2:
            raise ValueError(
                f"n_samples must be at least 2, got {self.n_samples!r}: one stochastic pass "
                "cannot disagree with itself, so every score would be 0"
            )
        check_positive_int(self.batch_size, "batch_size", allow_none=True)

    def _prepare(self, estimator):
        network = _torch.find_network(estimator, what="BALD")
        if not any(isinstance(m, _torch.DROPOUT_TYPES) for m in network.module.modules()):
            raise ValueError(
                f"estimator: BALD needs dropout layers for Monte-Carlo sampling, and "
                f"{type(network.module).__name__} has none (every score would be 0)"
            )
        return network

    def _rank_candidates(self, model, X_pool, candidates, n, rng, **labeled):
        self._mask_seed = int(rng.randint(2**31 - 1))
        return super()._rank_candidates(model, X_pool, candidates, n, rng, **labeled)

    def _scoring_context(self, network):
        return _torch.mc_dropout(network.module)

    def _score_chunk(self, network, X_chunk, chunk_index):
        # Masks seeded per chunk: the same scores whichever worker runs it.
        seed = np.random.SeedSequence([self._mask_seed, chunk_index]).generate_state(1)[0]
        with _torch.seeded(int(seed) % (2**31 - 1)):
            return self._score(network, X_chunk)

    def _score(self, network, X_chunk: np.ndarray) -> np.ndarray:
        """Mutual information; the module must already be in MC-dropout mode."""
        batch = self.batch_size or _torch.default_batch_size(network.device)
        scores = []
        with torch.no_grad():
            for start in range(0, len(X_chunk), batch):
                x = network.to_input(X_chunk[start : start + batch])
                sum_p = sum_h = 0.0
                for _ in range(self.n_samples):
                    p = torch.softmax(network.logits(x), dim=1).double()
                    sum_p = sum_p + p
                    sum_h = sum_h + _entropy(p)
                mi = _mutual_information(sum_p / self.n_samples, sum_h / self.n_samples)
                scores.append(mi.cpu())
        return torch.cat(scores).numpy()
