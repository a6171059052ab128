"""Vanilla gradient (Simonyan et al. 2014): the gradient of the target logit w.r.t. the input.

Per-channel attributions are d logit / d x, (N,3,H,W). The 2-D map is, by default, Simonyan
et al.'s saliency map max_c |grad_c|, the same as Captum's ``Saliency(abs=True)`` followed by a
max over channels. PAIR's ``GradientSaliency`` returns the raw (H,W,3) gradient, and its
examples show it through ``VisualizeImageGrayscale``: sum_c |grad_c| then a display-only
99th-percentile clip; ``channel_reduction="abs_sum"`` gives that map without the clip.
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
)


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


class VanillaGradient(SaliencyMethod):
    """Vanilla gradient maps (N,H,W) float32: max over channels of |d logit / d x| by default.
    Details are empty dicts (nothing to report per image)."""

    name = "vanilla_gradient"
    defaults = {"channel_reduction": "max_abs"}

    def attribute(
        self,
        model: torch.nn.Module,
        images: ImageBatch,
        targets: Targets,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> Attribution:
        """Per-channel gradients (N,3,H,W) float32 of each image's target logit."""
        device = model_device(model)
        x = as_image_batch(images, device)
        target = as_targets(targets, x.shape[0]).to(device)
        return Attribution(input_gradients(model, x, target, batch_size).cpu().numpy().astype(np.float32))


vanilla_gradient = VanillaGradient()
vanilla_gradient_attributions = vanilla_gradient.attributions
vanilla_gradient_result = vanilla_gradient.result
