"""Integrated Gradients: model passes spent by a completeness target against fixed steps.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m benchmarks.ig_steps [--max-gap 0.05]

On the offline EfficientNet-Lite0 and the six demo images at 224x224, explaining each image's
top class from a black baseline (the baseline that leaves the largest gaps): the completeness
gap |sum(attribution) - (f(x) - f(black))| / |f(x) - f(black)| and the model passes (path
points plus the two end points, every attempt of the doubling counted) of

- fixed 50, 100 and 200 points with PAIR's rule and with Gauss-Legendre;
- a target (``steps={"max_gap": ..., "initial": 16, "limit": 512}``) with Gauss-Legendre.

Counts, not times: a model pass costs the same whichever rule chose it, so passes are the
fair measure of work on any machine.
"""

import argparse
import statistics

import torch
from PIL import Image as PILImage

from catalogue.demo_data import DEMO_IMAGES, demo_image_path
from explain import model_zoo
from explain.saliency.integrated_gradients import integrated_gradients_attributions

FIXED = (50, 100, 200)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-gap", type=float, default=0.05)
    parser.add_argument("--limit", type=int, default=512)
    args = parser.parse_args()
    model = model_zoo.build_efficientnet_lite0()
    lite0 = model_zoo.LoadedModel(model, 224, model_zoo.LITE0_MEAN, model_zoo.LITE0_STD, (), "")
    black = [(0.0 - m) / s for m, s in zip(model_zoo.LITE0_MEAN, model_zoo.LITE0_STD)]
    target_steps = {"max_gap": args.max_gap, "initial": 16, "limit": args.limit}
    print(f"torch {torch.__version__}, EfficientNet-Lite0, black baseline, target gap {args.max_gap:.0%}\n")
    header = ["image"] + [f"{rule[:5]} {s}" for rule in ("pair", "gauss_legendre") for s in FIXED]
    print(f"{'':13s}" + "".join(f"{h:>12s}" for h in header[1:]) + f"{'target':>22s}")
    rows = []
    for name, source, *_ in DEMO_IMAGES:
        x = lite0.preprocess(PILImage.open(demo_image_path(source)).convert("RGB"))[None]
        with torch.no_grad():
            top = int(model(x).argmax())
        gaps = []
        for rule in ("pair", "gauss_legendre"):
            for steps in FIXED:
                _, details = integrated_gradients_attributions(
                    model, x, top, baseline="black", black_value=black, steps=steps, rule=rule
                )
                gaps.append(details[0]["completeness_gap"])
        _, details = integrated_gradients_attributions(
            model, x, top, baseline="black", black_value=black, steps=target_steps, rule="gauss_legendre"
        )
        adaptive = details[0]
        rows.append((gaps, adaptive))
        cells = "".join(f"{gap:12.1%}" for gap in gaps)
        print(
            f"{name:13s}{cells}   {adaptive['completeness_gap']:6.1%} at {adaptive['steps_used']:3d} "
            f"({adaptive['model_passes']} passes)"
        )
    passes = [adaptive["model_passes"] for _, adaptive in rows]
    print(f"\nmodel passes per image: fixed {', '.join(f'{s}: {s + 2}' for s in FIXED)}")
    print(
        f"target {args.max_gap:.0%}: median {statistics.median(passes):.0f}, "
        f"mean {statistics.mean(passes):.0f}, "
        f"max {max(passes)}; median / fixed 100 = {statistics.median(passes) / 102:.2f}, "
        f"mean / fixed 200 = {statistics.mean(passes) / 202:.2f}"
    )
    reached = sum(adaptive["completeness_gap"] <= args.max_gap for _, adaptive in rows)
    fixed_reached = {
        label: sum(gaps[k] <= args.max_gap for gaps, _ in rows)
        for k, label in enumerate(f"{r} {s}" for r in ("pair", "gauss_legendre") for s in FIXED)
    }
    print(
        f"images within {args.max_gap:.0%}: target {reached}/{len(rows)}; "
        + ", ".join(f"{label} {count}/{len(rows)}" for label, count in fixed_reached.items())
    )


if __name__ == "__main__":
    main()
