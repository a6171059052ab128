"""ImageNet-C-style corruptions (Hendrycks & Dietterich, ICLR 2019) for images of any size.

Pure numpy/scipy/Pillow (numba for glass blur's pixel shuffle); no Django. Each corruption
takes a Pillow image in any mode and returns an RGB image of exactly the input's size.
Severities run 1 to 5 with ImageNet-C's parameter values (the tables below are those of the
reference implementation, hendrycks/robustness, ``imagenet_c/corruptions.py``).

Sizes. ImageNet-C corrupts 224 x 224 crops; our images are any size. Point-wise corruptions
(Gaussian noise, contrast, brightness, JPEG) need no change. Pixelate resizes by a fraction
of the image's own size, so it is scale-free too. The spatial ones (glass blur's Gaussian
sigma and pixel-shuffle distance, defocus blur's disk radius, motion blur's kernel radius and
sigma) are given in pixels of a 224-pixel image; here they are multiplied by
``scale = min(width, height) / 224``, so that a corruption blurs the same share of the
picture whatever its resolution (a 224-pixel image gets exactly the reference values).
Glass blur's shuffle distance is rounded to whole pixels, at least one.

Differences from the reference, besides the scaling:

- motion blur: the reference calls ImageMagick's MotionBlurImage through Wand. Here the same
  kernel is built directly: a one-sided line of ``2 * radius + 1`` taps at distances
  0, 1, ..., 2 * radius along the blur angle, weighted ``exp(-d^2 / (2 sigma^2))`` and
  normalised, taps between pixels splatted bilinearly, edges extended (ImageMagick's default
  "edge" virtual pixels); the angle is uniform in [-45, 45] degrees as in the reference;
- glass blur: the reference's sequential Python loop of swaps is kept in meaning (every
  pixel, bottom-right to top-left, swapped with a random neighbour within the shuffle
  distance, the whole pass repeated) but compiled with numba, with the random offsets drawn
  beforehand from the seeded generator;
- brightness: adding to HSV's value channel and converting back equals scaling each pixel's
  RGB by new value / old value (hue and saturation are ratios of the channels), which is how
  it is done here, without a colour-space round trip;
- results are rounded to 8 bits (the reference truncates with ``np.uint8``).

Everything random draws from ``numpy.random.default_rng(seed)``: the same image, corruption,
severity and seed give the same pixels.
"""

import io
from collections.abc import Callable

import numpy as np
from numba import njit
from PIL import Image as PILImage
from scipy import ndimage, signal

REFERENCE_SIZE = 224  # ImageNet-C's crop size, in which its spatial parameters are given
SEVERITIES = (1, 2, 3, 4, 5)

GAUSSIAN_NOISE_STD = (0.08, 0.12, 0.18, 0.26, 0.38)  # on [0, 1] intensities
CONTRAST_FACTOR = (0.4, 0.3, 0.2, 0.1, 0.05)
JPEG_QUALITY = (25, 18, 15, 10, 7)
BRIGHTNESS_SHIFT = (0.1, 0.2, 0.3, 0.4, 0.5)  # added to HSV value
PIXELATE_FACTOR = (0.6, 0.5, 0.4, 0.3, 0.25)
GLASS_BLUR = ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2))  # sigma, max shift, passes
DEFOCUS_BLUR = ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5))  # disk radius, anti-alias sigma
MOTION_BLUR = ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15))  # radius, sigma


def _as_unit_rgb(picture: PILImage.Image) -> np.ndarray:
    """(H, W, 3) float64 in [0, 1]."""
    return np.asarray(picture.convert("RGB"), dtype=np.float64) / 255.0


def _to_picture(unit: np.ndarray) -> PILImage.Image:
    return PILImage.fromarray(np.round(np.clip(unit, 0.0, 1.0) * 255.0).astype(np.uint8), mode="RGB")


def _scale(picture: PILImage.Image) -> float:
    return min(picture.size) / REFERENCE_SIZE


