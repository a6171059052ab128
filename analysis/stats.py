"""Across images: means with bootstrap confidence intervals, paired permutation tests between
every two model x method, Holm's correction.

The definitions are scipy's: ``scipy.stats.bootstrap(method="percentile")`` and
``scipy.stats.permutation_test(permutation_type="samples")`` on per-image differences (a
sign flip per image). Calling them once per group and per pair is slow (a study has hundreds
of groups and thousands of pairs x metrics), so these functions draw the same resamples as
scipy 1.17 does for the same seed, once, and apply them to every group with one matrix
product: bootstrap means are ``values @ counts.T / n``, the null distribution of a mean
difference is ``signs @ differences / n``. ``tests/analysis`` checks that the numbers equal
scipy's.
"""

import itertools
from collections.abc import Sequence

import numpy as np

Seed = int | Sequence[int] | np.random.Generator | None


def _rng(seed: Seed) -> np.random.Generator:
    """A fresh generator for a seed (so every use draws the same numbers, as separate scipy
    calls with that seed would); a Generator passed in is used as is, sequentially."""
    return np.random.default_rng(seed)


def bootstrap_counts(n: int, n_resamples: int, rng: Seed) -> np.ndarray:
    """(n_resamples, n) how often each observation appears in each resample, from the
    indices ``scipy.stats.bootstrap`` draws: ``rng.integers(0, n, (n_resamples, n))``."""
    indices = _rng(rng).integers(0, n, (n_resamples, n))
    flat = indices + n * np.arange(n_resamples)[:, None]
    return np.bincount(flat.ravel(), minlength=n_resamples * n).reshape(n_resamples, n).astype(np.float64)


def bootstrap_ci(
    values: np.ndarray,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    rng: Seed = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap CI of the mean of each row of ``values`` (groups x observations),
    every row resampled with the same indices (observations are paired across rows, e.g.
    images). Rows with NaN are bootstrapped over their finite entries alone, each with a fresh
    generator from ``rng`` when it is a seed (as a separate scipy call would be); rows with
    fewer than two finite entries get NaN. Each row's means are one (1, n) @ (n, resamples)
    product, so a row's interval is the same to the last bit whichever rows share the call
    (a product of several rows at once may round differently)."""
    values = np.atleast_2d(np.asarray(values, dtype=np.float64))
    low, high = np.full(values.shape[0], np.nan), np.full(values.shape[0], np.nan)
    finite = np.isfinite(values)
    complete = finite.all(axis=1)
    if complete.any() and values.shape[1] > 1:
        counts = bootstrap_counts(values.shape[1], n_resamples, rng)
        for row in np.flatnonzero(complete):
            low[row], high[row] = _percentiles(values[row : row + 1], counts, confidence)
    for row in np.flatnonzero(~complete):
        kept = values[row, finite[row]]
        if kept.size > 1:
            counts = bootstrap_counts(kept.size, n_resamples, rng)
            low[row], high[row] = _percentiles(kept[None], counts, confidence)
    return low, high


def _percentiles(row: np.ndarray, counts: np.ndarray, confidence: float) -> tuple[float, float]:
    """Percentile interval of the bootstrap means of ``row`` (1, n) resampled by ``counts``."""
    alpha = (1 - confidence) / 2
    means = row @ counts.T / row.shape[1]
    low, high = np.quantile(means, [alpha, 1 - alpha], axis=1)[:, 0]
    return float(low), float(high)


def sign_flips(n: int, n_resamples: int, rng: Seed) -> tuple[np.ndarray, bool]:
    """(signs, exact): every sign pattern when 2**n <= n_resamples (an exact test), else
    ``n_resamples`` random ones drawn as scipy's ``permutation_test(permutation_type=
    "samples")`` draws them for one sample: ``rng.permuted`` of (0, 1) per observation."""
    if n < 63 and 2**n <= n_resamples:
        patterns = np.array(list(itertools.product((1.0, -1.0), repeat=n))) if n else np.ones((1, 0))
        return patterns, True
    pairs = np.tile(np.arange(2), (n_resamples, n, 1))
    first = _rng(rng).permuted(pairs, axis=-1)[..., 0]
    return 1.0 - 2.0 * first, False


def permutation_pvalues(
    differences: np.ndarray,
    *,
    n_resamples: int = 9999,
    rng: Seed = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided paired permutation tests of mean difference = 0, one per column of
    ``differences`` (observations x comparisons), all with the same sign flips. Returns
    (observed mean differences, p-values) with scipy's conventions: a randomised test counts
    the observed statistic as one of the resamples, values within 100 eps of the observed one
    count as equal, p = min(1, 2 min(p_less, p_greater)). Columns with NaN are tested over
    their finite rows alone."""
    d = np.asarray(differences, dtype=np.float64)
    if d.ndim == 1:
        d = d[:, None]
    observed = np.full(d.shape[1], np.nan)
    pvalues = np.full(d.shape[1], np.nan)
    finite = np.isfinite(d)
    complete = finite.all(axis=0)
    if complete.any() and d.shape[0] > 0:
        observed[complete], pvalues[complete] = _permutation(d[:, complete], n_resamples, rng)
    for column in np.flatnonzero(~complete):
        kept = d[finite[:, column], column]
        if kept.size:
            mean, p = _permutation(kept[:, None], n_resamples, rng)
            observed[column], pvalues[column] = mean[0], p[0]
    return observed, pvalues


