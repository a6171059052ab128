"""What the shared blur cache saves in one image's PIC (``analysis.pic.compute_pic``'s
``blur_cache``): SIC and AIC of three maps of one 224x224 image (the demo cat, 13 default
thresholds), each call blurring on its own against one cache for the image, as
``explain.diagnostic_services`` runs them. The model is benchmarks.pic's cheap numpy function,
so the times are the metric's. The two ways take turns; medians. The results are checked equal.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m benchmarks.pic_shared_blur [--repeats 3]
"""

import argparse
import statistics
import time

import numpy as np
from scipy.ndimage import gaussian_filter

from analysis import pic
from benchmarks.pic import SIZE, demo_cat, edge_model


def maps(size: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    smooth = gaussian_filter(rng.random((size, size)), 12)
    noisy = rng.random((size, size))
    rows, cols = np.mgrid[0:size, 0:size]
    centre = -((rows - size / 2) ** 2 + (cols - size / 2) ** 2).astype(np.float64)
    return {"smooth": smooth, "noisy": noisy, "centre": centre}


def one_image(image, saliency_maps, mask, sic, aic, shared: bool) -> tuple[float, list]:
    cache = {} if shared else None
    started = time.perf_counter()
    results = [
        pic.compute_pic(image, values, mask, score, keep_images=False, blur_cache=cache)
        for values in saliency_maps.values()
        for score in (sic, aic)
    ]
    return time.perf_counter() - started, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    image = demo_cat(SIZE)
    sic = edge_model(image)

    def aic(batch):
        return [1.0 if score > 0.5 else 0.0 for score in sic(batch)]

    mask = pic.random_mask((SIZE, SIZE), seed=0)
    saliency_maps = maps(SIZE)
    times = {"each call blurs": [], "one cache per image": []}
    for _ in range(args.repeats):
        alone, separate = one_image(image, saliency_maps, mask, sic, aic, shared=False)
        together, shared = one_image(image, saliency_maps, mask, sic, aic, shared=True)
        times["each call blurs"].append(alone)
        times["one cache per image"].append(together)
        for mine, theirs in zip(shared, separate):
            assert mine.auc == theirs.auc and np.array_equal(mine.curve_y, theirs.curve_y)
    for name, values in times.items():
        print(f"{name:22s} median {statistics.median(values):7.2f} s  runs {[round(v, 2) for v in values]}")
    ratio = statistics.median(times["each call blurs"]) / statistics.median(times["one cache per image"])
    print(f"speed-up {ratio:.2f}x (6 curves: SIC and AIC of 3 maps; results equal)")


if __name__ == "__main__":
    main()
