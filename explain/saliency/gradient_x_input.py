"""Gradient x input (Shrikumar et al. 2016): x * d logit / d x, per channel.

The per-channel attributions equal Captum's ``InputXGradient``; PAIR has no such method. The
2-D map is sum_c |x_c * grad_c| by default (PAIR's grayscale convention, as for IG).
"""

import numpy as np
import torch

from .base import DEFAULT_BATCH_SIZE, SaliencyResult, as_image_batch, as_targets, model_device
from .vanilla_gradient import input_gradients, reduce_attribution_channels


def gradient_x_input_attributions(
    model: torch.nn.Module, images, targets, *, batch_size: int = DEFAULT_BATCH_SIZE
) -> np.ndarray:
    """Per-channel attributions (N,3,H,W) float32: each image times its target-logit gradient."""
    device = model_device(model)
    x = as_image_batch(images, device)
    target = as_targets(targets, x.shape[0]).to(device)
    return (input_gradients(model, x, target, batch_size) * x).cpu().numpy().astype(np.float32)


def gradient_x_input_result(
    model: torch.nn.Module,
    images,
    targets,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    channel_reduction: str = "abs_sum",
) -> SaliencyResult:
    """maps (N,H,W) float32; details are empty dicts (nothing to report per image)."""
    attributions = gradient_x_input_attributions(model, images, targets, batch_size=batch_size)
    maps = reduce_attribution_channels(attributions, channel_reduction)
    return SaliencyResult(maps=maps, details=[{} for _ in range(maps.shape[0])])


def gradient_x_input(model, images, targets, **params) -> np.ndarray:
    """Gradient x input maps (N,H,W) float32: sum over channels of |x * grad| by default."""
    return gradient_x_input_result(model, images, targets, **params).maps
