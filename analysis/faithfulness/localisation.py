"""Saliency maps against ground-truth object masks or boxes (the localisation table of PAIR's XRAI
page: AUC, F1, MAE; plus the pointing game and the relevance mass / rank accuracy of Arras et al.
2022, "CLEVR-XAI", as Quantus 0.6.0 defines them).

Conventions. A map is (H, W) float, a mask (H, W) boolean at the same size (True = object). Boxes
are the catalogue's ``ground_truth_boxes``: ``[left, top, right, bottom]`` in pixels, right and
bottom exclusive (``analysis.localisation.box_mask``); ``boxes_mask`` turns a list of them into
their union. The catalogue stores masks as binary PNGs of the image's size, decoded elsewhere.
Every score is NaN where it is undefined (an empty mask; a mask covering the whole image for AUC).

- ``pixel_auc``: the ROC AUC of the map as a score for mask membership, i.e. the probability that
  a random object pixel scores above a random background pixel, ties counting one half
  (Mann-Whitney U / (n_object · n_background) with average ranks; equals sklearn's
  ``roc_auc_score``). Perfect map 1, inverted map 0, constant map 0.5.
- ``f1_score``: the map binarised, against the mask. Default: its top |mask| pixels (top-k with k
  the mask's area; a stable sort breaks ties in raster order); with ``threshold``: the pixels
  whose [0, 1]-normalised value is >= threshold.
- ``mean_absolute_error``: mean |normalised map - mask|, the map min-max normalised to [0, 1]
  (salient-object-detection MAE, the XRAI page's table); NaN for a constant map.
- ``pointing_game`` (Zhang et al. 2016): 1 when a maximum of the map lies in the mask (any of
  tied maxima, as Quantus), else 0; ``tolerance`` grows the mask by a disc of that radius in
  pixels (the paper uses 15).
- ``relevance_mass_accuracy``: sum of the map inside the mask / sum over the image, raw values as
  Quantus (``analysis.localisation.region_mass_share`` is the positive-mass variant).
- ``relevance_rank_accuracy``: with K = |mask|, the share of the map's top K pixels inside the
  mask (stable sort for ties; Quantus sorts unstably, so the two agree when the values near the
  K-th are distinct).
- ``top_k_intersection`` (Theiner et al. 2021): the share of the top k pixels inside the mask.

Quantus applies, by default, ``normalise=True`` (division by the largest absolute value) before
its localisation metrics; our functions take the map as given. Every score here is unchanged by a
positive rescaling of the map, so that default changes none of them (with ``abs=False``).
"""

from collections.abc import Sequence

import numpy as np
from scipy import ndimage, stats

from analysis.localisation import box_mask


def boxes_mask(boxes: Sequence[Sequence[int]], width: int, height: int) -> np.ndarray:
    """(H, W) union of ``[left, top, right, bottom]`` boxes (right and bottom exclusive)."""
    mask = np.zeros((height, width), dtype=bool)
    for box in boxes:
        mask |= box_mask(tuple(box), width, height)
    return mask


def _check(saliency_map: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values = np.asarray(saliency_map, dtype=np.float64)
    mask = np.asarray(mask)
    if values.ndim != 2 or mask.shape != values.shape:
        raise ValueError(f"map and mask must be 2-D of one shape, got {values.shape} and {mask.shape}")
    if mask.dtype != bool:
        raise ValueError("mask must be boolean")
    if not np.all(np.isfinite(values)):
        raise ValueError("saliency_map has non-finite values")
    return values, mask


def _descending_order(values: np.ndarray) -> np.ndarray:
    return np.argsort(-values.ravel(), kind="stable")


def unit_range(values: np.ndarray) -> np.ndarray | None:
    """The map min-max scaled to [0, 1]; None for a constant map."""
    low, high = values.min(), values.max()
    return (values - low) / (high - low) if high > low else None


def pixel_auc(saliency_map: np.ndarray, mask: np.ndarray) -> float:
    """ROC AUC of the map for the mask's pixels (Mann-Whitney U with average ranks)."""
    values, mask = _check(saliency_map, mask)
    n_object = int(mask.sum())
    n_background = mask.size - n_object
    if n_object == 0 or n_background == 0:
        return float("nan")
    ranks = stats.rankdata(values.ravel(), method="average")
    rank_sum = ranks[mask.ravel()].sum()
    u = rank_sum - n_object * (n_object + 1) / 2.0
    return float(u / (n_object * n_background))


def f1_score(saliency_map: np.ndarray, mask: np.ndarray, threshold: float | None = None) -> float:
    """F1 (Dice) of the binarised map against the mask: its top |mask| pixels, or with
    ``threshold`` the pixels whose min-max normalised value is >= threshold (NaN for a constant
    map then). F1 = 2 TP / (2 TP + FP + FN)."""
    values, mask = _check(saliency_map, mask)
    n_object = int(mask.sum())
    if n_object == 0:
        return float("nan")
    if threshold is None:
        predicted = np.zeros(mask.size, dtype=bool)
        predicted[_descending_order(values)[:n_object]] = True
        predicted = predicted.reshape(mask.shape)
    else:
        scaled = unit_range(values)
        if scaled is None:
            return float("nan")
        predicted = scaled >= threshold
    true_positives = int(np.sum(predicted & mask))
    return 2.0 * true_positives / (int(predicted.sum()) + n_object)


def mean_absolute_error(saliency_map: np.ndarray, mask: np.ndarray) -> float:
    """mean |min-max normalised map - mask|; NaN for a constant map."""
    values, mask = _check(saliency_map, mask)
    scaled = unit_range(values)
    if scaled is None:
        return float("nan")
    return float(np.mean(np.abs(scaled - mask)))


def pointing_game(saliency_map: np.ndarray, mask: np.ndarray, tolerance: float = 0.0) -> float:
    """1.0 when a maximum of the map lies in the mask grown by ``tolerance`` pixels, else 0.0."""
    values, mask = _check(saliency_map, mask)
    if not mask.any():
        return float("nan")
    if tolerance > 0:
        reach = int(np.floor(tolerance))
        y, x = np.mgrid[-reach : reach + 1, -reach : reach + 1]
        mask = ndimage.binary_dilation(mask, structure=(x * x + y * y) <= tolerance * tolerance)
    return float(np.any(mask[values == values.max()]))


def relevance_mass_accuracy(saliency_map: np.ndarray, mask: np.ndarray) -> float:
    """Sum of the map inside the mask / sum of the map (NaN when the sum is 0)."""
    values, mask = _check(saliency_map, mask)
    total = values.sum()
    if not mask.any() or total == 0:
        return float("nan")
    return float(values[mask].sum() / total)


def top_k_intersection(saliency_map: np.ndarray, mask: np.ndarray, k: int) -> float:
    """Share of the map's top ``k`` pixels (stable sort) that lie inside the mask."""
    values, mask = _check(saliency_map, mask)
    if not 1 <= k <= mask.size:
        raise ValueError(f"k must be in [1, {mask.size}]")
    if not mask.any():
        return float("nan")
    return float(mask.ravel()[_descending_order(values)[:k]].mean())


def relevance_rank_accuracy(saliency_map: np.ndarray, mask: np.ndarray) -> float:
    """Share of the map's top |mask| pixels that lie inside the mask."""
    n_object = int(np.sum(mask))
    if n_object == 0:
        _check(saliency_map, mask)
        return float("nan")
    return top_k_intersection(saliency_map, mask, n_object)
