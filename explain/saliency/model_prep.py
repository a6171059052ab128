"""Making a classifier cheaper to differentiate, without changing what it computes.

In eval mode a batch norm right after a convolution is a fixed per-channel affine map, so it
can be folded into the convolution's weights and bias. On a CPU the separate normalisation
pass (forward and backward) costs about as much as everything else in EfficientNet-Lite0,
so folding roughly halves the time of every gradient-based map. Parameters are also frozen
(``requires_grad=False``): the methods need gradients with respect to the input only.

Which convolution feeds which batch norm is read off one real forward pass (module hooks
plus the autograd graph), so it works for models torch.fx cannot trace (timm's "same"
padding) and never folds a convolution whose output is also used elsewhere. The result is a
copy; the caller's model is left untouched. Its outputs equal the original's up to float
rounding.
"""

from __future__ import annotations

import copy
import logging
from collections import Counter

from ._lazy import torch

logger = logging.getLogger(__name__)


def _consumer_counts(output: torch.Tensor) -> Counter:
    """How many autograd nodes take each node's output as an input."""
    counts: Counter = Counter()
    seen, stack = set(), [output.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        for child, _ in node.next_functions:
            if child is not None:
                counts[child] += 1
                stack.append(child)
    return counts


def _without_normalisation(bn: torch.nn.Module) -> torch.nn.Module | None:
    """What must remain of ``bn`` once its affine map is folded away, or None if unknown."""
    if type(bn) is torch.nn.BatchNorm2d:
        return torch.nn.Identity()
    # timm's BatchNormAct2d: batch norm, then dropout, then activation.
    if type(bn).__name__ == "BatchNormAct2d" and hasattr(bn, "act") and hasattr(bn, "drop"):
        return torch.nn.Sequential(bn.drop, bn.act)
    return None


def _set_submodule(root: torch.nn.Module, name: str, module: torch.nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(root.get_submodule(parent_name) if parent_name else root, child, module)


def fold_batch_norms(model: torch.nn.Module, example_input: torch.Tensor) -> tuple[torch.nn.Module, int]:
    """A copy of ``model`` with every conv -> batch norm pair folded, and the number folded.
    example_input: (1,3,H,W) on the model's device, used for one forward pass."""
    model = copy.deepcopy(model).eval()
    conv_outputs, bn_inputs, hooks = {}, {}, []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Conv2d) and module.groups >= 1:
            hooks.append(
                module.register_forward_hook(
                    lambda m, args, out, name=name: conv_outputs.__setitem__(name, out.grad_fn)
                )
            )
        elif isinstance(module, torch.nn.BatchNorm2d) and module.track_running_stats:
            hooks.append(
                module.register_forward_hook(
                    lambda m, args, out, name=name: bn_inputs.__setitem__(name, args[0].grad_fn)
                )
            )
    try:
        with torch.enable_grad():
            output = model(example_input.detach().clone().requires_grad_(True))
    finally:
        for hook in hooks:
            hook.remove()
    consumers = _consumer_counts(output)
    producer_of = {node: name for name, node in conv_outputs.items() if node is not None}
    folded = 0
    for bn_name, source in bn_inputs.items():
        conv_name = producer_of.get(source)
        if conv_name is None or consumers[source] != 1:
            continue  # not fed by a convolution, or the convolution's output is used elsewhere too
        conv, bn = model.get_submodule(conv_name), model.get_submodule(bn_name)
        remainder = _without_normalisation(bn)
        if remainder is None or conv.out_channels != bn.num_features:
            continue
        with torch.no_grad():
            scale = (bn.weight if bn.affine else torch.ones_like(bn.running_var)) / torch.sqrt(
                bn.running_var + bn.eps
            )
            shift = (bn.bias if bn.affine else torch.zeros_like(bn.running_mean)) - bn.running_mean * scale
            conv.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
            bias = conv.bias if conv.bias is not None else torch.zeros_like(shift)
            conv.bias = torch.nn.Parameter(bias * scale + shift)
        _set_submodule(model, bn_name, remainder)
        folded += 1
    return model, folded


def prepare_for_gradients(model: torch.nn.Module, example_input: torch.Tensor) -> torch.nn.Module:
    """A copy of ``model`` for input-gradient methods: batch norms folded, parameters frozen.
    Layer-based methods (Grad-CAM) should keep the original: folded layers change names."""
    prepared, folded = fold_batch_norms(model, example_input)
    for parameter in prepared.parameters():
        parameter.requires_grad_(False)
    logger.info("prepared model for gradients: %d batch norms folded", folded)
    return prepared
