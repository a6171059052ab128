"""Small deterministic models and PAIR adapters shared by the saliency tests."""

import numpy as np
import torch
from saliency.core.base import INPUT_OUTPUT_GRADIENTS


def tiny_cnn(seed: int = 0, classes: int = 5) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.Softplus(),
        torch.nn.Conv2d(8, 8, 3, padding=1, stride=2),
        torch.nn.Softplus(),
        torch.nn.AdaptiveAvgPool2d(4),
        torch.nn.Flatten(),
        torch.nn.Linear(128, classes),
    )
    return model.eval()


def pair_call_model_function(model: torch.nn.Module, target: int):
    """PAIR's interface: (B,H,W,C) numpy in, gradients of the target logit out."""

    def call(x_batch, call_model_args=None, expected_keys=None):
        x = torch.tensor(np.asarray(x_batch), dtype=torch.float32).permute(0, 3, 1, 2)
        x.requires_grad_(True)
        model(x)[:, target].sum().backward()
        return {INPUT_OUTPUT_GRADIENTS: x.grad.permute(0, 2, 3, 1).numpy()}

    return call


def sample_image(size: int = 224, seed: int = 0) -> np.ndarray:
    """A (3,H,W) image in [-1,1] with structure for the segmentation to find."""
    from skimage import data
    from skimage.transform import resize

    rgb = resize(data.chelsea(), (size, size), anti_aliasing=True).astype(np.float32)
    return (rgb.transpose(2, 0, 1) - 0.5) / 0.5
