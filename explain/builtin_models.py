"""What the built-in models' commands share (train_biased_model, train_two_head_model): write
their weights file atomically, drop stored results of other weights, and keep their test image
set when its images have not changed."""

import hashlib
import os
import tempfile
from pathlib import Path

from django.conf import settings

from catalogue.models import ImageSet
from explain.models import ModelSpec, Prediction, SaliencyMap


def weights_file_write(name: str, content: bytes) -> Path:
    """``content`` at MEDIA_ROOT/``name``, through a temporary file: readers never see half a file."""
    path = Path(settings.MEDIA_ROOT) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(handle, "wb") as file:
        file.write(content)
    os.replace(temporary, path)
    return path


def stale_results_delete(spec: ModelSpec, weights_sha256: str) -> int:
    """Delete the spec's maps and predictions when they come from other weights (they would
    otherwise be served from the cache); how many rows went."""
    if not spec.weights_sha256 or spec.weights_sha256 == weights_sha256:
        return 0
    return (
        SaliencyMap.objects.filter(model=spec).delete()[0] + Prediction.objects.filter(model=spec).delete()[0]
    )


def image_set_clear_if_changed(image_set: ImageSet, contents: list[bytes]) -> None:
    """Empty the set unless it holds exactly these image files; refuse when participants have
    seen the images that would go."""
    wanted = {hashlib.sha256(content).hexdigest() for content in contents}
    if set(image_set.images.values_list("sha256", flat=True)) == wanted:
        return
    if image_set.images.filter(trials__isnull=False).exists():
        raise ValueError(
            f"image set {image_set.name!r} already has other images that participants have seen; "
            "rerun with the seed and --images it was made with, or delete the set first"
        )
    image_set.images.all().delete()
