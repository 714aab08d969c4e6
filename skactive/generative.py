"""Variational autoencoders sized by the rows they encode.

Shared machinery for strategies that learn the pool's distribution (VAAL's
adversarial VAE) and for generated training rows; it knows nothing of
active learning. Every VAE here maps a batch ``x`` to ``(reconstruction,
mu, logvar)``: the reconstruction has ``x``'s shape, and ``mu`` and
``logvar`` are ``(batch, latent_dim)``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from skactive import _torch
from skactive._chunking import READ_CHUNK, chunk_slices
from skactive._validation import draw_seed, row_key
from skactive.param_validation import Constraint, integer, options, real

#: Largest image side the convolutional VAE is built for.
MAX_SIDE = 256

#: What the parameters of a VAE trained by a strategy accept (VAAL, BALD's twins).
VAE_PARAMETER_CONSTRAINTS = {
    "vae": [None, Constraint(callable, "a callable building vae(input_shape, latent_dim)")],
    "latent_dim": [integer(1)],
    "n_iterations": [integer(1)],
    "train_batch_size": [integer(1)],
    "learning_rate": [real(0.0, low_open=True)],
    "beta": [real(0.0)],
    "kld_reduction": [options("sum", "mean")],
}


class ConvVAE(nn.Module):
    """Convolutional VAE after VAAL's (Sinha et al., 2019), at a chosen width.

    Images are zero-padded to a square side ``S``, the next power of two
    (at least 8); stride-2 convolutions (kernel 4, batch norm, ReLU) halve
    it down to 2 x 2 with ``width, 2 width, ...`` channels (at most ``8
    width``); linear layers give ``mu`` and ``logvar``. The decoder mirrors
    the encoder with transposed convolutions, ends linear (no sigmoid), and
    is cropped back to the input's size. ``width=128`` and 32 x 32 inputs
    give the reference's layout (about 22 M parameters); the default 16
    keeps a 28 x 28 image VAE at about 0.4 M parameters, trainable on a CPU.

    Parameters
    ----------
    input_shape : tuple of int
        ``(channels, height, width)`` of one row.
    latent_dim : int, default=32
    width : int, default=16
        Channels of the first convolution.
    """

    def __init__(self, input_shape, latent_dim: int = 32, width: int = 16):
        super().__init__()
        channels, height, side_w = (int(v) for v in input_shape)
        self.input_shape = (channels, height, side_w)
        self.latent_dim = latent_dim
        self._side = padded_side(height, side_w)
        widths = conv_widths(self._side, width)
        self.encoder = down_convolutions(channels, widths)
        flat = widths[-1] * 4
        self.fc_mu = nn.Linear(flat, latent_dim)
        self.fc_logvar = nn.Linear(flat, latent_dim)
        self.fc_decode = nn.Linear(latent_dim, flat)
        self._top = widths[-1]
        self.decoder = up_convolutions(widths, channels)
        kaiming_init(self)

    def forward(self, x: torch.Tensor):
        """``(reconstruction, mu, logvar)``; the latent code is sampled in train mode only."""
        _, height, side_w = self.input_shape
        padded = nn.functional.pad(x, (0, self._side - side_w, 0, self._side - height))
        hidden = self.encoder(padded)
        mu, logvar = self.fc_mu(hidden), self.fc_logvar(hidden)
        z = reparameterize(mu, logvar) if self.training else mu
        out = self.fc_decode(z).view(len(x), self._top, 2, 2)
        return self.decoder(out)[:, :, :height, :side_w], mu, logvar


def padded_side(height: int, width: int) -> int:
    """The square side images are zero-padded to: the next power of two, at least 8."""
    return max(8, 2 ** math.ceil(math.log2(max(height, width))))


def conv_widths(side: int, width: int) -> list[int]:
    """Channels of the stride-2 convolutions that halve ``side`` down to 2 x 2."""
    return [min(width * 2**i, 8 * width) for i in range(int(math.log2(side)) - 1)]


def down_convolutions(channels: int, widths, *, slope: float = 0.0) -> nn.Sequential:
    """Conv(4, stride 2) - batch norm - (leaky) ReLU per width, then flatten."""
    layers, previous = [], channels
    for out in widths:
        activation = nn.LeakyReLU(slope) if slope else nn.ReLU()
        layers += [nn.Conv2d(previous, out, 4, 2, 1, bias=False), nn.BatchNorm2d(out), activation]
        previous = out
    return nn.Sequential(*layers, nn.Flatten())


def up_convolutions(widths, channels: int) -> nn.Sequential:
    """The mirror of :func:`down_convolutions` from 2 x 2, ending linear in ``channels``."""
    layers, previous = [], widths[-1]
    for out in reversed(widths[:-1]):
        layers += [
            nn.ConvTranspose2d(previous, out, 4, 2, 1, bias=False),
            nn.BatchNorm2d(out),
            nn.ReLU(),
        ]
        previous = out
    layers.append(nn.ConvTranspose2d(previous, channels, 4, 2, 1))
    return nn.Sequential(*layers)


def kaiming_init(module: nn.Module) -> None:
    """Kaiming-normal weights for every convolution and linear layer of ``module``."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            nn.init.kaiming_normal_(layer.weight)


