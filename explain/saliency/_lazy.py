"""torch, scikit-image and numba, imported where a method first uses them, not at import.

Why: web processes import ``explain.saliency.registry`` for the methods' names, defaults and
parameter hashes, and must never import torch: it costs each web worker about 2.5 s and 430 MB
of private memory (tests/operations/test_web_imports.py). numba (about 0.4 s) and
scikit-image have no business there either. The registry reads each method's declaration
from the method's own module, so every module of this package has to be importable without
them. They therefore name torch, ``torch.nn.functional`` and scikit-image through the
stand-ins made here, which import the real module on their first attribute access (when a
method first runs), and numba kernels are compiled at their first call (:func:`njit`).
After that a stand-in costs one Python call per attribute lookup, under a microsecond,
against milliseconds for a model pass.

Why not ``lazy_loader.load`` (or ``importlib.util.LazyLoader``, which it uses): it puts a
not-yet-executed module object into ``sys.modules`` at once, so ``"torch" in sys.modules``
(what the web test and anyone inspecting a process check) would be true although torch was
never loaded, and every other ``import torch`` in the process would receive that object.
Type checkers see the real modules (the ``TYPE_CHECKING`` branch).
"""

from __future__ import annotations

import functools
import importlib
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any


class LazyModule:
    """Stands for the module ``name`` and imports it when one of its attributes is read."""

    __slots__ = ("_lazy_name", "_lazy_module")

    def __init__(self, name: str) -> None:
        self._lazy_name = name
        self._lazy_module = None

    def __getattr__(self, attribute: str) -> Any:
        if attribute in LazyModule.__slots__:  # not initialised (e.g. a copy): no recursion
            raise AttributeError(attribute)
        module = self._lazy_module
        if module is None:
            module = self._lazy_module = importlib.import_module(self._lazy_name)
        return getattr(module, attribute)

    def __repr__(self) -> str:
        state = "imported" if self._lazy_module is not None else "not imported yet"
        return f"<lazy module {self._lazy_name!r} ({state})>"


def njit(**options: Any) -> Callable[[Callable], Callable]:
    """``numba.njit(**options)``, applied at the function's first call instead of at import.

    For kernels called from Python only (a kernel called from another numba kernel must be
    a real numba dispatcher). ``cache=True`` works as with the decorator: numba keys its
    cache on the function's file and qualified name."""

    def decorate(function: Callable) -> Callable:
        compiled: Callable | None = None
        lock = threading.Lock()  # XRAI calls its kernel from several threads at once

        @functools.wraps(function)
        def call(*args: Any) -> Any:
            nonlocal compiled
            if compiled is None:
                with lock:
                    if compiled is None:
                        import numba

                        compiled = numba.njit(**options)(function)
            return compiled(*args)

        return call

    return decorate


if TYPE_CHECKING:
    import torch
    import torch.nn.functional as F
else:
    torch = LazyModule("torch")
    F = LazyModule("torch.nn.functional")

__all__ = ["F", "LazyModule", "njit", "torch"]
