"""XRAI's candidate regions: Felzenszwalb segments at six scales, each dilated.

Same segments as PAIR-code/saliency: the image is rescaled globally to [-1, 1], resized
to 224x224 (bicubic, anti-aliased), segmented at scales (50, 100, 150, 250, 500, 1200)
with sigma 0.8 and min_size 150, the label maps resized back (nearest), and every label a
mask dilated by disk(5). Masks are kept as sorted flat pixel indices, which is what makes
this cheap compared with full-image boolean masks. The segmentation (``felzenszwalb.py``)
smooths and sorts the image's edges once for all six scales, and one sweep per scale
dilates all of its labels; both give exactly skimage's and scipy's results. Segments
depend only on the image, so callers compute them once and reuse them.

numba, scikit-image and ``felzenszwalb`` (numba kernels) are imported at the first
segmentation, not with this module: the package, which the torch-free registry loads, imports
this module for ``Segments`` (see ``_lazy``).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ._lazy import LazyModule, njit

felzenszwalb = LazyModule(f"{__package__}.felzenszwalb")
morphology = LazyModule("skimage.morphology")
transform = LazyModule("skimage.transform")

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
    def from_masks(cls, masks) -> Segments:
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
    return transform.resize(
        scaled, SEGMENTATION_SIZE, order=3, mode="constant", preserve_range=True, anti_aliasing=True
    )


def _disk_half_widths(radius: int) -> np.ndarray:
    """PAIR's footprint ``disk(radius)`` row by row: row dy (from -radius) covers columns
    -w..w, w = half_widths[dy + radius]."""
    return morphology.disk(radius).astype(bool).sum(axis=1) // 2


def _dilated_label_pixels(labels: np.ndarray, radius: int) -> list[np.ndarray]:
    """For every label from labels.min() to labels.max() (empty ones included, as PAIR
    does), the sorted flat indices of its mask dilated by ``disk(radius)``."""
    low = int(labels.min())
    offsets = np.ascontiguousarray(labels - low, dtype=np.int64)
    starts, pixels = _dilate_all_labels(offsets, _disk_half_widths(radius), int(labels.max()) - low + 1)
    return np.split(pixels, starts[1:-1])


@njit(cache=True, nogil=True)
def _dilate_all_labels(labels, half_widths, n_labels):
    """Every label's dilation in one sweep, instead of one binary dilation per label: a
    window shaped like the footprint slides along each row, keeping per label the count of
    its pixels inside and the list of labels present; each position belongs to the
    dilation of every label present. Returns (starts, pixels): label l's dilation is
    ``pixels[starts[l]:starts[l + 1]]``, in increasing order."""
    height, width = labels.shape
    radius = half_widths.size // 2
    count = np.zeros(n_labels, np.int64)
    present = np.empty(n_labels, np.int64)  # present[:n_present]: labels with count > 0
    slot = np.empty(n_labels, np.int64)  # a present label's index in ``present``
    emitted_label = np.empty(4 * height * width, np.int64)
    emitted_pixel = np.empty(4 * height * width, np.int64)
    n_emitted = 0
    for row in range(height):
        n_present = 0
        for dy in range(-radius, radius + 1):
            if 0 <= row + dy < height:
                for col in range(min(half_widths[dy + radius], width - 1) + 1):
                    label = labels[row + dy, col]
                    if count[label] == 0:
                        present[n_present] = label
                        slot[label] = n_present
                        n_present += 1
                    count[label] += 1
        for col in range(width):
            if n_emitted + n_present > emitted_label.size:
                emitted_label = np.concatenate((emitted_label, np.empty_like(emitted_label)))
                emitted_pixel = np.concatenate((emitted_pixel, np.empty_like(emitted_pixel)))
            for i in range(n_present):
                emitted_label[n_emitted] = present[i]
                emitted_pixel[n_emitted] = row * width + col
                n_emitted += 1
            # Slide to col + 1: per footprint row, one pixel enters on the right and one
            # leaves on the left (-1: outside the image).
            for dy in range(-radius, radius + 1):
                if not 0 <= row + dy < height:
                    continue
                w = half_widths[dy + radius]
                entering = labels[row + dy, col + 1 + w] if col + 1 + w < width else -1
                leaving = labels[row + dy, col - w] if col - w >= 0 else -1
                if entering == leaving:
                    continue
                if entering >= 0:
                    if count[entering] == 0:
                        present[n_present] = entering
                        slot[entering] = n_present
                        n_present += 1
                    count[entering] += 1
                if leaving >= 0:
                    count[leaving] -= 1
                    if count[leaving] == 0:
                        n_present -= 1
                        present[slot[leaving]] = present[n_present]
                        slot[present[n_present]] = slot[leaving]
        for i in range(n_present):
            count[present[i]] = 0
    # Group by label; the order within a label stays the sweep's, i.e. increasing.
    starts = np.zeros(n_labels + 1, np.int64)
    for i in range(n_emitted):
        starts[emitted_label[i] + 1] += 1
    starts = np.cumsum(starts)
    pixels = np.empty(n_emitted, np.int64)
    filled = starts[:-1].copy()
    for i in range(n_emitted):
        pixels[filled[emitted_label[i]]] = emitted_pixel[i]
        filled[emitted_label[i]] += 1
    return starts, pixels


_pool: ThreadPoolExecutor | None = None


def _scale_pool() -> ThreadPoolExecutor:
    # The six scales are independent and their numba kernels (merge, dilation) release the
    # GIL, so threads overlap them: 86 -> 62 ms per image on 2 cores (more threads than
    # cores gained nothing).
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=min(len(FELZENSZWALB_SCALES), os.cpu_count() or 1))
    return _pool


def _segments_at_scale(
    edges: felzenszwalb.SortedEdges, scale: float, shape: tuple[int, int], radius: int
) -> list[np.ndarray]:
    labels = felzenszwalb.segment(edges, scale, FELZENSZWALB_MIN_SIZE)
    labels = transform.resize(
        labels, shape, order=0, preserve_range=True, mode="constant", anti_aliasing=False
    ).astype(int)
    return _dilated_label_pixels(labels, radius)


def xrai_segments(image_hwc: np.ndarray, dilation_radius: int = DILATION_RADIUS) -> Segments:
    """image_hwc: (H,W,C) float, the model input in channels-last layout."""
    image_hwc = np.asarray(image_hwc, dtype=np.float64)
    if image_hwc.ndim != 3:
        raise ValueError(f"image must have shape (H,W,C), got {image_hwc.shape}")
    shape = image_hwc.shape[:2]
    edges = felzenszwalb.sorted_edges(_normalised_for_segmentation(image_hwc), FELZENSZWALB_SIGMA)
    per_scale = _scale_pool().map(
        lambda scale: _segments_at_scale(edges, scale, shape, dilation_radius),
        FELZENSZWALB_SCALES,
    )
    return Segments(shape=shape, pixels=[mask for masks in per_scale for mask in masks])
