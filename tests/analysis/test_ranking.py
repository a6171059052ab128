import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from analysis import ranking
from analysis.ranking import average_ranks, float32_keys, keys_to_float32, nonnegative_ranks, rank_and_order

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True, params=ranking.STRATEGIES)
def strategy(request):
    """Every test runs with each sorting strategy: they must give identical results."""
    ranking.use_strategy(request.param)
    yield request.param
    ranking.use_strategy(None)


def cases():
    rng = np.random.default_rng(0)
    yield np.array([3.0])
    yield np.full(7, 2.5)
    yield np.array([-0.0, 0.0, -1e-30, 1e-30, -3.5, 2.0, -0.0])
    for trial in range(60):
        n = int(rng.integers(2, 400))
        x = rng.normal(size=n) * 10.0 ** int(rng.integers(-6, 6))
        if trial % 3 == 0:
            x = np.round(x, 1)  # many ties
        if trial % 4 == 0:
            x[: n // 2] = x.min()  # a large block at the minimum
        yield x


def test_average_ranks_equal_scipys_at_float32_precision():
    for x in cases():
        np.testing.assert_array_equal(average_ranks(x), stats.rankdata(x.astype(np.float32)))


def test_the_order_sorts_the_values():
    for x in cases():
        x32 = x.astype(np.float32)
        ranks, order = rank_and_order(x32)
        np.testing.assert_array_equal(x32[order], np.sort(x32))


def test_keys_sort_like_the_floats_and_invert():
    x = np.array([-np.inf, -3.0, -1e-38, 0.0, 1e-45, 1.0, np.inf], dtype=np.float32)
    keys = float32_keys(x)
    assert (np.diff(keys.astype(np.int64)) > 0).all()
    np.testing.assert_array_equal(keys_to_float32(keys), x)
    assert float32_keys(np.array([-0.0]))[0] == float32_keys(np.array([0.0]))[0]


def test_nonnegative_ranks_count_the_left_out_zeros():
    rng = np.random.default_rng(1)
    for trial in range(40):
        n, extra = int(rng.integers(1, 200)), int(rng.integers(0, 30))
        x = np.round(rng.random(n) * 5) / 5 if trial % 2 else rng.random(n)
        full = stats.rankdata(np.concatenate([x, np.zeros(extra)]).astype(np.float32))
        ranks, zero_rank = nonnegative_ranks(x.astype(np.float32), extra)
        np.testing.assert_array_equal(ranks, full[:n])
        if extra:
            assert zero_rank == full[n]


def key_sets():
    """Keys that exercise every radix pass: many equal keys (only the lowest 11-bit digit
    varies), keys that differ only in the middle or top digit (the other passes skipped), all
    equal, none, one, and keys over the whole range."""
    rng = np.random.default_rng(2)
    yield rng.integers(0, 50, 5000, dtype=np.uint32)
    yield rng.integers(0, 50, 5000, dtype=np.uint32) << np.uint32(11)
    yield (rng.integers(0, 1024, 5000, dtype=np.uint32) << np.uint32(22)) | np.uint32(5)
    yield np.full(300, 7, dtype=np.uint32)
    yield np.zeros(0, dtype=np.uint32)
    yield np.array([2**32 - 1], dtype=np.uint32)
    yield rng.integers(0, 2**32, 70_000, dtype=np.uint32)


def test_all_strategies_sort_stably_and_identically():
    for keys in key_sets():
        for name in ranking.STRATEGIES:
            ranking.use_strategy(name)
            order, sorted_keys = ranking.sort_keys(keys)
            np.testing.assert_array_equal(order, np.argsort(keys, kind="stable"))
            np.testing.assert_array_equal(sorted_keys, np.sort(keys))
            assert order.dtype == np.intp and sorted_keys.dtype == np.uint32


def test_every_strategy_ranks_and_orders_float32_maps_alike():
    """Dense and sparse maps, negative values and -0.0, a large block at the minimum: the
    ranks, the order and the sorted values of every strategy equal scipy's and numpy's."""
    rng = np.random.default_rng(5)
    dense = rng.random(224 * 224, dtype=np.float32)
    sparse = np.where(rng.random(224 * 224) < 0.6, 0, rng.random(224 * 224)).astype(np.float32)
    signed = (rng.normal(size=20_000) * 1e3).astype(np.float32)
    signed[::7] = -0.0
    signed[1::7] = 0.0
    for values in (dense, sparse, signed, np.round(dense * 20).astype(np.float32)):
        expected = stats.rankdata(values)
        for name in ranking.STRATEGIES:
            ranking.use_strategy(name)
            ranks, order, sorted32 = ranking.rank_order_and_sort(values)
            np.testing.assert_array_equal(ranks, expected)
            np.testing.assert_array_equal(order, np.argsort(values + np.float32(0), kind="stable"))
            np.testing.assert_array_equal(sorted32, np.sort(values) + np.float32(0))
            assert sorted32.dtype == np.float32
            np.testing.assert_array_equal(ranking.average_ranks(values), expected)
            np.testing.assert_array_equal(ranking.rank_and_sort(values)[0], expected)
            np.testing.assert_array_equal(ranking.rank_and_order(values)[1], order)


def test_results_survive_the_next_sort_and_large_inputs_sort_too():
    """The packed sort reuses a per-thread buffer up to a size: nothing it returns may point
    into it, and inputs beyond that size take a fresh array."""
    rng = np.random.default_rng(4)
    first_keys = rng.integers(0, 2**32, 1000, dtype=np.uint32)
    order, sorted_keys = ranking.sort_keys(first_keys)
    kept = order.copy(), sorted_keys.copy()
    ranking.sort_keys(rng.integers(0, 2**32, 1000, dtype=np.uint32))
    np.testing.assert_array_equal(order, kept[0])
    np.testing.assert_array_equal(sorted_keys, kept[1])
    large = rng.integers(0, 2**32, ranking._SCRATCH_MAX + 1, dtype=np.uint32)
    order, sorted_keys = ranking.sort_keys(large)
    np.testing.assert_array_equal(sorted_keys, np.sort(large))
    np.testing.assert_array_equal(large[order], sorted_keys)


def test_an_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="packed, radix"):
        ranking.use_strategy("bubble")


