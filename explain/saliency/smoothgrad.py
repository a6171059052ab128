"""SmoothGrad (Smilkov et al. 2017) over a gradient-based method, noisy copies batched.

For each image x: stdev = stdev_spread * (max(x) - min(x)) over all its values; the per-channel
attribution A of the base method is computed at nsamples copies x + stdev * z_k, and the
result is mean_k A(x + stdev * z_k)^2 (``magnitude=True``) or mean_k A(...) (``False``).
This is PAIR's ``CoreSaliency.GetSmoothedMask`` with its defaults (0.15, 25 samples,
magnitude); PAIR shows the result through ``VisualizeImageGrayscale``, i.e. sum_c |.| (plus a
display-only percentile clip), hence ``channel_reduction="abs_sum"``.

Captum's ``NoiseTunnel`` computes the same means (``nt_type="smoothgrad_sq"`` for magnitude,
``"smoothgrad"`` otherwise) but takes an absolute ``stdevs`` shared by the whole batch,
defaults to 5 samples and stdev 1.0, and draws its noise from torch's global generator.

Noise: z_k (k < nsamples) are standard normals drawn in one call of shape (nsamples,3,H,W)
from a CPU ``torch.Generator`` seeded with ``seed``; every image uses the same z_k (scaled by
its own stdev), so an image's map does not depend on which other images share the call, and
it equals Captum's after ``torch.manual_seed(seed)`` (which draws the same numbers).
"""

from __future__ import annotations

import numpy as np

from ._lazy import torch
from .base import (
    DEFAULT_BATCH_SIZE,
    Attribution,
    ImageBatch,
    SaliencyMethod,
    Targets,
    as_image_batch,
    as_targets,
    model_device,
)
from .gradient_x_input import gradient_x_input
from .integrated_gradients import integrated_gradients
from .vanilla_gradient import vanilla_gradient

BASE_METHODS = {method.name: method for method in (vanilla_gradient, gradient_x_input, integrated_gradients)}
# Parameters that may be forwarded to each base method (batch_size is always smoothgrad's own).
BASE_PARAMS = {
    "vanilla_gradient": (),
    "gradient_x_input": (),
    "integrated_gradients": ("baseline", "steps", "rule"),
}


def smoothgrad_noise(image_shape, nsamples: int, seed: int) -> torch.Tensor:
    """Standard-normal noise (nsamples, *image_shape) float32 on the CPU, reproducible by seed."""
    generator = torch.Generator().manual_seed(int(seed))
    return torch.randn((nsamples, *image_shape), generator=generator, dtype=torch.float32)


class SmoothGrad(SaliencyMethod):
    """SmoothGrad maps (N,H,W) float32 with PAIR's defaults (vanilla gradient, 15% noise,
    25 samples, mean of squares), channels reduced by the sum of absolute values.

    Details: base_method, the noise stdev, and for IG the mean completeness gap over the
    noisy copies."""

    name = "smoothgrad"
    defaults = {
        "base_method": "vanilla_gradient",
        "stdev_spread": 0.15,
        "nsamples": 25,
        "magnitude": True,
        "seed": 0,
        "base_params": {},
        "channel_reduction": "abs_sum",
    }

    def attribute(
        self,
        model: torch.nn.Module,
        images: ImageBatch,
        targets: Targets,
        *,
        base_method: str,
        stdev_spread: float,
        nsamples: int,
        magnitude: bool,
        seed: int,
        base_params: dict | None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> Attribution:
        """Smoothed per-channel attributions (N,3,H,W) float32 and per-image details.

        At most ``batch_size`` noisy copies (of any images) are handed to the base method at
        once; for IG each copy costs ``steps`` more rows, which IG itself batches by
        ``batch_size``. The base method's parameters not in ``base_params`` take its defaults.
        """
        if base_method not in BASE_METHODS:
            raise ValueError(f"unknown base_method {base_method!r}; use one of {', '.join(BASE_METHODS)}")
        params = dict(base_params or {})
        unknown = sorted(set(params) - set(BASE_PARAMS[base_method]))
        if unknown:
            allowed = ", ".join(BASE_PARAMS[base_method]) or "none"
            raise ValueError(f"base_params {unknown} not accepted by {base_method} (allowed: {allowed})")
        if nsamples < 1:
            raise ValueError("nsamples must be >= 1")
        if stdev_spread < 0:
            raise ValueError("stdev_spread must be >= 0")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")

        base = BASE_METHODS[base_method]
        device = model_device(model)
        x = as_image_batch(images, device)
        n = x.shape[0]
        target = as_targets(targets, n)
        flat = x.reshape(n, -1)
        stdev = stdev_spread * (flat.amax(dim=1) - flat.amin(dim=1))
        noise = smoothgrad_noise(x.shape[1:], nsamples, seed).to(device)

        total = torch.zeros(x.shape, dtype=torch.float64)
        gaps: list[list[float]] = [[] for _ in range(n)]
        pairs = [(i, k) for i in range(n) for k in range(nsamples)]
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start : start + batch_size]
            rows = torch.tensor([i for i, _ in chunk])
            samples = torch.tensor([k for _, k in chunk])
            noisy = (
                x[rows.to(device)] + stdev[rows.to(device)][:, None, None, None] * noise[samples.to(device)]
            )
            attributions, details = base.attributions(
                model, noisy, target[rows], batch_size=batch_size, **params
            )
            values = torch.from_numpy(attributions).double()
            total.index_add_(0, rows, values * values if magnitude else values)
            for (i, _), detail in zip(chunk, details):
                if "completeness_gap" in detail:
                    gaps[i].append(detail["completeness_gap"])

        result = (total / nsamples).numpy().astype(np.float32)
        details = []
        for i in range(n):
            detail = {"base_method": base_method, "stdev": float(stdev[i])}
            if gaps[i]:
                # IG's completeness gap at the noisy copies, averaged.
                detail["completeness_gap_mean"] = (
                    float(np.nanmean(gaps[i])) if np.isfinite(gaps[i]).any() else None
                )
            details.append(detail)
        return Attribution(result, details)


smoothgrad = SmoothGrad()
smoothgrad_attributions = smoothgrad.attributions
smoothgrad_result = smoothgrad.result
