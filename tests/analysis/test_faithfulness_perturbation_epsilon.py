import math

import numpy as np
import pytest

from analysis.faithfulness.perturbation_epsilon import (
    epsilon_bounds,
    feature_pixel_indices,
    patch_features,
    perturbation_epsilon,
    pixel_features,
    removal_baseline,
    violating_features,
)

# A 4x4 grey image and a linear model f(x) = sum(w * x). With a zero baseline, removing pixel i
# changes the output by exactly w_i * x_i (small integers: float64 arithmetic is exact).
IMAGE = np.array([[1, 2, 0, 3], [4, 1, 2, 1], [0, 5, 1, 2], [3, 1, 1, 4]], dtype=np.float64)
WEIGHTS = np.array([[1, -1, 2, 0], [1, 1, -2, 1], [3, 0, 1, -1], [1, 2, 1, 1]], dtype=np.float64)
GRADIENT_TIMES_INPUT = WEIGHTS * IMAGE  # Δy per pixel


def linear_model(images):
    return (images * WEIGHTS).sum(axis=(1, 2))


def test_pixel_deltas_are_weight_times_value_and_the_exact_map_has_epsilon_one():
    result = perturbation_epsilon(
        IMAGE, GRADIENT_TIMES_INPUT, pixel_features(4, 4), linear_model, epsilon=1.0, baseline=0.0
    )
    assert result.deltas.tolist() == GRADIENT_TIMES_INPUT.ravel().tolist()
    assert result.attributions.tolist() == GRADIENT_TIMES_INPUT.ravel().tolist()
    # a = Δy everywhere: every feature with Δy > 0 bounds ε <= 1, every Δy < 0 bounds ε >= 1.
    assert (result.smallest_epsilon, result.largest_epsilon) == (1.0, 1.0)
    assert result.violation_share == 0.0


def test_share_of_violations_at_a_larger_epsilon_counts_the_features_with_positive_delta():
    # At ε = 1.5, a = Δy < 1.5 Δy exactly where Δy > 0; Δy < 0 and Δy = 0 features satisfy it.
    # w * x by rows: [1, -2, 0, 0], [4, 1, -4, 1], [0, 0, 1, -2], [3, 2, 1, 4]: 9 positive.
    assert int((GRADIENT_TIMES_INPUT > 0).sum()) == 9
    result = perturbation_epsilon(
        IMAGE, GRADIENT_TIMES_INPUT, pixel_features(4, 4), linear_model, epsilon=1.5, baseline=0.0
    )
    assert result.violation_share == 9 / 16


def test_a_map_scaled_by_three_on_positive_deltas_only_allows_epsilon_up_to_three():
    saliency = np.where(GRADIENT_TIMES_INPUT > 0, 3 * GRADIENT_TIMES_INPUT, 0.0)
    result = perturbation_epsilon(
        IMAGE, saliency, pixel_features(4, 4), linear_model, epsilon=2.0, baseline=0.0
    )
    # Δy < 0 features have a = 0: 0 >= ε Δy needs ε >= 0, so the interval is [0, 3].
    assert (result.smallest_epsilon, result.largest_epsilon) == (0.0, 3.0)
    assert result.violation_share == 0.0


def test_patches_sum_the_map_and_remove_all_their_pixels():
    features = patch_features(4, 4, 2)
    assert features.tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]
    result = perturbation_epsilon(
        IMAGE, GRADIENT_TIMES_INPUT, features, linear_model, epsilon=1.0, baseline=0.0
    )
    # Patch sums of w*x: top left 1-2+4+1 = 4, top right 0+0-4+1 = -3, bottom left 0+0+3+2 = 5,
    # bottom right 1-2+1+4 = 4.
    assert result.deltas.tolist() == [4.0, -3.0, 5.0, 4.0]
    assert result.attributions.tolist() == [4.0, -3.0, 5.0, 4.0]


def test_patches_cut_at_the_edge_when_the_size_does_not_divide():
    assert patch_features(3, 5, 2).tolist() == [[0, 0, 1, 1, 2], [0, 0, 1, 1, 2], [3, 3, 4, 4, 5]]


