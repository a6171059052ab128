"""Grad-CAM (Selvaraju et al. 2017) on a convolutional layer, upsampled to the input.

For the layer's output A (N,K,h,w): w_k = mean over (h,w) of d logit_target / d A_k;
cam = ReLU(sum_k w_k A_k), (N,h,w), upsampled to (H,W) with bilinear interpolation
(``align_corners=False``). No normalisation, so values stay in logit-gradient units.

"Layer" is a dotted module name from ``model.named_modules()``; its forward *output* is used
(as hooks see it, before any later in-place op, e.g. a following ReLU(inplace=True)). By
default it is the module that finishes last among those whose output is a 4-D tensor with
more than one spatial position: "layer4" on torchvision ResNets (the last block's output,
after the skip connection and ReLU, not the bare "layer4.1.conv2"), "features" on
torchvision EfficientNet/MobileNet/DenseNet/ConvNeXt, "avgpool" on torchvision VGG at
224x224 (an adaptive pool to 7x7, there the identity; "features" at other sizes), "Mixed_7c"
on Inception v3 (PAIR's example), "bn2" on timm EfficientNets. Outputs of 1x1 (global pools)
are skipped as they give a constant map, so on inputs so small that the last block is 1x1 an
earlier layer is found; so are 4-D tensors whose two last axes do not shrink alike (attention
tensors, channels-last maps). Transformers have no such layer: a timm ViT gives
"patch_embed.proj", meaningless for Grad-CAM.

References: Captum's ``LayerGradCam(model, layer).attribute(x, target, relu_attributions=True)``
then ``LayerAttribution.interpolate(cam, (H,W), interpolate_mode="bilinear")`` is the same
map; note Captum's own defaults are ``relu_attributions=False`` and ``interpolate_mode=
"nearest"`` (``F.interpolate`` with ``align_corners`` unset, i.e. False for bilinear). PAIR's
``GradCam.GetMask`` (should_resize=True) computes the same cam but divides it by its max and
resizes it with skimage (order 1, ``mode="reflect"``), which equals torch's bilinear except
within half a layer cell of the border (mirroring instead of clamping), and by that scale.
"""

from __future__ import annotations

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
)

INTERPOLATIONS = ("bilinear", "bicubic", "nearest")


def _feature_map(output, height: int, width: int) -> bool:
    """Whether ``output`` looks like an (N,K,h,w) feature map of an (H,W) input: 4-D, more than
    one position, and both axes shrunk by about the same factor. The last test rejects other
    4-D tensors, e.g. a ViT's attention tensors (N,heads,tokens,dim) or channels-last maps."""
    if not torch.is_tensor(output) or output.ndim != 4:
        return False
    h, w = output.shape[2], output.shape[3]
    if h * w <= 1 or h > height or w > width:
        return False
    ratio = (height / h) / (width / w)
    return 0.8 <= ratio <= 1.25


def find_last_conv_layer(model: torch.nn.Module, input_shape) -> str:
    """Dotted name of the module finishing last, in one forward pass on zeros of
    ``input_shape`` ((3,H,W) or (N,3,H,W)), among those whose output is an (N,K,h,w) feature
    map larger than 1x1 (see ``_feature_map``)."""
    shape = tuple(input_shape)
    if len(shape) == 3:
        shape = (1, *shape)
    height, width = shape[2], shape[3]
    found: list[str] = []
    handles = []
    for name, module in model.named_modules():
        if name:  # the model itself returns logits

            def hook(module, inputs, output, name=name):
                if _feature_map(output, height, width):
                    found.append(name)

            handles.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(torch.zeros(shape, device=model_device(model)))
    finally:
        for handle in handles:
            handle.remove()
    if not found:
        raise ValueError(
            f"no module of this model outputs a 4-D feature map larger than 1x1 for input {shape}; "
            "Grad-CAM needs a convolutional layer"
        )
    return found[-1]


