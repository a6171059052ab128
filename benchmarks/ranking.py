"""The sorting strategies of ``analysis.ranking`` side by side, on one dense 224x224 model
map's worth of float32 values and on a sparse half mean's worth.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m benchmarks.ranking [--repeats 300]

For each strategy, the median time of

- ``sort``: ``sort_keys`` (the order and the sorted keys of uint32 keys), the comparison the
  first versions of this script made;
- ``rank``: what the analysis calls per map: ``rank_order_and_sort`` (ranks, order and sorted
  values) for the dense map, ``nonnegative_ranks`` (ranks only) for the half mean, keys
  included;

and of ``nonnegative_spearman`` on one image's 50 split-half pairs of half means, each the
mean of 15 minmax-normalised 8-bit maps (so at most 3,826 distinct values, as in the painted
maps of ``benchmarks.analysis``), what the split-half ceiling spends per image.

The strategies take turns, one call each, so a busy machine slows them alike. Then the one
``analysis.ranking.strategy()`` picks on this machine.
"""

import argparse
import statistics
import time

import numpy as np

from analysis import ranking


def medians_ms(calls: dict, repeats: int) -> dict:
    """Median milliseconds of each zero-argument call, the calls taking turns."""
    for call in calls.values():
        call()  # compiles the kernel / fills the scratch buffers
    times = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) * 1e3 for name, values in times.items()}


def with_strategy(name, function, argument):
    def call():
        ranking.use_strategy(name)
        function(argument)

    return call


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    cases = (
        ("dense model map, 224 x 224", 224 * 224, ranking.rank_order_and_sort),
        ("a half mean's painted pixels", 17_000, ranking.nonnegative_ranks),
    )
    for label, size, rank in cases:
        values = rng.random(size, dtype=np.float32)
        keys = ranking.float32_keys(values)
        calls = {}
        for name in ranking.STRATEGIES:
            calls[("sort", name)] = with_strategy(name, ranking.sort_keys, keys)
            calls[("rank", name)] = with_strategy(name, rank, values)
        medians = medians_ms(calls, args.repeats)
        print(f"{label} ({size} values), median ms of {args.repeats}:")
        for what in ("sort", "rank"):
            line = ", ".join(f"{name} {medians[(what, name)]:.3f}" for name in ranking.STRATEGIES)
            print(f"  {what} ({'sort_keys' if what == 'sort' else rank.__name__}): {line}")
    first, second = half_means(rng, 17_000)
    calls = {
        name: with_strategy(name, lambda pair: ranking.nonnegative_spearman(*pair, 33_176), (first, second))
        for name in ranking.STRATEGIES
    }
    medians = medians_ms(calls, max(1, args.repeats // 30))
    line = ", ".join(f"{name} {medians[name]:.1f}" for name in ranking.STRATEGIES)
    print(f"a ceiling's 50 splits (nonnegative_spearman, 2 x 50 half means of 17000 pixels), ms: {line}")
    ranking.use_strategy(None)
    print(f"picked here: {ranking.strategy()}")


def half_means(rng: np.random.Generator, pixels: int, participants: int = 30, splits: int = 50):
    """Two (splits, pixels) float32 arrays: the means of random halves of ``participants``
    8-bit maps (0-255, each zero on a random 40 % of the pixels, one pixel at 0 and one at
    255), normalised by 255 as minmax normalisation does."""
    shape = (participants, pixels)
    maps = np.round(rng.random(shape) ** 3 * 255) * (rng.random(shape) < 0.6)
    maps[:, 0], maps[:, 1] = 0, 255
    normalised = maps / 255
    first, second = [], []
    for _ in range(splits):
        chosen = rng.permutation(participants)
        first.append(normalised[chosen[: participants // 2]].mean(axis=0))
        second.append(normalised[chosen[participants // 2 :]].mean(axis=0))
    return np.array(first, dtype=np.float32), np.array(second, dtype=np.float32)


if __name__ == "__main__":
    main()
