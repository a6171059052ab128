"""ImageNet-C-style corruptions: sizes, severity ordering, the reference's parameter values."""

import io

import numpy as np
import pytest
from PIL import Image as PILImage

from catalogue import corruptions
from catalogue.corruptions import CORRUPTIONS, SEVERITIES, corrupt


def natural_like(width: int, height: int, seed: int = 0) -> PILImage.Image:
    """Smooth shapes plus texture, mid-range intensities: every corruption visibly changes it."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    red = 128 + 80 * np.sin(x / 9.0) * np.cos(y / 13.0)
    green = 60 + 140 * ((x - width / 2) ** 2 + (y - height / 2) ** 2 < (min(width, height) / 3) ** 2)
    # fine texture (a few pixels per period) plus a little noise: blurs remove more of it the
    # stronger they are, instead of all of it at once as with per-pixel noise
    blue = 128 + 50 * np.sin(x / 3.0 + y / 5.0) + 30 * np.cos(y / 4.0) + rng.normal(0, 8, (height, width))
    return PILImage.fromarray(np.stack([red, green, blue], axis=-1).clip(0, 255).astype(np.uint8))


def mean_abs_difference(a: PILImage.Image, b: PILImage.Image) -> float:
    return float(np.abs(np.asarray(a, float) - np.asarray(b, float)).mean())


@pytest.mark.parametrize("name", list(CORRUPTIONS))
@pytest.mark.parametrize("size", [(97, 61), (61, 97), (224, 224), (301, 173)])
def test_output_is_rgb_of_the_input_size(name, size):
    picture = natural_like(*size).convert("L" if size == (97, 61) else "RGB")  # any mode in
    for severity in (1, 5):
        result = corrupt(picture, name, severity, seed=3)
        assert result.size == size and result.mode == "RGB"


def chelsea_224() -> PILImage.Image:
    """scikit-image's cat photograph (ships offline), 224 pixels high as ImageNet-C's crops:
    glass blur's stronger severities shuffle further but in fewer passes, which only reads as
    more damage on a natural picture, not on synthetic texture."""
    from skimage import data

    picture = PILImage.fromarray(data.chelsea())
    return picture.resize((round(picture.width * 224 / picture.height), 224), PILImage.Resampling.LANCZOS)


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_damage_grows_with_severity(name):
    original = chelsea_224()
    differences = [mean_abs_difference(original, corrupt(original, name, s, seed=1)) for s in SEVERITIES]
    assert differences[0] > 0
    assert all(a < b for a, b in zip(differences, differences[1:])), differences


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_same_seed_same_pixels_and_random_ones_differ_by_seed(name):
    original = natural_like(130, 90)
    first = np.asarray(corrupt(original, name, 3, seed=7))
    assert np.array_equal(first, np.asarray(corrupt(original, name, 3, seed=7)))
    if name in {"gaussian_noise", "glass_blur", "motion_blur"}:
        assert not np.array_equal(first, np.asarray(corrupt(original, name, 3, seed=8)))


@pytest.mark.parametrize("severity", SEVERITIES)
def test_gaussian_noise_has_the_reference_standard_deviation(severity):
    # mid-grey, so that clipping at 0 and 255 cuts off (almost) nothing up to severity 3
    grey = PILImage.new("RGB", (400, 300), (128, 128, 128))
    noisy = np.asarray(corrupt(grey, "gaussian_noise", severity, seed=0), float) / 255
    expected = corruptions.GAUSSIAN_NOISE_STD[severity - 1]
    assert expected == [0.08, 0.12, 0.18, 0.26, 0.38][severity - 1]
    if severity <= 3:
        # 360,000 samples: the sample std is within ~0.2 % of sigma; rounding adds 1/255/sqrt(12)
        assert np.std(noisy) == pytest.approx(np.hypot(expected, 1 / 255 / np.sqrt(12)), rel=0.01)
        assert np.mean(noisy) == pytest.approx(128 / 255, abs=0.002)
    else:  # clipped: less spread than sigma, but more than the severity before
        assert corruptions.GAUSSIAN_NOISE_STD[severity - 2] < np.std(noisy) < expected


@pytest.mark.parametrize("severity", SEVERITIES)
def test_contrast_keeps_channel_means_and_scales_deviations(severity):
    original = natural_like(200, 150)
    before = np.asarray(original, float) / 255
    after = np.asarray(corrupt(original, "contrast", severity), float) / 255
    factor = [0.4, 0.3, 0.2, 0.1, 0.05][severity - 1]
    means = before.mean(axis=(0, 1))
    np.testing.assert_allclose(after.mean(axis=(0, 1)), means, atol=0.5 / 255)
    # every pixel: (x - mean) * factor + mean, up to 8-bit rounding
    np.testing.assert_allclose(after, (before - means) * factor + means, atol=0.5 / 255 + 1e-9)


def test_jpeg_uses_the_reference_quality_table():
    original = natural_like(256, 192)
    assert corruptions.JPEG_QUALITY == (25, 18, 15, 10, 7)
    for severity, quality in zip(SEVERITIES, corruptions.JPEG_QUALITY):
        buffer = io.BytesIO()
        original.save(buffer, format="JPEG", quality=quality)
        buffer.seek(0)
        expected = np.asarray(PILImage.open(buffer).convert("RGB"))
        assert np.array_equal(np.asarray(corrupt(original, "jpeg_compression", severity)), expected)
    # coarser quantisation, fewer bytes: re-encoding each result at its own quality shrinks
    sizes = []
    for severity, quality in zip(SEVERITIES, corruptions.JPEG_QUALITY):
        buffer = io.BytesIO()
        corrupt(original, "jpeg_compression", severity).save(buffer, format="JPEG", quality=quality)
        sizes.append(len(buffer.getvalue()))
    assert all(a > b for a, b in zip(sizes, sizes[1:])), sizes


def test_brightness_adds_to_hsv_value_and_keeps_hue_and_saturation():
    import colorsys

    pixels = np.array([[[200, 100, 50], [0, 0, 0], [10, 20, 30], [250, 250, 240]]], np.uint8)
    result = np.asarray(corrupt(PILImage.fromarray(pixels), "brightness", 2), float) / 255
    for before, after in zip(pixels[0] / 255, result[0]):
        h, s, v = colorsys.rgb_to_hsv(*before)
        expected = colorsys.hsv_to_rgb(h, s, min(1.0, v + 0.2))
        np.testing.assert_allclose(after, expected, atol=0.5 / 255 + 1e-9)


def test_motion_kernel_is_a_normalised_one_sided_half_gaussian_line():
    kernel = corruptions.motion_kernel(10, 3, 0.0)  # horizontal: taps to the right of the centre
    centre = kernel.shape[0] // 2
    assert kernel.sum() == pytest.approx(1.0)
    row = kernel[centre, centre : centre + 21]
    assert np.count_nonzero(kernel) == 21 and np.count_nonzero(row) == 21
    weights = np.exp(-(np.arange(21) ** 2) / (2 * 3**2))
    np.testing.assert_allclose(row, weights / weights.sum())
    assert kernel[:, :centre].sum() == 0  # one-sided, as ImageMagick's


def test_glass_blur_scales_with_the_image():
    # a black | white edge: the blurred, shuffled band across it is as wide, relative to the
    # picture, at 224, 448 and 896 pixels
    def band_width(size: int) -> int:
        pixels = np.zeros((size, size, 3), np.uint8)
        pixels[:, size // 2 :] = 255
        out = np.asarray(corrupt(PILImage.fromarray(pixels), "glass_blur", 5, seed=0), float).mean(-1)
        profile = out[size // 4 : 3 * size // 4].mean(axis=0)
        return int(np.count_nonzero((profile > 0.05 * 255) & (profile < 0.95 * 255)))

    widths = [band_width(size) for size in (224, 448, 896)]
    assert widths[0] > 4
    assert widths[1] / widths[0] == pytest.approx(2, rel=0.15)
    assert widths[2] / widths[0] == pytest.approx(4, rel=0.15)


@pytest.mark.parametrize("corruption, severity", [("snow", 1), ("glass_blur", 0), ("contrast", 6)])
def test_unknown_corruption_or_severity_is_a_clear_error(corruption, severity):
    with pytest.raises(ValueError, match="unknown corruption|severity must be"):
        corrupt(natural_like(10, 10), corruption, severity)
