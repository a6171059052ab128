import io

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage

from annotations.models import Annotation
from study.models import Trial
from study.services import participant_start
from tests.conftest import post_annotation


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _map16(width=160, height=120) -> np.ndarray:
    values = np.zeros((height, width), np.uint16)
    values[40:80, 50:110] = 50000
    return values


def _submit(client, trial, content: bytes, **fields):
    return post_annotation(client, trial, content, **{"idempotency_key": "k1", **fields})


def test_a_16_bit_map_is_stored_losslessly_with_its_metadata(client, trial):
    content = _png(_map16())
    response = _submit(client, trial, content)
    assert response.status_code == 200, response.content
    assert response.json()["next_url"] == f"/p/{trial.participant.code}/"
    annotation = Annotation.objects.get(trial=trial)
    assert bytes(annotation.map_png) == content
    assert annotation.bit_depth == 16
    np.testing.assert_array_equal(annotation.map_array(), _map16() / np.float32(65535))
    assert (annotation.time_on_task_ms, annotation.canvas_width, annotation.device_pixel_ratio) == (
        1234,
        640,
        2.0,
    )
    trial.refresh_from_db()
    assert trial.status == Trial.Status.DONE


def test_an_8_bit_grayscale_map_is_accepted(client, trial):
    values = np.zeros((120, 160), np.uint8)
    values[10:20, 10:20] = 255
    assert _submit(client, trial, _png(values)).status_code == 200
    assert Annotation.objects.get().map_array().max() == 1.0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (_png(np.ones((60, 80), np.uint16)), "the map is 80x60 but the image is 160x120"),
        (b"GIF89a not a png", "must be a PNG"),
        (_png(np.ones((120, 160, 3), np.uint8)), "grayscale"),
        (_png(np.zeros((120, 160), np.uint16)), "the map is empty"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "could not be decoded"),
    ],
)
def test_a_bad_map_gets_a_clear_400_and_nothing_is_saved(client, trial, content, message):
    response = _submit(client, trial, content)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert Annotation.objects.count() == 0
    trial.refresh_from_db()
    assert trial.status == Trial.Status.PENDING


@pytest.mark.parametrize(
    ("strokes", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"tool": "brush"}', "must be a list"),
        ('[{"tool": "spray", "points": []}]', "'brush' or 'eraser'"),
        ('[{"tool": "brush", "points": [[1, NaN]]}]', "finite"),
        ('[{"tool": "brush", "points": [[1]]}]', "finite"),
    ],
)
def test_a_broken_stroke_log_is_refused(client, trial, strokes, message):
    response = _submit(client, trial, _png(_map16()), strokes=strokes)
    assert response.status_code == 400 and message in response.json()["error"]
    assert Annotation.objects.count() == 0


def test_nonsense_metadata_is_refused(client, trial):
    response = _submit(client, trial, _png(_map16()), device_pixel_ratio="inf")
    assert response.status_code == 400 and "device_pixel_ratio" in response.json()["error"]
    assert Annotation.objects.count() == 0


def test_an_oversize_map_gets_413(client, trial, settings):
    settings.ANNOTATION_MAX_BYTES = 1024
    noisy = np.random.default_rng(0).integers(1, 65535, (120, 160)).astype(np.uint16)
    response = _submit(client, trial, _png(noisy))
    assert response.status_code == 413
    assert Annotation.objects.count() == 0


def test_a_missing_map_field_is_a_400(client, trial):
    response = client.post(f"/p/{trial.participant.code}/trials/{trial.pk}/annotation", {"strokes": "[]"})
    assert response.status_code == 400 and "field 'map'" in response.json()["error"]


def test_a_retry_with_the_same_key_stores_one_annotation(client, trial):
    content = _png(_map16())
    assert _submit(client, trial, content).status_code == 200
    assert _submit(client, trial, content).status_code == 200
    assert Annotation.objects.count() == 1


def test_a_second_submission_with_another_key_is_a_conflict(client, trial):
    assert _submit(client, trial, _png(_map16())).status_code == 200
    response = _submit(client, trial, _png(_map16()), idempotency_key="other")
    assert response.status_code == 409
    assert Annotation.objects.count() == 1


def test_nobody_can_submit_to_another_participants_trial(client, study, trial):
    other = participant_start(study=study, recruiter_ids={})
    data = {"map": SimpleUploadedFile("map.png", _png(_map16())), "strokes": "[]"}
    response = client.post(f"/p/{other.code}/trials/{trial.pk}/annotation", data)
    assert response.status_code == 404
    assert Annotation.objects.count() == 0
