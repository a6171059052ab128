"""Per-method summaries of the faithfulness diagnostics over a study's images: the PIC median
curve with a bootstrap interval of its AUC, and means with intervals of per-image scores.

PIC is aggregated as in the XRAI paper (PAIR's ``aggregate_individual_pic_results``): the
images' curves, each sampled at the same 1001 x points, are combined point-wise by their median
and the median curve is integrated. Its interval resamples the images with replacement and
recomputes the median curve's AUC each time (percentile bootstrap, 1000 resamples, seeded).
Other scores are per-image numbers: their mean and the percentile-bootstrap interval of the mean
(``analysis.summaries.mean_ci``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from analysis import pic
from analysis.summaries import mean_ci

NAN = float("nan")


def pic_curves(points: Sequence[tuple[Sequence[float], Sequence[float]]], num_data_points: int = 1000):
    """(curve_x, (N, num_data_points + 1) curve_y) from each image's normalised (entropy,
    prediction) points, as ``analysis.pic.compute_pic`` samples them."""
    curves = [pic.curve_from_points(np.asarray(x), np.asarray(y), num_data_points) for x, y in points]
    return curves[0][0], np.stack([y for _, y in curves])


def pic_summary(
    points: Sequence[tuple[Sequence[float], Sequence[float]]],
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict:
    """The median curve of the images' PIC points, its AUC and a bootstrap interval of the AUC
    (NaN with fewer than two images); ``count`` images. Empty input: no curve, NaN."""
    if not points:
        return {"count": 0, "auc": NAN, "ci_low": NAN, "ci_high": NAN, "curve_x": [], "curve_y": []}
    curve_x, curves = pic_curves(points)
    median = np.median(curves, axis=0)
    auc = float(np.trapezoid(median, curve_x))
    low = high = NAN
    if len(curves) > 1:
        rng = np.random.default_rng(seed)
        draws = rng.integers(0, len(curves), (n_resamples, len(curves)))
        aucs = np.array([np.trapezoid(np.median(curves[draw], axis=0), curve_x) for draw in draws])
        tail = (1 - confidence) / 2 * 100
        low, high = (float(v) for v in np.percentile(aucs, [tail, 100 - tail]))
    return {
        "count": len(curves),
        "auc": auc,
        "ci_low": low,
        "ci_high": high,
        "curve_x": curve_x.tolist(),
        "curve_y": median.tolist(),
    }


def score_summary(values: Sequence[float | None], *, seed: int = 0) -> dict:
    """Mean, interval and count of per-image scores (None and NaN left out)."""
    finite = [float(v) for v in values if v is not None and np.isfinite(v)]
    if not finite:
        return {"n_images": 0, "mean": NAN, "sd": NAN, "ci_low": NAN, "ci_high": NAN}
    return mean_ci(np.array([finite]), seed=seed)[0]


def median_curve(curves: Sequence[Sequence[float]]) -> list[float]:
    """Point-wise median of curves sampled at the same points (insertion/deletion, one image
    each); empty input gives an empty curve."""
    if not curves:
        return []
    return np.median(np.asarray(curves, dtype=np.float64), axis=0).tolist()
