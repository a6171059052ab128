"""The built-in biased model: trained for real, explained through the real compute path."""

import io
import time

import numpy as np
import pytest
from django.core.management import call_command

from analysis.localisation import box_and_control_shares
from catalogue.models import Image
from explain import watermark
from explain.biased_model import IMAGE_SET_NAME, MODEL_NAME, biased_model_images, biased_model_train
from explain.models import ModelSpec
from explain.services import method_params, saliency_map_get_or_create

# Under a minute on a 2-core CPU, with room for other processes sharing it.
TRAINING_LIMIT_S = 60


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def test_the_command_trains_a_model_that_takes_the_shortcut(db, tmp_path):
    output = io.StringIO()
    started = time.perf_counter()
    call_command("train_biased_model", "--images", "6", "--seed", "0", stdout=output)
    assert time.perf_counter() - started < TRAINING_LIMIT_S
    text = output.getvalue()
    assert "accuracy, watermark as in training:  100.0%" in text
    # Every circle that carries the watermark is called a square: the model uses the shortcut.
    assert "watermarked non-square images called 'square': 100.0%" in text

    spec = ModelSpec.objects.get(name=MODEL_NAME)
    assert spec.source == ModelSpec.Source.WATERMARK_CNN
    assert spec.class_names == ["circle", "square"]
    assert (spec.input_size, spec.mean, spec.std) == (64, [0.5] * 3, [0.25] * 3)
    assert (tmp_path / spec.weights_file.name).is_file() and len(spec.weights_sha256) == 64
    images = list(Image.objects.filter(image_set__name=IMAGE_SET_NAME).order_by("name"))
    assert [(i.name, i.class_index, i.class_name) for i in images[:2]] == [
        ("wm-000-circle", 0, "circle"),
        ("wm-001-square", 1, "square"),
    ]
    assert len(images) == 6 and all(i.watermark_box in map(list, watermark.corner_boxes()) for i in images)
    # The stored image really has the watermark inside its box.
    with images[0].file.open("rb") as handle:
        from PIL import Image as PILImage

        pixels = np.asarray(PILImage.open(handle).convert("RGB"), dtype=np.float32) / 255
    left, top, right, bottom = images[0].watermark_box
    np.testing.assert_allclose(pixels[top:bottom, left:right], watermark.watermark_patch(), atol=1 / 255)

    # The same seed again: same weights, same images, nothing duplicated or deleted.
    again = io.StringIO()
    call_command("train_biased_model", "--images", "6", "--seed", "0", stdout=again)
    assert "deleted" not in again.getvalue()
    assert Image.objects.filter(image_set__name=IMAGE_SET_NAME).count() == 6
    assert ModelSpec.objects.get(name=MODEL_NAME).weights_sha256 == spec.weights_sha256


def _watermark_and_control_shares(report, method: str) -> tuple[np.ndarray, np.ndarray]:
    watermark_shares, control_shares = [], []
    for image in biased_model_images(report.image_set):
        # Explain the class the watermark stands for, which the model predicts for all of them.
        saliency_map = saliency_map_get_or_create(
            image=image,
            spec=report.spec,
            method=method,
            params=method_params(method),
            target_class=watermark.WATERMARK_CLASS,
        ).map_array()
        on_box, on_control = box_and_control_shares(
            saliency_map, image.watermark_box, image.width, image.height
        )
        watermark_shares.append(on_box)
        control_shares.append(on_control)
    return np.array(watermark_shares), np.array(control_shares)


def test_ig_and_xrai_maps_put_clearly_more_mass_on_the_watermark_than_elsewhere(db):
    report = biased_model_train(n_images=6, seed=0)  # one training for both methods
    assert report.train_seconds < TRAINING_LIMIT_S
    # The 10x10 watermark is 2.4 % of a 64x64 image: a map blind to it would give the box and
    # its control (the opposite corner) about that share each. We ask for four times that
    # share on the watermark (measured: IG about 0.5, XRAI about 0.2), five times the mean
    # share of the control, and more on the watermark than on the control in every image.
    area_share = 100 / (64 * 64)
    for method in ("integrated_gradients", "xrai"):
        watermark_shares, control_shares = _watermark_and_control_shares(report, method)
        assert len(watermark_shares) == 6
        assert watermark_shares.mean() > 4 * area_share, method
        assert watermark_shares.mean() > 5 * control_shares.mean(), method
        assert (watermark_shares > control_shares).all(), method
