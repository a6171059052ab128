"""Gradient x input (Shrikumar et al. 2016): x * d logit / d x, per channel.

The per-channel attributions equal Captum's ``InputXGradient``; PAIR has no such method. The
2-D map is sum_c |x_c * grad_c| by default (PAIR's grayscale convention, as for IG).
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
from .vanilla_gradient import input_gradients


class GradientXInput(SaliencyMethod):
    """Gradient x input maps (N,H,W) float32: sum over channels of |x * grad| by default.
    Details are empty dicts (nothing to report per image)."""

    name = "gradient_x_input"
    defaults = {"channel_reduction": "abs_sum"}

    def attribute(
        self,
        model: torch.nn.Module,
        images: ImageBatch,
        targets: Targets,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> Attribution:
        """Per-channel attributions (N,3,H,W) float32: each image times its target-logit gradient."""
        device = model_device(model)
        x = as_image_batch(images, device)
        target = as_targets(targets, x.shape[0]).to(device)
        return Attribution(
            (input_gradients(model, x, target, batch_size) * x).cpu().numpy().astype(np.float32)
        )


gradient_x_input = GradientXInput()
gradient_x_input_attributions = gradient_x_input.attributions
gradient_x_input_result = gradient_x_input.result
