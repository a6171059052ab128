"""``score_maps`` and ``split_half_ceiling``, the batched kernel the platform's results use,
against the one-pair functions they replace."""

import numpy as np
import pytest

from analysis import ceiling, metrics
from analysis.batch_scores import Settings, score_maps, split_half_ceiling
from tests.analysis.test_pipeline import small_study

ONE_PAIR = {
    "spearman": metrics.spearman,
    "cc": metrics.cc,
    "sim": metrics.sim,
    "kld": metrics.kld,
    "nss": metrics.nss,
    "auc_judd": metrics.auc_judd,
    "auc_borji": metrics.auc_borji,
    "top30_iou": lambda s, h: metrics.topk_iou(s, h, k=0.3),
    "top30_dice": lambda s, h: metrics.topk_dice(s, h, k=0.3),
    "emd": metrics.emd,
}
SETTINGS = Settings(topk=(0.3,))


def test_columns_are_the_platform_metrics_in_order():
    assert SETTINGS.columns() == list(ONE_PAIR)


@pytest.mark.parametrize("image", range(5))
def test_every_score_equals_the_one_pair_function(image):
    human, model, _ = small_study(seed=3)
    human_mean = np.mean(
        [p / 255.0 for p in human[image].astype(np.float64)], axis=0
    )  # float64, as the platform's
    maps = model[image].reshape(-1, *human_mean.shape).astype(np.float64)
    scores = score_maps(maps, human_mean, SETTINGS)
    assert scores.shape == (len(maps), len(ONE_PAIR))
    for row, saliency_map in enumerate(maps):
        expected = [function(saliency_map, human_mean) for function in ONE_PAIR.values()]
        np.testing.assert_allclose(scores[row], expected, rtol=0, atol=1e-9, equal_nan=True)


def test_a_constant_model_map_scores_nan_where_the_metric_is_undefined():
    human, model, _ = small_study()
    human_mean = human[0].mean(axis=0) / 255.0
    scores = score_maps(np.full((1, *human_mean.shape), 0.25), human_mean, SETTINGS)[0]
    for column, function in enumerate(ONE_PAIR.values()):
        expected = function(np.full(human_mean.shape, 0.25), human_mean)
        assert np.isnan(scores[column]) == np.isnan(expected)


def test_bad_shapes_and_values_are_refused():
    with pytest.raises(ValueError, match="model maps"):
        score_maps(np.zeros((2, 4, 4)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match="finite"):
        score_maps(np.full((1, 4, 4), np.nan), np.ones((4, 4)))
    assert score_maps(np.zeros((0, 4, 4)), np.ones((4, 4)), SETTINGS).shape == (0, len(ONE_PAIR))


@pytest.mark.parametrize("participants", [2, 3, 7, 10])
def test_split_half_ceiling_equals_the_reference_procedure(participants):
    human, _, _ = small_study(seed=participants, participants=participants)
    for image in range(3):
        maps = list(human[image].astype(np.float64) / 255.0)
        expected = ceiling.split_half(maps, n_splits=50, rng=0)
        np.testing.assert_allclose(split_half_ceiling(maps), expected, rtol=0, atol=1e-12)


def test_split_half_ceiling_needs_two_maps():
    assert np.isnan(split_half_ceiling(np.ones((1, 3, 3)))).all()
