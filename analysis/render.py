"""Pictures of maps: a colour-mapped heat map over the image, as PNG bytes."""

import io

import numpy as np
from matplotlib import colormaps
from PIL import Image as PILImage

from analysis.aggregate import normalise_minmax, resize_map


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
    rgb = image.convert("RGB")
    height = max(1, round(rgb.height * width / rgb.width))
    base = np.asarray(rgb.resize((width, height), PILImage.Resampling.LANCZOS), dtype=np.float64) / 255
    if heat is not None:
        values = np.asarray(heat, dtype=np.float64)
        values = np.minimum(values, np.percentile(values, clip_percentile))
        level = normalise_minmax(resize_map(values, (height, width)))
        colours = colormaps["inferno"](level)[..., :3]
        weight = alpha * level[..., None] ** 0.5  # unpainted areas keep the image visible
        base = base * (1 - weight) + colours * weight
    buffer = io.BytesIO()
    PILImage.fromarray((base * 255).round().astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()
