"""analysis.faithfulness.summary on hand-computed cases: PIC curves whose areas are known, the
median of curves, the bootstrap interval of two images (whose resamples can only be AA, AB/BA
or BB)."""

import math

import numpy as np
import pytest

from analysis.faithfulness.summary import median_curve, pic_summary, score_summary

DIAGONAL = ([0.5], [0.5])  # through (0, 0), (0.5, 0.5), (1, 1): area 0.5
STEEP = ([0.5], [1.0])  # through (0, 0), (0.5, 1), (1, 1): area 0.25 + 0.5 = 0.75


def test_one_curve_is_its_own_median_and_has_no_interval():
    summary = pic_summary([DIAGONAL])
    assert summary["count"] == 1 and summary["auc"] == pytest.approx(0.5, abs=1e-12)
    assert math.isnan(summary["ci_low"]) and math.isnan(summary["ci_high"])
    assert summary["curve_x"][0] == 0.0 and summary["curve_x"][-1] == 1.0 and len(summary["curve_x"]) == 1001


def test_the_median_of_two_curves_is_their_mean_and_the_interval_spans_both():
    summary = pic_summary([DIAGONAL, STEEP])
    assert summary["auc"] == pytest.approx(0.625, abs=1e-12)
    # Resamples: both DIAGONAL (0.5) with probability 1/4, both STEEP (0.75) 1/4, mixed 0.625;
    # the 2.5th and 97.5th percentiles of 1000 of them are the two extremes.
    assert summary["ci_low"] == pytest.approx(0.5, abs=1e-12)
    assert summary["ci_high"] == pytest.approx(0.75, abs=1e-12)
    at_half = summary["curve_x"].index(0.5)
    assert summary["curve_y"][at_half] == pytest.approx(0.75)  # (0.5 + 1.0) / 2


def test_identical_curves_have_a_zero_width_interval():
    summary = pic_summary([STEEP, STEEP, STEEP])
    assert summary["auc"] == summary["ci_low"] == summary["ci_high"] == pytest.approx(0.75, abs=1e-12)


def test_no_curve():
    summary = pic_summary([])
    assert summary["count"] == 0 and math.isnan(summary["auc"]) and summary["curve_y"] == []


def test_scores_leave_out_missing_values():
    summary = score_summary([1.0, None, 2.0, float("nan"), 3.0])
    assert summary["n_images"] == 3 and summary["mean"] == 2.0 and summary["sd"] == 1.0
    assert summary["ci_low"] >= 1.0 and summary["ci_high"] <= 3.0
    assert score_summary([None])["n_images"] == 0 and math.isnan(score_summary([])["mean"])


def test_median_curve_point_by_point():
    assert median_curve([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]) == [2.0, 3.0]
    assert median_curve([]) == []
    np.testing.assert_array_equal(median_curve([[0.0, 4.0], [2.0, 2.0]]), [1.0, 3.0])
