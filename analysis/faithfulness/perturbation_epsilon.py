"""The Perturbation-ε axiom (Kapishnikov et al. 2019, "XRAI: Better attributions through
regions", the axioms section of PAIR's XRAI page).

Definition. Split the image into features: single pixels, square patches, or regions (e.g. XRAI's
segments). For feature i, let the attribution a_i be the sum of the saliency map over its pixels
and the output change Δy_i = f(x) - f(x with feature i removed), where "removed" means its pixels
(all channels) take a baseline value — by default the image's mean colour — and f is the class
score given by the prediction callback (``model_scores``). Δy_i > 0 when removing the feature
lowers the score. The map satisfies the axiom at ε when

    a_i >= ε · Δy_i   for every feature i.

Per map we report the share of features that violate it at a chosen ε, and the largest ε at which
it holds. Derivation of the latter, feature by feature:

- Δy_i > 0: a_i >= ε Δy_i  <=>  ε <= a_i / Δy_i        (an upper bound);
- Δy_i < 0: dividing by a negative number flips it:  ε >= a_i / Δy_i   (a lower bound);
- Δy_i = 0: a_i >= 0, whatever ε (no bound; if a_i < 0 no ε satisfies it).

So the ε that satisfy the axiom form the interval [lo, hi] with hi = min over Δy > 0 of a/Δy
(+inf when no feature has Δy > 0) and lo = max over Δy < 0 of a/Δy (-inf when none). The largest
ε is hi when the interval is not empty (lo <= hi and no Δy = 0 feature has a < 0), otherwise NaN:
no ε at all satisfies the axiom. hi may be negative (a feature whose removal lowers the score got
a negative attribution); we report it as it is rather than clip at 0, since then only ε <= hi < 0
would pass. ``smallest_epsilon`` (lo) is returned too.

Floating point: at ε = hi the binding feature satisfies a = (a/Δy)·Δy only up to rounding, so a
feature counts as violating only when a_i < ε Δy_i - rtol·|ε Δy_i| (rtol = 1e-12 by default).
"""

from dataclasses import dataclass

import numpy as np

from analysis.faithfulness.model_scores import PredFunc, scores_in_batches, working_dtype

RELATIVE_TOLERANCE = 1e-12


def pixel_features(height: int, width: int) -> np.ndarray:
    """(H, W) labels with one feature per pixel, numbered in raster order."""
    return np.arange(height * width).reshape(height, width)