def _blur(unit: np.ndarray, sigma: float) -> np.ndarray:
    # scikit-image's gaussian(), as the reference uses it: per channel, edges extended, 4 sigma
    return ndimage.gaussian_filter(unit, sigma=(sigma, sigma, 0), mode="nearest", truncate=4.0)


def _filter_rgb(unit: np.ndarray, kernel: np.ndarray, pad_mode: str) -> np.ndarray:
    """Correlate each channel with ``kernel`` (odd square), the border padded by ``pad_mode``;
    FFT-based, as scaled kernels on large images reach hundreds of pixels."""
    half = kernel.shape[0] // 2
    padded = np.pad(unit, ((half, half), (half, half), (0, 0)), mode=pad_mode)
    flipped = kernel[::-1, ::-1]  # fftconvolve convolves; the kernels here are correlations
    return np.stack([signal.fftconvolve(padded[..., c], flipped, mode="valid") for c in range(3)], axis=-1)


def gaussian_noise(picture: PILImage.Image, severity: int, rng: np.random.Generator) -> PILImage.Image:
    std = GAUSSIAN_NOISE_STD[severity - 1]
    unit = _as_unit_rgb(picture)
    return _to_picture(unit + rng.normal(scale=std, size=unit.shape))


def contrast(picture: PILImage.Image, severity: int, rng: np.random.Generator) -> PILImage.Image:
    """Pull every pixel toward its channel's mean: the channel means stay (before clipping)."""
    factor = CONTRAST_FACTOR[severity - 1]
    unit = _as_unit_rgb(picture)
    means = unit.mean(axis=(0, 1), keepdims=True)
    return _to_picture((unit - means) * factor + means)


