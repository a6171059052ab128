import numpy as np
import pytest
from scipy import stats as scipy_stats

from analysis import stats


def test_bootstrap_ci_equals_scipys_percentile_bootstrap():
    rng = np.random.default_rng(1)
    values = rng.normal(0.2, 1.0, (4, 37))
    values[3, 5] = np.nan  # bootstrapped over its finite entries, like a separate scipy call
    low, high = stats.bootstrap_ci(values, n_resamples=1000, rng=7)
    for row in range(4):
        kept = values[row][np.isfinite(values[row])]
        theirs = scipy_stats.bootstrap(
            (kept,), np.mean, n_resamples=1000, method="percentile", rng=np.random.default_rng(7)
        ).confidence_interval
        assert low[row] == pytest.approx(theirs.low, abs=1e-12)
        assert high[row] == pytest.approx(theirs.high, abs=1e-12)


def test_bootstrap_ci_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(2)
    covered = 0
    for trial in range(300):
        sample = rng.exponential(1.0, 40)  # skewed, true mean 1
        low, high = stats.bootstrap_ci(sample, n_resamples=1000, rng=trial)
        covered += low[0] <= 1.0 <= high[0]
    assert 0.88 <= covered / 300 <= 0.99


def test_permutation_pvalues_equal_scipys_sign_flip_test():
    rng = np.random.default_rng(3)
    differences = rng.normal(0.3, 1.0, (25, 3))
    differences[4, 2] = np.nan
    observed, pvalues = stats.permutation_pvalues(differences, n_resamples=999, rng=5)
    for column in range(3):
        kept = differences[:, column][np.isfinite(differences[:, column])]
        theirs = scipy_stats.permutation_test(
            (kept,),
            lambda x, axis: np.mean(x, axis=axis),
            permutation_type="samples",
            vectorized=True,
            n_resamples=999,
            rng=np.random.default_rng(5),
        )
        assert observed[column] == pytest.approx(theirs.statistic, abs=1e-12)
        assert pvalues[column] == theirs.pvalue


def test_permutation_is_exact_when_every_sign_pattern_fits():
    d = np.array([1.0, 2.0, 3.0, -0.5])
    # 16 patterns; |mean| >= observed (1.375) for (+,+,+,+), (+,+,+,-) and their negatives
    observed, p = stats.permutation_pvalues(d, n_resamples=9999)
    assert observed[0] == pytest.approx(1.375)
    assert p[0] == pytest.approx(4 / 16)
    theirs = scipy_stats.permutation_test(
        (d,), lambda x, axis: np.mean(x, axis=axis), permutation_type="samples", vectorized=True
    )
    assert p[0] == pytest.approx(theirs.pvalue)


def test_holm_by_hand():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 -> 0.02, 0.03, 0.06, 0.04 -> running max
    adjusted = stats.holm([0.01, 0.04, 0.03, 0.005, np.nan])
    np.testing.assert_allclose(adjusted[:4], [0.03, 0.06, 0.06, 0.02])
    assert np.isnan(adjusted[4])
    np.testing.assert_allclose(stats.holm([0.5, 0.6]), [1.0, 1.0])


def test_all_pairs():
    assert stats.all_pairs(3) == [(0, 1), (0, 2), (1, 2)]
