"""The saliency engine: pure torch + numpy, no Django.

    from explain import saliency
    maps = saliency.compute("xrai", model, images, targets)        # (N,H,W) float32
    maps = saliency.integrated_gradients(model, images, targets, steps=50)
    result = saliency.xrai.result(model, images, targets)          # .maps, .details
    saliency.registry.method_params("xrai", {"steps": 50})         # defaults + overrides

``model``: eval-mode torch.nn.Module mapping (N,3,H,W) floats to logits (N,C) (a model with
several heads: ``compute(..., head=NAME_OR_POSITION)`` or ``heads.select_head``);
``images``: (N,3,H,W) already preprocessed for that model; ``targets``: a class index per
image (or one int for all); the explained value is the target's logit.

One module per method, each a ``SaliencyMethod`` (``base``) declaring its name, defaults and
whether it needs a model layer, with one attribution function; ``registry`` maps names to
methods. Importing this package does not import torch, numba or scikit-image (each is
imported at a method's first run, see ``_lazy``), so that web processes can use the registry.
This package imports its modules eagerly rather than through a PEP 562 ``__getattr__``: the
public functions share their modules' names (``saliency.xrai`` is the function, the module is
``explain.saliency.xrai``), and a submodule imported after the package would otherwise
replace the function of the same name on the package.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import heads, registry
from ._lazy import torch
from .base import ImageBatch, SaliencyMethod, SaliencyResult, Targets
from .blur_ig import blur_ig, blur_ig_result
from .grad_cam import find_last_conv_layer, grad_cam, grad_cam_result
from .gradient_x_input import gradient_x_input, gradient_x_input_result
from .guided_ig import guided_ig, guided_ig_result
from .heads import select_head
from .integrated_gradients import integrated_gradients, integrated_gradients_result
from .model_prep import fold_batch_norms, prepare_for_gradients
from .occlusion import occlusion, occlusion_result
from .registry import LAYER_METHODS, METHODS
from .smoothgrad import smoothgrad, smoothgrad_result
from .vanilla_gradient import vanilla_gradient, vanilla_gradient_result
from .xrai import xrai, xrai_result
from .xrai_segments import Segments, xrai_segments


def compute_result(
    method: str, model, images: ImageBatch, targets: Targets, *, head: int | str | None = None, **params
) -> SaliencyResult:
    """Like compute, also returning per-image details (completeness, XRAI ranks)."""
    try:
        implementation = METHODS[method]
    except KeyError:
        raise ValueError(f"unknown saliency method {method!r}; known: {', '.join(sorted(METHODS))}") from None
    if head is not None:  # a multi-head model: explain that head's logits (heads.select_head)
        model = select_head(model, head)
    return implementation.result(model, images, targets, **params)


def compute(
    method: str, model, images: ImageBatch, targets: Targets, *, head: int | str | None = None, **params
) -> np.ndarray:
    """Saliency maps (N,H,W) float32 for ``method`` with its defaults overridden by params.
    ``head``: for a model with several heads, the one explained (a name or a position);
    ``targets`` then count that head's classes."""
    return compute_result(method, model, images, targets, head=head, **params).maps


def compute_for_targets(
    method: str, model, image: ImageBatch, targets: Sequence[int], *, head: int | str | None = None, **params
) -> np.ndarray:
    """Maps of one image for several classes in one call, (T,H,W): e.g. the shape and the
    texture class of a cue-conflict image. image: (3,H,W) or (1,3,H,W)."""
    batch = torch.as_tensor(np.asarray(image) if not torch.is_tensor(image) else image)
    if batch.ndim == 3:
        batch = batch[None]
    if batch.ndim != 4 or batch.shape[0] != 1:
        raise ValueError(f"expected one image of shape (3,H,W), got {tuple(batch.shape)}")
    targets = list(targets)
    return compute(method, model, batch.expand(len(targets), -1, -1, -1), targets, head=head, **params)


__all__ = [
    "ImageBatch",
    "LAYER_METHODS",
    "METHODS",
    "SaliencyMethod",
    "SaliencyResult",
    "Segments",
    "Targets",
    "blur_ig",
    "blur_ig_result",
    "compute",
    "compute_for_targets",
    "compute_result",
    "find_last_conv_layer",
    "fold_batch_norms",
    "grad_cam",
    "grad_cam_result",
    "gradient_x_input",
    "gradient_x_input_result",
    "heads",
    "guided_ig",
    "guided_ig_result",
    "integrated_gradients",
    "integrated_gradients_result",
    "occlusion",
    "occlusion_result",
    "prepare_for_gradients",
    "registry",
    "select_head",
    "smoothgrad",
    "smoothgrad_result",
    "vanilla_gradient",
    "vanilla_gradient_result",
    "xrai",
    "xrai_result",
    "xrai_segments",
]
