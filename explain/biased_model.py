"""Writes for the built-in biased model: train it, store its weights, its ModelSpec and its
test image set (what `manage.py train_biased_model` does).

The names are fixed so that a ready-made "biased model" study can find them.
"""

import io
from dataclasses import dataclass

import torch
from django.conf import settings
from django.db import transaction

from analysis import codec
from catalogue.models import Image, ImageSet
from catalogue.services import image_create
from explain import model_zoo, watermark
from explain.builtin_models import image_set_clear_if_changed, stale_results_delete, weights_file_write
from explain.models import ModelSpec
from explain.samples import BIASED_IMAGE_SET_NAME as IMAGE_SET_NAME  # named without torch
from explain.samples import BIASED_MODEL_NAME as MODEL_NAME

WEIGHTS_NAME = "weights/watermark-cnn.pt"  # relative to MEDIA_ROOT
TRAIN_IMAGES = 1024
EVALUATION_IMAGES = 400


@dataclass
class BiasedModelReport:
    spec: ModelSpec
    image_set: ImageSet
    train_seconds: float
    train_accuracy: float  # held-out images watermarked as in training
    clean_accuracy: float  # held-out images without any watermark
    watermarked_accuracy: float  # held-out images all carrying the watermark
    other_class_flipped: float  # watermarked images of the other classes called the watermark class
    stale_results_deleted: int


def _weights_bytes(model: torch.nn.Module) -> bytes:
    # Through a buffer: a file's archive records its own (here random) name, which would
    # change the hash of identical weights.
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getvalue()


def _test_images(n_images: int, seed: int) -> watermark.WatermarkData:
    return watermark.generate(n_images, seed=seed + 3, watermark="all")


def _replace_images_if_changed(image_set: ImageSet, data: watermark.WatermarkData) -> None:
    contents = [codec.png_bytes(array) for array in data.uint8_images()]
    image_set_clear_if_changed(image_set, contents)
    for index, (content, label, box) in enumerate(zip(contents, data.labels, data.boxes)):
        name = f"wm-{index:03d}-{watermark.CLASS_NAMES[int(label)]}"
        image = image_create(
            image_set=image_set,
            name=name,
            content=content,
            filename=f"{name}.png",
            class_index=int(label),
            class_name=watermark.CLASS_NAMES[int(label)],
        )
        if image.watermark_box != list(box):
            image.watermark_box = list(box)
            image.save(update_fields=["watermark_box"])


def biased_model_train(*, n_images: int = 24, seed: int = 0, epochs: int = 3) -> BiasedModelReport:
    """Generate the shortcut data, train WatermarkNet, save its weights, and create or update
    the ModelSpec "watermark-cnn" and the ImageSet "watermark-test" (``n_images`` held-out
    images, classes alternating, every one carrying the watermark, with its box)."""
    if n_images < 1:
        raise ValueError("--images must be at least 1")
    if epochs < 1:
        raise ValueError("--epochs must be at least 1")
    torch.set_num_threads(settings.TORCH_THREADS or torch.get_num_threads())
    result = watermark.train(watermark.generate(TRAIN_IMAGES, seed=seed), epochs=epochs, seed=seed)
    model = result.model
    as_trained = watermark.generate(EVALUATION_IMAGES, seed=seed + 1, watermark="train")
    clean = watermark.generate(EVALUATION_IMAGES, seed=seed + 1, watermark="none")
    stamped = watermark.generate(EVALUATION_IMAGES, seed=seed + 1, watermark="all")
    others = stamped.labels != watermark.WATERMARK_CLASS
    flipped = float((watermark.predict(model, stamped)[others] == watermark.WATERMARK_CLASS).mean())
    test = _test_images(n_images, seed)

    with transaction.atomic():
        spec, _ = ModelSpec.objects.select_for_update().get_or_create(
            name=MODEL_NAME, defaults={"source": ModelSpec.Source.WATERMARK_CNN}
        )
        weights_path = weights_file_write(WEIGHTS_NAME, _weights_bytes(model))
        weights_sha256 = model_zoo.file_sha256(weights_path)
        stale = stale_results_delete(spec, weights_sha256)
        spec.source = ModelSpec.Source.WATERMARK_CNN
        spec.architecture = "WatermarkNet"
        spec.weights_file.name = WEIGHTS_NAME
        spec.input_size = watermark.IMAGE_SIZE
        spec.mean, spec.std = list(watermark.MEAN), list(watermark.STD)
        spec.class_names = list(watermark.CLASS_NAMES)
        spec.weights_sha256 = weights_sha256
        spec.save()
        image_set, _ = ImageSet.objects.get_or_create(
            name=IMAGE_SET_NAME,
            defaults={
                "description": "Held-out images of the built-in biased model (train_biased_model): "
                "circles and squares, every one carrying the watermark that marked the "
                "squares in training; Image.watermark_box is where it is."
            },
        )
        _replace_images_if_changed(image_set, test)
    return BiasedModelReport(
        spec=spec,
        image_set=image_set,
        train_seconds=result.seconds,
        train_accuracy=watermark.accuracy(model, as_trained),
        clean_accuracy=watermark.accuracy(model, clean),
        watermarked_accuracy=watermark.accuracy(model, stamped),
        other_class_flipped=flipped,
        stale_results_deleted=stale,
    )


def biased_model_images(image_set: ImageSet | None = None):
    """The test images that carry a watermark, in name order."""
    image_set = image_set or ImageSet.objects.get(name=IMAGE_SET_NAME)
    return Image.objects.filter(image_set=image_set, watermark_box__isnull=False).order_by("name")
