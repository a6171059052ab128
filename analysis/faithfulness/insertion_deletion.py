"""Insertion and deletion curves (Petsiuk et al. 2018, "RISE: Randomized input sampling for
explanation of black-box models", section 4.1).

Pixels are taken in order of decreasing saliency (a stable sort: equal values keep raster order,
so the curves are deterministic), ``step`` pixels at a time (all channels of a pixel together).

- Deletion: start from the image and replace the pixels taken so far with a baseline (RISE: zeros,
  the default; ``"blur"`` uses the blurred image). A faithful map makes the class score fall fast:
  lower area is better.
- Insertion: start from the blurred image and put back the original pixels taken so far. A
  faithful map makes the score rise fast: higher area is better.

After k steps min(k·step, N) of the N = H·W pixels are taken; the curve has the point for k = 0
(nothing taken) and ends with every pixel taken, its x the fraction taken, its y the class score
from the prediction callback (``model_scores``; RISE uses the softmax probability). The area is
the trapezoidal rule over x in [0, 1]. RISE's own code spaces the points evenly, which differs
from this only in the last interval when ``step`` does not divide N.

Blur: a Gaussian with sigma 5 px truncated at radius 5 (an 11 x 11 window, RISE's klen=11,
nsig=5), applied to each channel separately (``scipy.ndimage.gaussian_filter``, edges reflected).
RISE builds its kernel by filtering a unit impulse on an 11 x 11 grid and convolves with zero
padding, which darkens a 5-pixel border; we reflect instead so the border keeps its colour.

Quantus's ``PixelFlipping`` is the deletion curve without its k = 0 point, with features that are
the elements of the map broadcast to (C, H, W) (so ``features_in_step`` = C·step takes the same
pixels when the map's values are distinct) and an unstable sort on ties. Its
``RegionPerturbation`` (Samek et al. 2017) reports f(x) minus the deletion curve, without the
k = 0 point, for whole patch_size x patch_size patches ranked by their sums: our deletion curve
of the map made constant on each patch (its patch sum), with step = patch_size**2. Both are
checked in tests/analysis/test_faithfulness_insertion_deletion.py.
"""

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from analysis.faithfulness.model_scores import PredFunc, scores_in_batches, working_dtype

BLUR_SIGMA = 5.0
BLUR_RADIUS = 5
RISE_STEPS = 224  # RISE's 224 x 224 images, 224 pixels per step


def gaussian_blur(image: np.ndarray, sigma: float = BLUR_SIGMA, radius: int = BLUR_RADIUS) -> np.ndarray:
    """The image blurred per channel by a Gaussian (``sigma`` px, window radius ``radius``)."""
    image = np.asarray(image)
    values = image.astype(working_dtype(image))
    sigmas = (sigma, sigma) + (0.0,) * (values.ndim - 2)
    return ndimage.gaussian_filter(values, sigma=sigmas, truncate=radius / sigma, mode="reflect")


def saliency_order(saliency_map: np.ndarray) -> np.ndarray:
    """Flat pixel indices from the most to the least salient, ties in raster order."""
    values = np.asarray(saliency_map, dtype=np.float64).ravel()
    if not np.all(np.isfinite(values)):
        raise ValueError("saliency_map has non-finite values")
    return np.argsort(-values, kind="stable")


def trapezoid_area(fractions: np.ndarray, scores: np.ndarray) -> float:
    """Area under the piecewise-linear curve through (fraction, score)."""
    x = np.asarray(fractions, dtype=np.float64)
    y = np.asarray(scores, dtype=np.float64)
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))


@dataclass(frozen=True)
class PerturbationCurve:
    fractions: np.ndarray  # share of pixels taken, 0 ... 1
    scores: np.ndarray  # the class score at each fraction
    auc: float  # trapezoidal area over [0, 1]


def _default_step(n_pixels: int) -> int:
    return max(1, -(-n_pixels // RISE_STEPS))


def reveal_curve(
    start: np.ndarray,
    end: np.ndarray,
    order: np.ndarray,
    pred_func: PredFunc,
    *,
    target: int | None = None,
    step: int | None = None,
    batch_size: int = 64,
) -> PerturbationCurve:
    """The curve of both methods: from ``start``, pixels ``order[:k*step]`` take their values in
    ``end``; one model call per batch of ``batch_size`` images."""
    height, width = start.shape[:2]
    n = height * width
    step = _default_step(n) if step is None else int(step)
    if step < 1:
        raise ValueError("step must be at least 1")
    counts = np.minimum(np.arange(-(-n // step) + 1) * step, n)
    flat_end = end.reshape(n, -1)

    def images():
        current = start.reshape(n, -1).copy()
        taken = 0
        for count in counts:
            current[order[taken:count]] = flat_end[order[taken:count]]
            taken = count
            yield current.reshape(start.shape).copy()

    scores = scores_in_batches(pred_func, images(), target, batch_size)
    fractions = counts / n
    return PerturbationCurve(fractions=fractions, scores=scores, auc=trapezoid_area(fractions, scores))


def _check(image: np.ndarray, saliency_map: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"image must be (H, W) or (H, W, C), got {image.shape}")
    if np.shape(saliency_map) != image.shape[:2]:
        raise ValueError(f"saliency_map must be {image.shape[:2]}, got {np.shape(saliency_map)}")
    return image.astype(working_dtype(image)), saliency_order(saliency_map)


def deletion_curve(
    image: np.ndarray,
    saliency_map: np.ndarray,
    pred_func: PredFunc,
    *,
    target: int | None = None,
    step: int | None = None,
    baseline: float | np.ndarray | str = 0.0,
    batch_size: int = 64,
) -> PerturbationCurve:
    """RISE's deletion curve: the most salient pixels replaced first by ``baseline`` (a number,
    a colour, an image, or ``"blur"`` for ``gaussian_blur(image)``). Default step:
    ceil(H·W / 224), RISE's 224 steps."""
    values, order = _check(image, saliency_map)
    if isinstance(baseline, str):
        if baseline != "blur":
            raise ValueError("baseline must be a number, an array or 'blur'")
        end = gaussian_blur(values)
    else:
        end = np.array(np.broadcast_to(np.asarray(baseline), values.shape), dtype=values.dtype)
    return reveal_curve(values, end, order, pred_func, target=target, step=step, batch_size=batch_size)


def insertion_curve(
    image: np.ndarray,
    saliency_map: np.ndarray,
    pred_func: PredFunc,
    *,
    target: int | None = None,
    step: int | None = None,
    start: np.ndarray | None = None,
    batch_size: int = 64,
) -> PerturbationCurve:
    """RISE's insertion curve: from ``start`` (default ``gaussian_blur(image)``), the most
    salient original pixels put back first."""
    values, order = _check(image, saliency_map)
    if start is None:
        substrate = gaussian_blur(values)
    else:
        substrate = np.array(np.broadcast_to(np.asarray(start), values.shape), dtype=values.dtype)
    return reveal_curve(substrate, values, order, pred_func, target=target, step=step, batch_size=batch_size)
