"""Shared pieces of the saliency methods: inputs, target gradients, results.

Pure torch + numpy; no Django. Every method takes an eval-mode ``model`` mapping
``(N,3,H,W)`` float tensors to logits ``(N,C)``, ``images`` ``(N,3,H,W)`` already
preprocessed for that model, and ``targets`` (one class index per image); the explained
value is the target's logit.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

# Model passes per batch. On this project's 2-core CPU, EfficientNet-Lite0 at 224x224 runs
# fastest per image at 8 (21 ms vs 39 ms at 25: larger batches fall out of the caches); on a
# GPU pass a larger batch_size (the worker's SALIENCY_BATCH_SIZE does).
DEFAULT_BATCH_SIZE = 8


@dataclass
class SaliencyResult:
    """maps: (N,H,W) float32. details: one dict per image (JSON-serialisable)."""

    maps: np.ndarray
    details: list[dict] = field(default_factory=list)


def model_device(model: torch.nn.Module) -> torch.device:
    for parameter in model.parameters():
        return parameter.device
    return torch.device("cpu")


def as_image_batch(images, device: torch.device) -> torch.Tensor:
    """images: (N,3,H,W) tensor or array -> float32 tensor on ``device``."""
    tensor = torch.as_tensor(np.asarray(images) if not torch.is_tensor(images) else images)
    if tensor.ndim != 4:
        raise ValueError(f"images must have shape (N,C,H,W), got {tuple(tensor.shape)}")
    return tensor.to(device=device, dtype=torch.float32)


def as_targets(targets: int | Sequence[int] | np.ndarray | torch.Tensor, n: int) -> torch.Tensor:
    """One class index per image; a single int applies to every image."""
    if isinstance(targets, (int, np.integer)):
        return torch.full((n,), int(targets), dtype=torch.long)
    tensor = torch.as_tensor(np.asarray(targets), dtype=torch.long).reshape(-1)
    if tensor.numel() != n:
        raise ValueError(f"expected {n} targets, got {tensor.numel()}")
    return tensor


def target_logit_gradients(
    model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor
) -> torch.Tensor:
    """Gradient of each row's target logit with respect to that row of ``inputs``.

    inputs: (B,3,H,W); targets: (B,). Rows do not interact in eval mode, so the gradient
    of the summed logits is each row's own gradient.
    """
    # channels_last lets oneDNN / cuDNN pick their fast convolution kernels (about 2x on
    # this CPU for EfficientNet-Lite0); the values are the same up to float rounding.
    inputs = inputs.detach().contiguous(memory_format=torch.channels_last).requires_grad_(True)
    with torch.enable_grad():
        logits = model(inputs)
        selected = logits.gather(1, targets.to(logits.device)[:, None]).sum()
        (gradients,) = torch.autograd.grad(selected, inputs)
    return gradients


@torch.no_grad()
def target_logits(
    model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor, batch_size: int
) -> torch.Tensor:
    """The target logit of each row of ``inputs``, (B,)."""
    values = []
    for start in range(0, inputs.shape[0], batch_size):
        logits = model(inputs[start : start + batch_size].contiguous(memory_format=torch.channels_last))
        rows = targets[start : start + batch_size].to(logits.device)[:, None]
        values.append(logits.gather(1, rows)[:, 0])
    return torch.cat(values)


def reduce_channels(attributions: np.ndarray, how: str) -> np.ndarray:
    """(N,C,H,W) -> (N,H,W). 'abs_sum' is PAIR's grayscale visualisation (without its
    display-only percentile clip); 'max' is what XRAI uses; 'sum' keeps the sign."""
    if how == "abs_sum":
        return np.abs(attributions).sum(axis=1)
    if how == "sum":
        return attributions.sum(axis=1)
    if how == "max":
        return attributions.max(axis=1)
    raise ValueError(f"unknown channel_reduction {how!r}; use 'abs_sum', 'sum' or 'max'")
