"""The inner level of the results page's hierarchical CIs: one image's 1,000 participant
resamples (``analysis.batch_scores.participant_bootstrap_spearman``), timed per image on one thread,
on ``benchmarks.analysis``'s generated data.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m benchmarks.participant_bootstrap [--images 3]
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # see benchmarks/analysis.py

import argparse  # noqa: E402
import time  # noqa: E402

from analysis.batch_scores import participant_bootstrap_spearman  # noqa: E402
from benchmarks.analysis import generate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()
    for participants, models, methods in ((30, 4, 5), (15, 2, 2)):
        human, model, _ = generate(args.images, participants, models, methods, 224)
        times = []
        for i in range(args.images):
            started = time.perf_counter()
            participant_bootstrap_spearman(
                human[i], model[i].reshape(models * methods, 224, 224), n_resamples=args.resamples
            )
            times.append(time.perf_counter() - started)
        print(
            f"{participants} participants, {models * methods} model maps, {args.resamples} resamples: "
            + ", ".join(f"{t:.2f} s" for t in times)
            + " per image"
        )


if __name__ == "__main__":
    main()