class MLPVAE(nn.Module):
    """VAE for flat feature rows: ``n_features -> hidden -> latent`` and back.

    Parameters
    ----------
    input_shape : tuple of int
        ``(n_features,)``.
    latent_dim : int, default=32
    hidden : int, default=256
    """

    def __init__(self, input_shape, latent_dim: int = 32, hidden: int = 256):
        super().__init__()
        (n_features,) = (int(v) for v in input_shape)
        self.input_shape = (n_features,)
        self.latent_dim = latent_dim
        self.encoder = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU())
        self.fc_mu = nn.Linear(hidden, latent_dim)
        self.fc_logvar = nn.Linear(hidden, latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, n_features)
        )

    def forward(self, x: torch.Tensor):
        """``(reconstruction, mu, logvar)``; the latent code is sampled in train mode only."""
        hidden = self.encoder(x)
        mu, logvar = self.fc_mu(hidden), self.fc_logvar(hidden)
        z = reparameterize(mu, logvar) if self.training else mu
        return self.decoder(z), mu, logvar


def make_vae(input_shape, latent_dim: int = 32) -> nn.Module:
    """The default VAE for rows of ``input_shape``.

    ``(n_features,)`` rows get an :class:`MLPVAE`; ``(channels, height,
    width)`` images with sides from 4 to :data:`MAX_SIDE` a
    :class:`ConvVAE`.

    Raises
    ------
    ValueError
        For any other row shape; the message says to pass a VAE of one's own.
    """
    shape = tuple(int(v) for v in input_shape)
    if len(shape) == 1:
        return MLPVAE(shape, latent_dim)
    if len(shape) == 3 and min(shape[1:]) >= 4 and max(shape[1:]) <= MAX_SIDE:
        return ConvVAE(shape, latent_dim)
    raise ValueError(
        f"vae: the default VAE takes rows of shape (n_features,) or (channels, height, "
        f"width) with sides from 4 to {MAX_SIDE}, got rows of shape {shape}; pass vae= a "
        "module class called as vae(input_shape=..., latent_dim=...) whose forward returns "
        "(reconstruction, mu, logvar)"
    )


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``mu + sigma * eps`` with ``eps ~ N(0, I)`` from torch's global generator."""
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor, *, reduction: str = "sum"):
    """KL(N(mu, exp(logvar)) || N(0, I)).

    ``reduction="sum"`` sums over rows and latent dimensions (VAAL's
    reference); ``"mean"`` averages over rows instead, which keeps the term
    on the scale of a per-element reconstruction error as batches grow.
    """
    per_row = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)
    if reduction == "sum":
        return per_row.sum()
    if reduction == "mean":
        return per_row.mean()
    raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")


def vae_loss(x, reconstruction, mu, logvar, *, beta: float = 1.0, kld_reduction: str = "sum"):
    """Mean squared reconstruction error plus ``beta`` times the KL term."""
    error = nn.functional.mse_loss(reconstruction, x)
    return error + beta * kl_divergence(mu, logvar, reduction=kld_reduction)


def fit_vae(
    vae: nn.Module,
    X,
    *,
    n_iterations: int,
    batch_size: int,
    learning_rate: float,
    beta: float = 1.0,
    kld_reduction: str = "sum",
    rng,
    device,
) -> np.ndarray:
    """Train ``vae`` on the rows of ``X`` with Adam; return the loss of every iteration.

    Batches are drawn by :class:`ContentOrderedBatches` from ``rng``; the
    sampling noise comes from torch's generator, seeded from ``rng`` inside
    the call. The VAE is left in eval mode.
    """
    optimizer = torch.optim.Adam(vae.parameters(), lr=learning_rate)
    batches = ContentOrderedBatches(X, batch_size, rng, device)
    losses = np.empty(n_iterations)
    vae.train()
    with _torch.seeded(draw_seed(rng)):
        for it in range(n_iterations):
            x = batches()
            recon, mu, logvar = vae(x)
            loss = vae_loss(x, recon, mu, logvar, beta=beta, kld_reduction=kld_reduction)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses[it] = float(loss.detach())
    vae.eval()
    return losses


class ContentOrderedBatches:
    """An endless stream of random training batches: each pass a fresh permutation.

    Rows are drawn in an order fixed by their content, not their position,
    so the trained networks (and the scores) do not change when the pool is
    permuted.
    """

    def __init__(self, X, size: int, rng, device):
        self.X, self.size, self.rng, self.device = X, min(size, len(X)), rng, device
        self._by_content = _content_order(X)
        self._order, self._next = np.empty(0, dtype=np.intp), 0

    def __call__(self) -> torch.Tensor:
        if self._next + self.size > len(self._order):
            self._order, self._next = self.rng.permutation(len(self.X)), 0
        # Within a batch too, rows go in content order: batch norm sums them.
        rows = self._by_content[np.sort(self._order[self._next : self._next + self.size])]
        self._next += self.size
        return _torch.as_tensor(self.X[rows], dtype=torch.float32, device=self.device)


