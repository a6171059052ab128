"""The summaries across images (``analysis.summaries``) that the notebook analysis and the
platform's results pages share: hand-computed cases, and the properties both callers rely on."""

import numpy as np
import pytest

from analysis import stats
from analysis.summaries import (
    agreement_summary,
    ceiling_scatter_series,
    ceiling_summary,
    cue_conflict_agreement,
    flip_summary,
    hierarchical_cis,
    mean_ci,
    noise_ceiling,
    paired_tests,
    pairwise_comparisons,
    severity_curves,
    watermark_summary,
)


def test_the_summary_has_a_bootstrap_ci_around_the_mean_and_ignores_nans():
    values = [0.1, 0.2, 0.3, 0.4, float("nan")]
    rows = [
        {"model": "m", "method": "xrai", "metric": "spearman", "value": v, "image_id": i}
        for i, v in enumerate(values)
    ]
    (summary,) = agreement_summary(rows)
    assert summary["n_images"] == 4 and summary["mean"] == pytest.approx(0.25)
    # the CI of a mean of 4 values lies within their range and around their mean
    assert 0.1 <= summary["ci_low"] < 0.25 < summary["ci_high"] <= 0.4


def test_an_image_with_two_targets_counts_once_in_the_summary():
    # image 0 explained for two classes (0.2 and 0.4: mean 0.3), image 1 for one (0.5)
    rows = [
        {"model": "m", "method": "xrai", "metric": "spearman", "value": v, "image_id": i}
        for i, v in [(0, 0.2), (0, 0.4), (1, 0.5)]
    ]
    (summary,) = agreement_summary(rows)
    assert summary["n_images"] == 2 and summary["mean"] == pytest.approx(0.4)
    assert summary["sd"] == pytest.approx(np.std([0.3, 0.5], ddof=1))
    all_nan = [{"model": "m", "method": "xrai", "metric": "kld", "value": float("nan"), "image_id": 0}]
    (empty,) = agreement_summary(all_nan)
    assert empty["n_images"] == 0 and np.isnan(empty["mean"])


def test_pairwise_comparisons_are_exact_sign_flip_tests_with_holm():
    def rows(method, values):
        return [
            {
                "model": "m",
                "method": method,
                "metric": "spearman",
                "image_id": i,
                "target_class": 0,
                "value": v,
            }
            for i, v in enumerate(values)
        ]

    # a - b = 0.1, 0.2, 0.3 on three images: of the 8 sign patterns only the observed one reaches
    # a mean of 0.2, so p = 2 * 1/8; a and c are identical (p = 1); c - b as a - b.
    comparisons = pairwise_comparisons(
        rows("a", [0.5, 0.6, 0.7]) + rows("b", [0.4, 0.4, 0.4]) + rows("c", [0.5, 0.6, 0.7])
    )
    found = {(c["a"], c["b"]): c for c in comparisons}
    assert set(found) == {("m · a", "m · b"), ("m · a", "m · c"), ("m · b", "m · c")}
    assert found[("m · a", "m · b")]["mean_difference"] == pytest.approx(0.2)
    assert found[("m · a", "m · b")]["p"] == pytest.approx(0.25)
    assert found[("m · a", "m · c")]["p"] == pytest.approx(1.0)
    assert found[("m · b", "m · c")]["p"] == pytest.approx(0.25)
    # Holm over 3 tests: 3 * 0.25, then max(0.75, 2 * 0.25), then max(0.75, 1 * 1)
    assert [found[k]["p_holm"] for k in sorted(found)] == pytest.approx([0.75, 1.0, 0.75])
    assert all(c["n_images"] == 3 for c in comparisons)


def test_a_rows_interval_does_not_depend_on_the_other_rows_of_the_call():
    rng = np.random.default_rng(0)
    table = rng.normal(0.4, 0.2, (7, 40))
    table[2, 5] = np.nan  # one row over its 39 finite values
    together = mean_ci(table, n_resamples=500, seed=[0, 4])
    for row, entry in zip(table, together):
        (alone,) = mean_ci(row[np.isfinite(row)], n_resamples=500, seed=[0, 4])
        assert alone == entry  # to the last bit: the platform calls it per study, notebooks per group
    assert together[2]["n_images"] == 39
    assert together[0]["sd"] == pytest.approx(np.std(table[0], ddof=1))


def test_paired_tests_of_several_metrics_equal_one_call_per_metric():
    rng = np.random.default_rng(1)
    tables = rng.normal(0, 1, (3, 4, 12))  # metrics, groups, images
    tables[1, 0, 3] = np.nan
    pairs, together = paired_tests(tables, n_resamples=999, seed=0)
    assert pairs == stats.all_pairs(4)
    for metric, entries in enumerate(together):
        assert paired_tests(tables[metric], n_resamples=999, seed=0) == (pairs, [entries])
    assert [entry["n_images"] for entry in together[1][:3]] == [11, 11, 11]


