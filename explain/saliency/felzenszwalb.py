"""Felzenszwalb-Huttenlocher graph segmentation of one image at several scales.

Why not ``skimage.segmentation.felzenszwalb``: XRAI segments the same image at six scales,
and each skimage call repeats the Gaussian smoothing, the 8-neighbour edge costs and the
argsort of ~200k edges, although only the greedy merge depends on the scale. Here that
preamble runs once per image (:func:`sorted_edges`) and only the merge runs per scale
(:func:`segment`), compiled with numba. The label maps are identical to scikit-image
0.26's ``felzenszwalb(image, scale, sigma, min_size, channel_axis=-1)``, ties and label
numbering included (``tests/saliency/test_felzenszwalb.py`` checks this), because every
step that decides the result is reproduced as skimage does it:

- the image goes through ``img_as_float64`` and ``scipy.ndimage.gaussian_filter`` with
  sigma (s, s, 0), mode "reflect", truncate 4;
- edge costs are Euclidean colour distances computed with the same numpy operations (so
  the same rounding), in skimage's edge order (horizontal, vertical, down-right diagonal,
  up-right diagonal), and sorted by the same call, ``np.argsort`` with its default
  unstable kind, so that equal costs come out in skimage's order;
- a merge compares the edge cost with the smaller of the two regions' thresholds
  ``internal + scale/255/size`` *rounded to float32*, as skimage's Cython stores them;
- regions smaller than ``min_size`` are then merged along the sorted edges;
- skimage's union-find always keeps the smaller root, so every region's root is its first
  pixel in raster order and labels number the regions in order of their first pixel.

Measured on XRAI's 224x224 input (2-core development machine, medians): skimage takes
50-64 ms per scale, 0.28 s for the six; here the shared part takes 19 ms and each scale
3-4 ms, 0.04 s for the six (docs/benchmarks.md has the effect on XRAI).
"""

from dataclasses import dataclass

import numpy as np
from numba import njit
from scipy import ndimage
from skimage.util import img_as_float64


@dataclass(frozen=True)
class SortedEdges:
    """The scale-independent part of the segmentation: the 8-neighbour graph of an
    (height, width) image with edges sorted by cost; edge k joins pixels ``first[k]`` and
    ``second[k]`` (flat indices) at cost ``costs[k]``."""

    height: int
    width: int
    first: np.ndarray
    second: np.ndarray
    costs: np.ndarray


def _distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    difference = a - b
    return np.sqrt(np.sum(difference * difference, axis=-1)).ravel()


def sorted_edges(image: np.ndarray, sigma: float = 0.8) -> SortedEdges:
    """image: (H,W,C) with channels last, or (H,W) grey."""
    image = img_as_float64(np.atleast_3d(image))
    if image.ndim != 3:
        raise ValueError(f"image must have shape (H,W) or (H,W,C), got {image.shape}")
    smooth = ndimage.gaussian_filter(image, sigma=[sigma, sigma, 0], mode="reflect", truncate=4.0)
    height, width = smooth.shape[:2]
    costs = np.concatenate(
        [
            _distance(smooth[:, 1:], smooth[:, :-1]),
            _distance(smooth[1:, :], smooth[:-1, :]),
            _distance(smooth[1:, 1:], smooth[:-1, :-1]),
            _distance(smooth[1:, :-1], smooth[:-1, 1:]),
        ]
    )
    order = np.argsort(costs)
    first, second = _edge_pixels(order, height, width)
    return SortedEdges(height, width, first, second, np.ascontiguousarray(costs[order]))


def segment(edges: SortedEdges, scale: float, min_size: int) -> np.ndarray:
    """(H,W) int64 labels 0..n-1 for one scale (skimage's ``scale``, before its /255)."""
    labels = _merge(
        edges.first, edges.second, edges.costs, edges.height * edges.width, scale / 255.0, min_size
    )
    return labels.reshape(edges.height, edges.width)


def felzenszwalb(image: np.ndarray, scale: float = 1, sigma: float = 0.8, min_size: int = 20) -> np.ndarray:
    """Drop-in for ``skimage.segmentation.felzenszwalb(image, scale, sigma, min_size)``."""
    return segment(sorted_edges(image, sigma), scale, min_size)


@njit(cache=True, nogil=True)
def _edge_pixels(order, height, width):
    """Endpoints of the edges in ``order``, numbered as skimage concatenates them: H*(W-1)
    horizontal, (H-1)*W vertical, then (H-1)*(W-1) of each diagonal."""
    horizontal = height * (width - 1)
    vertical = horizontal + (height - 1) * width
    diagonal = width - 1
    down_right = vertical + (height - 1) * diagonal
    first = np.empty(order.size, np.int64)
    second = np.empty(order.size, np.int64)
    for k in range(order.size):
        e = order[k]
        if e < horizontal:
            row, col = divmod(e, width - 1)
            first[k], second[k] = row * width + col + 1, row * width + col
        elif e < vertical:
            pixel = e - horizontal
            first[k], second[k] = pixel + width, pixel
        elif e < down_right:
            row, col = divmod(e - vertical, diagonal)
            first[k], second[k] = (row + 1) * width + col + 1, row * width + col
        else:
            row, col = divmod(e - down_right, diagonal)
            first[k], second[k] = row * width + col + 1, (row + 1) * width + col
    return first, second


@njit(cache=True, nogil=True, inline="always")
def _root(parent, pixel):
    # Path halving. Roots are always a region's smallest pixel (see _merge), so compressing
    # paths, which skimage does not do here, changes no root and no result.
    while parent[pixel] != pixel:
        parent[pixel] = parent[parent[pixel]]
        pixel = parent[pixel]
    return pixel


@njit(cache=True, nogil=True)
def _merge(first, second, costs, pixels, scale, min_size):
    parent = np.arange(pixels)
    size = np.ones(pixels, np.int64)
    # A region merges along an edge cheaper than its threshold: the cost of the edge that
    # last grew it plus scale/size, rounded to float32 (skimage's Cython keeps it in a
    # float). Kept per root and updated on merges, so edges cost no division.
    threshold = np.full(pixels, np.float32(scale))
    for k in range(costs.size):
        a = _root(parent, first[k])
        b = _root(parent, second[k])
        if a != b and costs[k] < np.float64(min(threshold[a], threshold[b])):
            low, high = min(a, b), max(a, b)
            parent[high] = low
            size[low] += size[high]
            threshold[low] = np.float32(costs[k] + scale / size[low])
    for k in range(costs.size):
        a = _root(parent, first[k])
        b = _root(parent, second[k])
        if a != b and (size[a] < min_size or size[b] < min_size):
            low, high = min(a, b), max(a, b)
            parent[high] = low
            size[low] += size[high]
    # Number the regions in order of their roots, as skimage's np.unique does. A pixel's
    # parent is an earlier pixel of its region, so it is already labelled.
    labels = np.empty(pixels, np.int64)
    count = 0
    for pixel in range(pixels):
        if parent[pixel] == pixel:
            labels[pixel] = count
            count += 1
        else:
            labels[pixel] = labels[parent[pixel]]
    return labels
