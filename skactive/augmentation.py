"""Random views of image batches, written with torch alone, for contrastive pretraining.

torchvision's PyPI wheels are CUDA builds that do not load beside a CPU
torch, so the views SimCLR needs (random resized crop, flip, a small
rotation, brightness and contrast, noise) are made here: one affine grid
per batch for the geometry, a few broadcast operations for the photometry,
on the batch's own device and drawn from a ``torch.Generator``, so a view
is reproducible from a seed.

Reference: T. Chen, S. Kornblith, M. Norouzi and G. Hinton, "A Simple
Framework for Contrastive Learning of Visual Representations", ICML 2020
(section 3 and appendix A: crop and colour distortion are the views that
matter).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from sklearn.base import BaseEstimator

from skactive.param_validation import (
    BOOLEAN,
    SKLEARN_PARAMETER_CONSTRAINTS,
    integer,
    real,
    satisfies,
    validate_params,
)


def _is_range(value) -> bool:
    return (
        isinstance(value, tuple)
        and len(value) == 2
        and all(isinstance(v, (int, float)) for v in value)
        and 0 < value[0] <= value[1]
    )


def _is_value_range(value) -> bool:
    return (
        isinstance(value, tuple)
        and len(value) == 2
        and all(isinstance(v, (int, float)) for v in value)
        and value[0] < value[1]
    )


class ImageAugmentation(BaseEstimator):
    """Random views of a batch of images ``(n, channels, height, width)``.

    Each image gets its own draw of every transform, all in one pass:

    1. *random resized crop*: a window of ``crop_scale`` of the image's area
       and aspect ratio in ``crop_ratio`` (log-uniform), resized back to the
       full image (bilinear, border pixels repeated);
    2. a *horizontal flip* with probability 0.5 when ``flip`` (not for
       digits or text, where a flip changes the class);
    3. a *rotation* of up to ``rotation`` degrees either way;
    4. *brightness*: the image scaled towards or away from the low end of
       the value range by a factor in ``[1 - brightness, 1 + brightness]``
       (a black background stays black);
    5. *contrast*: deviations from the image's mean scaled by a factor in
       ``[1 - contrast, 1 + contrast]``;
    6. *grayscale* with probability ``grayscale`` (images of 3 channels);
    7. Gaussian *noise* of ``noise`` times the value range;

    then values are clipped to the value range, so a view never leaves it.

    Defaults (from :func:`default_augmentation`): for 1-channel images
    ``crop_scale=(0.5, 1.0)``, no flip, 10 degrees, brightness and contrast
    0.4, no grayscale, noise 0.02; for 3-channel images the same with
    ``flip=True`` and ``grayscale=0.2``, as SimCLR does for natural images.

    Parameters
    ----------
    crop_scale : tuple of (float, float), default=(0.5, 1.0)
        Fraction of the area kept by the crop, 0 < low <= high.
    crop_ratio : tuple of (float, float), default=(3/4, 4/3)
        Aspect ratio (width / height) of the crop.
    flip : bool, default=False
    rotation : float, default=10.0
        Largest rotation, in degrees.
    brightness : float, default=0.4
    contrast : float, default=0.4
    grayscale : float, default=0.0
        Probability of averaging the channels.
    noise : float, default=0.02
        Standard deviation of the noise, as a fraction of the value range.
    value_range : tuple of (float, float), default=None
        Lowest and highest pixel value (None: the batch's own minimum and
        maximum).
    """

    _parameter_constraints = SKLEARN_PARAMETER_CONSTRAINTS
    _skactive_constraints: ClassVar[dict[str, list]] = {
        "crop_scale": [satisfies(_is_range, "a pair (low, high) with 0 < low <= high")],
        "crop_ratio": [satisfies(_is_range, "a pair (low, high) with 0 < low <= high")],
        "flip": [BOOLEAN],
        "rotation": [real(0.0, 180.0)],
        "brightness": [real(0.0, 1.0)],
        "contrast": [real(0.0, 1.0)],
        "grayscale": [real(0.0, 1.0)],
        "noise": [real(0.0)],
        "value_range": [None, satisfies(_is_value_range, "a pair (low, high) with low < high")],
    }

    def __init__(
        self,
        *,
        crop_scale: tuple = (0.5, 1.0),
        crop_ratio: tuple = (3 / 4, 4 / 3),
        flip: bool = False,
        rotation: float = 10.0,
        brightness: float = 0.4,
        contrast: float = 0.4,
        grayscale: float = 0.0,
        noise: float = 0.02,
        value_range: tuple | None = None,
    ):
        self.crop_scale = crop_scale
        self.crop_ratio = crop_ratio
        self.flip = flip
        self.rotation = rotation
        self.brightness = brightness
        self.contrast = contrast
        self.grayscale = grayscale
        self.noise = noise
        self.value_range = value_range

    def check_params(self) -> None:
        """Raise ``InvalidParameterError`` naming the first bad parameter."""
        validate_params(self.get_params(), self._skactive_constraints)
        if self.crop_scale[1] > 1:
            raise ValueError(f"crop_scale: the high end must be at most 1, got {self.crop_scale}")

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One random view of every image of ``x``, same shape, dtype and device.

        Parameters
        ----------
        x : Tensor of shape (n, channels, height, width)
        generator : torch.Generator, default=None
            On ``x``'s device; None uses torch's global generator.
        """
        self.check_params()
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or not x.is_floating_point():
            raise ValueError(
                "x: ImageAugmentation needs a float tensor of shape (n, channels, height, "
                f"width), got {getattr(x, 'shape', type(x).__name__)}; give pretraining an "
                "augment= callable for other rows"
            )
        low, high = self._range(x)
        draw = _Draws(len(x), x.device, generator)
        out = self._geometry(x, draw)
        out = self._photometry(out, draw, low, high)
        return out.clamp(low, high)

    def _range(self, x):
        if self.value_range is not None:
            return float(self.value_range[0]), float(self.value_range[1])
        return float(x.min()), float(x.max())

    def _geometry(self, x, draw):
        n = len(x)
        area = draw.uniform(*self.crop_scale)
        log_ratio = draw.uniform(math.log(self.crop_ratio[0]), math.log(self.crop_ratio[1]))
        ratio = torch.exp(log_ratio)
        # Window size in units of the image side; grid coordinates span [-1, 1].
        width = torch.sqrt(area * ratio).clamp(max=1.0)
        height = torch.sqrt(area / ratio).clamp(max=1.0)
        centre_x = (draw.uniform(-1.0, 1.0)) * (1 - width)
        centre_y = (draw.uniform(-1.0, 1.0)) * (1 - height)
        angle = draw.uniform(-1.0, 1.0) * math.radians(self.rotation)
        mirror = torch.ones(n, device=x.device)
        if self.flip:
            mirror = torch.where(draw.uniform(0.0, 1.0) < 0.5, -mirror, mirror)
        cos, sin = torch.cos(angle), torch.sin(angle)
        theta = torch.stack(
            [
                torch.stack([width * cos * mirror, -height * sin, centre_x], dim=1),
                torch.stack([width * sin * mirror, height * cos, centre_y], dim=1),
            ],
            dim=1,
        ).to(x.dtype)
        grid = torch.nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
        return torch.nn.functional.grid_sample(
            x, grid, mode="bilinear", padding_mode="border", align_corners=False
        )

    def _photometry(self, x, draw, low, high):
        shape = (len(x), 1, 1, 1)
        scale = draw.uniform(1 - self.brightness, 1 + self.brightness).view(shape)
        x = low + (x - low) * scale.to(x.dtype)
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        factor = draw.uniform(1 - self.contrast, 1 + self.contrast).view(shape)
        x = mean + (x - mean) * factor.to(x.dtype)
        if self.grayscale > 0 and x.shape[1] > 1:
            grey = draw.uniform(0.0, 1.0).view(shape) < self.grayscale
            x = torch.where(grey, x.mean(dim=1, keepdim=True).expand_as(x), x)
        if self.noise > 0:
            x = x + draw.normal(x.shape, x.dtype) * (self.noise * (high - low))
        return x


class _Draws:
    """Random numbers for one batch, from one generator, on the batch's device."""

    def __init__(self, n: int, device, generator):
        self.n, self.device, self.generator = n, device, generator

    def uniform(self, low: float, high: float) -> torch.Tensor:
        u = torch.rand(self.n, device=self.device, generator=self.generator)
        return low + (high - low) * u

    def normal(self, shape, dtype) -> torch.Tensor:
        return torch.randn(shape, device=self.device, dtype=dtype, generator=self.generator)


def default_augmentation(n_channels: int) -> ImageAugmentation:
    """The documented default views for images of ``n_channels`` channels.

    One channel (digits, Fashion-MNIST, scans): no flip, no grayscale.
    Three channels (photographs): flip and grayscale with probability 0.2.
    """
    validate_params({"n_channels": n_channels}, {"n_channels": [integer(1)]})
    if n_channels == 3:
        return ImageAugmentation(flip=True, grayscale=0.2)
    return ImageAugmentation()


__all__ = ["ImageAugmentation", "default_augmentation"]
