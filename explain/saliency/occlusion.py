"""Occlusion (Zeiler & Fergus 2014): the drop of the target logit when a patch is hidden.

A ``patch_size`` x ``patch_size`` window over all channels is set to ``baseline_value`` at
top-left corners 0, stride, 2*stride, ... along each axis, as many as needed to reach the
far edge (ceil((H - patch) / stride) + 1 of them); a last window may stick out of the image
and is then cut off. Each window w gives d_w = f(x) - f(x with w occluded), f the target
logit. A pixel's attribution is, by default (``aggregation="mean"``), the mean of d_w over the
windows covering it: exactly Captum's ``Occlusion`` with ``sliding_window_shapes=(3,p,p)``,
``strides=(3,s,s)``, ``baselines=baseline_value`` (its attribution is the same on every
channel, and this map is that value, signed: > 0 where hiding the pixel lowers the logit).

PAIR's ``Occlusion.GetMask(size=15, value=0)`` has no stride: it tries every position with
the window wholly inside the image (stride 1) and *sums* d_w over the covering windows, the
same number on each channel. That is ``aggregation="sum"`` with ``stride=1``; it equals the
mean times the number of covering windows, (min(r, H-p) - max(0, r-p+1) + 1) times the same
for the column, i.e. p^2 = 225 inside the image but falling to 1 at the corners, so PAIR's
map fades towards the borders. At stride 1 Captum and PAIR use the same windows.

Both references default to stride 1: (H-p+1)(W-p+1) forward passes per image, 44,100 for
224x224 and p=15, about 12 minutes on a 2-core CPU. This platform's default stride is 8 (a
stride s cuts the passes by about s squared: 784 at stride 8 for 224x224); pass ``stride=1``
(per study, or in a call) to reproduce PAIR's and Captum's maps exactly.
"""

from __future__ import annotations

import math

import numpy as np

from ._lazy import F, torch
from .base import (
    DEFAULT_BATCH_SIZE,
    Attribution,
    ImageBatch,
    SaliencyMethod,
    Targets,
    as_image_batch,
    as_targets,
    model_device,
    target_logits,
)

AGGREGATIONS = ("mean", "sum")


def window_starts(size: int, patch_size: int, stride: int) -> list[int]:
    """First index of each window along an axis of ``size`` (Captum's placement)."""
    return [k * stride for k in range(math.ceil((size - patch_size) / stride) + 1)]


class Occlusion(SaliencyMethod):
    """Occlusion maps (N,H,W) float32: 15x15 patches of zeros at stride 8 (the platform's
    default; PAIR and Captum use stride 1), the logit drop averaged over the patches covering
    each pixel (Captum's convention). Details: the number of windows and the unoccluded
    target logit."""

    name = "occlusion"
    defaults = {"patch_size": 15, "stride": 8, "baseline_value": 0.0, "aggregation": "mean"}

    def attribute(
        self,
        model: torch.nn.Module,
        images: ImageBatch,
        targets: Targets,
        *,
        patch_size: int,
        stride: int,
        baseline_value: float,
        aggregation: str,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> Attribution:
        """Maps (N,H,W) float32 and per-image details. Occluded copies (of any images) go
        through the model ``batch_size`` at a time."""
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"unknown aggregation {aggregation!r}; use one of {', '.join(AGGREGATIONS)}")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        device = model_device(model)
        x = as_image_batch(images, device)
        n, _, height, width = x.shape
        if patch_size < 1 or patch_size > min(height, width):
            raise ValueError(
                f"patch_size must be between 1 and the image size {min(height, width)}, got {patch_size}"
            )
        if stride < 1 or stride > patch_size:
            # A stride longer than the patch would leave pixels that no window covers.
            raise ValueError(f"stride must be between 1 and patch_size ({patch_size}), got {stride}")
        target = as_targets(targets, n).to(device)

        row_starts = torch.tensor(window_starts(height, patch_size, stride), device=device)
        col_starts = torch.tensor(window_starts(width, patch_size, stride), device=device)
        n_rows, n_cols = len(row_starts), len(col_starts)
        ys = torch.arange(height, device=device)
        xs = torch.arange(width, device=device)

        original = target_logits(model, x, target, batch_size)
        drops = torch.empty(n * n_rows * n_cols, device=device)
        total_windows = drops.numel()
        for start in range(0, total_windows, batch_size):
            index = torch.arange(start, min(start + batch_size, total_windows), device=device)
            image = index // (n_rows * n_cols)
            top = row_starts[(index // n_cols) % n_rows]
            left = col_starts[index % n_cols]
            in_rows = (ys[None, :] >= top[:, None]) & (ys[None, :] < top[:, None] + patch_size)
            in_cols = (xs[None, :] >= left[:, None]) & (xs[None, :] < left[:, None] + patch_size)
            window = (in_rows[:, :, None] & in_cols[:, None, :])[:, None]  # (B,1,H,W)
            occluded = torch.where(
                window, torch.as_tensor(baseline_value, dtype=x.dtype, device=device), x[image]
            )
            drops[index] = original[image] - target_logits(model, occluded, target[image], batch_size)

        # Spreading each window's drop over its pixels is a transposed convolution of the grid of
        # drops with a patch of ones; the part sticking out of the image is cropped.
        ones = torch.ones(1, 1, patch_size, patch_size, device=device)
        grid = drops.reshape(n, 1, n_rows, n_cols)
        totals = F.conv_transpose2d(grid, ones, stride=stride)[:, 0, :height, :width]
        if aggregation == "mean":
            counts = F.conv_transpose2d(torch.ones_like(grid[:1]), ones, stride=stride)[:, 0, :height, :width]
            totals = totals / counts
        details = [{"windows": n_rows * n_cols, "target_logit": float(value)} for value in original.cpu()]
        return Attribution(totals.cpu().numpy().astype(np.float32), details)


occlusion = Occlusion()
occlusion_result = occlusion.result