def test_the_first_ranking_picks_a_strategy():
    ranking.use_strategy(None)
    average_ranks(np.arange(5.0))
    assert ranking.strategy() in ranking.STRATEGIES


def test_the_kernel_is_compiled_at_the_first_ranking_not_at_import():
    """Web processes import analysis (the results page scores with it) and most never rank:
    importing analysis.ranking must not import numba."""
    code = "import sys, analysis.ranking; print('numba' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.split() == ["False"]


def test_nonnegative_spearman_is_scipys_spearman_with_the_zeros_put_back():
    """Rows with ties, zeros, -0.0, a constant row (NaN) and an all-zero row; every strategy
    gives the same numbers, bit for bit, as the numpy version of the sums."""
    rng = np.random.default_rng(6)
    rows, n, extra = 9, 3000, 700
    first = np.where(rng.random((rows, n)) < 0.4, 0, rng.random((rows, n))).astype(np.float32)
    second = (first + 0.3 * rng.random((rows, n))).astype(np.float32)
    second[1] = np.round(second[1] * 4) / 4  # many ties
    first[2, ::5] = -0.0
    second[3] = 0.5  # constant with the extra zeros: not constant
    second[4] = 0.0  # constant
    first[5] = 0.0
    got = ranking.nonnegative_spearman(first, second, extra)
    zeros = np.zeros(extra, dtype=np.float32)
    for r in range(rows):
        a, b = np.concatenate([first[r], zeros]), np.concatenate([second[r], zeros])
        if np.ptp(a) == 0 or np.ptp(b) == 0:
            assert np.isnan(got[r])
        else:
            assert got[r] == pytest.approx(stats.spearmanr(a, b).statistic, abs=1e-12)
    np.testing.assert_array_equal(got, ranking._nonnegative_spearman_numpy(first, second, extra))
    with pytest.raises(ValueError, match="one shape"):
        ranking.nonnegative_spearman(first, second[:, 1:])


def test_nonnegative_spearman_counts_few_values_and_sorts_many():
    """Rows with few distinct values are ranked through a table of their values, rows with
    more than the table holds (here 20 000 distinct floats) are sorted, and a call switches
    to sorting for good once a row overflows; the numbers are the same either way."""
    rng = np.random.default_rng(8)
    n = 20_000
    few = (np.round(rng.random((6, n)) * 300) / 300).astype(np.float32)  # about 300 values
    many = rng.random((6, n), dtype=np.float32)
    for first, second in (
        (few, few[::-1] + np.float32(0.1)),
        (many, many[::-1]),
        (few, many),  # the first row of the pair counted, the second sorted
        (np.concatenate([few[:3], many[:3]]), np.concatenate([few[3:], many[3:]])),
        (np.concatenate([many[:2], few[:4]]), np.concatenate([few[2:], many[:2]])),
    ):
        got = ranking.nonnegative_spearman(first, second, 123)
        np.testing.assert_array_equal(got, ranking._nonnegative_spearman_numpy(first, second, 123))
        zeros = np.zeros(123, dtype=np.float32)
        expected = [
            stats.spearmanr(np.concatenate([a, zeros]), np.concatenate([b, zeros])).statistic
            for a, b in zip(first, second)
        ]
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_rank_and_sort_writes_the_ranks_into_out():
    values = np.random.default_rng(9).random(1000, dtype=np.float32)
    table = np.zeros((3, 1000))
    ranks, sorted32 = ranking.rank_and_sort(values, out=table[1])
    assert ranks is table[1] or np.shares_memory(ranks, table[1])
    np.testing.assert_array_equal(table[1], stats.rankdata(values))
    np.testing.assert_array_equal(sorted32, np.sort(values))
    assert not table[0].any() and not table[2].any()
    column = np.zeros((1000, 2))
    ranking.rank_and_sort(values, out=column[:, 0])  # not contiguous
    np.testing.assert_array_equal(column[:, 0], stats.rankdata(values))
    with pytest.raises(ValueError, match="float64 array of 1000"):
        ranking.rank_and_sort(values, out=np.zeros(1000, dtype=np.float32))
