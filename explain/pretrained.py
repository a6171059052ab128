"""torchvision and timm classifiers with their published weights, chosen by name, and the
preprocessing those weights were trained with. Pure torch; no Django.

Weights live in the libraries' own caches, so a file fetched once (or copied there by hand
on a machine without internet) is used from then on:
- torchvision: TORCH_HOME/hub/checkpoints/<the file name of the weights' URL>
  (TORCH_HOME defaults to ~/.cache/torch);
- timm: the Hugging Face cache, HF_HUB_CACHE or HF_HOME/hub (default ~/.cache/huggingface/hub),
  models--timm--<model>/snapshots/<revision>/model.safetensors with refs/main naming the
  revision; a few timm weights without a Hub copy use the torchvision layout.
A missing file is downloaded once, with a short timeout; HF_HUB_OFFLINE=1 skips the attempt
for both libraries. When neither works the error names the file and where it belongs.

torch.hub checks the hash in a checkpoint's file name only while downloading, never for a
file already in the cache (torch/hub.py, load_state_dict_from_url); this module checks it
after its own downloads too.
"""

import hashlib
import os
import re
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch

DOWNLOAD_TIMEOUT_S = 15  # per connection attempt and per read: an offline host fails at once
HUB_FILE_NAMES = ("model.safetensors", "pytorch_model.bin")  # timm's order of preference
_HASH_IN_NAME = re.compile(r"-([a-f0-9]*)\.")  # torch.hub's convention: name-<sha256 prefix>.ext


@dataclass(frozen=True)
class Preprocessing:
    """What the platform does to an image for this model, and the recipe the weights'
    authors evaluated with (their resize and crop), for the record."""

    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str  # bilinear, bicubic or nearest
    weights_preprocessing: dict

    def as_fields(self) -> dict:
        """The ModelSpec fields this fills."""
        return {
            "input_size": self.input_size,
            "mean": list(self.mean),
            "std": list(self.std),
            "interpolation": self.interpolation,
            "weights_preprocessing": self.weights_preprocessing,
        }


def downloads_allowed() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() not in ("1", "true", "yes", "on")


def torch_checkpoints_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"  # follows TORCH_HOME at call time


