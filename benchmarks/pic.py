"""``analysis.pic.compute_pic`` beside PAIR-code saliency 0.2.1's ``compute_pic_metric`` on one
224x224 image (the demo study's cat) with the 13 default thresholds, side by side.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m benchmarks.pic [--repeats 3]

Two saliency maps: "smooth" (blobs, like XRAI's regions) and "noisy" (pixel noise, like a raw
gradient); the model is a cheap numpy function (the logit grows with the edge energy of the
image's centre), so the times are the metric's own. The two take turns, one call each, so a
busy machine slows them alike; medians.

Each pair of calls runs twice: with OpenBLAS's default threads and limited to one thread
(threadpoolctl). PAIR's ``griddata`` inverts one 2x2 matrix per triangle through LAPACK, and
on a busy machine OpenBLAS's thread hand-offs make that part 100x slower; one thread is PAIR's
best case. Under each row, the part of ``compute_pic``'s time that is its one Qhull
triangulation per image and its WebP encodings (redone and timed in the same turns), work
PAIR does as well (Qhull once per colour channel). Last, the largest
differences between the two results (blurred pixels, curve, AUC): zero when they agree.
"""

import argparse
import contextlib
import statistics
import time

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter
from scipy.spatial import Delaunay

from analysis import pic

SIZE = 224


def demo_cat(size: int) -> np.ndarray:
    from catalogue.demo_data import DEMO_IMAGES, demo_image_path

    source = {name: file for name, file, *_ in DEMO_IMAGES}["chelsea"]
    picture = Image.open(demo_image_path(source)).convert("RGB")
    side = min(picture.size)
    left, top = (picture.width - side) // 2, (picture.height - side) // 2
    return np.asarray(picture.crop((left, top, left + side, top + side)).resize((size, size), Image.BILINEAR))


def edge_model(image: np.ndarray):
    """Softmax of (z, 0) with z growing with the centre's edge energy; 0.9 on ``image``."""
    centre = np.zeros(image.shape[:2], dtype=bool)
    quarter = image.shape[0] // 4
    centre[quarter:-quarter, quarter:-quarter] = True

    def energy(picture: np.ndarray) -> float:
        grey = picture.astype(np.float64).mean(axis=-1)
        return (
            np.abs(np.diff(grey, axis=1))[centre[:, 1:]].mean()
            + np.abs(np.diff(grey, axis=0))[centre[1:]].mean()
        )

    reference = energy(image)
    gain = 6.0 / reference
    offset = reference - np.log(9.0) / gain

    def pred_func(batch: np.ndarray) -> list[float]:
        return [float(1.0 / (1.0 + np.exp(-gain * (energy(picture) - offset)))) for picture in batch]

    return pred_func


def blas_threads(limit: int | None):
    if limit is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits  # scikit-learn's dependency, not pinned

    return threadpool_limits(limits=limit, user_api="blas")


def side_by_side(pair, image, saliency_map, mask, pred_func, repeats: int):
    """Median seconds of PAIR and of compute_pic taking turns, and of the Qhull and WebP
    work inside compute_pic (timed in the same turns); the last results."""
    thresholds = pic.DEFAULT_THRESHOLDS
    times = {"PAIR": [], "analysis.pic": [], "Qhull": [], "WebP": []}
    results = {}
    for _ in range(repeats):
        started = time.perf_counter()
        results["PAIR"] = pair.compute_pic_metric(image, saliency_map, mask, pred_func, thresholds)
        times["PAIR"].append(time.perf_counter() - started)
        started = time.perf_counter()
        results["analysis.pic"] = pic.compute_pic(image, saliency_map, mask, pred_func, thresholds)
        times["analysis.pic"].append(time.perf_counter() - started)
        triangulation, encoding = floor_seconds(saliency_map, mask, results["analysis.pic"])
        times["Qhull"].append(triangulation)
        times["WebP"].append(encoding)
    return {name: statistics.median(values) for name, values in times.items()}, results


def floor_seconds(saliency_map, mask, result) -> tuple[float, float]:
    """Seconds of the Qhull triangulations and of the WebP encodings compute_pic makes, the
    work PAIR does too (Qhull three times): a floor for both."""
    triangulation = encoding = 0.0
    height, width = mask.shape
    for threshold in (0.0, *pic.DEFAULT_THRESHOLDS):
        revealed = (
            mask | (saliency_map >= np.quantile(saliency_map, 1 - threshold)) if threshold else mask.copy()
        )
        revealed[[0, 0, height - 1, height - 1], [0, width - 1, 0, width - 1]] = True
        started = time.perf_counter()
        Delaunay(np.argwhere(revealed).astype(np.float64))
        triangulation += time.perf_counter() - started
    for blurred in result.blurred_images:
        started = time.perf_counter()
        pic.image_entropy(blurred)
        encoding += time.perf_counter() - started
    return triangulation, encoding


def largest_differences(mine, theirs) -> dict:
    """Largest absolute differences between the two results: zero when they agree."""
    pixels = max(
        int(np.max(np.abs(a.astype(np.int16) - b.astype(np.int16))))
        for a, b in zip(mine.blurred_images, theirs.blurred_images)
    )
    return {
        "blurred pixels": pixels,
        "curve_y": float(np.max(np.abs(mine.curve_y - theirs.curve_y))),
        "auc": abs(mine.auc - float(theirs.auc)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3, help="with OpenBLAS limited to one thread")
    parser.add_argument(
        "--default-blas-repeats", type=int, default=1, help="with OpenBLAS's default threads (slow)"
    )
    args = parser.parse_args()
    from saliency.metrics import pic as pair

    np.trapz = np.trapezoid  # removed in numpy 2.4; PAIR still calls it
    image = demo_cat(SIZE)
    pred_func = edge_model(image)
    rng = np.random.default_rng(0)
    maps = {
        "smooth": gaussian_filter(rng.random((SIZE, SIZE)), SIZE / 16),
        "noisy": rng.random((SIZE, SIZE)),
    }
    mask = pic.random_mask((SIZE, SIZE), seed=1)
    pic.compute_pic(image, maps["smooth"], mask, pred_func, (0.1,))  # imports, first calls
    pair.compute_pic_metric(image, maps["smooth"], mask, pred_func, (0.1,))
    print(f"one {SIZE}x{SIZE} image, {len(pic.DEFAULT_THRESHOLDS)} thresholds, median seconds:")
    print(f"{'map':7} {'BLAS':>7} {'runs':>4} {'PAIR':>7} {'analysis.pic':>12} {'ratio':>6}")
    for map_name, saliency_map in maps.items():
        for limit, repeats in ((None, args.default_blas_repeats), (1, args.repeats)):
            if not repeats:
                continue
            with blas_threads(limit):
                medians, results = side_by_side(pair, image, saliency_map, mask, pred_func, repeats)
            print(
                f"{map_name:7} {limit or 'default':>7} {repeats:4} {medians['PAIR']:7.2f} "
                f"{medians['analysis.pic']:12.2f} {medians['PAIR'] / medians['analysis.pic']:6.1f}"
            )
            print(
                f"{'':21}inside analysis.pic: Qhull {medians['Qhull']:.2f} s + WebP {medians['WebP']:.2f} s "
                f"(PAIR: Qhull x 3 + the same WebP)"
            )
        differences = largest_differences(results["analysis.pic"], results["PAIR"])
        print("  largest differences: " + ", ".join(f"{k} {v:.3g}" for k, v in differences.items()))


if __name__ == "__main__":
    main()
