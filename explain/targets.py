"""Which classes a model map explains: the target policy a compute job is given."""

from django.db import models


class TargetPolicy(models.TextChoices):
    LABEL_OR_PREDICTED = "label_or_predicted", "The labelled class, else the predicted one"
    PREDICTED = "predicted", "The model's predicted class"
    LABEL_AND_PREDICTED = "label_and_predicted", "Both the labelled and the predicted class"
    SHAPE_AND_TEXTURE = "shape_and_texture", "Cue conflict: both the shape and the texture class"


def explained_classes(*, predicted: int, labelled: int | None, texture: int | None, policy: str) -> list[int]:
    """The classes one image's maps explain under ``policy``. Variants carry their original's
    labels, so they are explained for the same classes. Cue-conflict images
    (SHAPE_AND_TEXTURE) get the shape class (the label) and the texture class, once each;
    one without a texture label gets its label only."""
    if policy == TargetPolicy.PREDICTED or labelled is None:
        return [predicted]
    if policy == TargetPolicy.LABEL_AND_PREDICTED and predicted != labelled:
        return [labelled, predicted]
    if policy == TargetPolicy.SHAPE_AND_TEXTURE and texture not in (None, labelled):
        return [labelled, texture]
    return [labelled]
