"""Agreement metrics, each ``f(saliency_map, human_map, ...)`` on 2-D arrays of the same shape;
the human map is the reference. NaN means undefined (e.g. a constant map).

These are the per-image definitions, written plainly on top of numpy/scipy; the batched study
analysis (``analysis.batch_scores``) computes the same numbers for many maps at once and is tested
against them. Conventions are the MIT saliency benchmark's (Bylinskii et al., cvzoya/saliency
``code_forMetrics``), including its eps = 2.2204e-16; where pysaliency departs from MIT, MIT
rules, and the docstring says so.

Both maps are first rounded to float32, the precision of the data (8/16-bit painted maps,
float32 model outputs); arithmetic is then float64. Rounding first means that order-based
metrics (Spearman, AUC, top-k) do not hinge on float64 summation noise, and lets the batched
path, which stores maps as float32, give the same numbers.
"""

import math

import numpy as np
from scipy import stats

from analysis import emd as _emd

EPS = 2.2204e-16  # MIT's KLdiv.m uses Matlab's eps, written to 4 decimals as pysaliency does
BINARISE_K = 0.1  # NSS and the AUCs: the human map's top 10 % are the "fixations"


def _as_float32(values: np.ndarray) -> np.ndarray:
    return np.asarray(values).astype(np.float32).astype(np.float64)


