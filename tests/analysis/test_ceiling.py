import math

import numpy as np
import pytest

from analysis import ceiling, metrics


def participants(n_participants, noise_variance, n_pixels=(64, 64), seed=0):
    """Each participant sees the same signal plus their own Gaussian noise."""
    rng = np.random.default_rng(seed)
    signal = rng.standard_normal(n_pixels)
    return [signal + math.sqrt(noise_variance) * rng.standard_normal(n_pixels) for _ in range(n_participants)]


@pytest.mark.parametrize("noise_variance", [10.0, 2.5])
def test_split_half_ceiling_recovers_the_agreement_that_the_noise_allows(noise_variance):
    # Half means of 10 participants: signal + noise of variance v/10, so the two halves have
    # Pearson rho = 1 / (1 + v/10); for Gaussian data Spearman = (6/pi) asin(rho/2).
    rho = 1 / (1 + noise_variance / 10)
    expected = 6 / math.pi * math.asin(rho / 2)
    r, corrected = ceiling.split_half(participants(20, noise_variance), n_splits=20, rng=1)
    assert r == pytest.approx(expected, abs=0.02)
    assert corrected == pytest.approx(2 * r / (1 + r))


def test_more_noise_lowers_the_ceiling_and_identical_participants_reach_one():
    low, _ = ceiling.split_half(participants(12, 20.0), n_splits=10)
    high, _ = ceiling.split_half(participants(12, 1.0), n_splits=10)
    assert low < high
    same = participants(1, 0.0) * 6
    assert ceiling.split_half(same, n_splits=5)[0] == pytest.approx(1.0)


def test_split_half_needs_two_participants_and_respects_exclusions():
    maps = participants(3, 1.0)
    assert np.isnan(ceiling.split_half(maps[:1])[0])
    assert np.isnan(ceiling.split_half(maps, include=[True, False, False])[0])
    assert not np.isnan(ceiling.split_half(maps, include=[True, False, True], n_splits=3)[0])


def test_spearman_brown_by_hand():
    assert ceiling.spearman_brown(0.5) == pytest.approx(2 / 3)
    np.testing.assert_allclose(ceiling.spearman_brown(np.array([0.0, 1.0])), [0.0, 1.0])


def test_floor_partners_are_other_images():
    partners = ceiling.floor_partners(10, 4, rng=0)
    assert partners.shape == (10, 4)
    for i, row in enumerate(partners):
        assert i not in row and len(set(row)) == 4
    assert ceiling.floor_partners(3, 5).shape == (3, 2)
    assert ceiling.floor_partners(1, 5).shape == (1, 0)


def test_mismatched_floor_of_unrelated_images_is_near_zero_and_resizes():
    rng = np.random.default_rng(4)
    means = [rng.random((40, 40)) for _ in range(6)] + [rng.random((30, 50))]
    floors = ceiling.mismatched_floor(means, n_partners=3)
    assert floors.shape == (7,)
    assert np.abs(floors).max() < 0.1
    # the same picture at every image: the floor is the ceiling
    same = [np.outer(np.arange(20.0), np.ones(20))] * 4
    np.testing.assert_allclose(ceiling.mismatched_floor(same, n_partners=2, metric=metrics.cc), 1.0)