def patch_features(height: int, width: int, patch_size: int) -> np.ndarray:
    """(H, W) labels of square ``patch_size`` patches tiled from the top left, in raster order;
    the patches of the last row and column are cut to the image when the size does not divide."""
    if patch_size < 1:
        raise ValueError("patch_size must be at least 1")
    rows = np.arange(height) // patch_size
    cols = np.arange(width) // patch_size
    patches_per_row = -(-width // patch_size)
    return rows[:, None] * patches_per_row + cols[None, :]


def feature_pixel_indices(features: np.ndarray, shape: tuple[int, int]) -> list[np.ndarray]:
    """Flat pixel indices (into H*W) of each feature.

    ``features``: an integer (H, W) label array, one feature per distinct label in increasing
    label order (e.g. ``pixel_features``, ``patch_features``, a segmentation), or a boolean
    (F, H, W) stack of masks, one feature each, which may overlap (XRAI's segments do).
    """
    features = np.asarray(features)
    if features.dtype == bool:
        if features.ndim != 3 or features.shape[1:] != tuple(shape):
            raise ValueError(f"boolean features must be (F, {shape[0]}, {shape[1]}), got {features.shape}")
        indices = [np.flatnonzero(mask) for mask in features]
        if any(index.size == 0 for index in indices):
            raise ValueError("a feature mask is empty")
        return indices
    if not np.issubdtype(features.dtype, np.integer) or features.shape != tuple(shape):
        raise ValueError(f"features must be integer labels of shape {tuple(shape)} or boolean masks")
    labels = features.ravel()
    order = np.argsort(labels, kind="stable")
    boundaries = np.flatnonzero(np.diff(labels[order])) + 1
    return np.split(order, boundaries)


def removal_baseline(image: np.ndarray, baseline: float | np.ndarray | None = None) -> np.ndarray:
    """The values removed pixels take, at the image's shape: the image's mean colour (per
    channel, over all pixels) by default, else ``baseline`` broadcast to the image (a number, a
    colour of C values, or a whole image)."""
    image = np.asarray(image)
    dtype = working_dtype(image)
    if baseline is None:
        mean_colour = image.reshape(image.shape[0] * image.shape[1], -1).mean(axis=0)
        filled = np.broadcast_to(mean_colour.reshape((1, 1) + image.shape[2:]), image.shape)
    else:
        filled = np.broadcast_to(np.asarray(baseline), image.shape)
    return np.array(filled, dtype=dtype)


def feature_attributions(saliency_map: np.ndarray, pixel_indices: list[np.ndarray]) -> np.ndarray:
    """a_i: the sum of the (H, W) map over each feature's pixels."""
    flat = np.asarray(saliency_map, dtype=np.float64).ravel()
    return np.array([flat[index].sum() for index in pixel_indices])


def removal_deltas(
    image: np.ndarray,
    pixel_indices: list[np.ndarray],
    pred_func: PredFunc,
    *,
    target: int | None = None,
    baseline: float | np.ndarray | None = None,
    batch_size: int = 64,
) -> np.ndarray:
    """Δy_i = f(x) - f(x with feature i's pixels set to the baseline), one model call per batch
    of ``batch_size`` perturbed images (plus one for x itself)."""
    image = np.asarray(image)
    dtype = working_dtype(image)
    original = image.astype(dtype)
    filled = removal_baseline(image, baseline)
    height, width = image.shape[:2]
    flat_original = original.reshape(height * width, -1)
    flat_filled = filled.reshape(height * width, -1)

    def perturbed():
        for index in pixel_indices:
            flat = flat_original.copy()
            flat[index] = flat_filled[index]
            yield flat.reshape(image.shape)

    score = scores_in_batches(pred_func, [original], target, 1)[0]
    return score - scores_in_batches(pred_func, perturbed(), target, batch_size)


def epsilon_bounds(attributions: np.ndarray, deltas: np.ndarray) -> tuple[float, float]:
    """(smallest, largest) ε at which a_i >= ε Δy_i holds for every feature, (NaN, NaN) when no
    ε does; see the module docstring for the derivation."""
    a = np.asarray(attributions, dtype=np.float64)
    d = np.asarray(deltas, dtype=np.float64)
    if a.shape != d.shape:
        raise ValueError("attributions and deltas must have the same shape")
    rises, falls, flat = d > 0, d < 0, d == 0
    hi = float(np.min(a[rises] / d[rises])) if rises.any() else float("inf")
    lo = float(np.max(a[falls] / d[falls])) if falls.any() else float("-inf")
    if lo > hi or np.any(a[flat] < 0):
        return float("nan"), float("nan")
    return lo, hi


def violating_features(
    attributions: np.ndarray, deltas: np.ndarray, epsilon: float, rtol: float = RELATIVE_TOLERANCE
) -> np.ndarray:
    """Boolean per feature: a_i < ε Δy_i (beyond the relative rounding tolerance)."""
    a = np.asarray(attributions, dtype=np.float64)
    bound = epsilon * np.asarray(deltas, dtype=np.float64)
    return a < bound - rtol * np.abs(bound)


@dataclass(frozen=True)
class PerturbationEpsilonResult:
    epsilon: float  # the ε the violation share was measured at
    violation_share: float  # share of features with a_i < ε Δy_i
    largest_epsilon: float  # hi: +inf when no feature bounds it, NaN when no ε satisfies the axiom
    smallest_epsilon: float  # lo: -inf when no feature bounds it, NaN as above
    attributions: np.ndarray  # a_i per feature
    deltas: np.ndarray  # Δy_i per feature


def perturbation_epsilon(
    image: np.ndarray,
    saliency_map: np.ndarray,
    features: np.ndarray,
    pred_func: PredFunc,
    *,
    epsilon: float,
    target: int | None = None,
    baseline: float | np.ndarray | None = None,
    batch_size: int = 64,
) -> PerturbationEpsilonResult:
    """The Perturbation-ε check of one map on one image.

    image: (H, W) or (H, W, C); saliency_map: (H, W); features: labels or masks as in
    ``feature_pixel_indices`` (``pixel_features``, ``patch_features``, XRAI segments).
    """
    image = np.asarray(image)
    saliency_map = np.asarray(saliency_map)
    shape = image.shape[:2]
    if saliency_map.shape != shape:
        raise ValueError(f"saliency_map must be {shape}, got {saliency_map.shape}")
    if not np.all(np.isfinite(saliency_map)):
        raise ValueError("saliency_map has non-finite values")
    indices = feature_pixel_indices(features, shape)
    attributions = feature_attributions(saliency_map, indices)
    deltas = removal_deltas(
        image, indices, pred_func, target=target, baseline=baseline, batch_size=batch_size
    )
    lo, hi = epsilon_bounds(attributions, deltas)
    return PerturbationEpsilonResult(
        epsilon=float(epsilon),
        violation_share=float(violating_features(attributions, deltas, epsilon).mean()),
        largest_epsilon=hi,
        smallest_epsilon=lo,
        attributions=attributions,
        deltas=deltas,
    )
