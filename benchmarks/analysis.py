"""The study analysis on generated data: ``analysis.pipeline.analyse_study`` (fast) against
``analyse_study_loop`` (the straightforward per-image loop over scipy calls), side by side in
one run, after checking that both give the same numbers.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m benchmarks.analysis \
        [--images 1000] [--participants 30] [--models 4] [--methods 5] [--size 224] \
        [--baseline-images 10] [--repeats 3] [--check-images 12] \
        [--ranking compiled] [--compare-ranking radix]

The issue's target: 1 000 images x 30 participants x 4 models x 5 methods at 224x224, all
metrics, 1 000-resample bootstrap, 50-split ceilings, in <= 60 s on the 2-core development
machine and >= 10x faster than the loop. The loop would take over an hour, so its per-image
part runs on the first ``--baseline-images`` images and is extrapolated linearly, and its
statistics are timed on the full study's scores, all bootstraps and a sample of the
permutation tests (see ``loop_estimate``); the output says so. Fast and loop runs alternate,
so both see the same machine load; figures are medians. ``--compare-ranking`` also times the
fast path with other sorting strategies of ``analysis.ranking`` in every repeat, taking turns
with the one in use, and checks that they give the same numbers bit for bit: on a shared
machine, before/after figures are only comparable side by side.

Generated data: each image has 1-3 Gaussian "objects"; each participant paints a noisy,
thresholded version of them with soft edges (8-bit values, so zero where unpainted); each
model x method map is the objects at some strength plus smooth and pixel noise (dense, float32).
"""

import os

# numpy's OpenBLAS is an OpenMP build: under OMP_WAIT_POLICY=PASSIVE every multi-threaded BLAS
# call (even a 50 000-element dot product) waits milliseconds for its sleeping threads on this
# VM. The analysis parallelises over images itself, so BLAS runs single-threaded, for both paths.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402

import numpy as np  # noqa: E402

from analysis import ranking  # noqa: E402
from analysis.batch_scores import Settings  # noqa: E402
from analysis.human_maps import bilinear_matrix  # noqa: E402
from analysis.pipeline import (  # noqa: E402
    analyse_study,
    analyse_study_loop,
    pairwise_differences,
)
from analysis.pipeline import scipy_ci as _scipy_ci  # noqa: E402
from analysis.pipeline import scipy_pvalue as _scipy_pvalue  # noqa: E402
from analysis.ranking import rank_and_order  # noqa: E402


def smooth_fields(rng: np.random.Generator, count: int, size: int, cells: int = 6) -> np.ndarray:
    """(count, size, size) smooth random fields, about N(0,1), from a cells x cells grid."""
    up = bilinear_matrix(cells, size)
    return (up @ rng.standard_normal((count, cells, cells)) @ up.T).astype(np.float32)


def generate(images: int, participants: int, models: int, methods: int, size: int, seed: int = 0):
    """(human maps uint8 (I,P,S,S), model maps float32 (I,M,K,S,S), painted share)."""
    rng = np.random.default_rng(seed)
    human = np.empty((images, participants, size, size), dtype=np.uint8)
    model = np.empty((images, models, methods, size, size), dtype=np.float32)
    strength = rng.uniform(0.2, 1.5, (models, methods)).astype(np.float32)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    for i in range(images):
        truth = np.zeros((size, size), dtype=np.float32)
        for _ in range(rng.integers(1, 4)):
            cy, cx = rng.uniform(0.2, 0.8, 2) * size
            sigma = rng.uniform(0.06, 0.16) * size
            truth += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2)).astype(np.float32)
        truth /= truth.max()
        noise = smooth_fields(rng, participants, size)
        threshold = rng.uniform(0.35, 0.6, (participants, 1, 1)).astype(np.float32)
        painted = np.clip((truth + 0.25 * noise - threshold) / 0.15, 0, 1)
        human[i] = np.round(painted * 255).astype(np.uint8)
        smooth = smooth_fields(rng, models * methods, size).reshape(models, methods, size, size)
        pixels = rng.random((models, methods, size, size), dtype=np.float32)
        model[i] = np.abs(strength[..., None, None] * truth + 0.4 * smooth + 0.3 * pixels)
    return human, model, float((human > 0).any(axis=1).mean())


def cores_available() -> float:
    """How much faster two threads rank 400 maps than one: about 2 on two idle cores, about 1
    when something else holds a core (the development machine is shared)."""
    maps = np.random.default_rng(1).random((400, 224 * 224), dtype=np.float32)

    def work(rows):
        for row in rows:
            rank_and_order(row)

    work(maps[:2])  # the first ranking times the strategies (and loads the compiled kernel)
    started = time.perf_counter()
    work(maps)
    one = time.perf_counter() - started
    started = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(work, (maps[::2], maps[1::2])))
    return one / (time.perf_counter() - started)


