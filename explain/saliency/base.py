"""The shared base of the saliency methods: inputs, target gradients, results, and
:class:`SaliencyMethod`, which turns one attribution function into the public functions.

Pure torch + numpy; no Django. Every method takes an eval-mode ``model`` mapping
``(N,3,H,W)`` float tensors to logits ``(N,C)``, ``images`` ``(N,3,H,W)`` already
preprocessed for that model, and ``targets`` (one class index per image, or one for all);
the explained value is the target's logit. torch is imported at a method's first run, not
with this module (see ``_lazy``): the registry of names and defaults must load without it.
"""

from __future__ import annotations

import copy
import inspect
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, NamedTuple, TypeAlias, Union

import numpy as np

from ._lazy import torch

# Model passes per batch. On this project's 2-core CPU, EfficientNet-Lite0 at 224x224 runs
# fastest per image at 8 (21 ms vs 39 ms at 25: larger batches fall out of the caches); on a
# GPU pass a larger batch_size (the worker's SALIENCY_BATCH_SIZE does).
DEFAULT_BATCH_SIZE = 8

# (N,C,H,W) float images, already preprocessed for the model (a tensor or an array).
ImageBatch: TypeAlias = Union["torch.Tensor", np.ndarray]
# One class index per image, or one int for every image.
Targets: TypeAlias = Union[int, Sequence[int], np.ndarray, "torch.Tensor"]

CHANNEL_REDUCTIONS = ("abs_sum", "sum", "max", "max_abs")


@dataclass
class SaliencyResult:
    """maps: (N,H,W) float32. details: one dict per image (JSON-serialisable)."""

    maps: np.ndarray
    details: list[dict] = field(default_factory=list)


class Attribution(NamedTuple):
    """What a method's ``attribute`` returns.

    values: (N,C,H,W) per-channel attributions for methods that declare a
    ``channel_reduction`` (the base reduces them to maps), else the maps (N,H,W).
    details: one JSON-serialisable dict per image, or None when there is nothing to report.
    """

    values: np.ndarray
    details: list[dict] | None = None


class SaliencyMethod:
    """A saliency method: a declaration and one attribution function.

    A subclass declares

    - ``name``: the method's name, as stored in the database;
    - ``defaults``: the parameters that define its maps, with their default values (JSON
      values: a map's cache key holds the hash of the full parameter dict, see
      ``registry.params_hash``). These are the only defaults: ``attribute`` takes each of them
      as a keyword-only argument *without* a default of its own, which the constructor checks;
    - ``needs_layer``: whether it reads a named layer of the model (such methods get the model
      as it is, the others may run on ``prepare_for_gradients(model)``);

    and implements ``attribute(model, images, targets, *, <declared params>, batch_size, ...)``.
    Other keyword arguments of ``attribute`` (``batch_size``, values that follow from the
    model such as IG's ``black_value``, precomputed inputs such as XRAI's ``segments``) have
    their defaults in its signature and are not stored with a map. ``channel_reduction``, where
    declared, is the base's: it turns ``attribute``'s (N,C,H,W) values into maps.

    An instance is the method's public function: ``method(model, images, targets, **params)``
    returns maps (N,H,W) float32; ``method.result(...)`` also per-image details;
    ``method.attributions(...)`` the values before any channel reduction. Its signature
    (``inspect.signature(method)``) lists every parameter with its effective default.
    """

    name: ClassVar[str]
    defaults: ClassVar[Mapping[str, Any]]
    needs_layer: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "defaults" in cls.__dict__:  # read-only: every caller gets copies (registry, attributions)
            cls.defaults = MappingProxyType(dict(cls.defaults))

    def __init__(self) -> None:
        self.__name__ = self.name
        self.__signature__ = self._public_signature()

    def attribute(self, model, images: ImageBatch, targets: Targets, **params: Any) -> Attribution:
        """The method's one attribution function; every declared parameter is given."""
        raise NotImplementedError

    @property
    def reduces_channels(self) -> bool:
        return "channel_reduction" in self.defaults

    def attributions(self, model, images: ImageBatch, targets: Targets, **params: Any) -> Attribution:
        """``attribute`` with the declared defaults for the parameters not given: values
        (N,C,H,W) float32 (or (N,H,W) maps for methods without a channel reduction) and one
        details dict per image."""
        arguments = copy.deepcopy({k: v for k, v in self.defaults.items() if k != "channel_reduction"})
        arguments.update(params)
        values, details = self.attribute(model, images, targets, **arguments)
        if details is None:
            details = [{} for _ in range(len(values))]
        return Attribution(values, details)

    def result(self, model, images: ImageBatch, targets: Targets, **params: Any) -> SaliencyResult:
        """maps (N,H,W) float32 and one details dict per image."""
        if self.reduces_channels:
            how = params.pop("channel_reduction", self.defaults["channel_reduction"])
            check_channel_reduction(how)  # a bad name fails before the work, not after
            values, details = self.attributions(model, images, targets, **params)
            maps = reduce_channels(values, how)
        else:
            maps, details = self.attributions(model, images, targets, **params)
            if maps.ndim != 3:
                raise RuntimeError(
                    f"{self.name}.attribute returned values of shape {maps.shape}, not (N,H,W)"
                )
        return SaliencyResult(maps=np.ascontiguousarray(maps, dtype=np.float32), details=details)

    def __call__(self, model, images: ImageBatch, targets: Targets, **params: Any) -> np.ndarray:
        """Maps (N,H,W) float32."""
        return self.result(model, images, targets, **params).maps

    def __repr__(self) -> str:
        return f"<saliency method {self.name!r}>"

    def _public_signature(self) -> inspect.Signature:
        """(model, images, targets, *, declared parameters with their defaults, the other
        keyword arguments of ``attribute``); also checks the declaration against it."""
        cls = type(self)
        try:
            json.dumps(dict(self.defaults), allow_nan=False)
        except (TypeError, ValueError) as error:
            raise TypeError(f"{cls.__name__}.defaults must be JSON values: {error}") from None
        attribute = inspect.signature(self.attribute).parameters
        positional = list(attribute.values())[:3]
        if [p.name for p in positional] != ["model", "images", "targets"]:
            raise TypeError(f"{cls.__name__}.attribute must take (model, images, targets, *, ...)")
        keyword = {p.name: p for p in attribute.values() if p.kind is inspect.Parameter.KEYWORD_ONLY}
        declared = [name for name in self.defaults if name != "channel_reduction"]
        for name in declared:
            if name not in keyword or keyword[name].default is not inspect.Parameter.empty:
                raise TypeError(
                    f"{cls.__name__}.attribute must take the declared parameter {name!r} as a "
                    "keyword-only argument without a default (the default is in .defaults)"
                )
        extras = [p for name, p in keyword.items() if name not in self.defaults]
        for parameter in extras:
            if parameter.default is inspect.Parameter.empty:
                raise TypeError(
                    f"{cls.__name__}.attribute: {parameter.name!r} is not declared and has no default"
                )
        parameters = [
            inspect.Parameter("model", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation="torch.nn.Module"),
            inspect.Parameter("images", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation="ImageBatch"),
            inspect.Parameter("targets", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation="Targets"),
        ]
        for name, default in self.defaults.items():
            annotation = keyword[name].annotation if name in keyword else "str"
            parameters.append(
                inspect.Parameter(
                    name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
                )
            )
        parameters.extend(extras)
        return inspect.Signature(parameters, return_annotation="np.ndarray")


