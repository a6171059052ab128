"""The class vocabularies that image labels are checked against: ImageNet's 1000 classes, and
each model's own. Models belong to the explain app, which sits above the catalogue, so it
registers a source of them here (explain.apps) instead of the catalogue importing it."""

from collections.abc import Callable
from functools import lru_cache

# A source returns {model name: its class names, or an empty list for ImageNet's}.
VocabularySource = Callable[[], dict[str, list[str]]]
_sources: list[VocabularySource] = []


@lru_cache(maxsize=1)
def imagenet_class_names() -> tuple[str, ...]:
    """The 1000 ImageNet class names, from torchvision's offline weight metadata."""
    from torchvision.models import ResNet50_Weights

    return tuple(ResNet50_Weights.IMAGENET1K_V2.meta["categories"])


def register_vocabulary_source(source: VocabularySource) -> None:
    if source not in _sources:
        _sources.append(source)


def model_vocabularies() -> dict[str, list[str]]:
    """Every registered model's name -> its class names (empty: ImageNet's)."""
    merged: dict[str, list[str]] = {}
    for source in _sources:
        merged.update(source())
    return merged
