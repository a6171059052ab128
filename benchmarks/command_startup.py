"""Whole-process time of two management commands that do little: ``import_images`` of two small
images (already in the set after the first run: checked, then skipped as duplicates) and
``export_agreement`` of the demo study. Optionally the same commands from another checkout
(``--baseline DIR``, e.g. ``git worktree add /tmp/before COMMIT``) with its own data directory,
run in turn with this one so that both see the same machine load. Figures are medians of the
children's CPU time (user + system) and wall time.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m benchmarks.command_startup [--runs 7] \\
        [--baseline /tmp/before]

Each checkout gets a data directory under /tmp (migrated, the demo study with two simulated
participants, the two images imported once) before timing starts.
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def _run(checkout: Path, data_dir: Path, argv: list[str]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one run of ``manage.py argv`` in ``checkout``."""
    env = dict(os.environ, DATA_DIR=str(data_dir), OMP_WAIT_POLICY="PASSIVE")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "manage.py", *argv], cwd=checkout, env=env, check=True, capture_output=True
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def _prepare(checkout: Path, data_dir: Path, images: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    for argv in (
        ["migrate", "-v0"],
        ["demo"],
        ["simulate_participants", "--study", "demo", "-n", "2"],
        ["import_images", str(images), "--set", "two"],
    ):
        _run(checkout, data_dir, argv)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--baseline", type=Path, help="another checkout, timed in turn with this one")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="command-startup-"))
    images = work / "images"
    images.mkdir()
    for index in range(2):
        pixels = (np.random.default_rng(index).random((120, 160, 3)) * 255).astype("uint8")
        Image.fromarray(pixels).save(images / f"small{index}.jpg")
    checkouts = {"this checkout": ROOT}
    if args.baseline:
        checkouts["baseline"] = args.baseline.resolve()
    for label, checkout in checkouts.items():
        _prepare(checkout, work / label.replace(" ", "-"), images)
    commands = {
        "import_images (2 small JPEGs)": ["import_images", str(images), "--set", "two"],
        "export_agreement (demo study)": ["export_agreement", "--study", "demo", "-o", str(work / "a.csv")],
    }
    for name, argv in commands.items():
        times = {label: [] for label in checkouts}
        for _ in range(args.runs):
            for label, checkout in checkouts.items():  # in turn: the same load for both
                times[label].append(_run(checkout, work / label.replace(" ", "-"), argv))
        for label, runs in times.items():
            cpu = statistics.median(run[0] for run in runs)
            wall = statistics.median(run[1] for run in runs)
            print(f"{name:32s} {label:14s} median CPU {cpu:5.2f} s, wall {wall:5.2f} s ({args.runs} runs)")


if __name__ == "__main__":
    main()
