"""The mean and std a model's inputs are normalised with when its spec leaves them empty.

Torch-free on purpose: exports and the API state the preprocessing of every model, and the
web processes that serve them must not load torch to find two triples of numbers
(tests/operations/test_web_imports.py).
"""

from explain.packaged_models import MEAN as PACKAGED_MEAN
from explain.packaged_models import PACKAGED_MODELS
from explain.packaged_models import STD as PACKAGED_STD

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The built-in watermark CNN's (explain/watermark.py trains on images scaled this way).
WATERMARK_MEAN = (0.5, 0.5, 0.5)
WATERMARK_STD = (0.25, 0.25, 0.25)


def default_normalisation(source: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean and std used when a model's own are left empty."""
    if source in PACKAGED_MODELS:
        return PACKAGED_MEAN, PACKAGED_STD
    if source == "watermark_cnn":
        return WATERMARK_MEAN, WATERMARK_STD
    return IMAGENET_MEAN, IMAGENET_STD
