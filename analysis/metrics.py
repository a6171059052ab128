"""Agreement metrics, each ``f(saliency_map, human_map, ...)`` on 2-D float arrays of the
same shape; the human map is the reference. NaN means undefined (e.g. a constant map)."""

import numpy as np
from scipy import stats


def _check(saliency_map: np.ndarray, human_map: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(saliency_map, dtype=np.float64)
    h = np.asarray(human_map, dtype=np.float64)
    if s.shape != h.shape or s.ndim != 2:
        raise ValueError(f"maps must be 2-D and of the same shape, got {s.shape} and {h.shape}")
    if not (np.isfinite(s).all() and np.isfinite(h).all()):
        raise ValueError("maps must be finite")
    return s, h


def spearman(saliency_map: np.ndarray, human_map: np.ndarray) -> float:
    """Spearman rank correlation of the flattened maps (ties get average ranks), the
    alignment score of Harmonization (Fel et al. 2022)."""
    s, h = _check(saliency_map, human_map)
    if s.min() == s.max() or h.min() == h.max():
        return float("nan")
    return float(stats.spearmanr(s.ravel(), h.ravel()).statistic)


def topk_mask(saliency_map: np.ndarray, k: float) -> np.ndarray:
    """Pixels strictly above the map's (1-k) quantile: its top k fraction. Strict, as in
    PAIR's XRAI examples, so ties at the bottom (an unpainted background) never count."""
    if not 0 < k <= 1:
        raise ValueError("k must be in (0, 1]")
    values = np.asarray(saliency_map, dtype=np.float64)
    return values > np.quantile(values, 1.0 - k)


def topk_iou(saliency_map: np.ndarray, human_map: np.ndarray, k: float = 0.3) -> float:
    """Intersection over union of the two maps' top-k regions (k = 0.3: the top 30 %)."""
    s, h = _check(saliency_map, human_map)
    a, b = topk_mask(s, k), topk_mask(h, k)
    union = np.logical_or(a, b).sum()
    if union == 0:
        return float("nan")
    return float(np.logical_and(a, b).sum() / union)
