"""Models with several heads: explaining one head's logits.

A multi-head model returns several logit tensors for one batch: a tuple or list (heads by
position), a dict (heads by name, and by position in the dict's order) or a named tuple (by
name or position). ``select_head(model, head)`` wraps such a model in a module that returns
the chosen head's ``(N, C)`` logits, which is all the saliency methods need: every method
then runs unchanged, and the explained value is the target's logit *in that head*, with
target indexes counted within the head's classes. Layer methods (Grad-CAM) still find the
model's layers: the wrapper holds the model as its submodule ``model``.

    style = saliency.heads.select_head(model, "style")
    maps = saliency.vanilla_gradient(style, images, targets)
    maps = saliency.compute("xrai", model, images, targets, head="style")   # the same

Pure torch; no Django. torch is imported when a head is first selected (see ``_lazy``), and
the wrapper class is made then too: no module of this package may subclass torch.nn.Module
at import time.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from ._lazy import torch

Head = int | str


def _heads_of(output: Any) -> list[tuple[Head, Any]]:
    """(name or position, value) of each head of one model output, in order."""
    if isinstance(output, Mapping):
        return list(output.items())
    if isinstance(output, tuple) and hasattr(output, "_fields"):  # a named tuple
        return list(zip(output._fields, output))
    if isinstance(output, tuple | list):
        return list(enumerate(output))
    return [(0, output)]  # one tensor: a single-head model, head 0


def head_names(output: Any) -> list[Head]:
    """The heads of one model output: their names (dict, named tuple) or positions."""
    return [name for name, _ in _heads_of(output)]


def pick_head(output: Any, head: Head) -> torch.Tensor:
    """The logits of ``head`` in one model output; ValueError naming the heads there are."""
    heads = _heads_of(output)
    names = [name for name, _ in heads]
    if isinstance(head, bool) or not isinstance(head, int | str):
        raise ValueError(f"a head is a name or a position, not {head!r}")
    if isinstance(head, str):
        matches = [value for name, value in heads if name == head]
        if not matches:
            known = ", ".join(repr(name) for name in names)
            raise ValueError(f"the model has no head {head!r}; its heads: {known}")
        logits = matches[0]
    else:
        if not -len(heads) <= head < len(heads):
            raise ValueError(
                f"the model has {len(heads)} head(s) (positions 0-{len(heads) - 1}), no head {head}"
            )
        logits = heads[head][1]
    if not torch.is_tensor(logits) or logits.ndim != 2:
        shape = tuple(logits.shape) if torch.is_tensor(logits) else type(logits).__name__
        raise ValueError(f"head {head!r} gives {shape}, not logits of shape (N, classes)")
    return logits


@lru_cache(maxsize=1)
def _head_selector_class() -> type:
    class HeadSelector(torch.nn.Module):
        """``model`` with only the logits of its head ``head`` as output."""

        def __init__(self, model: torch.nn.Module, head: Head):
            super().__init__()
            self.model = model
            self.head = head

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            return pick_head(self.model(images), self.head)

        def extra_repr(self) -> str:
            return f"head={self.head!r}"

    return HeadSelector


def select_head(model: torch.nn.Module, head: Head) -> torch.nn.Module:
    """A module mapping images to the logits of ``model``'s head ``head`` (a name, or a
    position), for any saliency method. It keeps ``model``'s train/eval mode. A wrong head
    is named (with the heads there are) at the first forward pass."""
    selector = _head_selector_class()(model, head)
    # Only the wrapper's own flag: .train() would recurse into the model, and an exported
    # program's module refuses train()/eval().
    selector.training = model.training
    return selector