def test_ceiling_means_leave_out_images_whose_ceiling_is_undefined():
    summary = ceiling_summary([0.5, np.nan, 0.7], [2 / 3, np.nan, 14 / 17], floor=[0.1, 0.2, np.nan])
    assert summary["n_images"] == 2 and summary["split_half"] == pytest.approx(0.6)
    assert summary["spearman_brown"] == pytest.approx((2 / 3 + 14 / 17) / 2)
    assert summary["floor"] == pytest.approx(0.15)
    study = noise_ceiling({10: (0.5, 2 / 3), 11: (0.7, 14 / 17)})
    assert study["n_images"] == 2 and study["spearman"] == pytest.approx(0.6)
    assert np.isnan(noise_ceiling({})["spearman"])


def test_the_ceiling_scatter_pairs_each_images_ceiling_with_its_spearman():
    rows = [
        {"model": "m", "method": "ig", "metric": "spearman", "image_id": 1, "value": 0.3},
        {"model": "m", "method": "ig", "metric": "cc", "image_id": 1, "value": 0.9},
        {"model": "m", "method": "ig", "metric": "spearman", "image_id": 2, "value": 0.4},  # no ceiling
    ]
    series = ceiling_scatter_series(rows, noise_ceiling({1: (0.6, 0.75)}))
    assert series == {"m · ig": ([0.6], [0.3])}


def test_hierarchical_cis_with_equal_draws_are_the_image_level_cis():
    values = [0.2, 0.5, 0.35, 0.6, 0.1]
    rows = [
        {"model": "m", "method": "ig", "metric": "spearman", "image_id": i, "map_id": i, "value": v}
        for i, v in enumerate(values)
    ]
    draws = {i: np.full(1000, v) for i, v in enumerate(values)}  # participants cannot vary
    ((low, high),) = hierarchical_cis(rows, draws).values()
    (summary,) = agreement_summary(rows)
    assert (low, high) == pytest.approx((summary["ci_low"], summary["ci_high"]), abs=1e-12)


def test_severity_curves_start_from_the_originals_that_have_the_corruption():
    def row(image, value, corruption="", severity=0, original="", target="label"):
        return {
            "model": "m",
            "method": "ig",
            "metric": "spearman",
            "image": image,
            "value": value,
            "corruption": corruption,
            "severity": severity,
            "original": original,
            "target": target,
        }

    rows = [
        row("a", 0.8),
        row("b", 0.6),
        row("c", 0.1),  # no blurred variant: not in the blur line
        row("a", 0.9, target="predicted"),  # another target: left out
        row("a-blur1", 0.5, "blur", 1, "a"),
        row("b-blur1", 0.3, "blur", 1, "b"),
        row("b-blur2", float("nan"), "blur", 2, "b"),
    ]
    severities, means = severity_curves(rows)["blur · m · ig"]
    assert severities == [0, 1, 2]
    assert means[:2] == pytest.approx([0.7, 0.4]) and np.isnan(means[2])


def test_flips_and_cue_conflict_are_counted_per_group():
    flips = (True, False, True)
    changes = [{"model": "m", "corruption": "blur", "severity": 1, "flipped": flip} for flip in flips]
    assert flip_summary(changes) == [
        {"model": "m", "corruption": "blur", "severity": 1, "n": 3, "flipped": 2, "share_flipped": 2 / 3}
    ]
    rows = [
        {"model": "m", "method": "ig", "metric": "spearman", "original": "", "target": target, "value": value}
        for target, value in [("shape", 0.6), ("shape", 0.4), ("texture", 0.2), ("texture", float("nan"))]
    ]
    (entry,) = cue_conflict_agreement(rows)
    assert entry["shape_n"] == 2 and entry["texture_n"] == 1
    assert entry["shape"] == pytest.approx(0.5) and entry["difference"] == pytest.approx(0.3)


def test_the_watermark_summary_leaves_out_undefined_shares():
    rows = [
        {"model": "m", "method": "ig", "target": "label", "on_watermark": w, "on_control": c}
        for w, c in [(0.6, 0.1), (0.2, 0.3), (float("nan"), 0.1)]
    ]
    (summary,) = watermark_summary(rows)
    assert summary["maps"] == 2 and summary["on_watermark"] == pytest.approx(0.4)
    assert summary["on_control"] == pytest.approx(0.2) and summary["watermark_wins"] == 0.5
    assert 0.2 <= summary["ci_low"] <= summary["ci_high"] <= 0.6
