"""The two sorting strategies of ``analysis.ranking`` side by side, on one dense 224x224
model map's worth of float32 keys and on a sparse half mean's worth.

    .venv/bin/python -m benchmarks.ranking [--repeats 300]

Prints the median time per sort (order and sorted keys) of each strategy, and the one that
``analysis.ranking.strategy()`` picks on this machine.
"""

import argparse
import statistics
import time

import numpy as np

from analysis import ranking


def median_ms(function, argument, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function(argument)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    for label, size in (("dense model map, 224 x 224", 224 * 224), ("a half mean's painted pixels", 17_000)):
        keys = ranking.float32_keys(rng.random(size, dtype=np.float32))
        timings = []
        for name in ranking.STRATEGIES:
            ranking.use_strategy(name)
            timings.append(f"{name} {median_ms(ranking.sort_keys, keys, args.repeats):.3f} ms")
        print(f"{label} ({size} keys): " + ", ".join(timings))
    ranking.use_strategy(None)
    print(f"picked here: {ranking.strategy()}")


if __name__ == "__main__":
    main()
