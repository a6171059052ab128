"""Blur Integrated Gradients (Xu et al. 2020, arXiv:2004.03383), discretised as in
PAIR-code/saliency 0.2.1 so that maps are comparable with the literature.

The path runs from the image x (sigma = 0) to its Gaussian blur at the largest sigma,
which plays the part of IG's baseline. With sigma_k = k * max_sigma / steps for
k = 0..steps (or sqrt(k * max_sigma / steps) when ``sqrt``), PAIR's attribution is

    -sum_{k<steps} (sigma_{k+1} - sigma_k) * D_k * grad f(blur(x, sigma_k)),
    D_k = (blur(x, sigma_k + grad_step) - blur(x, sigma_k)) / grad_step,

a left Riemann sum in sigma with a forward finite difference for d blur / d sigma.
Summing over the path from x to the blurred image gives f(blurred) - f(x); the leading
minus turns it into f(x) - f(blurred), so completeness compares the attribution sum with
f(x) - f(blur(x, sigma_steps)). Note sigma_steps is max_sigma, but sqrt(max_sigma) when
``sqrt`` is set. Each image's details report both sides and the relative gap.

The blur is scipy.ndimage.gaussian_filter's, as PAIR calls it: per channel, over the two
spatial axes, zero outside the image (mode "constant"), kernel truncated at
int(4 sigma + 0.5) pixels, first along rows then along columns, each pass rounded to the
image's float32. Here each pass is a product with a banded kernel matrix, computed in
float64 on the model's device, which gives scipy's float32 numbers (a differently ordered
float64 sum rarely rounds to another float32). All blurred path points go through the
model in batches of ``batch_size``; the result does not depend on it.
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
    target_logit_gradients,
    target_logits,
)

# scipy.ndimage.gaussian_filter's default kernel truncation, in standard deviations.
TRUNCATE = 4.0


def blur_sigmas(max_sigma: float, steps: int, sqrt: bool = False) -> list[float]:
    """PAIR's schedule: steps + 1 sigmas from 0 to max_sigma (to sqrt(max_sigma) if sqrt)."""
    sigmas = [float(k) * max_sigma / float(steps) for k in range(steps + 1)]
    return [float(np.sqrt(s)) for s in sigmas] if sqrt else sigmas


def _gaussian_weights(sigma: float) -> np.ndarray:
    """Normalised 1-D Gaussian of radius int(TRUNCATE * sigma + 0.5), as scipy builds it."""
    radius = int(TRUNCATE * float(sigma) + 0.5)
    offsets = np.arange(-radius, radius + 1)
    weights = np.exp(-0.5 / (sigma * sigma) * offsets**2)
    return weights / weights.sum()


def _blur_matrix(size: int, sigma: float) -> np.ndarray:
    """(size, size) float64 M with (M @ v)[i] = sum_j w[j - i] v[j], zero outside [0, size)."""
    if sigma <= 1e-15:  # scipy skips such axes; PAIR returns the image itself for sigma 0
        return np.eye(size)
    weights = _gaussian_weights(sigma)
    radius = (weights.size - 1) // 2
    index = np.arange(size)
    offset = index[None, :] - index[:, None]
    inside = np.abs(offset) <= radius
    # scipy correlates with the reversed kernel; it is symmetric, but keep the orientation.
    return np.where(inside, weights[::-1][np.clip(offset + radius, 0, 2 * radius)], 0.0)


def gaussian_blur(images: torch.Tensor, sigmas) -> torch.Tensor:
    """Blur row b of ``images`` (B,C,H,W) float32 with ``sigmas[b]``, spatially, per channel.

    Same numbers as scipy.ndimage.gaussian_filter(image_hwc, [s, s, 0], mode="constant")
    on the float32 image (to the last float32 bit in all but rare cases).
    """
    _, _, height, width = images.shape
    device = images.device
    rows = torch.from_numpy(np.stack([_blur_matrix(height, s) for s in sigmas])).to(device)
    cols = torch.from_numpy(np.stack([_blur_matrix(width, s) for s in sigmas])).to(device)
    along_rows = torch.matmul(rows[:, None], images.to(torch.float64)).to(torch.float32)
    along_cols = torch.matmul(along_rows.to(torch.float64), cols.transpose(1, 2)[:, None])
    return along_cols.to(torch.float32)


def _check_parameters(max_sigma: float, steps: int, grad_step: float, batch_size: int) -> None:
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    if not max_sigma > 0:
        raise ValueError(f"max_sigma must be > 0, got {max_sigma!r}")
    if not grad_step > 0:
        raise ValueError(f"grad_step must be > 0, got {grad_step!r}")
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")


class BlurIG(SaliencyMethod):
    """Blur IG maps (N,H,W) float32; defaults are PAIR's (max_sigma 50, 100 steps,
    grad_step 0.01) with channels reduced by the sum of absolute values."""

    name = "blur_ig"
    defaults = {
        "max_sigma": 50.0,
        "steps": 100,
        "grad_step": 0.01,
        "sqrt": False,
        "channel_reduction": "abs_sum",
    }

    def attribute(
        self,
        model: torch.nn.Module,
        images: ImageBatch,
        targets: Targets,
        *,
        max_sigma: float,
        steps: int,
        grad_step: float,
        sqrt: bool,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> Attribution:
        """Per-channel attributions (N,3,H,W) float32 and per-image completeness details.

        At most ``batch_size`` blurred images go through the model at once.
        """
        _check_parameters(max_sigma, steps, grad_step, batch_size)
        steps = int(steps)
        device = model_device(model)
        x = as_image_batch(images, device)
        n = x.shape[0]
        target = as_targets(targets, n).to(device)
        sigmas = blur_sigmas(max_sigma, steps, sqrt)
        # PAIR weights every step of a batch with its last step's sigma difference, which only
        # matters for the uneven sqrt schedule; each step's own difference is used here.
        widths = [sigmas[k + 1] - sigmas[k] for k in range(steps)]

        pairs = [(i, k) for i in range(n) for k in range(steps)]
        totals = torch.zeros_like(x)
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start : start + batch_size]
            rows = torch.tensor([i for i, _ in chunk], device=device)
            points = gaussian_blur(x[rows], [sigmas[k] for _, k in chunk])
            nudged = gaussian_blur(x[rows], [sigmas[k] + grad_step for _, k in chunk])
            derivative = (nudged - points) / grad_step
            width = torch.tensor([widths[k] for _, k in chunk], dtype=x.dtype, device=device)
            grads = target_logit_gradients(model, points, target[rows])
            totals.index_add_(0, rows, width[:, None, None, None] * (derivative * grads))
        attributions = (-totals).detach()

        baseline = gaussian_blur(x, [sigmas[-1]] * n)
        ends = target_logits(model, torch.cat([x, baseline]), torch.cat([target, target]), batch_size)
        output_difference = (ends[:n] - ends[n:]).cpu().numpy().astype(np.float64)
        attribution_sum = attributions.to(torch.float64).sum(dim=(1, 2, 3)).cpu().numpy()
        details = []
        for total, expected in zip(attribution_sum, output_difference):
            gap = abs(total - expected) / abs(expected) if expected != 0 else float("nan")
            details.append(
                {
                    "attribution_sum": float(total),
                    "output_difference": float(expected),
                    "completeness_gap": float(gap),
                    "baseline_sigma": float(sigmas[-1]),
                }
            )
        return Attribution(attributions.cpu().numpy().astype(np.float32), details)


blur_ig = BlurIG()
blur_ig_attributions = blur_ig.attributions
blur_ig_result = blur_ig.result