def _check(saliency_map: np.ndarray, human_map: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(saliency_map)
    h = np.asarray(human_map)
    if s.shape != h.shape or s.ndim != 2:
        raise ValueError(f"maps must be 2-D and of the same shape, got {s.shape} and {h.shape}")
    s, h = _as_float32(s), (h if h.dtype == bool else _as_float32(h))
    if not (np.isfinite(s).all() and np.isfinite(h).all()):
        raise ValueError("maps must be finite")
    return s, h


def quantile_of_sorted(sorted_values: np.ndarray, q: float) -> float:
    """The q-quantile of ascending values by linear interpolation (numpy's default method)."""
    n = sorted_values.size
    position = q * (n - 1)
    below = min(int(math.floor(position)), n - 1)
    above = min(below + 1, n - 1)
    low, high = float(sorted_values[below]), float(sorted_values[above])
    return low + (high - low) * (position - below)


def topk_mask(saliency_map: np.ndarray, k: float) -> np.ndarray:
    """Pixels strictly above the map's (1-k) quantile: its top k fraction. Strict, as in
    PAIR's XRAI examples and Harmonization's IoU/Dice, so ties at the bottom (an unpainted
    background) never count."""
    if not 0 < k <= 1:
        raise ValueError("k must be in (0, 1]")
    values = _as_float32(saliency_map)
    return values > quantile_of_sorted(np.sort(values, axis=None), 1.0 - k)


def fixation_mask(human_map: np.ndarray, k: float = BINARISE_K) -> np.ndarray:
    """The binary "fixation map" NSS and the AUCs need: a boolean map is used as given, any
    other map is binarised at its top ``k`` fraction."""
    h = np.asarray(human_map)
    return h if h.dtype == bool else topk_mask(h, k)


def spearman(saliency_map: np.ndarray, human_map: np.ndarray) -> float:
    """Spearman rank correlation of the flattened maps (ties get average ranks), the
    alignment score of Harmonization (Fel et al. 2022)."""
    s, h = _check(saliency_map, human_map)
    if s.min() == s.max() or h.min() == h.max():
        return float("nan")
    return float(stats.spearmanr(s.ravel(), h.ravel()).statistic)


def cc(saliency_map: np.ndarray, human_map: np.ndarray) -> float:
    """Linear correlation coefficient (MIT CC.m): both maps z-scored, then Pearson's r. MIT
    returns NaN for a constant map, and so do we (pysaliency returns 0 when only the
    saliency map is constant)."""
    s, h = _check(saliency_map, human_map)
    if s.min() == s.max() or h.min() == h.max():
        return float("nan")
    zs = (s - s.mean()) / s.std(ddof=1)
    zh = (h - h.mean()) / h.std(ddof=1)
    return float(stats.pearsonr(zs.ravel(), zh.ravel()).statistic)


def _minmax_then_sum(values: np.ndarray) -> np.ndarray:
    if not values.any():  # MIT: "zero map will remain a zero map"
        return values
    low, high = values.min(), values.max()
    if high == low:  # MIT divides 0 by 0 here and returns NaN
        return np.full_like(values, np.nan)
    scaled = (values - low) / (high - low)
    return scaled / scaled.sum()


def sim(saliency_map: np.ndarray, human_map: np.ndarray) -> float:
    """Similarity / histogram intersection (MIT similarity.m): each map min-max normalised,
    then divided by its sum, then the sum of the pixel-wise minimum; 1 for identical maps.
    pysaliency's SIM skips the min-max step, which rewards maps with a raised floor."""
    s, h = _check(saliency_map, human_map)
    s, h = _minmax_then_sum(s), _minmax_then_sum(h)
    if np.isnan(s).all() or np.isnan(h).all():
        return float("nan")
    return float(np.minimum(s, h).sum())


def _to_distribution(values: np.ndarray) -> np.ndarray:
    if values.min() < 0:  # MIT assumes non-negative maps; shift as pysaliency does
        values = values - values.min()
    total = values.sum()
    return values / total if total > 0 else values  # MIT: a zero map stays zero


def kld(saliency_map: np.ndarray, human_map: np.ndarray) -> float:
    """KL divergence of the saliency map from the human map (MIT KLdiv.m): both divided by
    their sums, then sum Q * log(eps + Q / (P + eps)) with Q the human map, eps = 2.2204e-16.
    Lower is better; 0 for identical maps. Equals pysaliency's ``MIT_KLDiv``."""
    s, h = _check(saliency_map, human_map)
    p, q = _to_distribution(s), _to_distribution(h)
    return float(np.sum(q * np.log(EPS + q / (p + EPS))))


def nss(saliency_map: np.ndarray, human_map: np.ndarray, k: float = BINARISE_K) -> float:
    """Normalised scanpath saliency (MIT NSS.m): the saliency map z-scored, averaged over the
    human map's fixations (its top ``k`` fraction, or a boolean map as given). MIT z-scores
    with Matlab's ``std`` (n-1 in the denominator), pysaliency with numpy's (n), so
    pysaliency's value is ours times sqrt(n/(n-1))."""
    s, h = _check(saliency_map, human_map)
    fixations = fixation_mask(h, k)
    if not fixations.any() or s.min() == s.max():
        return float("nan")
    return float(((s - s.mean()) / s.std(ddof=1))[fixations].mean())


def _minmax(values: np.ndarray) -> np.ndarray:
    low, high = values.min(), values.max()
    return (values - low) / (high - low) if high > low else np.zeros_like(values)


def auc_judd(
    saliency_map: np.ndarray,
    human_map: np.ndarray,
    k: float = BINARISE_K,
    *,
    jitter: int | np.random.Generator | None = None,
) -> float:
    """AUC-Judd (MIT AUC_Judd.m): thresholds at the saliency values of the fixated pixels; the
    true-positive rate is the share of fixations above, the false-positive rate the share of
    the *non-fixated* pixels above (pysaliency counts all pixels as negatives); area by the
    trapezoid rule through (0,0) and (1,1).

    MIT breaks ties by adding uniform noise of at most 1e-7 to the map. ``jitter`` = a seed or
    Generator does exactly that (to the min-max normalised map, so the noise is 1e-7 of the
    map's range whatever its units). The default, ``None``, returns the expected value of
    that score over the noise, without drawing any: with no ties the sweep's area is the
    Mann-Whitney AUC plus fp_N / (2N), where N is the number of fixations and fp_N the
    false-positive rate at the lowest fixation; exact ties contribute 1/2 to the first term
    and, for the ties at the lowest fixation, g_neg * g_pos / (g_pos + 1) negatives to the
    second. (Values closer than 1e-7 of the range keep their order.) A constant map scores
    what MIT's jittered one does on average, 1/2 + 1/(2(N+1)) (chance, plus the sweep's
    trapezoid at the lowest fixation)."""
    s, h = _check(saliency_map, human_map)
    fixations = fixation_mask(h, k).ravel()
    values = s.ravel()
    n_pos = int(fixations.sum())
    n_neg = values.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    if jitter is not None:
        jittered = _minmax(values) + np.random.default_rng(jitter).random(values.size) / 1e7
        return _judd_sweep(_minmax(jittered), fixations)
    ranks = stats.rankdata(values)
    mann_whitney = (ranks[fixations].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    lowest = values[fixations].min()
    negatives_above = np.count_nonzero(values[~fixations] > lowest)
    tied_pos = np.count_nonzero(values[fixations] == lowest)
    tied_neg = np.count_nonzero(values[~fixations] == lowest)
    fp_last = (negatives_above + tied_neg * tied_pos / (tied_pos + 1)) / n_neg
    return float(mann_whitney + fp_last / (2 * n_pos))


def _judd_sweep(values: np.ndarray, fixations: np.ndarray) -> float:
    """MIT's AUC_Judd sweep as written (thresholds at each fixation's value, descending)."""
    n_pos = int(fixations.sum())
    thresholds = np.sort(values[fixations])[::-1]
    above = values.size - np.searchsorted(np.sort(values), thresholds, side="left")
    i = np.arange(1, n_pos + 1)
    tp = np.concatenate(([0.0], i / n_pos, [1.0]))
    fp = np.concatenate(([0.0], (above - i) / (values.size - n_pos), [1.0]))
    return float(np.trapezoid(tp, fp))


def borji_thresholds(step: float) -> np.ndarray:
    """MIT's thresholds 0:step:max for a min-max normalised map, up to 1; thresholds above a
    map's maximum add only (0,0) points, so one fixed list serves every map."""
    return step * np.arange(int(math.floor(1 / step + 1e-9)) + 1)


def borji_curve_area(tp: np.ndarray, negative_counts: np.ndarray, n_pos: int) -> np.ndarray:
    """Mean trapezoid area over splits. ``tp``: the true-positive rate at each threshold
    (ascending thresholds), (..., thresholds); ``negative_counts``: per split, how many random
    negatives fall in each threshold's bin, (..., splits, thresholds). Leading axes batch maps."""
    tp = np.asarray(tp, dtype=np.float64)[..., None, :]
    fp = np.cumsum(negative_counts[..., ::-1], axis=-1)[..., ::-1] / n_pos  # share >= each threshold
    zeros, ones = np.zeros(fp.shape[:-1] + (1,)), np.ones(fp.shape[:-1] + (1,))
    x = np.concatenate((zeros, fp[..., ::-1], ones), axis=-1)
    y = np.concatenate((zeros, np.broadcast_to(tp[..., ::-1], fp.shape), ones), axis=-1)
    return np.trapezoid(y, x, axis=-1).mean(axis=-1)


def auc_borji(
    saliency_map: np.ndarray,
    human_map: np.ndarray,
    k: float = BINARISE_K,
    *,
    n_splits: int = 100,
    step: float = 0.1,
    rng: int | np.random.Generator | None = 0,
) -> float:
    """AUC-Borji (MIT AUC_Borji.m): the map min-max normalised; thresholds 0, step, ... up to
    its maximum; true positives as in Judd; false positives from as many random pixels as
    there are fixations, drawn uniformly with replacement from all pixels; the area averaged
    over ``n_splits`` draws. Only how many random pixels land between consecutive thresholds
    matters, so those counts are drawn from their multinomial distribution (the same
    distribution as MIT's index sampling, without drawing 100 x N indices). Seeded: ``rng``
    is a seed or a Generator, 0 by default."""
    s, h = _check(saliency_map, human_map)
    fixations = fixation_mask(h, k).ravel()
    n_pos = int(fixations.sum())
    if n_pos == 0 or s.min() == s.max():
        return float("nan")
    values = _minmax(s.ravel())
    thresholds = borji_thresholds(step)
    tp = (values[fixations][:, None] >= thresholds).mean(axis=0)
    bins = np.searchsorted(thresholds, values, side="right") - 1
    share = np.bincount(bins, minlength=thresholds.size) / values.size
    counts = np.random.default_rng(rng).multinomial(n_pos, share, size=n_splits)
    return float(borji_curve_area(tp, counts, n_pos))


def _topk_counts(saliency_map: np.ndarray, human_map: np.ndarray, k: float) -> tuple[int, int, int]:
    s, h = _check(saliency_map, human_map)
    a, b = topk_mask(s, k), topk_mask(h, k)
    return int(np.logical_and(a, b).sum()), int(a.sum()), int(b.sum())


def topk_iou(saliency_map: np.ndarray, human_map: np.ndarray, k: float = 0.3) -> float:
    """Intersection over union of the two maps' top-k regions (k = 0.3: the top 30 %)."""
    both, a, b = _topk_counts(saliency_map, human_map, k)
    union = a + b - both
    return float(both / union) if union else float("nan")


def topk_dice(saliency_map: np.ndarray, human_map: np.ndarray, k: float = 0.3) -> float:
    """Sorensen-Dice coefficient of the two maps' top-k regions: 2|A and B| / (|A| + |B|)."""
    both, a, b = _topk_counts(saliency_map, human_map, k)
    return float(2 * both / (a + b)) if a + b else float("nan")


def emd(
    saliency_map: np.ndarray,
    human_map: np.ndarray,
    *,
    grid: tuple[int, int] | None = None,
    match_histogram: bool = True,
) -> float:
    """Earth mover's distance between the maps as distributions of mass (MIT EMD.m), exact,
    in grid cells; lower is better. See :func:`analysis.emd.emd` for the downsampling (MIT's
    1/32 of the map size by default, 7x7 at 224x224) and the histogram matching."""
    s, h = _check(saliency_map, human_map)
    return _emd.emd(s, h, grid=grid, match_histogram=match_histogram)
