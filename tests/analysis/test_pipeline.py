"""The fast study analysis against the plain per-image loop, and its options."""

import numpy as np
import pytest

from analysis.batch_scores import METRICS, Settings
from analysis.pipeline import analyse_study, analyse_study_loop


def small_study(seed=0, images=5, participants=6, shape=(24, 32), models=2, methods=2):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]]
    human = np.zeros((images, participants, *shape), dtype=np.uint8)
    model = np.zeros((images, models, methods, *shape), dtype=np.float32)
    for i in range(images):
        cy, cx = rng.uniform(0.3, 0.7, 2) * shape
        truth = np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / 40.0)
        for p in range(participants):
            painted = np.clip((truth + 0.3 * rng.standard_normal(shape) - 0.4) / 0.3, 0, 1)
            human[i, p] = np.round(255 * painted)
        model[i] = np.abs(
            truth * rng.uniform(0.2, 1.5, (models, methods, 1, 1)) + 0.3 * rng.random(model.shape[1:])
        )
    model[0, 0, 0] = 0.25  # a constant map: NaN where undefined
    model[-1, 1, 0, :, :10] = 0.0  # a tie block
    model[-1, 0, 1] -= 0.5  # negative values
    include = np.ones((images, participants), dtype=bool)
    include[-1, participants // 2] = participants == 1  # a flagged participant
    return human, model, include


def assert_same(fast, loop, tolerance=1e-9):
    def same(a, b):
        a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        np.testing.assert_allclose(a[~np.isnan(a)], b[~np.isnan(b)], rtol=0, atol=tolerance)

    assert fast.columns == loop.columns
    same(fast.scores, loop.scores)
    same(fast.ceiling, loop.ceiling)
    same(fast.floor, loop.floor)
    for key in ("mean", "ci_low", "ci_high"):
        same([r[key] for r in fast.summary], [r[key] for r in loop.summary])
    for key in ("mean_difference", "p", "p_holm"):
        same([r[key] for r in fast.comparisons], [r[key] for r in loop.comparisons])


def test_the_fast_path_equals_the_per_image_loop():
    human, model, include = small_study()
    settings = Settings(
        ceiling_metrics=("spearman", "cc", "sim", "kld", "nss", "auc_judd", "top10_iou", "top30_dice", "emd"),
        n_splits=6,
        floor_partners=3,
        n_bootstrap=300,
        n_permutations=500,
    )
    fast = analyse_study(human, model, include=include, settings=settings, workers=2)
    loop = analyse_study_loop(human, model, include=include, settings=settings)
    assert_same(fast, loop)
    assert np.isnan(fast.scores[0, 0, 0, fast.columns.index("cc")])
    assert not np.isnan(fast.ceiling[:, fast.columns.index("spearman")]).any()


@pytest.mark.parametrize(
    "options",
    [
        {"blur": True},
        {"normalise": "sum"},
        {"normalise": "rank"},
        {"binarise_k": 0.2, "topk": (0.05,), "emd_grid": (4, 5)},
    ],
)
def test_the_fast_path_equals_the_loop_under_other_settings(options):
    human, model, include = small_study(seed=1, images=4, participants=5)
    settings = Settings(n_splits=4, floor_partners=2, n_bootstrap=200, n_permutations=200, **options)
    fast = analyse_study(human, model, include=include, settings=settings, workers=1)
    loop = analyse_study_loop(human, model, include=include, settings=settings)
    assert_same(fast, loop)


def test_results_carry_their_parameters_and_tidy_rows():
    human, model, include = small_study(images=3)
    result = analyse_study(
        human,
        model,
        include=include,
        models=["a", "b"],
        methods=["ig", "xrai"],
        image_ids=["x", "y", "z"],
        settings=Settings(n_splits=3, n_permutations=100),
    )
    assert result.parameters["n_splits"] == 3 and result.parameters["images"] == 3
    rows = result.score_rows()
    assert len(rows) == 3 * 2 * 2 * len(result.columns)
    assert rows[0] == {
        "image": "x",
        "model": "a",
        "method": "ig",
        "metric": "spearman",
        "value": rows[0]["value"],
    }
    summary = {(r["model"], r["method"], r["metric"]): r for r in result.summary}
    spearman = summary[("a", "xrai", "spearman")]
    assert spearman["normalised"] == pytest.approx(spearman["mean"] / spearman["ceiling"])
    assert spearman["above_floor"] == pytest.approx(
        (spearman["mean"] - spearman["floor"]) / (spearman["ceiling"] - spearman["floor"])
    )
    assert "normalised" not in summary[("a", "xrai", "kld")]
    assert len(result.comparisons) == 6 * len(result.columns)  # 4 groups -> 6 pairs per metric
    assert {r["metric"] for r in result.image_rows()} == {"spearman"}
    assert set(result.columns) >= {"top10_iou", "top30_iou", "top10_dice", "top30_dice", "emd"}
    assert set(METRICS) - {"topk_iou", "topk_dice"} <= set(result.columns)


def test_hierarchical_ci_with_one_participant_per_image_is_the_image_level_ci():
    human, model, _ = small_study(images=6, participants=1)
    settings = Settings(
        hierarchical=True,
        hierarchical_resamples=1000,
        n_bootstrap=1000,
        n_splits=2,
        n_permutations=100,
        metrics=("spearman", "cc"),
        hierarchical_metrics=("spearman", "cc"),
    )
    result = analyse_study(human, model, settings=settings)
    for row in result.summary:
        if row["n_images"] == 6:  # a group with an undefined score resamples differently
            assert row["hierarchical_ci_low"] == pytest.approx(row["ci_low"], abs=1e-12)
            assert row["hierarchical_ci_high"] == pytest.approx(row["ci_high"], abs=1e-12)


def test_hierarchical_ci_is_wider_when_participants_disagree():
    human, model, _ = small_study(images=6, participants=4)
    settings = Settings(
        hierarchical=True,
        hierarchical_resamples=300,
        n_bootstrap=300,
        n_splits=2,
        n_permutations=100,
        metrics=("spearman",),
    )
    result = analyse_study(human, model, settings=settings)
    widths = [
        (r["hierarchical_ci_high"] - r["hierarchical_ci_low"]) / (r["ci_high"] - r["ci_low"])
        for r in result.summary
        if np.isfinite(r["ci_low"])
    ]
    assert np.median(widths) > 1.0


def test_settings_refuse_what_cannot_be_computed():
    with pytest.raises(ValueError, match="unknown metrics"):
        Settings(metrics=("spearman", "auc_shuffled"))
    with pytest.raises(ValueError, match="random"):
        Settings(ceiling_metrics=("auc_borji",))
    with pytest.raises(ValueError, match="not one of the computed columns"):
        Settings(metrics=("cc",), ceiling_metrics=("spearman",))
    human, model, include = small_study(images=2)
    with pytest.raises(ValueError, match="model maps"):
        analyse_study(human, model[:, :, :, :10])
    broken = model.copy()
    broken[1, 0, 0, 3, 3] = np.nan
    with pytest.raises(ValueError, match="finite"):
        analyse_study(human, broken)
    include[0] = False
    with pytest.raises(ValueError, match="no included participant"):
        analyse_study(human, model, include=include)
