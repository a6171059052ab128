"""How much of a saliency map falls inside a known region (a watermark, an object box).

Pure numpy; no Django.

Negative values: only positive evidence is counted. A map's mass is the sum of its
positive values; negative values (e.g. signed gradients pointing away from the class) are
treated as zero, both inside and outside the region, so a share is always in [0, 1] and a
region cannot gain share by having other pixels turn negative. Maps from the platform's
default settings (absolute-value channel reductions, XRAI, Grad-CAM with ReLU) are
non-negative anyway.
"""

import numpy as np

from analysis.human_maps import resize_map

Box = tuple[int, int, int, int]  # left, top, right, bottom in pixels; right and bottom exclusive


def box_mask(box: Box, width: int, height: int) -> np.ndarray:
    """(height, width) boolean mask of ``box``, which must lie inside the image."""
    left, top, right, bottom = (int(v) for v in box)
    if not (0 <= left < right <= width and 0 <= top < bottom <= height):
        raise ValueError(f"box {list(box)} is not inside the {width}x{height} image")
    mask = np.zeros((height, width), dtype=bool)
    mask[top:bottom, left:right] = True
    return mask


def region_mass_share(saliency_map: np.ndarray, region_mask: np.ndarray) -> float:
    """Share of the map's positive mass inside ``region_mask``: sum of max(map, 0) over
    the region / sum of max(map, 0) over the image.

    region_mask: boolean (H, W) at the image's resolution. A map of another shape (e.g.
    a model map at the model's input size) is first resized bilinearly to (H, W).
    Returns NaN for a map with no positive mass (nothing to share out).
    """
    region = np.asarray(region_mask)
    if region.ndim != 2 or region.dtype != bool:
        raise ValueError("region_mask must be a 2-D boolean array")
    values = np.asarray(saliency_map, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"saliency_map must be 2-D, got shape {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError("saliency_map has non-finite values")
    values = resize_map(values, region.shape)
    positive = np.clip(values, 0.0, None)
    total = positive.sum()
    if total <= 0:
        return float("nan")
    return float(positive[region].sum() / total)


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def control_box(box: Box, width: int, height: int) -> Box:
    """A region of the same size as ``box`` elsewhere in the image, not overlapping it.

    Deterministic: the first of these that does not overlap ``box`` — its point reflection
    through the image centre (for a box in a corner, the opposite corner), its mirror
    left-right, its mirror top-bottom, the four corners of the image in reading order, then
    the places right beside it (left, right, above, below). Raises ValueError only when no
    same-sized region fits anywhere without overlapping it.
    """
    left, top, right, bottom = (int(v) for v in box)
    box_mask(box, width, height)  # validates
    w, h = right - left, bottom - top
    candidates = [
        (width - right, height - bottom, width - left, height - top),
        (width - right, top, width - left, bottom),
        (left, height - bottom, right, height - top),
        (0, 0, w, h),
        (width - w, 0, width, h),
        (0, height - h, w, height),
        (width - w, height - h, width, height),
        # Right beside it: if any same-sized region fits apart from the box, one of these does.
        (left - w, top, left, bottom),
        (right, top, right + w, bottom),
        (left, top - h, right, top),
        (left, bottom, right, bottom + h),
    ]
    for candidate in candidates:
        inside = candidate[0] >= 0 and candidate[1] >= 0 and candidate[2] <= width and candidate[3] <= height
        if inside and not _overlaps(candidate, (left, top, right, bottom)):
            return candidate
    raise ValueError(f"no region of the size of {list(box)} fits elsewhere in a {width}x{height} image")


def box_and_control_shares(
    saliency_map: np.ndarray, box: Box, width: int, height: int
) -> tuple[float, float]:
    """(share of the map's positive mass on ``box``, share on its control_box), with the
    boxes in the pixels of a width x height image."""
    control = control_box(box, width, height)
    return (
        region_mass_share(saliency_map, box_mask(box, width, height)),
        region_mass_share(saliency_map, box_mask(control, width, height)),
    )