def _permutation(d: np.ndarray, n_resamples: int, rng: Seed) -> tuple[np.ndarray, np.ndarray]:
    n = d.shape[0]
    observed = d.mean(axis=0)
    signs, exact = sign_flips(n, n_resamples, rng)
    null = signs @ d / n
    adjustment = 0 if exact else 1
    resamples = signs.shape[0]
    gamma = np.abs(np.finfo(np.float64).eps * 100 * observed)
    less = (np.count_nonzero(null <= observed + gamma, axis=0) + adjustment) / (resamples + adjustment)
    greater = (np.count_nonzero(null >= observed - gamma, axis=0) + adjustment) / (resamples + adjustment)
    return observed, np.clip(2 * np.minimum(less, greater), 0, 1)


def holm(pvalues: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment for the family of ``pvalues`` (NaNs are not counted as
    tests and stay NaN): the i-th smallest of m becomes max over j <= i of (m - j + 1) p_(j),
    at most 1."""
    p = np.asarray(pvalues, dtype=np.float64)
    adjusted = np.full(p.shape, np.nan)
    tested = np.flatnonzero(np.isfinite(p))
    m = tested.size
    if m:
        order = tested[np.argsort(p[tested], kind="stable")]
        scaled = (m - np.arange(m)) * p[order]
        adjusted[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return adjusted


def all_pairs(n: int) -> list[tuple[int, int]]:
    """Every unordered pair (a, b), a < b, of n groups."""
    return list(itertools.combinations(range(n), 2))


def hierarchical_bootstrap_ci(
    draws: np.ndarray, *, confidence: float = 0.95, rng: Seed = 0
) -> tuple[float, float]:
    """Percentile CI of the mean over images when images and, within each image,
    participants are resampled. ``draws[i, r]`` is image i's score in resample r with its
    participants drawn with replacement (one column per resample). The images of resample r
    are the indices ``bootstrap_ci`` draws for ``rng``, so when participants cannot vary (one
    per image: every column equal) the interval is exactly the image-level one. An image drawn
    more than once in a resample counts its draw that often; NaN draws are left out of their
    resample's mean."""
    draws = np.asarray(draws, dtype=np.float64)
    n_images, n_resamples = draws.shape
    if n_images < 2:
        return float("nan"), float("nan")
    counts = bootstrap_counts(n_images, n_resamples, rng)  # (resamples, images)
    finite = np.isfinite(draws.T)
    weights = counts * finite
    with np.errstate(invalid="ignore"):
        means = (weights * np.where(finite, draws.T, 0.0)).sum(axis=1) / weights.sum(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.nanquantile(means, [alpha, 1 - alpha])
    return float(low), float(high)
