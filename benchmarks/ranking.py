"""The sorting strategies of ``analysis.ranking`` side by side, on one dense 224x224 model
map's worth of float32 values and on a sparse half mean's worth.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m benchmarks.ranking [--repeats 300]

For each strategy, the median time of

- ``sort``: ``sort_keys`` (the order and the sorted keys of uint32 keys), the comparison the
  first versions of this script made;
- ``rank``: what the analysis calls per map: ``rank_order_and_sort`` (ranks, order and sorted
  values) for the dense map, ``nonnegative_ranks`` (ranks only) for the half mean, keys
  included.

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
    ranking.use_strategy(None)
    print(f"picked here: {ranking.strategy()}")


if __name__ == "__main__":
    main()