def _content_order(X) -> np.ndarray:
    """Positions of ``X``'s rows sorted by a digest of their content."""
    keys = []
    for rows in chunk_slices(len(X), READ_CHUNK):
        keys.extend(row_key(row) for row in np.asarray(X[rows]))
    return np.asarray(sorted(range(len(keys)), key=keys.__getitem__), dtype=np.intp)


class ConvEncoder(nn.Module):
    """The encoder of :class:`ConvVAE` alone: images to ``(mu, logvar)``.

    Parameters
    ----------
    input_shape : tuple of int
        ``(channels, height, width)``.
    latent_dim : int, default=16
    width : int, default=16
    """

    def __init__(self, input_shape, latent_dim: int = 16, width: int = 16):
        super().__init__()
        channels, height, side_w = (int(v) for v in input_shape)
        self.input_shape = (channels, height, side_w)
        self._side = padded_side(height, side_w)
        widths = conv_widths(self._side, width)
        self.encoder = down_convolutions(channels, widths)
        self.fc_mu = nn.Linear(widths[-1] * 4, latent_dim)
        self.fc_logvar = nn.Linear(widths[-1] * 4, latent_dim)
        kaiming_init(self)

    def forward(self, x: torch.Tensor):
        """``(mu, logvar)``, each ``(batch, latent_dim)``."""
        hidden = self.encoder(_pad(x, self.input_shape, self._side))
        return self.fc_mu(hidden), self.fc_logvar(hidden)


class ConditionalGenerator(nn.Module):
    """``G(z, y)``: a latent code and a class to an image in a value range (ACGAN's generator).

    ``[z, onehot(y)]`` goes through a linear layer to ``2 x 2`` maps and the
    transposed convolutions of :class:`ConvVAE`'s decoder; a sigmoid scales
    the output into ``value_range`` (the reference's sigmoid, for images in
    [0, 1]), and it is cropped to the input's size.

    Parameters
    ----------
    input_shape : tuple of int
    n_classes : int
    latent_dim : int, default=16
    width : int, default=16
    value_range : tuple of (float, float), default=(0.0, 1.0)
    """

    def __init__(
        self,
        input_shape,
        n_classes: int,
        latent_dim: int = 16,
        width: int = 16,
        value_range=(0.0, 1.0),
    ):
        super().__init__()
        channels, height, side_w = (int(v) for v in input_shape)
        self.input_shape = (channels, height, side_w)
        self.n_classes, self.latent_dim = int(n_classes), int(latent_dim)
        self.value_range = (float(value_range[0]), float(value_range[1]))
        widths = conv_widths(padded_side(height, side_w), width)
        self._top = widths[-1]
        self.fc = nn.Linear(self.latent_dim + self.n_classes, widths[-1] * 4)
        self.decoder = up_convolutions(widths, channels)
        kaiming_init(self)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Images of shape ``(batch, *input_shape)`` for codes ``z`` and classes ``y``."""
        onehot = nn.functional.one_hot(y.long(), self.n_classes).to(z.dtype)
        out = self.fc(torch.cat([z, onehot], dim=1)).view(len(z), self._top, 2, 2)
        _, height, side_w = self.input_shape
        raw = self.decoder(torch.relu(out))[:, :, :height, :side_w]
        low, high = self.value_range
        return low + (high - low) * torch.sigmoid(raw)


class ConvDiscriminator(nn.Module):
    """``D(x)``: the logit that an image is real (the ACGAN's discriminator).

    Stride-2 convolutions with batch norm and leaky ReLU (slope 0.2, as in
    DCGAN), then a linear layer to one logit; no sigmoid (the loss is
    ``binary_cross_entropy_with_logits``, stable where a sigmoid saturates).

    Parameters
    ----------
    input_shape : tuple of int
    width : int, default=16
    """

    def __init__(self, input_shape, width: int = 16):
        super().__init__()
        channels, height, side_w = (int(v) for v in input_shape)
        self.input_shape = (channels, height, side_w)
        self._side = padded_side(height, side_w)
        widths = conv_widths(self._side, width)
        self.features = down_convolutions(channels, widths, slope=0.2)
        self.fc = nn.Linear(widths[-1] * 4, 1)
        kaiming_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One logit per image, shape ``(batch,)``."""
        return self.fc(self.features(_pad(x, self.input_shape, self._side))).squeeze(1)


def _pad(x: torch.Tensor, input_shape, side: int) -> torch.Tensor:
    _, height, width = input_shape
    return nn.functional.pad(x, (0, side - width, 0, side - height))


def check_image_shape(input_shape, name: str = "input_shape") -> tuple[int, int, int]:
    """``input_shape`` as ``(channels, height, width)`` if the conv networks can take it.

    Raises
    ------
    ValueError
        Naming ``name``, for rows that are not images with sides from 4 to
        :data:`MAX_SIDE`.
    """
    shape = tuple(int(v) for v in input_shape)
    if len(shape) != 3 or min(shape[1:]) < 4 or max(shape[1:]) > MAX_SIDE:
        raise ValueError(
            f"{name}: the generator produces images (channels, height, width) with sides "
            f"from 4 to {MAX_SIDE}, got rows of shape {shape}"
        )
    return shape