def hf_hub_cache_dir() -> Path:
    """The Hugging Face hub cache, read from the environment now (huggingface_hub reads it
    once, at import)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    default_home = Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "huggingface"
    return Path(os.environ.get("HF_HOME", default_home)).expanduser() / "hub"


def _missing(file: str, where: Path, url: str, reason: str, variable: str) -> ValueError:
    return ValueError(
        f"the weights file {file} is not in the cache {where} and could not be downloaded "
        f"from {url} ({reason}). Connect this machine to the internet once, or copy the file "
        f"to {where / file} ({variable} sets the cache)"
    )


def download_checkpoint(url: str, destination: Path) -> Path:
    """Fetch ``url`` to ``destination`` (a torch.hub cache path), checking the sha256 prefix
    that the file name carries; a partial or corrupt download never lands there."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, open(partial, "wb") as out:
            for block in iter(lambda: response.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
        match = _HASH_IN_NAME.search(destination.name)
        if match and not digest.hexdigest().startswith(match.group(1)):
            raise ValueError(f"the download's sha256 does not start with {match.group(1)}")
        os.replace(partial, destination)
    finally:
        partial.unlink(missing_ok=True)
    return destination


def cached_or_downloaded(url: str) -> Path:
    directory = torch_checkpoints_dir()
    file = os.path.basename(urlparse(url).path)
    cached = directory / file
    if cached.is_file():
        return cached
    if not downloads_allowed():
        raise _missing(file, directory, url, "HF_HUB_OFFLINE is set", "TORCH_HOME")
    try:
        return download_checkpoint(url, cached)
    except Exception as error:
        reason = f"{type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}"
        raise _missing(file, directory, url, reason, "TORCH_HOME") from None


# torchvision ------------------------------------------------------------------------------


def torchvision_weights(architecture: str, weights_name: str):
    """The weights enum member: a name such as IMAGENET1K_V1 (or Inception_V3_Weights.IMAGENET1K_V1),
    or DEFAULT."""
    import torchvision

    if architecture not in torchvision.models.list_models():
        raise ValueError(f"torchvision has no architecture {architecture!r}")
    try:
        enum = torchvision.models.get_model_weights(architecture)
    except ValueError:
        raise ValueError(f"torchvision publishes no weights for {architecture!r}") from None
    member = weights_name.strip().rsplit(".", 1)[-1]
    if member.upper() == "DEFAULT":
        return enum.DEFAULT
    if member not in enum.__members__:
        known = ", ".join(["DEFAULT", *enum.__members__])
        raise ValueError(f"{architecture} has no weights {weights_name!r}; known: {known}")
    return enum[member]


def torchvision_preprocessing(architecture: str, weights_name: str) -> Preprocessing:
    weights = torchvision_weights(architecture, weights_name)
    transforms = weights.transforms()
    if not hasattr(transforms, "crop_size"):
        raise ValueError(f"{weights} are not image-classification weights")
    size = int(transforms.crop_size[0])
    interpolation = transforms.interpolation.value
    return Preprocessing(
        input_size=size,
        mean=tuple(transforms.mean),
        std=tuple(transforms.std),
        interpolation=interpolation,
        weights_preprocessing={
            "library": "torchvision",
            "weights": str(weights),
            "resize_size": int(transforms.resize_size[0]),
            "crop_size": size,
            "interpolation": interpolation,
            "mean": list(transforms.mean),
            "std": list(transforms.std),
        },
    )


def torchvision_weights_file(architecture: str, weights_name: str) -> Path:
    return cached_or_downloaded(torchvision_weights(architecture, weights_name).url)


def build_torchvision_pretrained(architecture: str, weights_name: str, num_classes: int):
    """(model, weights file): torchvision's own builder with its weights, so each
    architecture's loading quirks are torchvision's; the file comes from the cache."""
    import torchvision

    weights = torchvision_weights(architecture, weights_name)
    classes = len(weights.meta.get("categories") or ())
    if classes and classes != num_classes:
        raise ValueError(
            f"the weights {weights} have {classes} classes but class_names lists {num_classes} "
            "(empty class_names means the 1000 ImageNet classes)"
        )
    file = torchvision_weights_file(architecture, weights_name)
    try:
        model = torchvision.models.get_model(architecture, weights=weights, progress=False)
    except RuntimeError as error:  # a cached file that is not these weights
        raise ValueError(
            f"the cached file {file} does not fit {architecture}: {str(error).splitlines()[0][:300]}"
        ) from None
    _drop_auxiliary_classifiers(model)
    return model.eval(), file


def _drop_auxiliary_classifiers(model: torch.nn.Module) -> None:
    """Inception-v3's and GoogLeNet's training-only side heads: predictions never use them.
    (Their builders refuse aux_logits=False together with weights, so they go afterwards.)"""
    for flag, heads in (("aux_logits", ("AuxLogits", "aux1", "aux2")),):
        if getattr(model, flag, False):
            setattr(model, flag, False)
            for head in heads:
                if hasattr(model, head):
                    setattr(model, head, None)


# timm ---------------------------------------------------------------------------------------


def timm_pretrained_cfg(architecture: str, tag: str = ""):
    """timm's pretrained config for ``architecture`` (optionally name.tag) and ``tag``
    (empty or DEFAULT: timm's default tag for that architecture)."""
    import timm
    from timm.models import get_pretrained_cfg
    from timm.models._registry import split_model_name_tag

    name, own_tag = split_model_name_tag(architecture.strip())
    tag = tag.strip()
    if tag.upper() == "DEFAULT":
        tag = ""
    if own_tag and tag and own_tag != tag:
        raise ValueError(f"the architecture names the tag {own_tag!r} and the weights name {tag!r}")
    full = f"{name}.{tag or own_tag}" if (tag or own_tag) else name
    if not timm.is_model(name):
        raise ValueError(f"timm has no architecture {name!r}")
    try:
        cfg = get_pretrained_cfg(full, allow_unregistered=False)
    except RuntimeError:
        known = ", ".join(timm.list_pretrained(f"{name}.*")) or "none"
        raise ValueError(f"timm has no pretrained weights {full!r}; known: {known}") from None
    if not (cfg.hf_hub_id or cfg.url):
        raise ValueError(f"timm's {full} has no published weights file")
    return cfg


def timm_preprocessing(architecture: str, tag: str = "") -> Preprocessing:
    from timm.data import resolve_data_config

    cfg = timm_pretrained_cfg(architecture, tag)
    data = resolve_data_config({}, pretrained_cfg=cfg.to_dict())
    _, height, width = data["input_size"]
    return Preprocessing(
        input_size=int(max(height, width)),
        mean=tuple(float(v) for v in data["mean"]),
        std=tuple(float(v) for v in data["std"]),
        interpolation=data["interpolation"] if data["interpolation"] != "random" else "bicubic",
        weights_preprocessing={
            "library": "timm",
            "weights": f"{cfg.architecture}.{cfg.tag}",
            "input_size": [int(height), int(width)],
            "crop_pct": data.get("crop_pct"),
            "crop_mode": data.get("crop_mode"),
            "interpolation": data["interpolation"],
            "mean": list(data["mean"]),
            "std": list(data["std"]),
        },
    )


def _hub_repo(cfg) -> tuple[str, str | None]:
    repo, _, revision = cfg.hf_hub_id.partition("@")
    return repo, revision or None


def timm_weights_file(architecture: str, tag: str = "") -> Path:
    """The weights file in the Hugging Face cache (downloaded there if allowed and missing),
    or in torch's cache for weights timm publishes only by URL."""
    cfg = timm_pretrained_cfg(architecture, tag)
    if not cfg.hf_hub_id:
        return cached_or_downloaded(cfg.url)
    from huggingface_hub import hf_hub_download, try_to_load_from_cache

    repo, revision = _hub_repo(cfg)
    cache = hf_hub_cache_dir()
    names = (cfg.hf_hub_filename,) if cfg.hf_hub_filename else HUB_FILE_NAMES
    for name in names:
        found = try_to_load_from_cache(repo, name, cache_dir=str(cache), revision=revision)
        if isinstance(found, str) and Path(found).is_file():
            return Path(found)
    folder = cache / f"models--{repo.replace('/', '--')}"
    url = f"https://huggingface.co/{repo}/resolve/{revision or 'main'}/{names[0]}"
    if not downloads_allowed():
        raise _missing(names[0], folder / "snapshots" / "<revision>", url, "HF_HUB_OFFLINE is set", "HF_HOME")
    reasons = []
    for name in names:
        try:
            return Path(
                hf_hub_download(
                    repo, name, revision=revision, cache_dir=str(cache), etag_timeout=DOWNLOAD_TIMEOUT_S
                )
            )
        except Exception as error:
            reasons.append(f"{name}: {type(error).__name__}")
    raise _missing(names[0], folder / "snapshots" / "<revision>", url, "; ".join(reasons), "HF_HOME")


def build_timm_pretrained(architecture: str, tag: str, num_classes: int):
    """(model, weights file): timm's model loaded from the cached file (timm's own loading,
    with its key filters, but no network)."""
    import timm

    cfg = timm_pretrained_cfg(architecture, tag)
    if cfg.num_classes and cfg.num_classes != num_classes:
        raise ValueError(
            f"timm's {cfg.architecture}.{cfg.tag} has {cfg.num_classes} classes but class_names lists "
            f"{num_classes} (empty class_names means the 1000 ImageNet classes)"
        )
    file = timm_weights_file(architecture, tag)
    try:
        model = timm.create_model(
            f"{cfg.architecture}.{cfg.tag}", pretrained=True, pretrained_cfg_overlay={"file": str(file)}
        )
    except RuntimeError as error:
        raise ValueError(
            f"the cached file {file} does not fit {cfg.architecture}: {str(error).splitlines()[0][:300]}"
        ) from None
    return model.eval(), file


def pretrained_preprocessing(source: str, architecture: str, weights_name: str) -> Preprocessing:
    if source == "torchvision":
        return torchvision_preprocessing(architecture, weights_name)
    if source == "timm":
        return timm_preprocessing(architecture, weights_name)
    raise ValueError(f"pretrained weights by name need the source torchvision or timm, not {source!r}")


def build_pretrained(source: str, architecture: str, weights_name: str, num_classes: int):
    if not architecture:
        raise ValueError(f"a {source} model needs an architecture name, e.g. resnet50")
    if source == "torchvision":
        return build_torchvision_pretrained(architecture, weights_name, num_classes)
    if source == "timm":
        return build_timm_pretrained(architecture, weights_name, num_classes)
    raise ValueError(f"pretrained weights by name need the source torchvision or timm, not {source!r}")
