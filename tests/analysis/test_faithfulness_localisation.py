import math
import warnings

import numpy as np
import pytest

from analysis.faithfulness.localisation import (
    boxes_mask,
    f1_score,
    mean_absolute_error,
    pixel_auc,
    pointing_game,
    relevance_mass_accuracy,
    relevance_rank_accuracy,
    top_k_intersection,
)

MASK = np.array([[False, True, True], [False, True, False], [False, False, False]])


def test_boxes_follow_the_catalogue_convention_right_and_bottom_exclusive():
    mask = boxes_mask([[0, 0, 2, 1], [1, 1, 3, 3]], width=4, height=3)
    assert mask.astype(int).tolist() == [[1, 1, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0]]
    assert not boxes_mask([], width=2, height=2).any()
    with pytest.raises(ValueError, match="not inside"):
        boxes_mask([[0, 0, 5, 1]], width=4, height=3)


def test_pixel_auc_is_one_for_a_perfect_map_zero_inverted_half_constant():
    perfect = MASK.astype(float) + 0.01 * np.arange(9).reshape(3, 3)
    assert pixel_auc(perfect, MASK) == 1.0
    assert pixel_auc(-perfect, MASK) == 0.0
    assert pixel_auc(np.full((3, 3), 7.0), MASK) == 0.5
    assert math.isnan(pixel_auc(perfect, np.zeros((3, 3), dtype=bool)))
    assert math.isnan(pixel_auc(perfect, np.ones((3, 3), dtype=bool)))


def test_pixel_auc_counts_a_tie_as_one_half():
    # Object scores {2, 3}, background {1, 2}: pairs (2,1) 1, (2,2) 1/2, (3,1) 1, (3,2) 1.
    assert pixel_auc(np.array([[1.0, 2.0, 2.0, 3.0]]), np.array([[False, True, False, True]])) == 0.875


def test_pixel_auc_equals_sklearn_roc_auc_score_with_ties():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for _ in range(5):
        saliency = np.round(rng.random((20, 30)), 1)  # many ties
        mask = rng.random((20, 30)) < 0.3
        assert pixel_auc(saliency, mask) == pytest.approx(
            metrics.roc_auc_score(mask.ravel(), saliency.ravel()), abs=1e-12
        )


def test_f1_on_the_top_k_pixels_the_size_of_the_mask():
    saliency = np.array([[9.0, 8.0, 1.0], [2.0, 3.0, 4.0], [5.0, 6.0, 7.0]])
    # Top 3 = 9, 8, 7 at (0,0), (0,1), (2,2): one of the three in the mask; F1 = 2*1 / (3 + 3).
    assert f1_score(saliency, MASK) == pytest.approx(1 / 3)
    assert f1_score(MASK.astype(float), MASK) == 1.0
    # Ties in raster order: a constant map picks the first three pixels, (0,1) and (0,2) in the mask.
    assert f1_score(np.zeros((3, 3)), MASK) == pytest.approx(2 / 3)


def test_f1_at_a_fixed_threshold_of_the_normalised_map():
    saliency = np.array([[0.0, 10.0, 6.0], [4.0, 5.0, 0.0], [0.0, 0.0, 2.0]])
    # Normalised >= 0.5: 10, 6, 5 -> exactly the mask. >= 0.4: also 4 -> 2*3 / (4 + 3).
    assert f1_score(saliency, MASK, threshold=0.5) == 1.0
    assert f1_score(saliency, MASK, threshold=0.4) == pytest.approx(6 / 7)
    assert math.isnan(f1_score(np.ones((3, 3)), MASK, threshold=0.5))


def test_mae_between_the_normalised_map_and_the_mask():
    saliency = np.array([[0.0, 2.0], [4.0, 4.0]])  # normalised 0, 0.5, 1, 1
    mask = np.array([[False, False], [True, True]])
    assert mean_absolute_error(saliency, mask) == 0.125
    assert mean_absolute_error(mask * 3.0 + 1.0, mask) == 0.0
    assert math.isnan(mean_absolute_error(np.ones((2, 2)), mask))


def test_pointing_game_hits_when_a_maximum_is_in_the_mask():
    saliency = np.zeros((3, 3))
    saliency[1, 1] = 1.0
    assert pointing_game(saliency, MASK) == 1.0
    saliency[2, 0] = 1.0  # a tied maximum outside: still a hit
    assert pointing_game(saliency, MASK) == 1.0
    saliency[1, 1] = 0.0
    assert pointing_game(saliency, MASK) == 0.0
    # The mask pixel nearest the maximum at (2, 0) is (1, 1), sqrt(2) away.
    assert pointing_game(saliency, MASK, tolerance=1.0) == 0.0
    assert pointing_game(saliency, MASK, tolerance=1.5) == 1.0


def test_relevance_mass_and_rank_accuracy_by_hand():
    saliency = np.array([[1.0, 2.0], [3.0, 4.0]])
    top_row = np.array([[True, True], [False, False]])
    assert relevance_mass_accuracy(saliency, top_row) == 0.3
    assert relevance_rank_accuracy(saliency, top_row) == 0.0  # the top 2 are the bottom row
    assert relevance_rank_accuracy(saliency, ~top_row) == 1.0
    assert top_k_intersection(saliency, ~top_row, k=3) == pytest.approx(2 / 3)
    assert math.isnan(relevance_rank_accuracy(saliency, np.zeros((2, 2), dtype=bool)))


@pytest.fixture(scope="module")
def quantus():
    return pytest.importorskip("quantus")


def _batches(seed):
    rng = np.random.default_rng(seed)
    maps = rng.normal(size=(6, 12, 10))  # distinct values, signed
    masks = np.zeros((6, 12, 10), dtype=bool)
    for i, (top, left) in enumerate(rng.integers(0, 6, size=(6, 2))):
        masks[i, top : top + 5, left : left + 4 + i % 3] = True
    return maps, masks


def _quantus_scores(metric, maps, masks):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(
            metric(
                model=None,
                x_batch=np.zeros((len(maps), 1) + maps.shape[1:]),
                y_batch=np.zeros(len(maps), dtype=int),
                a_batch=maps[:, None],
                s_batch=masks[:, None].astype(float),
            ),
            dtype=np.float64,
        )


@pytest.mark.parametrize("normalise", [False, True])
def test_scores_equal_quantus_with_and_without_its_normalisation(quantus, normalise):
    maps, masks = _batches(2)
    options = dict(normalise=normalise, abs=False, disable_warnings=True)
    expected = {
        "auc": _quantus_scores(quantus.AUC(**options), maps, masks),
        "mass": _quantus_scores(quantus.RelevanceMassAccuracy(**options), maps, masks),
        "rank": _quantus_scores(quantus.RelevanceRankAccuracy(**options), maps, masks),
        "pointing": _quantus_scores(quantus.PointingGame(**options), maps, masks),
        "top_k": _quantus_scores(quantus.TopKIntersection(k=15, **options), maps, masks),
    }
    ours = {
        "auc": [pixel_auc(m, s) for m, s in zip(maps, masks)],
        "mass": [relevance_mass_accuracy(m, s) for m, s in zip(maps, masks)],
        "rank": [relevance_rank_accuracy(m, s) for m, s in zip(maps, masks)],
        "pointing": [pointing_game(m, s) for m, s in zip(maps, masks)],
        "top_k": [top_k_intersection(m, s, k=15) for m, s in zip(maps, masks)],
    }
    for name in expected:
        np.testing.assert_allclose(ours[name], expected[name], rtol=1e-12, atol=1e-12, err_msg=name)
    assert set(expected["pointing"]) == {0.0, 1.0}  # the case has hits and misses
