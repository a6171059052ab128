"""XRAI's candidate regions: Felzenszwalb segments at six scales, each dilated.

Same segments as PAIR-code/saliency: the image is rescaled globally to [-1, 1], resized
to 224x224 (bicubic, anti-aliased), segmented at scales (50, 100, 150, 250, 500, 1200)
with sigma 0.8 and min_size 150, the label maps resized back (nearest), and every label a
mask dilated by disk(5). Masks are kept as sorted flat pixel indices and dilated on their
own bounding box, which is what makes this cheap compared with full-image boolean masks.
Segments depend only on the image, so callers compute them once and reuse them.
"""

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage import segmentation
from skimage.morphology import disk
from skimage.transform import resize

FELZENSZWALB_SCALES = (50, 100, 150, 250, 500, 1200)
FELZENSZWALB_SIGMA = 0.8
FELZENSZWALB_MIN_SIZE = 150
SEGMENTATION_SIZE = (224, 224)
DILATION_RADIUS = 5


@dataclass
class Segments:
    """Candidate regions of one image: ``pixels[j]`` holds the sorted flat indices of
    region j in an image of ``shape`` (H, W)."""

    shape: tuple[int, int]
    pixels: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.pixels)

    def to_masks(self) -> list[np.ndarray]:
        """PAIR's format: one (H,W) boolean mask per region."""
        masks = []
        for indices in self.pixels:
            mask = np.zeros(self.shape[0] * self.shape[1], dtype=bool)
            mask[indices] = True
            masks.append(mask.reshape(self.shape))
        return masks

    @classmethod
    def from_masks(cls, masks) -> "Segments":
        masks = [np.asarray(mask, dtype=bool) for mask in masks]
        if not masks:
            raise ValueError("segments must contain at least one mask")
        shape = masks[0].shape
        if any(mask.shape != shape for mask in masks):
            raise ValueError("all segment masks must have the same shape")
        return cls(shape=shape, pixels=[np.flatnonzero(mask) for mask in masks])


def _normalised_for_segmentation(image_hwc: np.ndarray) -> np.ndarray:
    low, high = np.min(image_hwc), np.max(image_hwc)
    scaled = (image_hwc - low) / (high - low) * 2.0 - 1.0
    return resize(
        scaled, SEGMENTATION_SIZE, order=3, mode="constant", preserve_range=True, anti_aliasing=True
    )


def _dilated_label_pixels(labels: np.ndarray, footprint: np.ndarray, radius: int) -> list[np.ndarray]:
    """For every label from labels.min() to labels.max() (empty ones included, as PAIR
    does), the flat indices of its mask dilated by ``footprint``."""
    height, width = labels.shape
    low = int(labels.min())
    boxes = ndimage.find_objects(labels - low + 1)
    result = []
    for offset in range(int(labels.max()) - low + 1):
        box = boxes[offset] if offset < len(boxes) else None
        if box is None:
            result.append(np.empty(0, dtype=np.int64))
            continue
        rows = slice(max(box[0].start - radius, 0), min(box[0].stop + radius, height))
        cols = slice(max(box[1].start - radius, 0), min(box[1].stop + radius, width))
        crop = labels[rows, cols] == low + offset
        grown = ndimage.binary_dilation(crop, structure=footprint)
        local_rows, local_cols = np.nonzero(grown)
        result.append((local_rows + rows.start) * width + (local_cols + cols.start))
    return result


_pool: ThreadPoolExecutor | None = None


def _scale_pool() -> ThreadPoolExecutor:
    # The six scales are independent and Felzenszwalb's and scipy's C code release the
    # GIL for much of their work, so threads overlap them (about 1.5x on 2 cores; one
    # thread more than cores packs the unequal scales better).
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=min(len(FELZENSZWALB_SCALES), (os.cpu_count() or 1) + 1))
    return _pool


def _segments_at_scale(
    normalised: np.ndarray, scale: float, shape: tuple[int, int], footprint: np.ndarray, radius: int
) -> list[np.ndarray]:
    labels = segmentation.felzenszwalb(
        normalised, scale=scale, sigma=FELZENSZWALB_SIGMA, min_size=FELZENSZWALB_MIN_SIZE
    )
    labels = resize(labels, shape, order=0, preserve_range=True, mode="constant", anti_aliasing=False).astype(
        int
    )
    return _dilated_label_pixels(labels, footprint, radius)


def xrai_segments(image_hwc: np.ndarray, dilation_radius: int = DILATION_RADIUS) -> Segments:
    """image_hwc: (H,W,C) float, the model input in channels-last layout."""
    image_hwc = np.asarray(image_hwc, dtype=np.float64)
    if image_hwc.ndim != 3:
        raise ValueError(f"image must have shape (H,W,C), got {image_hwc.shape}")
    shape = image_hwc.shape[:2]
    normalised = _normalised_for_segmentation(image_hwc)
    footprint = disk(dilation_radius).astype(bool) if dilation_radius else np.ones((1, 1), bool)
    per_scale = _scale_pool().map(
        lambda scale: _segments_at_scale(normalised, scale, shape, footprint, dilation_radius),
        FELZENSZWALB_SCALES,
    )
    return Segments(shape=shape, pixels=[mask for masks in per_scale for mask in masks])
