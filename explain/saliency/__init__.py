"""The saliency engine: pure torch + numpy, no Django.

    from explain import saliency
    maps = saliency.compute("xrai", model, images, targets)        # (N,H,W) float32
    maps = saliency.integrated_gradients(model, images, targets, steps=50)

``model``: eval-mode torch.nn.Module mapping (N,3,H,W) floats to logits (N,C);
``images``: (N,3,H,W) already preprocessed for that model; ``targets``: a class index per
image (or one int for all); the explained value is the target's logit.
"""

from collections.abc import Callable

import numpy as np

from .base import SaliencyResult
from .blur_ig import blur_ig, blur_ig_result
from .grad_cam import find_last_conv_layer, grad_cam, grad_cam_result
from .gradient_x_input import gradient_x_input, gradient_x_input_result
from .guided_ig import guided_ig, guided_ig_result
from .integrated_gradients import integrated_gradients, integrated_gradients_result
from .model_prep import fold_batch_norms, prepare_for_gradients
from .occlusion import occlusion, occlusion_result
from .smoothgrad import smoothgrad, smoothgrad_result
from .vanilla_gradient import vanilla_gradient, vanilla_gradient_result
from .xrai import xrai, xrai_result
from .xrai_segments import Segments, xrai_segments

# Method name as stored in the database -> function returning a SaliencyResult.
METHODS: dict[str, Callable[..., SaliencyResult]] = {
    "xrai": xrai_result,
    "integrated_gradients": integrated_gradients_result,
    "vanilla_gradient": vanilla_gradient_result,
    "smoothgrad": smoothgrad_result,
    "gradient_x_input": gradient_x_input_result,
    "blur_ig": blur_ig_result,
    "guided_ig": guided_ig_result,
    "grad_cam": grad_cam_result,
    "occlusion": occlusion_result,
}

# Methods that read a named layer of the model; they get the model as it is, while the
# others can run on prepare_for_gradients(model).
LAYER_METHODS = frozenset({"grad_cam"})


def compute_result(method: str, model, images, targets, **params) -> SaliencyResult:
    """Like compute, also returning per-image details (completeness, XRAI ranks)."""
    try:
        function = METHODS[method]
    except KeyError:
        raise ValueError(f"unknown saliency method {method!r}; known: {', '.join(sorted(METHODS))}") from None
    return function(model, images, targets, **params)


def compute(method: str, model, images, targets, **params) -> np.ndarray:
    """Saliency maps (N,H,W) float32 for ``method`` with its defaults overridden by params."""
    return compute_result(method, model, images, targets, **params).maps


def compute_for_targets(method: str, model, image, targets, **params) -> np.ndarray:
    """Maps of one image for several classes in one call, (T,H,W): e.g. the shape and the
    texture class of a cue-conflict image. image: (3,H,W) or (1,3,H,W)."""
    import torch

    batch = torch.as_tensor(np.asarray(image) if not torch.is_tensor(image) else image)
    if batch.ndim == 3:
        batch = batch[None]
    if batch.ndim != 4 or batch.shape[0] != 1:
        raise ValueError(f"expected one image of shape (3,H,W), got {tuple(batch.shape)}")
    targets = list(targets)
    return compute(method, model, batch.expand(len(targets), -1, -1, -1), targets, **params)


__all__ = [
    "LAYER_METHODS",
    "METHODS",
    "SaliencyResult",
    "Segments",
    "blur_ig",
    "compute",
    "compute_for_targets",
    "compute_result",
    "find_last_conv_layer",
    "fold_batch_norms",
    "prepare_for_gradients",
    "grad_cam",
    "gradient_x_input",
    "guided_ig",
    "integrated_gradients",
    "occlusion",
    "smoothgrad",
    "vanilla_gradient",
    "xrai",
    "xrai_segments",
]