def model_device(model: torch.nn.Module) -> torch.device:
    for parameter in model.parameters():
        return parameter.device
    return torch.device("cpu")


def as_image_batch(images: ImageBatch, device: torch.device | str) -> torch.Tensor:
    """images: (N,3,H,W) tensor or array -> float32 tensor on ``device``."""
    tensor = torch.as_tensor(np.asarray(images) if not torch.is_tensor(images) else images)
    if tensor.ndim != 4:
        raise ValueError(f"images must have shape (N,C,H,W), got {tuple(tensor.shape)}")
    return tensor.to(device=device, dtype=torch.float32)


def as_targets(targets: Targets, n: int) -> torch.Tensor:
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


def target_logits(
    model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor, batch_size: int
) -> torch.Tensor:
    """The target logit of each row of ``inputs``, (B,)."""
    values = []
    with torch.no_grad():
        for start in range(0, inputs.shape[0], batch_size):
            logits = model(inputs[start : start + batch_size].contiguous(memory_format=torch.channels_last))
            rows = targets[start : start + batch_size].to(logits.device)[:, None]
            values.append(logits.gather(1, rows)[:, 0])
    return torch.cat(values)


def check_channel_reduction(how: str) -> None:
    if how not in CHANNEL_REDUCTIONS:
        raise ValueError(f"unknown channel_reduction {how!r}; use one of {', '.join(CHANNEL_REDUCTIONS)}")


def reduce_channels(attributions: np.ndarray, how: str) -> np.ndarray:
    """(N,C,H,W) -> (N,H,W) float32. 'abs_sum' is PAIR's grayscale visualisation (without
    its display-only percentile clip); 'max' is what XRAI uses; 'sum' keeps the sign;
    'max_abs' is Simonyan et al.'s saliency map, max_c |a_c|."""
    check_channel_reduction(how)
    if how == "abs_sum":
        reduced = np.abs(attributions).sum(axis=1)
    elif how == "sum":
        reduced = attributions.sum(axis=1)
    elif how == "max":
        reduced = attributions.max(axis=1)
    else:
        reduced = np.abs(attributions).max(axis=1)
    return reduced.astype(np.float32)
