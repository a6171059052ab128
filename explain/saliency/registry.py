"""The saliency methods by name: their default parameters, which need a model layer, and the
hash of a parameter dict that is part of a stored map's cache key.

Importable without torch, numba or scikit-image (and without Django), and that is its
purpose: web processes use it for the admin's method choices and the compute jobs'
parameters, and must never import torch, which costs each web worker about 2.5 s and 430 MB
(tests/operations/test_web_imports.py; tests/saliency/test_registry.py checks this module in
a fresh interpreter).

How it reads the declarations without torch: each method's module declares its ``name``,
``defaults`` and ``needs_layer`` on its ``SaliencyMethod`` subclass, the single place they
are written, and this module imports those modules and reads the attributes. That works
because no module of this package imports torch, numba or scikit-image when it is imported:
they refer to them through stand-ins that import the real library at a method's first run
(``_lazy``), and no module runs torch code at import time (no ``@torch.no_grad()``
decorators, no ``torch.nn.Module`` subclasses, annotations left unevaluated by
``from __future__ import annotations``).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from .base import SaliencyMethod
from .blur_ig import blur_ig
from .grad_cam import grad_cam
from .gradient_x_input import gradient_x_input
from .guided_ig import guided_ig
from .integrated_gradients import integrated_gradients
from .occlusion import occlusion
from .smoothgrad import smoothgrad
from .vanilla_gradient import vanilla_gradient
from .xrai import xrai

# Method name as stored in the database -> the method (its public function). In the order
# offered to users: XRAI and IG first, as in the seed studies.
METHODS: Mapping[str, SaliencyMethod] = {
    method.name: method
    for method in (
        xrai,
        integrated_gradients,
        vanilla_gradient,
        smoothgrad,
        gradient_x_input,
        blur_ig,
        guided_ig,
        grad_cam,
        occlusion,
    )
}

# Methods that read a named layer of the model; they get the model as it is, while the
# others can run on prepare_for_gradients(model).
LAYER_METHODS: frozenset[str] = frozenset(name for name, method in METHODS.items() if method.needs_layer)


def method_names() -> list[str]:
    """Every method's name, XRAI and IG first."""
    return list(METHODS)


def _method(name: str) -> SaliencyMethod:
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; known: {', '.join(sorted(METHODS))}") from None


def method_defaults(name: str) -> dict[str, Any]:
    """The default parameters of method ``name`` (a copy: changing it changes nothing else)."""
    return copy.deepcopy(dict(_method(name).defaults))


def method_params(name: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The full parameter dict for method ``name``: its defaults updated by ``overrides``.

    Raises ValueError for an unknown method (naming the known ones) or for override names
    that the method does not declare."""
    params = method_defaults(name)
    unknown = set(overrides or {}) - set(params)
    if unknown:
        raise ValueError(f"unknown parameters for {name}: {', '.join(sorted(unknown))}")
    params.update(copy.deepcopy(dict(overrides or {})))
    return params


def params_hash(params: Mapping[str, Any]) -> str:
    """sha256 of the parameters as sorted-key JSON: part of a stored map's cache key, so this
    must never change (stored maps are looked up by it)."""
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()


def needs_layer(name: str) -> bool:
    """Whether method ``name`` reads a named layer of the model (and so needs the model as it
    is, not a folded copy, and cannot run on a TorchScript model)."""
    return _method(name).needs_layer


__all__ = [
    "LAYER_METHODS",
    "METHODS",
    "method_defaults",
    "method_names",
    "method_params",
    "needs_layer",
    "params_hash",
]
