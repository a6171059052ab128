"""Pictures of maps, as PNG bytes: a colour-mapped heat map over the image, a painted map
in the painter's own colours, or the image with everything outside a map's region dimmed."""

import numpy as np
from matplotlib import colormaps
from PIL import Image as PILImage

from analysis.codec import unit_rgb_png
from analysis.human_maps import normalise_participant, resize_map


def overlay_png(
    image: PILImage.Image,
    heat: np.ndarray | None,
    *,
    width: int = 256,
    alpha: float = 0.6,
    clip_percentile: float = 99,
) -> bytes:
    """The image scaled to ``width`` with ``heat`` (any 2-D map) blended over it in the
    inferno colour map; just the image when heat is None. For display only, values above the
    ``clip_percentile`` are clipped (as PAIR's visualisation does), so that a few extreme
    gradient pixels do not leave the rest of an IG map invisible."""
    base = _scaled_rgb(image, width)
    height = base.shape[0]
    if heat is not None:
        values = np.asarray(heat, dtype=np.float64)
        values = np.minimum(values, np.percentile(values, clip_percentile))
        level = normalise_participant(resize_map(values, (height, width)))
        colours = colormaps["inferno"](level)[..., :3]
        weight = alpha * level[..., None] ** 0.5  # unpainted areas keep the image visible
        base = base * (1 - weight) + colours * weight
    return unit_rgb_png(base)


# The painter's overlay (static/annotations/js/painter/overlay.js: RAMP, ALPHA_FLOOR), pinned
# here so that pictures of painted maps look as they did while painting; the tests check that
# the two agree. (value, red, green, blue): magenta -> violet -> deep purple.
PAINTER_RAMP = ((0.0, 255, 0, 220), (0.5, 190, 0, 255), (1.0, 90, 0, 170))
PAINTER_ALPHA_FLOOR = 0.3
PAINTER_OPACITY = 0.7  # the painter's default overlay opacity (#overlay-opacity)
_NONZERO_LEVEL = 0.5 / 65535  # paint_map.js NONZERO_LEVEL: what the 16-bit PNG still holds


def painter_lut(opacity: float = PAINTER_OPACITY) -> np.ndarray:
    """(256, 4) uint8: the colour and alpha the painter draws for each level of the map, as
    overlay.js builds them (a Uint8ClampedArray rounds half to even, as np.rint does)."""
    levels = np.arange(256) / 255
    stops = np.array(PAINTER_RAMP, dtype=np.float64)
    lut = np.empty((256, 4))
    for channel in range(3):
        lut[:, channel] = np.interp(levels, stops[:, 0], stops[:, channel + 1])
    lut[:, 3] = 255 * opacity * (PAINTER_ALPHA_FLOOR + (1 - PAINTER_ALPHA_FLOOR) * np.sqrt(levels))
    lut[0, 3] = 0
    return np.rint(np.clip(lut, 0, 255)).astype(np.uint8)


def painter_levels(values: np.ndarray) -> np.ndarray:
    """The LUT index of each map value, as overlay.js picks it: the nearest of 256 levels, and
    at least 1 for any paint the stored map keeps (>= 0.5/65535), so none of it is hidden."""
    values = np.asarray(values, dtype=np.float32).astype(np.float64)  # compared as JS does, in doubles
    levels = np.floor(values * 255 + 0.5).astype(np.int64)
    return np.where((levels == 0) & (values >= _NONZERO_LEVEL), 1, np.clip(levels, 0, 255))


def painter_overlay_rgba(values: np.ndarray, opacity: float = PAINTER_OPACITY) -> np.ndarray:
    """(H, W, 4) uint8: the painter's overlay canvas for a map in [0, 1]."""
    return painter_lut(opacity)[painter_levels(values)]


def painter_overlay_png(
    image: PILImage.Image, values: np.ndarray, *, width: int = 256, opacity: float = PAINTER_OPACITY
) -> bytes:
    """The image with a painted map (``values``: (H, W) in [0, 1] at the image's resolution)
    drawn over it as the painter draws it, then scaled to ``width``."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.float64) / 255
    if rgb.shape[:2] != np.shape(values):
        raise ValueError(f"the map is {np.shape(values)}, the image {rgb.shape[:2]}")
    overlay = painter_overlay_rgba(values, opacity).astype(np.float64) / 255
    alpha = overlay[..., 3:]
    blended = rgb * (1 - alpha) + overlay[..., :3] * alpha
    picture = PILImage.fromarray((blended * 255).round().astype(np.uint8))
    height = max(1, round(picture.height * width / picture.width))
    return unit_rgb_png(np.asarray(picture.resize((width, height), PILImage.Resampling.LANCZOS)) / 255)


def region_png(
    image: PILImage.Image,
    mask: np.ndarray | None,
    *,
    width: int = 256,
    outside: float = 0.25,
) -> bytes:
    """The image scaled to ``width`` with the pixels outside ``mask`` (boolean, any
    resolution; resized nearest-neighbour) darkened to ``outside`` of their brightness, so
    that the region itself keeps its true colours. None: no region, all of it dimmed."""
    base = _scaled_rgb(image, width)
    height = base.shape[0]
    inside = np.zeros((height, width), dtype=bool)
    if mask is not None:
        picture = PILImage.fromarray(np.asarray(mask, dtype=bool).astype(np.uint8) * 255)
        inside = np.asarray(picture.resize((width, height), PILImage.Resampling.NEAREST)) > 127
    return unit_rgb_png(np.where(inside[..., None], base, base * outside))


def _scaled_rgb(image: PILImage.Image, width: int) -> np.ndarray:
    """(height, width, 3) floats in [0,1], the image scaled to ``width`` at its aspect ratio."""
    rgb = image.convert("RGB")
    height = max(1, round(rgb.height * width / rgb.width))
    return np.asarray(rgb.resize((width, height), PILImage.Resampling.LANCZOS), dtype=np.float64) / 255