def jpeg_compression(picture: PILImage.Image, severity: int, rng: np.random.Generator) -> PILImage.Image:
    buffer = io.BytesIO()
    picture.convert("RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY[severity - 1])
    buffer.seek(0)
    with PILImage.open(buffer) as decoded:
        return decoded.convert("RGB")


def brightness(picture: PILImage.Image, severity: int, rng: np.random.Generator) -> PILImage.Image:
    unit = _as_unit_rgb(picture)
    value = unit.max(axis=-1, keepdims=True)
    brighter = np.minimum(value + BRIGHTNESS_SHIFT[severity - 1], 1.0)
    # black has no hue or saturation: it becomes grey of the new value
    ratio = np.divide(brighter, value, out=np.zeros_like(value), where=value > 0)
    return _to_picture(np.where(value > 0, unit * ratio, brighter))


def pixelate(picture: PILImage.Image, severity: int, rng: np.random.Generator) -> PILImage.Image:
    factor = PIXELATE_FACTOR[severity - 1]
    rgb = picture.convert("RGB")
    small = (max(1, int(rgb.width * factor)), max(1, int(rgb.height * factor)))
    return rgb.resize(small, PILImage.Resampling.BOX).resize(rgb.size, PILImage.Resampling.BOX)


@njit(cache=True, nogil=True)
def _shuffle_pixels(pixels: np.ndarray, offsets: np.ndarray, max_shift: int) -> None:
    """The reference's swap loop, in place: for each pass, each pixel (rows then columns, from
    the far edge down to just past ``max_shift``) swaps with the pixel at its drawn offset."""
    height, width = pixels.shape[0], pixels.shape[1]
    for iteration in range(offsets.shape[0]):
        for h in range(height - max_shift, max_shift, -1):
            for w in range(width - max_shift, max_shift, -1):
                dx = offsets[iteration, h, w, 0]
                dy = offsets[iteration, h, w, 1]
                hp, wp = h + dy, w + dx  # stays inside: h + dy <= height - 1
                for c in range(pixels.shape[2]):
                    value = pixels[h, w, c]
                    pixels[h, w, c] = pixels[hp, wp, c]
                    pixels[hp, wp, c] = value


def glass_blur(picture: PILImage.Image, severity: int, rng: np.random.Generator) -> PILImage.Image:
    sigma, max_shift, passes = GLASS_BLUR[severity - 1]
    scale = _scale(picture)
    sigma *= scale
    max_shift = max(1, int(round(max_shift * scale)))
    pixels = (_blur(_as_unit_rgb(picture), sigma) * 255).astype(np.uint8)
    height, width = pixels.shape[:2]
    # offsets in [-max_shift, max_shift), as numpy's randint in the reference
    offsets = rng.integers(-max_shift, max_shift, size=(passes, height, width, 2), dtype=np.int16)
    _shuffle_pixels(pixels, offsets, max_shift)
    return _to_picture(_blur(pixels / 255.0, sigma))


def _disk_kernel(radius: float, alias_sigma: float) -> np.ndarray:
    """The reference's anti-aliased disk: at least a 17 x 17 grid, a small Gaussian on top."""
    half = max(8, int(np.ceil(radius)))
    offsets = np.arange(-half, half + 1)
    x, y = np.meshgrid(offsets, offsets)
    disk = (x**2 + y**2 <= radius**2).astype(np.float64)
    disk /= disk.sum()
    return ndimage.gaussian_filter(disk, sigma=alias_sigma, mode="constant")


def defocus_blur(picture: PILImage.Image, severity: int, rng: np.random.Generator) -> PILImage.Image:
    radius, alias_sigma = DEFOCUS_BLUR[severity - 1]
    scale = _scale(picture)
    kernel = _disk_kernel(radius * scale, alias_sigma * scale)
    return _to_picture(_filter_rgb(_as_unit_rgb(picture), kernel, pad_mode="reflect"))


def motion_kernel(radius: float, sigma: float, angle_degrees: float) -> np.ndarray:
    """ImageMagick's motion-blur kernel as a square correlation kernel: taps at distances
    0..2 * radius from the centre along the angle, half-Gaussian weights, bilinear splats."""
    length = int(2 * np.ceil(radius) + 1)
    distances = np.arange(length, dtype=np.float64)
    weights = np.exp(-(distances**2) / (2 * sigma**2))
    weights /= weights.sum()
    half = length
    kernel = np.zeros((2 * half + 1, 2 * half + 1))
    angle = np.deg2rad(angle_degrees)
    xs = half + distances * np.cos(angle)
    ys = half + distances * np.sin(angle)
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    fx, fy = xs - x0, ys - y0
    for dx, dy, share in (
        (0, 0, (1 - fx) * (1 - fy)),
        (1, 0, fx * (1 - fy)),
        (0, 1, (1 - fx) * fy),
        (1, 1, fx * fy),
    ):
        np.add.at(kernel, (y0 + dy, x0 + dx), weights * share)
    return kernel


def motion_blur(picture: PILImage.Image, severity: int, rng: np.random.Generator) -> PILImage.Image:
    radius, sigma = MOTION_BLUR[severity - 1]
    scale = _scale(picture)
    kernel = motion_kernel(radius * scale, sigma * scale, rng.uniform(-45, 45))
    return _to_picture(_filter_rgb(_as_unit_rgb(picture), kernel, pad_mode="edge"))


Corruption = Callable[[PILImage.Image, int, np.random.Generator], PILImage.Image]

CORRUPTIONS: dict[str, Corruption] = {
    "gaussian_noise": gaussian_noise,
    "glass_blur": glass_blur,
    "motion_blur": motion_blur,
    "defocus_blur": defocus_blur,
    "contrast": contrast,
    "brightness": brightness,
    "pixelate": pixelate,
    "jpeg_compression": jpeg_compression,
}


def check(corruption: str, severity: int) -> None:
    """Raise ValueError, naming what is allowed, unless both are known."""
    if corruption not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {corruption!r}; known: {', '.join(CORRUPTIONS)}")
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be an integer from 1 to 5, not {severity!r}")


def corrupt(picture: PILImage.Image, corruption: str, severity: int, *, seed: int = 0) -> PILImage.Image:
    """``picture`` with ``corruption`` at ``severity`` (1-5): RGB, the same size."""
    check(corruption, severity)
    result = CORRUPTIONS[corruption](picture, severity, np.random.default_rng(seed))
    assert result.size == picture.size and result.mode == "RGB"
    return result
