import numpy as np
import pytest
from scipy import stats

from analysis import ranking
from analysis.ranking import average_ranks, float32_keys, keys_to_float32, nonnegative_ranks, rank_and_order


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


def test_both_strategies_sort_stably_and_identically():
    keys = np.random.default_rng(2).integers(0, 50, 5000, dtype=np.uint32)  # many equal keys
    results = []
    for name in ranking.STRATEGIES:
        ranking.use_strategy(name)
        order, sorted_keys = ranking.sort_keys(keys)
        np.testing.assert_array_equal(order, np.argsort(keys, kind="stable"))
        np.testing.assert_array_equal(sorted_keys, np.sort(keys))
        results.append(order)
    np.testing.assert_array_equal(*results)


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