def _layer_module(model: torch.nn.Module, layer: str) -> torch.nn.Module:
    modules = dict(model.named_modules())
    if not layer or layer not in modules:
        raise ValueError(f"unknown layer {layer!r}: not a module name in model.named_modules()")
    return modules[layer]


def _cam_batch(model, module, name: str, x: torch.Tensor, target: torch.Tensor, relu: bool):
    """Grad-CAM at the layer's resolution, (B,1,h,w), for one batch, and the layer's [K,h,w]."""
    captured: list[torch.Tensor] = []

    def hook(module, inputs, output):
        if not torch.is_tensor(output) or output.ndim != 4:
            shape = tuple(output.shape) if torch.is_tensor(output) else type(output).__name__
            raise ValueError(f"layer {name!r} must output a 4-D tensor (N,K,h,w), got {shape}")
        # Keep the output as it is now; later modules get a copy, so in-place ops downstream
        # (ReLU(inplace=True)) cannot change the activations or gradients we read. A module
        # called more than once in a forward pass is taken at its last call.
        captured[:] = [output]
        return output.clone()

    handle = module.register_forward_hook(hook)
    try:
        # The input requires grad so that the layer's output is in the graph even when the
        # model's parameters are frozen.
        inputs = x.detach().requires_grad_(True)
        with torch.enable_grad():
            logits = model(inputs)
            if not captured:
                raise ValueError(f"layer {name!r} was not called in the model's forward pass")
            selected = logits.gather(1, target[:, None].to(logits.device)).sum()
            (gradients,) = torch.autograd.grad(selected, captured[0])
    finally:
        handle.remove()
    activations = captured[0].detach()
    weights = gradients.mean(dim=(2, 3), keepdim=True)
    cam = (weights * activations).sum(dim=1, keepdim=True)
    return (F.relu(cam) if relu else cam), [int(size) for size in activations.shape[1:]]


class GradCam(SaliencyMethod):
    """Grad-CAM maps (N,H,W) float32 on the last convolutional layer by default, ReLU'd and
    upsampled bilinearly to the input size; details: the layer used and its output shape
    [K,h,w].

    ``layer=None`` finds the layer with ``find_last_conv_layer``; ``relu=False`` keeps the
    negative evidence (Captum's default); ``interpolation`` is 'bilinear', 'bicubic' (both
    with align_corners=False) or 'nearest' (Captum's default).
    """

    name = "grad_cam"
    defaults = {"layer": None, "relu": True, "interpolation": "bilinear"}
    needs_layer = True

    def attribute(
        self,
        model: torch.nn.Module,
        images: ImageBatch,
        targets: Targets,
        *,
        layer: str | None,
        relu: bool,
        interpolation: str,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> Attribution:
        """Maps (N,H,W) float32, the layer's cam upsampled, and per-image details."""
        if interpolation not in INTERPOLATIONS:
            raise ValueError(
                f"unknown interpolation {interpolation!r}; use one of {', '.join(INTERPOLATIONS)}"
            )
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        device = model_device(model)
        x = as_image_batch(images, device)
        n, _, height, width = x.shape
        target = as_targets(targets, n).to(device)
        name = layer if layer is not None else find_last_conv_layer(model, x.shape[1:])
        module = _layer_module(model, name)

        maps = []
        layer_shape: list[int] = []
        for start in range(0, n, batch_size):
            rows = slice(start, start + batch_size)
            cam, layer_shape = _cam_batch(model, module, name, x[rows], target[rows], relu)
            options = {} if interpolation == "nearest" else {"align_corners": False}
            upsampled = F.interpolate(cam, size=(height, width), mode=interpolation, **options)
            maps.append(upsampled[:, 0].cpu())
        details = [{"layer": name, "layer_shape": layer_shape} for _ in range(n)]
        return Attribution(torch.cat(maps).numpy().astype(np.float32), details)


grad_cam = GradCam()
grad_cam_result = grad_cam.result