def test_overlapping_boolean_regions_are_each_removed_on_their_own():
    regions = np.zeros((2, 4, 4), dtype=bool)
    regions[0, :2, :] = True  # the top half
    regions[1, :, :2] = True  # the left half, overlapping the top half's left quarter
    result = perturbation_epsilon(IMAGE, np.ones((4, 4)), regions, linear_model, epsilon=1.0, baseline=0.0)
    # Top half: 1-2+0+0 + 4+1-4+1 = 1; left half: 1-2+4+1 + 0+0+3+2 = 9. Map of ones: 8 and 8.
    assert result.deltas.tolist() == [1.0, 9.0]
    assert result.attributions.tolist() == [8.0, 8.0]
    assert result.largest_epsilon == 8 / 9
    assert result.violation_share == 0.5  # 8 < 9 only for the left half


def test_default_baseline_is_the_mean_colour_per_channel():
    image = np.zeros((2, 2, 3))
    image[..., 0] = [[1, 3], [5, 7]]  # mean 4
    image[..., 1] = [[0, 0], [0, 8]]  # mean 2
    image[..., 2] = 6  # mean 6
    assert removal_baseline(image)[0, 0].tolist() == [4.0, 2.0, 6.0]
    weights = np.array([1.0, 10.0, 100.0])

    def colour_model(images):
        return (images * weights).sum(axis=(1, 2, 3))

    result = perturbation_epsilon(image, np.zeros((2, 2)), pixel_features(2, 2), colour_model, epsilon=1.0)
    # Δy at (0, 0) = 1*(1-4) + 10*(0-2) + 100*(6-6) = -23; at (1, 1) = 1*(7-4) + 10*(8-2) = 63.
    assert result.deltas.tolist() == [-23.0, -21.0, -19.0, 63.0]


def test_class_scores_with_a_target_and_batched_calls_give_the_same_deltas():
    calls = []

    def two_class_model(images):
        calls.append(len(images))
        score = (images * WEIGHTS).sum(axis=(1, 2))
        return np.stack([-score, score], axis=1)

    result = perturbation_epsilon(
        IMAGE, GRADIENT_TIMES_INPUT, pixel_features(4, 4), two_class_model,
        epsilon=1.0, target=1, baseline=0.0, batch_size=5,
    )  # fmt: skip
    assert calls == [1, 5, 5, 5, 1]  # the original image, then 16 perturbed images in fives
    assert result.deltas.tolist() == GRADIENT_TIMES_INPUT.ravel().tolist()
    with pytest.raises(ValueError, match="give target="):
        perturbation_epsilon(IMAGE, IMAGE, pixel_features(4, 4), two_class_model, epsilon=1.0)


def test_epsilon_bounds_by_hand():
    # Δy > 0 bound from above: min(2/1, 1/4) = 0.25; Δy < 0 from below: 1/-2 = -0.5.
    assert epsilon_bounds(np.array([2.0, 1.0, 1.0]), np.array([1.0, 4.0, -2.0])) == (-0.5, 0.25)
    # Lower bound -1/-2 = 0.5 above the upper 0.25: no ε satisfies the axiom.
    assert all(math.isnan(v) for v in epsilon_bounds(np.array([2.0, 1.0, -1.0]), np.array([1.0, 4.0, -2.0])))
    # Δy = 0 with a negative attribution: no ε; with a non-negative one: no bound.
    assert all(math.isnan(v) for v in epsilon_bounds(np.array([1.0, -0.1]), np.array([1.0, 0.0])))
    assert epsilon_bounds(np.array([1.0, 0.0]), np.array([2.0, 0.0])) == (-math.inf, 0.5)
    # Nothing bounds ε from above.
    assert epsilon_bounds(np.array([1.0, 3.0]), np.array([-1.0, 0.0])) == (-1.0, math.inf)
    # A negative attribution on a feature whose removal lowers the score: hi < 0.
    assert epsilon_bounds(np.array([-1.0, 1.0]), np.array([2.0, 1.0])) == (-math.inf, -0.5)


def test_no_feature_violates_at_the_largest_epsilon_despite_rounding():
    rng = np.random.default_rng(3)
    a, d = rng.normal(size=500), rng.random(500) + 0.01
    lo, hi = epsilon_bounds(a, d)
    assert not violating_features(a, d, hi).any()
    assert violating_features(a, d, hi * (1 - 1e-9) if hi < 0 else hi * (1 + 1e-9)).sum() >= 1


def test_labels_are_taken_in_increasing_order():
    labels = np.array([[7, 7], [2, 9]])
    assert [index.tolist() for index in feature_pixel_indices(labels, (2, 2))] == [[2], [0, 1], [3]]
