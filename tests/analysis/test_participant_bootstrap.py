"""The platform's hierarchical bootstrap: participants resampled within each image
(``participant_bootstrap_spearman``), then images (``stats.hierarchical_bootstrap_ci``)."""

import numpy as np
import pytest

from analysis import metrics, stats
from analysis.batch_scores import participant_bootstrap_spearman


def test_with_participants_fixed_the_interval_is_the_image_level_one():
    values = np.random.default_rng(0).normal(0.4, 0.2, 30)
    draws = np.repeat(values[:, None], 500, axis=1)  # every resample sees the same score
    low, high = stats.bootstrap_ci(values[None], n_resamples=500, rng=0)
    assert stats.hierarchical_bootstrap_ci(draws, rng=0) == pytest.approx((low[0], high[0]), abs=1e-12)


def test_nan_draws_are_left_out_and_one_image_has_no_interval():
    draws = np.random.default_rng(1).random((10, 200))
    draws[3, ::2] = np.nan
    low, high = stats.hierarchical_bootstrap_ci(draws)
    assert 0 < low < high < 1
    assert np.isnan(stats.hierarchical_bootstrap_ci(draws[:1])).all()


def test_one_participant_gives_the_plain_spearman_in_every_draw():
    rng = np.random.default_rng(2)
    human = rng.random((1, 16, 20))
    models = rng.random((3, 16, 20))
    draws = participant_bootstrap_spearman(human, models, n_resamples=7)
    expected = [metrics.spearman(model, human[0]) for model in models]
    np.testing.assert_allclose(draws, np.repeat(np.array(expected)[:, None], 7, axis=1), atol=1e-12)


def blobs(rng, participants, spread):
    """Participants painting one blob each, centred within ``spread`` pixels of (16, 16)."""
    y, x = np.mgrid[0:32, 0:32]
    centres = 16 + rng.uniform(-spread, spread, (participants, 2))
    return np.stack([np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / 20.0) for cy, cx in centres])


def test_draws_vary_more_when_participants_disagree():
    rng = np.random.default_rng(3)
    model = blobs(rng, 1, 0)
    agree = participant_bootstrap_spearman(blobs(rng, 12, 1), model, n_resamples=200)
    disagree = participant_bootstrap_spearman(blobs(rng, 12, 12), model, n_resamples=200)
    assert agree.shape == disagree.shape == (1, 200)
    assert np.all(np.abs(agree) <= 1) and np.all(np.abs(disagree) <= 1)
    assert disagree.std() > 3 * agree.std()
