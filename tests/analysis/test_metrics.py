import numpy as np
import pytest

from analysis import metrics
from analysis.human_maps import mean_map, normalise_participant, resize_map


def test_spearman_of_a_hand_computed_case():
    # ranks of s: 1,2,3,4; ranks of h: 1,3,2,4 -> d^2 = 0+1+1+0 = 2; rho = 1 - 6*2/(4*15) = 0.8
    s = np.array([[1.0, 2.0], [3.0, 4.0]])
    h = np.array([[10.0, 30.0], [20.0, 40.0]])
    assert metrics.spearman(s, h) == pytest.approx(0.8)


def test_spearman_is_one_for_a_monotone_transform_and_minus_one_for_the_inverse():
    s = np.random.default_rng(0).random((8, 8))
    assert metrics.spearman(s, np.exp(s)) == pytest.approx(1.0)
    assert metrics.spearman(s, -s) == pytest.approx(-1.0)


def test_spearman_of_a_constant_map_is_undefined():
    assert np.isnan(metrics.spearman(np.ones((4, 4)), np.random.default_rng(0).random((4, 4))))


def test_topk_iou_of_a_hand_computed_case():
    # 10 pixels, top 30 % = 3 pixels each: s picks {7,8,9}, h picks {6,7,8}: IoU = 2/4.
    s = np.arange(10, dtype=float).reshape(2, 5)
    h = np.array([0, 0, 0, 0, 0, 0, 5, 6, 7, 1], dtype=float).reshape(2, 5)
    assert metrics.topk_iou(s, h, k=0.3) == pytest.approx(0.5)


def test_topk_never_counts_the_unpainted_background():
    h = np.zeros((10, 10))
    h[0, :5] = 1.0  # 5 % painted: the "top 30 %" is just the painted part
    assert metrics.topk_mask(h, 0.3).sum() == 5


def test_identical_maps_agree_perfectly():
    m = np.random.default_rng(1).random((16, 16))
    assert metrics.topk_iou(m, m) == 1.0 and metrics.spearman(m, m) == pytest.approx(1.0)


def test_metrics_refuse_mismatched_or_nonfinite_maps():
    with pytest.raises(ValueError, match="same shape"):
        metrics.spearman(np.zeros((2, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="finite"):
        metrics.topk_iou(np.full((2, 2), np.nan), np.zeros((2, 2)))


def test_the_human_mean_weighs_heavy_and_light_painters_the_same():
    light = np.array([[0.0, 0.1], [0.0, 0.0]])
    heavy = np.array([[0.0, 0.0], [0.9, 0.0]])
    np.testing.assert_allclose(mean_map([light, heavy]), [[0.0, 0.5], [0.5, 0.0]])


def test_minmax_of_a_constant_map_is_zeros():
    assert not normalise_participant(np.full((3, 3), 0.4)).any()


def test_resize_keeps_a_constant_map_constant():
    np.testing.assert_allclose(resize_map(np.full((224, 224), 2.5), (120, 160)), 2.5, rtol=1e-6)
