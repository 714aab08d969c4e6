"""Random views of image batches: shape, dtype, range, reproducibility and each transform."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from sklearn.base import clone

from skactive.augmentation import (
    ImageAugmentation,
    default_augmentation,
    strong_augmentation,
    weak_augmentation,
)
from skactive.param_validation import InvalidParameterError


def _batch(n=16, channels=1, size=12, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, channels, size, size, generator=generator)


def _views(augment, x, seed):
    return augment(x, torch.Generator().manual_seed(seed))


def _only(**changes):
    """Every transform off (the identity), except ``changes``."""
    identity = dict(
        crop_scale=(1.0, 1.0),
        crop_ratio=(1.0, 1.0),
        rotation=0.0,
        brightness=0.0,
        contrast=0.0,
        noise=0.0,
    )
    return ImageAugmentation(**{**identity, **changes})


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_views_keep_shape_dtype_and_value_range(channels, dtype):
    x = _batch(channels=channels).to(dtype) * 2 - 0.5  # values in [-0.5, 1.5]
    view = _views(default_augmentation(channels), x, 0)
    assert view.shape == x.shape and view.dtype == dtype
    assert view.min() >= x.min() and view.max() <= x.max()
    fixed = ImageAugmentation(value_range=(0.0, 1.0))
    bounded = _views(fixed, x, 0)
    assert bounded.min() >= 0.0 and bounded.max() <= 1.0


def test_views_are_reproducible_from_the_generator_and_differ_between_draws():
    x = _batch()
    augment = ImageAugmentation()
    torch.testing.assert_close(_views(augment, x, 3), _views(augment, x, 3))
    assert not torch.allclose(_views(augment, x, 3), _views(augment, x, 4))
    # Each image gets its own draw: two copies of one image get different views.
    twins = _views(augment, x[:1].repeat(2, 1, 1, 1), 5)
    assert not torch.allclose(twins[0], twins[1])


def test_the_identity_settings_return_the_batch():
    x = _batch()
    torch.testing.assert_close(_views(_only(), x, 0), x, atol=1e-5, rtol=0)


def test_a_flip_mirrors_the_image():
    x = _batch(n=64)
    view = _views(_only(flip=True), x, 0)
    mirrored = torch.isclose(view, x.flip(-1), atol=1e-5).flatten(1).all(1)
    kept = torch.isclose(view, x, atol=1e-5).flatten(1).all(1)
    assert bool((mirrored | kept).all())
    assert 16 < int(mirrored.sum()) < 48  # about half of 64


def test_brightness_keeps_a_black_background_black_and_contrast_keeps_the_mean():
    x = torch.zeros(8, 1, 10, 10)
    x[:, :, 3:7, 3:7] = 0.5
    bright = _only(brightness=0.5, value_range=(0.0, 1.0))
    view = _views(bright, x, 0)
    assert torch.all(view[:, :, 0, :] == 0)
    assert not torch.allclose(view, x)
    # Away from the clip, contrast keeps each image's mean.
    contrast = clone(bright).set_params(brightness=0.0, contrast=0.5, value_range=(-1.0, 2.0))
    view = _views(contrast, x, 0)
    torch.testing.assert_close(view.mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3)), atol=1e-5, rtol=0)


def test_a_crop_zooms_in():
    # A centred square: a crop of a quarter of the area makes it cover more of the image.
    x = torch.zeros(32, 1, 16, 16)
    x[:, :, 4:12, 4:12] = 1.0
    crop = _only(crop_scale=(0.25, 0.25))
    assert float(_views(crop, x, 0).mean()) > float(x.mean())


def test_grayscale_averages_channels_and_noise_scales_with_the_range():
    x = _batch(n=32, channels=3)
    grey = _only(grayscale=1.0)
    view = _views(grey, x, 0)
    torch.testing.assert_close(view[:, 0], view[:, 1])
    torch.testing.assert_close(view[:, 0], x.mean(dim=1), atol=1e-5, rtol=0)
    noisy = clone(grey).set_params(grayscale=0.0, noise=0.1, value_range=(-10.0, 10.0))
    spread = float((_views(noisy, x, 0) - x).std())
    assert spread == pytest.approx(0.1 * 20, rel=0.1)


@pytest.mark.parametrize(
    "params, name",
    [
        ({"crop_scale": (0.0, 1.0)}, "crop_scale"),
        ({"crop_scale": (0.5, 1.5)}, "crop_scale"),
        ({"crop_ratio": (2.0, 1.0)}, "crop_ratio"),
        ({"flip": "yes"}, "flip"),
        ({"rotation": -1.0}, "rotation"),
        ({"brightness": 1.5}, "brightness"),
        ({"noise": -0.1}, "noise"),
        ({"value_range": (1.0, 0.0)}, "value_range"),
    ],
)
def test_bad_parameters_are_named(params, name):
    with pytest.raises((InvalidParameterError, ValueError), match=name):
        ImageAugmentation(**params)(_batch())


@pytest.mark.parametrize(
    "bad", [np.zeros((4, 1, 8, 8)), torch.zeros(4, 64), torch.zeros(4, 1, 8, 8).long()]
)
def test_rows_that_are_not_float_image_tensors_are_refused(bad):
    with pytest.raises(ValueError, match="x: ImageAugmentation needs"):
        ImageAugmentation()(bad)


def test_default_views_per_channel_count():
    assert default_augmentation(1).flip is False
    assert default_augmentation(3).flip is True and default_augmentation(3).grayscale == 0.2
    with pytest.raises(InvalidParameterError, match="n_channels"):
        default_augmentation(0)


def test_strong_views_stay_in_range_and_cut_a_square_out():
    x = torch.rand(64, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    strong = strong_augmentation(1).set_params(value_range=(0.0, 1.0))
    views = strong(x, torch.Generator().manual_seed(1))
    assert views.shape == x.shape and views.min() >= 0.0 and views.max() <= 1.0
    assert not torch.equal(views, x)
    cut = _only(cutout=1.0, value_range=(0.0, 1.0))(
        torch.ones(32, 1, 16, 16), torch.Generator().manual_seed(2)
    )
    filled = (cut == 0.5).flatten(1).any(dim=1)
    assert filled.float().mean() > 0.5  # most images lose a square, set to mid-range
    assert set(torch.unique(cut).tolist()) <= {0.5, 1.0}


def test_weak_views_only_shift_and_new_operations_leave_default_views_unchanged():
    x = torch.rand(8, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    weak = weak_augmentation(1).set_params(value_range=(0.0, 1.0))
    assert weak.translate == 0.125 and not weak.flip
    shifted = weak.set_params(translate=0.0)(x, torch.Generator().manual_seed(0))
    assert_allclose(shifted.numpy(), x.numpy(), atol=1e-5)  # no shift: the image itself
    # SimCLR's views drew the same numbers before the FixMatch operations existed.
    view = ImageAugmentation(value_range=(0.0, 1.0))(x, torch.Generator().manual_seed(5))
    again = ImageAugmentation(value_range=(0.0, 1.0), cutout=0.0, solarize=0.0)(
        x, torch.Generator().manual_seed(5)
    )
    assert torch.equal(view, again)
