"""Vanilla gradient (Simonyan et al. 2014): the gradient of the target logit w.r.t. the input.

Per-channel attributions are d logit / d x, (N,3,H,W). The 2-D map is, by default, Simonyan
et al.'s saliency map max_c |grad_c|, the same as Captum's ``Saliency(abs=True)`` followed by a
max over channels. PAIR's ``GradientSaliency`` returns the raw (H,W,3) gradient, and its
examples show it through ``VisualizeImageGrayscale``: sum_c |grad_c| then a display-only
99th-percentile clip; ``channel_reduction="abs_sum"`` gives that map without the clip.
"""

import numpy as np
import torch

from .base import (
    DEFAULT_BATCH_SIZE,
    SaliencyResult,
    as_image_batch,
    as_targets,
    model_device,
    reduce_channels,
    target_logit_gradients,
)

CHANNEL_REDUCTIONS = ("max_abs", "abs_sum", "sum", "max")


def reduce_attribution_channels(attributions: np.ndarray, how: str) -> np.ndarray:
    """(N,C,H,W) -> (N,H,W) float32: 'max_abs' (max_c |a_c|) or one of base.reduce_channels'."""
    if how == "max_abs":
        return np.abs(attributions).max(axis=1).astype(np.float32)
    if how not in CHANNEL_REDUCTIONS:
        raise ValueError(f"unknown channel_reduction {how!r}; use one of {', '.join(CHANNEL_REDUCTIONS)}")
    return reduce_channels(attributions, how).astype(np.float32)


def input_gradients(
    model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor, batch_size: int
) -> torch.Tensor:
    """d logit_target / d x for x (N,3,H,W) on the model's device, batch_size rows at a time."""
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    chunks = [
        target_logit_gradients(model, x[start : start + batch_size], target[start : start + batch_size])
        for start in range(0, x.shape[0], batch_size)
    ]
    return torch.cat(chunks)


def vanilla_gradient_attributions(
    model: torch.nn.Module, images, targets, *, batch_size: int = DEFAULT_BATCH_SIZE
) -> np.ndarray:
    """Per-channel gradients (N,3,H,W) float32 of each image's target logit."""
    device = model_device(model)
    x = as_image_batch(images, device)
    target = as_targets(targets, x.shape[0]).to(device)
    return input_gradients(model, x, target, batch_size).cpu().numpy().astype(np.float32)


def vanilla_gradient_result(
    model: torch.nn.Module,
    images,
    targets,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    channel_reduction: str = "max_abs",
) -> SaliencyResult:
    """maps (N,H,W) float32; details are empty dicts (nothing to report per image)."""
    attributions = vanilla_gradient_attributions(model, images, targets, batch_size=batch_size)
    maps = reduce_attribution_channels(attributions, channel_reduction)
    return SaliencyResult(maps=maps, details=[{} for _ in range(maps.shape[0])])


def vanilla_gradient(model, images, targets, **params) -> np.ndarray:
    """Vanilla gradient maps (N,H,W) float32: max over channels of |d logit / d x| by default."""
    return vanilla_gradient_result(model, images, targets, **params).maps
