"""Writes for the built-in two-head model: train it, store it as one torch.export program,
one ModelSpec per head on that file, and its test image set (what `manage.py
train_two_head_model` does).

The program (.pt2) is the platform's format for a model whose code the platform does not
ship; a head is then a ModelSpec with ``head`` set and that head's class names, exactly as
for an uploaded multi-head model.
"""

import hashlib
import io
from dataclasses import dataclass

import torch
from django.conf import settings
from django.db import transaction

from analysis import codec
from catalogue.models import ImageSet
from catalogue.services import image_create
from explain import model_zoo, two_head
from explain.builtin_models import image_set_clear_if_changed, stale_results_delete, weights_file_write
from explain.models import ModelSpec

MODEL_NAMES = {"shape": "two-head-shape", "colour": "two-head-colour"}  # head -> ModelSpec name
IMAGE_SET_NAME = "two-head-test"
WEIGHTS_NAME = "weights/two-head-cnn.pt2"  # relative to MEDIA_ROOT
TRAIN_IMAGES = 2000
EVALUATION_IMAGES = 500
TEST_SEED_OFFSET = 3  # the test set is generate(n_images, seed=seed + 3)


@dataclass
class TwoHeadModelReport:
    specs: dict[str, ModelSpec]  # head -> its ModelSpec
    image_set: ImageSet
    train_seconds: float
    accuracy: dict[str, float]  # head -> accuracy on held-out images
    stale_results_deleted: int


def _program_bytes(model: torch.nn.Module) -> bytes:
    example = torch.zeros(2, 3, two_head.IMAGE_SIZE, two_head.IMAGE_SIZE)
    program = torch.export.export(
        model.eval(), (example,), dynamic_shapes={"x": {0: torch.export.Dim("batch")}}
    )
    # Through a buffer: a file's archive records its own (here random) name, which would
    # change the hash of an identical program.
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    return buffer.getvalue()


def image_name(index: int, data: two_head.TwoHeadData) -> str:
    """th-000-circle-red: the left object's shape and the right object's colour (the labels)."""
    shape = two_head.SHAPES[int(data.labels["shape"][index])]
    colour = two_head.COLOURS[int(data.labels["colour"][index])]
    return f"th-{index:03d}-{shape}-{colour}"


def held_out_images(n_images: int, seed: int) -> two_head.TwoHeadData:
    """The images of the test set, with the objects' boxes (the same as the command's)."""
    return two_head.generate(n_images, seed=seed + TEST_SEED_OFFSET)


def _replace_images_if_changed(image_set: ImageSet, data: two_head.TwoHeadData) -> None:
    contents = [codec.png_bytes(array) for array in data.uint8_images()]
    image_set_clear_if_changed(image_set, contents)
    for index, content in enumerate(contents):
        name = image_name(index, data)
        # No class_index: an image has a label per head, given in its name.
        image_create(image_set=image_set, name=name, content=content, filename=f"{name}.png")


def two_head_model_train(*, n_images: int = 12, seed: int = 0, epochs: int = 5) -> TwoHeadModelReport:
    """Generate the two-object data, train TwoHeadNet, save it as a torch.export program, and
    create or update the ModelSpecs "two-head-shape" and "two-head-colour" (same file, head
    and class names of their own) and the ImageSet "two-head-test" (``n_images`` held-out
    images)."""
    if n_images < 1:
        raise ValueError("--images must be at least 1")
    if epochs < 1:
        raise ValueError("--epochs must be at least 1")
    torch.set_num_threads(settings.TORCH_THREADS or torch.get_num_threads())
    result = two_head.train(two_head.generate(TRAIN_IMAGES, seed=seed), epochs=epochs, seed=seed)
    accuracy = two_head.accuracy(result.model, two_head.generate(EVALUATION_IMAGES, seed=seed + 1))
    content = _program_bytes(result.model)
    weights_sha256 = hashlib.sha256(content).hexdigest()

    with transaction.atomic():
        specs, stale = {}, 0
        for head in two_head.HEADS:
            spec, _ = ModelSpec.objects.select_for_update().get_or_create(
                name=MODEL_NAMES[head], defaults={"source": ModelSpec.Source.TORCH_EXPORT}
            )
            stale += stale_results_delete(spec, weights_sha256)
            specs[head] = spec
        path = weights_file_write(WEIGHTS_NAME, content)
        assert model_zoo.file_sha256(path) == weights_sha256
        for head, spec in specs.items():
            spec.source = ModelSpec.Source.TORCH_EXPORT
            spec.architecture = "TwoHeadNet"
            spec.weights_file.name = WEIGHTS_NAME
            spec.input_size = two_head.IMAGE_SIZE
            spec.mean, spec.std = list(two_head.MEAN), list(two_head.STD)
            spec.class_names = list(two_head.HEADS[head])
            spec.head = head
            spec.weights_sha256 = weights_sha256
            spec.save()
        image_set, _ = ImageSet.objects.get_or_create(
            name=IMAGE_SET_NAME,
            defaults={
                "description": "Held-out images of the built-in two-head model (train_two_head_model): "
                "two objects each; head 'shape' names the left object's shape, head 'colour' the "
                "right object's colour (both in the image's name)."
            },
        )
        _replace_images_if_changed(image_set, held_out_images(n_images, seed))
    return TwoHeadModelReport(
        specs=specs,
        image_set=image_set,
        train_seconds=result.seconds,
        accuracy=accuracy,
        stale_results_deleted=stale,
    )
