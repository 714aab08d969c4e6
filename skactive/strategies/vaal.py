"""VAAL: Variational Adversarial Active Learning.

Reference: S. Sinha, S. Ebrahimi and T. Darrell, "Variational Adversarial
Active Learning", ICCV 2019 (code: sinhasam/vaal).
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from skactive import _torch
from skactive._chunking import RowView, chunk_slices
from skactive._validation import draw_seed
from skactive.base import QueryStrategy, StrategyTags, rank_scores
from skactive.generative import (
    VAE_PARAMETER_CONSTRAINTS,
    ContentOrderedBatches,
    make_vae,
    vae_loss,
)
from skactive.param_validation import integer, real


class VAAL(QueryStrategy):
    """Query the rows a discriminator finds least likely to be labelled.

    A VAE learns one latent space for the labelled rows and the pool while a
    discriminator learns to tell, from the latent mean ``mu``, whether a row
    is labelled. The two play a minimax game: the VAE's loss adds
    ``adversary_weight`` times the discriminator's error on "everything is
    labelled". Rows whose ``P(labelled)`` stays lowest are the ones the
    labelled set represents worst; they are queried. The task model is not
    used, so VAAL works with any estimator.

    Each ``select`` trains a fresh VAE and discriminator as the reference
    does: per iteration ``vae_steps`` VAE steps and ``discriminator_steps``
    discriminator steps, each on a new labelled and a new unlabelled batch,
    with Adam. Scoring runs both in eval mode (the reference scores in
    train mode, so its batch-norm statistics make scores depend on batch
    composition). Training runs on the task net's device when the estimator
    is a skorch net, otherwise on the CPU.

    The reference trains for ``50000 * 100 / 128 = 39,062`` iterations on
    CIFAR-10; ``n_iterations=500`` is the CPU-sized default (see the user
    guide for measured costs).

    Parameters
    ----------
    latent_dim : int, default=32
    n_iterations : int, default=500
    train_batch_size : int, default=64
        Labelled and unlabelled rows per training batch (each).
    beta : float, default=1.0
        Weight of the KL term.
    adversary_weight : float, default=1.0
        Weight of the adversarial term in the VAE's loss (``lambda_adv``).
    learning_rate : float, default=5e-4
        Adam's step size for both networks.
    vae_steps, discriminator_steps : int, default=2, 1
    kld_reduction : {"sum", "mean"}, default="sum"
        ``"sum"`` over rows and latent dimensions as in the reference (the
        KL term then outweighs the per-element reconstruction error);
        ``"mean"`` averages over rows.
    vae : callable, default=None
        Builds a fresh VAE as ``vae(input_shape=..., latent_dim=...)``; its
        forward returns ``(reconstruction, mu, logvar)``. None: a
        convolutional VAE for image rows, an MLP VAE for flat rows
        (:func:`skactive.generative.make_vae`).
    candidates : int, default=None
        Train on and score only a random subset of this many pool rows
        (None: all).
    batch_size : int, default=None
        Rows per scoring pass (None: 128 on CPU, 1024 on a GPU).
    random_state : int, RandomState instance or None, default=None
        Seeds the candidate subset, the batches, the networks'
        initialisation and the VAE's sampling noise.

    Attributes
    ----------
    candidates_, indices_, extras_ : see :class:`~skactive.QueryStrategy`
    scores_ : ndarray of shape (n_candidates,)
        ``P(labelled)`` of each candidate (lowest first is queried).
    vae_, discriminator_ : torch.nn.Module
        The networks trained by the last ``select``, in eval mode.
    losses_ : ndarray of shape (n_iterations, 2)
        VAE and discriminator loss of the last step of every iteration.
    """

    def __skactive_tags__(self) -> StrategyTags:
        return replace(super().__skactive_tags__(), greater_is_better=False)

    _skactive_constraints: ClassVar[dict[str, list]] = {
        **VAE_PARAMETER_CONSTRAINTS,
        "vae_steps": [integer(1)],
        "discriminator_steps": [integer(1)],
        "adversary_weight": [real(0.0)],
    }

    def __init__(
        self,
        *,
        latent_dim: int = 32,
        n_iterations: int = 500,
        train_batch_size: int = 64,
        beta: float = 1.0,
        adversary_weight: float = 1.0,
        learning_rate: float = 5e-4,
        vae_steps: int = 2,
        discriminator_steps: int = 1,
        kld_reduction: str = "sum",
        vae=None,
        candidates: int | None = None,
        batch_size: int | None = None,
        random_state=None,
    ):
        self.latent_dim = latent_dim
        self.n_iterations = n_iterations
        self.train_batch_size = train_batch_size
        self.beta = beta
        self.adversary_weight = adversary_weight
        self.learning_rate = learning_rate
        self.vae_steps = vae_steps
        self.discriminator_steps = discriminator_steps
        self.kld_reduction = kld_reduction
        self.vae = vae
        self.candidates = candidates
        self.batch_size = batch_size
        self.random_state = random_state

    def rank_candidates(self, model, X_pool, candidates, n, rng, X_labeled=None, y_labeled=None):
        if X_labeled is None or len(X_labeled) == 0:
            raise ValueError(
                "X_labeled: VAAL needs the labelled rows (its discriminator learns to tell "
                "them from the pool); pass X_labeled, or query through ActiveLearner"
            )
        device = _torch.device_of(model)
        vae, discriminator = self._build(X_pool.shape[1:], device, rng)
        pool = RowView(X_pool, candidates)
        losses = self._train(vae, discriminator, X_labeled, pool, device, rng)
        scores = self._p_labeled(vae, discriminator, pool, device)
        self.vae_, self.discriminator_, self.losses_ = vae, discriminator, losses
        return rank_scores(scores, n, greater_is_better=False, rng=rng), scores

    def _build(self, input_shape, device, rng):
        factory = make_vae if self.vae is None else self.vae
        with _torch.seeded(draw_seed(rng)):
            vae = factory(input_shape=tuple(input_shape), latent_dim=int(self.latent_dim))
            discriminator = _discriminator(int(self.latent_dim))
        if not isinstance(vae, nn.Module):
            raise ValueError(f"vae: the factory returned {type(vae).__name__}, not a torch Module")
        return vae.to(device), discriminator.to(device)

    def _train(self, vae, discriminator, X_labeled, pool, device, rng) -> np.ndarray:
        opt_vae = torch.optim.Adam(vae.parameters(), lr=float(self.learning_rate))
        opt_d = torch.optim.Adam(discriminator.parameters(), lr=float(self.learning_rate))
        labeled = ContentOrderedBatches(X_labeled, int(self.train_batch_size), rng, device)
        unlabeled = ContentOrderedBatches(pool, int(self.train_batch_size), rng, device)
        losses = np.empty((int(self.n_iterations), 2))
        vae.train()
        discriminator.train()
        with _torch.seeded(draw_seed(rng)):
            for it in range(int(self.n_iterations)):
                for _ in range(int(self.vae_steps)):
                    loss_vae = self._vae_step(vae, discriminator, opt_vae, labeled(), unlabeled())
                for _ in range(int(self.discriminator_steps)):
                    loss_d = _discriminator_step(vae, discriminator, opt_d, labeled(), unlabeled())
                losses[it] = loss_vae, loss_d
        vae.eval()
        discriminator.eval()
        return losses

    def _vae_step(self, vae, discriminator, optimizer, x_l, x_u) -> float:
        loss = 0.0
        for x in (x_l, x_u):
            recon, mu, logvar = vae(x)
            loss = loss + vae_loss(
                x, recon, mu, logvar, beta=float(self.beta), kld_reduction=self.kld_reduction
            )
            # The VAE wants the discriminator to call every row labelled (1).
            logit = discriminator(mu)
            adversarial = nn.functional.binary_cross_entropy_with_logits(
                logit, torch.ones_like(logit)
            )
            loss = loss + float(self.adversary_weight) * adversarial
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    def _p_labeled(self, vae, discriminator, pool, device) -> np.ndarray:
        size = _torch.batch_size_on(device, self.batch_size)
        parts = []
        with torch.no_grad():
            for rows in chunk_slices(len(pool), size):
                x = _torch.as_tensor(pool[rows], dtype=torch.float32, device=device)
                _, mu, _ = vae(x)
                parts.append(torch.sigmoid(discriminator(mu)).squeeze(1).double().cpu())
        return torch.cat(parts).numpy() if parts else np.empty(0)


def _discriminator_step(vae, discriminator, optimizer, x_l, x_u) -> float:
    with torch.no_grad():
        mu_l, mu_u = vae(x_l)[1], vae(x_u)[1]
    logit_l, logit_u = discriminator(mu_l), discriminator(mu_u)
    loss = nn.functional.binary_cross_entropy_with_logits(
        logit_l, torch.ones_like(logit_l)
    ) + nn.functional.binary_cross_entropy_with_logits(logit_u, torch.zeros_like(logit_u))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def _discriminator(latent_dim: int) -> nn.Module:
    """The reference's final discriminator: latent -> 512 -> 512 -> 1 (a logit)."""
    return nn.Sequential(
        nn.Linear(latent_dim, 512),
        nn.ReLU(),
        nn.Linear(512, 512),
        nn.ReLU(),
        nn.Linear(512, 1),
    )
