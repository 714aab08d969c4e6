"""BALD acquisition with VAE-reconstruction twins, the VAE-only part of BGADL.

Reference: T. Tran, T.-T. Do, I. Reid and G. Carneiro, "Bayesian Generative
Active Deep Learning", ICML 2019 (code: toantm/BGADL). The paper's
generator is a VAE-ACGAN (encoder, generator, discriminator and auxiliary
classifier); this strategy implements its VAE part only, and is named for
what it does.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from skactive import _torch
from skactive._chunking import READ_CHUNK, chunk_slices, take_rows
from skactive._validation import draw_seed
from skactive.base import TrainingExtras
from skactive.generative import VAE_PARAMETER_CONSTRAINTS, fit_vae, make_vae
from skactive.param_validation import options
from skactive.strategies.bald import BALD

_TRAIN_ON = ("labeled", "pool")


class BALDWithVAETwins(BALD):
    """Query by BALD, and add a VAE reconstruction of each queried row as its twin.

    Rows are ranked by BALD (MC dropout on a single net; a net without
    dropout is refused, never scored as zeros). Then a fresh VAE is trained
    on the labelled rows (``train_on="labeled"``) or on the pool
    (``"pool"``), and every selected row ``x*`` gets one twin
    ``x' = decoder(mu(x*))`` (eval mode), clipped to the value range of the
    rows the VAE was trained on. The learner trains on each twin with the
    oracle's label for its source, in the source's group. This is
    "BALD with VAE-reconstruction twins": BGADL's generator adds an ACGAN
    discriminator and auxiliary classifier, which are not built here.

    Parameters
    ----------
    n_samples : int, default=10
        MC-dropout passes of BALD.
    train_on : {"labeled", "pool"}, default="labeled"
    vae : callable, default=None
        Builds a fresh VAE as ``vae(input_shape=..., latent_dim=...)``
        returning ``(reconstruction, mu, logvar)`` (None:
        :func:`skactive.generative.make_vae`).
    latent_dim : int, default=32
    n_iterations : int, default=500
    train_batch_size : int, default=64
    learning_rate : float, default=5e-4
    beta : float, default=1.0
    kld_reduction : {"sum", "mean"}, default="sum"
    candidates, batch_size, n_jobs, random_state
        As for :class:`~skactive.strategies.BALD`; ``random_state`` also
        seeds the VAE.

    Attributes
    ----------
    candidates_, indices_, extras_, scores_ : as for BALD; ``extras_`` holds
        one twin per selected row.
    vae_ : torch.nn.Module
        The VAE that made the twins.
    vae_losses_ : ndarray of shape (n_iterations,)
    vae_seed_ : int
        Seed of the VAE trained for the last query's twins (drawn after the
        ranking, so a meta-strategy asking for the extras later gets the same).
    """

    _skactive_constraints: ClassVar[dict[str, list]] = {
        **VAE_PARAMETER_CONSTRAINTS,
        "train_on": [options(*_TRAIN_ON)],
    }

    def __init__(
        self,
        *,
        n_samples: int = 10,
        train_on: str = "labeled",
        vae=None,
        latent_dim: int = 32,
        n_iterations: int = 500,
        train_batch_size: int = 64,
        learning_rate: float = 5e-4,
        beta: float = 1.0,
        kld_reduction: str = "sum",
        candidates: int | None = None,
        chunk_size: int | None = None,
        batch_size: int | None = None,
        n_jobs: int | None = None,
        random_state=None,
    ):
        super().__init__(
            n_samples=n_samples,
            candidates=candidates,
            chunk_size=chunk_size,
            batch_size=batch_size,
            n_jobs=n_jobs,
            random_state=random_state,
        )
        self.train_on = train_on
        self.vae = vae
        self.latent_dim = latent_dim
        self.n_iterations = n_iterations
        self.train_batch_size = train_batch_size
        self.learning_rate = learning_rate
        self.beta = beta
        self.kld_reduction = kld_reduction

    def rank_candidates(self, model, X_pool, candidates, n, rng, X_labeled=None, y_labeled=None):
        if self.train_on == "labeled" and (X_labeled is None or len(X_labeled) == 0):
            raise ValueError(
                "X_labeled: train_on='labeled' needs the labelled rows; pass X_labeled, "
                "query through ActiveLearner, or use train_on='pool'"
            )
        ranked = super().rank_candidates(model, X_pool, candidates, n, rng)
        self.vae_seed_ = draw_seed(rng)
        return ranked

    def training_extras(self, model, X_pool, selected, X_labeled=None) -> TrainingExtras:
        rows = X_pool if self.train_on == "pool" else X_labeled
        seed = self.vae_seed_
        rng = np.random.RandomState(seed)
        device = _torch.device_of(model)
        factory = make_vae if self.vae is None else self.vae
        with _torch.seeded(seed):
            vae = factory(input_shape=tuple(X_pool.shape[1:]), latent_dim=int(self.latent_dim))
        vae = vae.to(device)
        self.vae_losses_ = fit_vae(
            vae,
            rows,
            n_iterations=int(self.n_iterations),
            batch_size=int(self.train_batch_size),
            learning_rate=float(self.learning_rate),
            beta=float(self.beta),
            kld_reduction=self.kld_reduction,
            rng=rng,
            device=device,
        )
        self.vae_ = vae
        sources = take_rows(X_pool, selected)
        twins = _reconstruct(vae, sources, device).astype(sources.dtype, copy=False)
        low, high = _value_range(rows)
        twins = np.clip(twins, low, high)
        return TrainingExtras(twins=twins, twin_sources=np.arange(len(selected)))


def _reconstruct(vae, X, device) -> np.ndarray:
    parts = []
    with torch.no_grad():
        for rows in chunk_slices(len(X), _torch.batch_size_on(device, None)):
            x = _torch.as_tensor(X[rows], dtype=torch.float32, device=device)
            parts.append(vae(x)[0].cpu().numpy())
    return np.concatenate(parts)


def _value_range(X) -> tuple[float, float]:
    low, high = np.inf, -np.inf
    for rows in chunk_slices(len(X), READ_CHUNK):
        chunk = np.asarray(X[rows])
        low, high = min(low, float(chunk.min())), max(high, float(chunk.max()))
    return low, high