def compare(fast, loop, tolerance: float = 1e-9) -> list[str]:
    """Every place where the two analyses differ by more than ``tolerance``."""
    problems = []

    def check(label, a, b):
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        if not np.array_equal(np.isnan(a), np.isnan(b)):
            problems.append(f"{label}: NaN in different places")
        elif np.any(np.abs(a - b)[~np.isnan(a)] > tolerance):
            problems.append(f"{label}: max difference {np.nanmax(np.abs(a - b)):.3g}")

    check("scores", fast.scores, loop.scores)
    check("ceilings", fast.ceiling, loop.ceiling)
    check("floors", fast.floor, loop.floor)
    for key in ("mean", "ci_low", "ci_high"):
        check(f"summary {key}", [r[key] for r in fast.summary], [r[key] for r in loop.summary])
    for key in ("mean_difference", "p", "p_holm"):
        check(f"comparisons {key}", [r[key] for r in fast.comparisons], [r[key] for r in loop.comparisons])
    return problems


def same_numbers(a, b) -> bool:
    """Every score, ceiling, floor and summary number equal, bit for bit (NaN where NaN)."""
    arrays = [(a.scores, b.scores), (a.ceiling, b.ceiling), (a.floor, b.floor)]
    for table_a, table_b in ((a.summary, b.summary), (a.comparisons, b.comparisons)):
        if len(table_a) != len(table_b):
            return False
        keys = {k for row in table_a for k, v in row.items() if isinstance(v, float)}
        arrays += [([r.get(k, np.nan) for r in table_a], [r.get(k, np.nan) for r in table_b]) for k in keys]
    return all(np.array_equal(x, y, equal_nan=True) for x, y in arrays)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--participants", type=int, default=30)
    parser.add_argument("--models", type=int, default=4)
    parser.add_argument("--methods", type=int, default=5)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--baseline-images", type=int, default=10)
    parser.add_argument("--check-images", type=int, default=12, help="images for the equality check")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--permutation-sample", type=int, default=12, help="scipy permutation tests timed")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--blur", action="store_true", help="blur the human maps (Harmonization)")
    parser.add_argument(
        "--ranking",
        choices=ranking.STRATEGIES,
        help="force a sorting strategy (default: the one timed fastest)",
    )
    parser.add_argument(
        "--compare-ranking",
        default="",
        help="comma-separated sorting strategies also timed in every repeat, side by side",
    )
    args = parser.parse_args()
    compared = [name for name in args.compare_ranking.split(",") if name]
    unknown = set(compared) - set(ranking.STRATEGIES)
    if unknown:
        parser.error(f"unknown strategies {sorted(unknown)}; choose from {', '.join(ranking.STRATEGIES)}")
    if args.ranking:
        ranking.use_strategy(args.ranking)

    started = time.perf_counter()
    human, model, painted = generate(args.images, args.participants, args.models, args.methods, args.size)
    print(
        f"generated {args.images} images x {args.participants} participants x {args.models} models x "
        f"{args.methods} methods at {args.size}x{args.size} in {time.perf_counter() - started:.0f} s; "
        f"{painted:.0%} of pixels painted by at least one participant"
    )
    settings = Settings(blur=args.blur)
    print(f"settings: {settings}")
    speed = cores_available()
    load = os.getloadavg()[0]
    print(f"machine: load average {load:.1f}; two threads ranked maps {speed:.2f}x as fast as one")
    in_use = ranking.strategy()
    compared = [name for name in compared if name != in_use]
    print(
        f"ranking: the {in_use!r} sort ({'forced' if args.ranking else 'timed fastest'}; analysis/ranking.py)"
        + (f"; also timed side by side: {', '.join(compared)}" if compared else "")
    )

    n_check = min(args.check_images, args.images)
    fast = analyse_study(human[:n_check], model[:n_check], settings=settings, workers=args.workers)
    loop = analyse_study_loop(human[:n_check], model[:n_check], settings=settings)
    problems = compare(fast, loop)
    if problems:
        raise SystemExit("the fast path and the loop disagree:\n  " + "\n  ".join(problems))
    print(f"check: on {n_check} images the fast path and the loop agree to 1e-9 (scores, ceilings,")
    print("       floors, means, bootstrap CIs, permutation p-values, Holm)")

    n_base = min(args.baseline_images, args.images)
    fast_times, loop_times, parts, loop_parts = [], [], [], []
    other_times = {name: [] for name in compared}
    for repeat in range(args.repeats):
        # the strategies take turns, in a different order each repeat
        turn = [in_use, *compared]
        turn = turn[repeat % len(turn) :] + turn[: repeat % len(turn)]
        results = {}
        for name in turn:
            ranking.use_strategy(name)
            started = time.perf_counter()
            results[name] = analyse_study(human, model, settings=settings, workers=args.workers)
            rows = results[name].score_rows()
            elapsed = time.perf_counter() - started
            (fast_times if name == in_use else other_times[name]).append(elapsed)
        ranking.use_strategy(in_use)
        result = results[in_use]
        for name in compared:
            if not same_numbers(result, results[name]):
                raise SystemExit(f"the {name!r} sort gave other numbers than the {in_use!r} sort")
        parts.append(result.timings)
        loop_parts.append(loop_estimate(human, model, settings, result, n_base, args.permutation_sample))
        loop_times.append(sum(loop_parts[-1].values()))
        others = "".join(f", fast with {name} {other_times[name][-1]:.1f} s" for name in compared)
        print(
            f"  run: fast {fast_times[-1]:.1f} s{others}, loop {loop_times[-1]:.0f} s (estimated, see below)",
            flush=True,
        )

    fast_median = statistics.median(fast_times)
    print(
        f"\nfast path, {args.images} images, {len(rows)} score rows: median {fast_median:.1f} s "
        f"(min {min(fast_times):.1f}, max {max(fast_times):.1f}) with {args.workers} worker threads"
    )
    for key in parts[0]:
        print(f"  {key}: {statistics.median(p[key] for p in parts):.1f} s")
    for name, times in other_times.items():
        print(
            f"  side by side, the {name!r} sort: median {statistics.median(times):.1f} s (min "
            f"{min(times):.1f}, max {max(times):.1f}), same numbers bit for bit; the {in_use!r} sort "
            f"{statistics.median(t / f for f, t in zip(fast_times, times)):.2f}x as fast (paired median)"
        )
    low, high = min(loop_times), max(loop_times)
    print(f"loop: median {statistics.median(loop_times):.0f} s (min {low:.0f}, max {high:.0f})")
    for key in loop_parts[0]:
        print(f"  {key}: {statistics.median(p[key] for p in loop_parts):.0f} s")
    ratio = statistics.median(t / f for f, t in zip(fast_times, loop_times))
    print(f"speed-up: {ratio:.0f}x (median of {args.repeats} paired ratios)")
    print(
        f"target <= 60 s: {'met' if fast_median <= 60 else 'NOT met'}; target >= 10x: "
        f"{'met' if ratio >= 10 else 'NOT met'}"
    )
    print(f"machine after: load average {os.getloadavg()[0]:.1f}; two threads {cores_available():.2f}x one")


