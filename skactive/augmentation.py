"""Random views of image batches, written with torch alone: SimCLR's and FixMatch's.

torchvision's PyPI wheels are CUDA builds that do not load beside a CPU
torch, so the views SimCLR needs (random resized crop, flip, a small
rotation, brightness and contrast, noise) are made here: one affine grid
per batch for the geometry, a few broadcast operations for the photometry,
on the batch's own device and drawn from a ``torch.Generator``, so a view
is reproducible from a seed.

References: T. Chen, S. Kornblith, M. Norouzi and G. Hinton, "A Simple
Framework for Contrastive Learning of Visual Representations", ICML 2020
(section 3 and appendix A: crop and colour distortion are the views that
matter); K. Sohn et al., "FixMatch: Simplifying Semi-Supervised Learning
with Consistency and Confidence", NeurIPS 2020 (weak views: flip and
translation; strong views: RandAugment's operations, then Cutout).
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
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
    8. RandAugment-style operations, each applied to an image with its own
       probability: *solarize* (values above a random threshold mirrored),
       *posterize* (4 to 8 bits over the value range), *autocontrast* (the
       image stretched to the value range) and *sharpness* (a blend with a
       3x3-blurred copy, factor in ``[1 - sharpness, 1 + sharpness]``);
    9. *Cutout*: a square of side up to ``cutout`` times the image's side,
       at a random place, set to the middle of the value range;

    then values are clipped to the value range, so a view never leaves it.
    Every operation whose parameter is 0 (or False) draws no random number,
    so adding operations left off changes no existing view.

    Defaults (from :func:`default_augmentation`): for 1-channel images
    ``crop_scale=(0.5, 1.0)``, no flip, 10 degrees, brightness and contrast
    0.4, no grayscale, noise 0.02; for 3-channel images the same with
    ``flip=True`` and ``grayscale=0.2``, as SimCLR does for natural images.
    :func:`weak_augmentation` and :func:`strong_augmentation` are FixMatch's
    two views.

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
    translate : float, default=0.0
        Largest shift, as a fraction of the image's side, either way.
    solarize, posterize, autocontrast : float, default=0.0
        Probability of each operation for an image.
    sharpness : float, default=0.0
        In [0, 1]: largest change of sharpness (0: off).
    cutout : float, default=0.0
        In [0, 1]: largest side of the Cutout square, as a fraction of the
        image's side (0: off).
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
        "translate": [real(0.0, 0.5)],
        "solarize": [real(0.0, 1.0)],
        "posterize": [real(0.0, 1.0)],
        "autocontrast": [real(0.0, 1.0)],
        "sharpness": [real(0.0, 1.0)],
        "cutout": [real(0.0, 1.0)],
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
        translate: float = 0.0,
        solarize: float = 0.0,
        posterize: float = 0.0,
        autocontrast: float = 0.0,
        sharpness: float = 0.0,
        cutout: float = 0.0,
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
        self.translate = translate
        self.solarize = solarize
        self.posterize = posterize
        self.autocontrast = autocontrast
        self.sharpness = sharpness
        self.cutout = cutout
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
        out = self._rand_augment(out, draw, low, high)
        if self.cutout > 0:
            out = _cutout(out, draw, self.cutout, (low + high) / 2)
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
        if self.translate > 0:
            # Grid units span 2 per side: a shift of t sides is 2t.
            centre_x = centre_x + draw.uniform(-2.0, 2.0) * self.translate
            centre_y = centre_y + draw.uniform(-2.0, 2.0) * self.translate
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

    def _rand_augment(self, x, draw, low, high):
        shape = (len(x), 1, 1, 1)
        span = high - low
        if self.solarize > 0:
            chosen = (draw.uniform(0.0, 1.0) < self.solarize).view(shape)
            threshold = (low + span * draw.uniform(0.5, 1.0)).view(shape).to(x.dtype)
            x = torch.where(chosen & (x >= threshold), low + high - x, x)
        if self.posterize > 0:
            chosen = (draw.uniform(0.0, 1.0) < self.posterize).view(shape)
            levels = torch.pow(2.0, torch.floor(draw.uniform(4.0, 9.0))).view(shape)
            unit = ((x - low) / span).clamp(0.0, 1.0)
            quantised = low + torch.floor(unit * (levels - 1) + 0.5) / (levels - 1) * span
            x = torch.where(chosen, quantised.to(x.dtype), x)
        if self.autocontrast > 0:
            chosen = (draw.uniform(0.0, 1.0) < self.autocontrast).view(shape)
            lo = x.amin(dim=(1, 2, 3), keepdim=True)
            hi = x.amax(dim=(1, 2, 3), keepdim=True)
            stretched = low + (x - lo) / (hi - lo).clamp(min=1e-12) * span
            x = torch.where(chosen & (hi > lo), stretched, x)
        if self.sharpness > 0:
            factor = draw.uniform(1 - self.sharpness, 1 + self.sharpness).view(shape)
            x = _blurred(x) + (x - _blurred(x)) * factor.to(x.dtype)
        return x


def _blurred(x: torch.Tensor) -> torch.Tensor:
    """Each channel averaged over 3x3 neighbourhoods (borders repeated)."""
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="replicate")
    return torch.nn.functional.avg_pool2d(padded, kernel_size=3, stride=1)


def _cutout(x: torch.Tensor, draw, largest: float, fill: float) -> torch.Tensor:
    """A square of side up to ``largest`` sides, at a random centre, set to ``fill``."""
    n, _, height, width = x.shape
    side = draw.uniform(0.0, largest) * min(height, width)
    rows = torch.arange(height, device=x.device).view(1, height, 1)
    cols = torch.arange(width, device=x.device).view(1, 1, width)
    centre_r = draw.uniform(0.0, 1.0) * height
    centre_c = draw.uniform(0.0, 1.0) * width
    half = (side / 2).view(n, 1, 1)
    inside = ((rows - centre_r.view(n, 1, 1)).abs() < half) & (
        (cols - centre_c.view(n, 1, 1)).abs() < half
    )
    return torch.where(inside.unsqueeze(1), torch.full_like(x, fill), x)


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


def views_for_rows(X, factory=None, *, parameter: str = "augment") -> ImageAugmentation:
    """``factory``'s views for the image rows ``X``: sized by their channels, in their value range.

    Parameters
    ----------
    X : ndarray of shape (n, channels, height, width)
    factory : callable, default=None
        ``n_channels -> ImageAugmentation``; None: :func:`default_augmentation`.
    parameter : str
        The caller's parameter that takes other views, named by the error.

    Raises
    ------
    ValueError
        For rows that are not images.
    """
    if np.ndim(X) != 4:
        raise ValueError(
            f"{parameter}: the default views need image rows (channels, height, width), got "
            f"rows of shape {np.shape(X)[1:]}; pass {parameter}= a callable for other rows"
        )
    views = (factory or default_augmentation)(int(X.shape[1]))
    return views.set_params(value_range=(float(X.min()), float(X.max())))


def weak_augmentation(n_channels: int) -> ImageAugmentation:
    """FixMatch's weak view: a shift of up to 1/8 of the side (and a flip for photographs)."""
    validate_params({"n_channels": n_channels}, {"n_channels": [integer(1)]})
    return ImageAugmentation(
        crop_scale=(1.0, 1.0),
        crop_ratio=(1.0, 1.0),
        flip=n_channels == 3,
        rotation=0.0,
        brightness=0.0,
        contrast=0.0,
        noise=0.0,
        translate=0.125,
    )


def strong_augmentation(n_channels: int) -> ImageAugmentation:
    """FixMatch's strong view: the weak one, RandAugment-style distortions, then Cutout.

    Rotation up to 30 degrees, brightness and contrast up to 0.9, each of
    solarize, posterize and autocontrast with probability 0.3, sharpness up
    to 0.9, and a Cutout square of up to half the side (the paper's
    ``[0, 0.5]``).
    """
    return weak_augmentation(n_channels).set_params(
        rotation=30.0,
        brightness=0.9,
        contrast=0.9,
        solarize=0.3,
        posterize=0.3,
        autocontrast=0.3,
        sharpness=0.9,
        cutout=0.5,
    )


__all__ = [
    "ImageAugmentation",
    "default_augmentation",
    "strong_augmentation",
    "views_for_rows",
    "weak_augmentation",
]
