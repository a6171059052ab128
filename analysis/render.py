"""Pictures of maps, as PNG bytes: a colour-mapped heat map over the image, or the image
with everything outside a map's region dimmed."""

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
