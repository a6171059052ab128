"""From participants' painted maps to one human map per image.

Each participant's map is normalised on its own first (so heavy and light painters weigh the
same), flagged participants are left out, the rest are averaged, and the mean may be blurred
the way Harmonization (Fel et al. 2022) blurs the ClickMe maps. Every step is linear after the
per-participant normalisation, which the batched analysis (``analysis.batch_scores``) relies on.
"""

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from PIL import Image as PILImage
from scipy import stats

NORMALISATIONS = ("minmax", "sum", "rank")

# Harmonization (serre-lab/Harmonization, harmonization/common/blur.py and clickme_dataset.py):
# heat map resized to 64x64 (bilinear), convolved with a 10x10 Gaussian of sigma 10, resized back.
BLUR_GRID = (64, 64)
BLUR_KERNEL_SIZE = 10
BLUR_SIGMA = 10.0


def normalise_participant(saliency_map: np.ndarray, method: str = "minmax") -> np.ndarray:
    """One participant's map, made comparable with the others'. ``minmax``: rescaled to
    [0,1]; ``sum``: divided by its total (a distribution of attention); ``rank``: replaced by
    its average ranks (at float32 precision, like every order-based step here) scaled to
    [0,1], so only the order of the painted intensities counts. A constant map expresses no
    spatial preference and becomes zeros under all three."""
    values = np.asarray(saliency_map, dtype=np.float64)
    if method not in NORMALISATIONS:
        raise ValueError(f"normalisation must be one of {NORMALISATIONS}, got {method!r}")
    low, high = values.min(), values.max()
    if high <= low:
        return np.zeros_like(values)
    if method == "minmax":
        return (values - low) / (high - low)
    if method == "sum":
        if low < 0:
            raise ValueError("sum-to-one needs a map without negative values")
        return values / values.sum()
    ranks = stats.rankdata(values.astype(np.float32).ravel()).reshape(values.shape)
    return (ranks - ranks.min()) / (ranks.max() - ranks.min())


def mean_map(
    maps: Sequence[np.ndarray],
    *,
    normalise: str = "minmax",
    include: Sequence[bool] | np.ndarray | None = None,
    blur: bool = False,
) -> np.ndarray:
    """Mean of the participants' normalised maps; ``include`` (one bool per map) leaves out
    flagged participants; ``blur`` applies :func:`harmonization_blur` to the mean."""
    if include is not None:
        include = np.asarray(include, dtype=bool)
        if include.shape != (len(maps),):
            raise ValueError("include needs one flag per map")
        maps = [m for m, keep in zip(maps, include) if keep]
    if not len(maps):
        raise ValueError("no maps to average")
    shape = np.shape(maps[0])
    if any(np.shape(m) != shape for m in maps):
        raise ValueError("all maps of one image must have the same shape")
    mean = np.mean([normalise_participant(m, normalise) for m in maps], axis=0)
    return harmonization_blur(mean) if blur else mean


def resize_map(saliency_map: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a float map to shape (H,W) (PIL, in float32), float64 out: how the
    platform brings a model map to its image's resolution and ``ceiling.mismatched_floor`` one
    image's human mean to another's."""
    values = np.asarray(saliency_map, dtype=np.float32)
    if values.shape == tuple(shape):
        return values.astype(np.float64)
    resized = PILImage.fromarray(values, mode="F").resize((shape[1], shape[0]), PILImage.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.float64)


def bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) matrix of TensorFlow's ``tf.image.resize(method="bilinear")`` along one
    axis: half-pixel centres, edges clamped, no antialiasing (so a downscale samples rather
    than averages), which is what Harmonization's blur goes through."""
    matrix = np.zeros((n_out, n_in))
    position = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    floor = np.floor(position)
    lower = np.clip(floor, 0, n_in - 1).astype(int)
    upper = np.clip(np.ceil(position), 0, n_in - 1).astype(int)
    weight = position - floor
    np.add.at(matrix, (np.arange(n_out), lower), 1 - weight)
    np.add.at(matrix, (np.arange(n_out), upper), weight)
    return matrix


def harmonization_taps(
    size: int = BLUR_KERNEL_SIZE, sigma: float = BLUR_SIGMA
) -> tuple[np.ndarray, np.ndarray]:
    """Harmonization's Gaussian as two 1-D tap vectors (rows, columns), unnormalised.

    Their kernel is ``exp(-(x^2 + y^2) / 2 sigma^2)`` over x = range(-(size-1)//2, (size-1)//2 + 1)
    (columns) and y = the same range reversed and shifted by one (rows): for size 10, x = -5..4
    and y = 4..-5; normalised to sum 1, so separable. Tap r of TensorFlow's SAME convolution
    reads the input at offset r - (size-1)//2, i.e. -4..5: an even size has no centre tap, so
    the blurred map moves about half a grid pixel up and to the left (by 0.46-0.54 pixels at
    sigma 10; the Gaussian peaks at offset 0 down the rows and +1 across the columns)."""
    x_range = np.arange(-(size - 1) // 2, (size - 1) // 2 + 1)
    y_range = np.arange((size - 1) // 2, -(size - 1) // 2 - 1, -1)
    gauss = lambda v: np.exp(-(v.astype(np.float64) ** 2) / (2 * sigma**2))  # noqa: E731
    return gauss(y_range), gauss(x_range)


def convolution_matrix(n: int, taps: np.ndarray, pad_before: int) -> np.ndarray:
    """(n, n) matrix of a 1-D SAME cross-correlation with zero padding (TensorFlow's conv2d)."""
    matrix = np.zeros((n, n))
    for tap, weight in enumerate(taps):
        offset = tap - pad_before
        rows = np.arange(max(0, -offset), min(n, n - offset))
        matrix[rows, rows + offset] = weight
    return matrix


@lru_cache(maxsize=16)
def harmonization_blur_matrices(
    shape: tuple[int, int],
    grid: tuple[int, int] = BLUR_GRID,
    size: int = BLUR_KERNEL_SIZE,
    sigma: float = BLUR_SIGMA,
) -> tuple[np.ndarray, np.ndarray]:
    """(Ly, Lx) with blur(X) = Ly @ X @ Lx.T: resize to ``grid``, convolve, resize back."""
    pad_before = (size - 1) // 2
    factors = []
    for n, g, taps in zip(shape, grid, harmonization_taps(size, sigma)):
        down, up = bilinear_matrix(n, g), bilinear_matrix(g, n)
        factors.append(up @ (convolution_matrix(g, taps / taps.sum(), pad_before) @ down))
    ly, lx = factors
    ly.setflags(write=False)
    lx.setflags(write=False)
    return ly, lx


def harmonization_blur(
    saliency_map: np.ndarray,
    *,
    grid: tuple[int, int] = BLUR_GRID,
    size: int = BLUR_KERNEL_SIZE,
    sigma: float = BLUR_SIGMA,
) -> np.ndarray:
    """Harmonization's human-map blur: bilinear resize to ``grid`` (64x64), 10x10 Gaussian of
    sigma 10 with TensorFlow's SAME zero padding (so the border darkens and, the size being
    even, the result shifts about half a grid pixel up-left), bilinear resize back to the
    map's shape. Harmonization's maps are square; a non-square map is squeezed onto the grid
    likewise. Accepts (H,W) or a stack (..., H, W)."""
    values = np.asarray(saliency_map, dtype=np.float64)
    ly, lx = harmonization_blur_matrices(values.shape[-2:], tuple(grid), size, float(sigma))
    return ly @ values @ lx.T