def loop_estimate(human, model, settings, fast_result, n_base: int, permutation_sample: int) -> dict:
    """Seconds the loop would take on the whole study. Its per-image part (human means, every
    metric, ceilings, floors) runs on the first ``n_base`` images and is scaled linearly. Its
    statistics are not linear in a handful of images (scipy enumerates all 2**n sign patterns
    when that is fewer than the resamples), so they are timed on the full study's scores:
    ``scipy.stats.bootstrap`` for every group, ``scipy.stats.permutation_test`` for
    ``permutation_sample`` of the pairs x metrics, scaled by their count."""
    images = len(human)
    loop = analyse_study_loop(human[:n_base], model[:n_base], settings=settings)
    started = time.perf_counter()
    loop.score_rows()
    rows = time.perf_counter() - started
    per_image = loop.timings["human_means"] + loop.timings["scores_ceilings_floors"] + rows
    series = fast_result.scores.transpose(1, 2, 3, 0).reshape(-1, images)
    started = time.perf_counter()
    for row in series:
        _scipy_ci(row, settings)
    bootstrap = time.perf_counter() - started
    _, differences = pairwise_differences(fast_result.scores)
    chosen = np.linspace(0, differences.shape[1] - 1, permutation_sample).round().astype(int)
    started = time.perf_counter()
    for column in chosen:
        _scipy_pvalue(differences[:, column], settings)
    permutations = (time.perf_counter() - started) * differences.shape[1] / len(chosen)
    return {
        f"per-image part, {n_base} images scaled to {images}": per_image * images / n_base,
        f"bootstrap, {len(series)} scipy calls": bootstrap,
        f"permutation tests, {len(chosen)} of {differences.shape[1]} scipy calls, scaled": permutations,
    }


if __name__ == "__main__":
    main()
