"""XRAI and IG on this machine: ours vs PAIR-code/saliency 0.2.1 and Captum 0.9.0, side by
side in one run, on the offline EfficientNet-Lite0 and skimage's chelsea at 224x224.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m benchmarks.xrai [--repeats 5] [--end-to-end 3]

Runs are interleaved (ours, theirs, ours, theirs, ...) so both see the same machine load;
every figure is a median, every ratio the median of the paired ratios. Outputs are checked
equal (XRAI's non-IG part) or close (IG, end-to-end XRAI) before any time is reported.
"""

import argparse
import statistics
import time

import numpy as np
import torch
from captum.attr import IntegratedGradients as CaptumIntegratedGradients
from PIL import Image as PILImage
from saliency.core import xrai as pair_xrai
from saliency.core.base import INPUT_OUTPUT_GRADIENTS

from catalogue.demo_data import demo_image_path
from explain import model_zoo, saliency
from explain.saliency.integrated_gradients import integrated_gradients_attributions
from explain.saliency.xrai import xrai_full
from explain.saliency.xrai_segments import xrai_segments

TARGET = 285  # Egyptian cat


def paired(ours, theirs, repeats: int) -> tuple[list[float], list[float], object, object]:
    ours_times, theirs_times, ours_out, theirs_out = [], [], None, None
    for _ in range(repeats):
        started = time.perf_counter()
        ours_out = ours()
        ours_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        theirs_out = theirs()
        theirs_times.append(time.perf_counter() - started)
    return ours_times, theirs_times, ours_out, theirs_out


def _line(who: str, times: list[float]) -> str:
    return (
        f"  {who:7s}: median {statistics.median(times):7.3f} s  (min {min(times):.3f}, max {max(times):.3f})"
    )


def report(label: str, ours: list[float], theirs: list[float], who: str) -> None:
    ratio = statistics.median([t / o for o, t in zip(ours, theirs)])
    print(label)
    print(_line("ours", ours))
    print(_line(who, theirs))
    print(f"  speed-up: {ratio:.1f}x (median of {len(ours)} paired ratios)")


def pair_call_model_function(model):
    """The adapter of PAIR's own PyTorch example (torch.autograd.grad on the input only)."""

    def call(x_batch, call_model_args=None, expected_keys=None):
        x = torch.tensor(np.asarray(x_batch), dtype=torch.float32).permute(0, 3, 1, 2).requires_grad_(True)
        outputs = model(x)[:, TARGET]
        (grads,) = torch.autograd.grad(outputs, x, grad_outputs=torch.ones_like(outputs))
        return {INPUT_OUTPUT_GRADIENTS: grads.permute(0, 2, 3, 1).numpy()}

    return call


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5, help="repeats of the fast comparisons")
    parser.add_argument("--end-to-end", type=int, default=3, help="repeats of the end-to-end XRAI comparison")
    args = parser.parse_args()

    model = model_zoo.build_efficientnet_lite0()
    lite0 = model_zoo.LoadedModel(model, 224, model_zoo.LITE0_MEAN, model_zoo.LITE0_STD, (), "")
    batch = lite0.preprocess(PILImage.open(demo_image_path("skimage:chelsea.png")))[None]
    image_hwc = batch[0].numpy().transpose(1, 2, 0)
    attribution = np.random.default_rng(0).normal(size=(224, 224)).astype(np.float32)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, EfficientNet-Lite0, chelsea 224x224\n"
    )

    # 1. XRAI without IG: segmentation + greedy selection, identical outputs.
    ours_t, pair_t, ours_out, pair_out = paired(
        lambda: xrai_full(attribution, xrai_segments(image_hwc)),
        lambda: pair_xrai.XRAI._xrai(attribution, pair_xrai._get_segments_felzenszwalb(image_hwc)),
        args.repeats,
    )
    np.testing.assert_allclose(ours_out[0], pair_out[0], rtol=1e-6)
    np.testing.assert_array_equal(ours_out[1], pair_out[1])
    report("XRAI non-IG part (segmentation + selection), outputs identical", ours_t, pair_t, "PAIR")

    segments, pair_masks = xrai_segments(image_hwc), pair_xrai._get_segments_felzenszwalb(image_hwc)
    ours_t, pair_t, _, _ = paired(
        lambda: xrai_full(attribution, segments),
        lambda: pair_xrai.XRAI._xrai(attribution, pair_masks),
        args.repeats,
    )
    report(
        "XRAI selection alone (segments computed once per image, reused for every model)",
        ours_t,
        pair_t,
        "PAIR",
    )

    # 2. IG against Captum on the same (unprepared) model: same rule (Gauss-Legendre), 50 steps,
    # zero baseline, the same batch size for both.
    for batch_size in (8, 25):

        def ours_ig(batch_size=batch_size):
            return integrated_gradients_attributions(
                model, batch, TARGET, steps=50, rule="gauss_legendre", batch_size=batch_size
            )[0]

        def captum_ig(batch_size=batch_size):
            return (
                CaptumIntegratedGradients(model)
                .attribute(
                    batch,
                    baselines=0.0,
                    target=TARGET,
                    n_steps=50,
                    method="gausslegendre",
                    internal_batch_size=batch_size,
                )
                .detach()
                .numpy()
            )

        ours_ig()  # warm-up: the first passes allocate
        ours_t, captum_t, ours_out, captum_out = paired(ours_ig, captum_ig, args.repeats)
        np.testing.assert_allclose(ours_out, captum_out, rtol=1e-2, atol=1e-4)
        report(
            f"Integrated Gradients, 50 steps, batch {batch_size} for both (ours vs Captum)",
            ours_t,
            captum_t,
            "Captum",
        )

    # 3. XRAI end to end with each library's defaults. Ours runs, as the worker does, on
    # prepare_for_gradients(model): batch norms folded into the convolutions.
    prepared = saliency.prepare_for_gradients(model, batch)

    def ours_xrai():
        return saliency.xrai(prepared, batch, [TARGET])[0]

    def pair_xrai_map():
        return pair_xrai.XRAI().GetMask(image_hwc, pair_call_model_function(model))

    ours_xrai()
    ours_t, pair_t, ours_out, pair_out = paired(ours_xrai, pair_xrai_map, args.end_to_end)
    correlation = np.corrcoef(ours_out.ravel(), pair_out.ravel())[0, 1]
    assert correlation >= 0.999, correlation
    report(
        "XRAI end to end, default parameters (2 x 100 IG steps; ours batch 8 on the prepared model, "
        f"PAIR batch 1); Pearson r of the maps {correlation:.4f}",
        ours_t,
        pair_t,
        "PAIR",
    )
    raw_t, pair_t, raw_out, _ = paired(lambda: saliency.xrai(model, batch, [TARGET])[0], pair_xrai_map, 1)
    print(
        f"  (ours on the unprepared model: {raw_t[0]:.3f} s, PAIR in the same pair of runs {pair_t[0]:.3f} s)"
    )


if __name__ == "__main__":
    main()
