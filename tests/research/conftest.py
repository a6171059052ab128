"""A small study with hand-made annotations submitted through the participant endpoints,
and model maps and a prediction with known values: the exports and the API are checked
against these by hand."""

import io
import json
from dataclasses import dataclass, field

import numpy as np
import pytest
from django.test import Client
from PIL import Image as PILImage

from annotations.models import Annotation
from catalogue.services import image_create, image_set_target_box
from explain.models import Prediction, SaliencyMap
from explain.saliency.registry import method_params, params_hash
from study.models import Participant, Study, Trial
from tests.conftest import gradient_image

HEIGHT, WIDTH = 120, 160  # the fixture images' size
MAIN_IMAGES = ["img0", "img1", "img2"]
TARGET_BOX = (0, 0, 80, 60)  # the attention check's target region: the top-left quarter


def a_map(shift: int) -> np.ndarray:
    """Participant A's 16-bit map: 0 outside a box, 26214 in it, 52428 in a patch inside.
    Min-max normalised: exactly 0, 0.5 and 1."""
    values = np.zeros((HEIGHT, WIDTH), np.uint16)
    values[20 + shift : 60 + shift, 30:90] = 26214
    values[30 + shift : 40 + shift, 40:50] = 52428
    return values


def b_map(shift: int) -> np.ndarray:
    """Participant B's 16-bit map: a left-to-right ramp from `shift` up to 30000."""
    ramp = np.round(np.linspace(shift, 30000, WIDTH)).astype(np.uint16)
    return np.tile(ramp, (HEIGHT, 1))


def box_map(box: tuple[int, int, int, int]) -> np.ndarray:
    left, top, right, bottom = box
    values = np.zeros((HEIGHT, WIDTH), np.uint16)
    values[top:bottom, left:right] = 65535
    return values


def png16(values: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(values).save(buffer, format="PNG")
    return buffer.getvalue()


def model_map(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((224, 224), dtype=np.float32)


@dataclass
class PaintedStudy:
    study: Study
    codes: dict = field(default_factory=dict)  # participant name -> participant code
    submitted: dict = field(default_factory=dict)  # (participant, image) -> 16-bit map
    model_maps: dict = field(default_factory=dict)  # (image, method) -> SaliencyMap


def _submit(client: Client, participant: Participant, image_name: str, values: np.ndarray, **fields):
    """Submit ``values`` for the participant's trial of ``image_name``, through the endpoint.

    The server takes trials only in the order it assigned them, so the trial is first moved
    to the participant's current position. The maps here are exact hand-made numbers, not
    brush strokes, sent at once: the server flags them (strokes_mismatch, too_fast, maybe
    impossible_timeout), and flagged maps are left out of the analysis. These fixtures check
    the exports' arithmetic on known maps, so those flags are cleared again (an attention
    check's failure stays); tests/annotations/test_flags.py and
    tests/research/test_flagged_maps.py check the flags themselves."""
    trial = participant.trials.get(image__name=image_name)
    _make_current(participant, trial)
    response = client.post(
        f"/p/{participant.code}/trials/{trial.pk}/annotation",
        {
            "map": _upload(png16(values)),
            "strokes": "[]",
            "idempotency_key": f"{participant.code[:8]}-{trial.pk}",
            **fields,
        },
    )
    assert response.status_code == 200, response.content
    annotation = Annotation.objects.get(trial=trial)
    annotation.flags = [item for item in annotation.flags if item["code"] == "failed_attention_check"]
    annotation.save(update_fields=["flags"])


def _make_current(participant: Participant, trial: Trial) -> None:
    """Swap ``trial`` with the participant's current (first pending) trial."""
    current = participant.trials.filter(status=Trial.Status.PENDING).order_by("position").first()
    if current is None or current.pk == trial.pk:
        return
    Trial.objects.filter(pk=trial.pk).update(position=0)
    Trial.objects.filter(pk=current.pk).update(position=trial.position)
    Trial.objects.filter(pk=trial.pk).update(position=current.position)


def _upload(content: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("map.png", content, content_type="image/png")


def _join(slug: str, query: str) -> tuple[Client, Participant]:
    client = Client()
    client.get(f"/s/{slug}/?{query}")
    response = client.post(f"/s/{slug}/consent", {"decision": "accept", "recruiter_ids": query})
    participant = Participant.objects.get(code=response.url.split("/")[2])
    client.post(f"/p/{participant.code}/instructions")
    return client, participant


@pytest.fixture
def painted_study(study, default_model) -> PaintedStudy:
    """img0-img2 main, img3 practice, "check" an attention check (flag policy).

    A (Prolific) and B (MTurk) finish: they paint every main image and pass the check.
    C (Prolific) paints only the practice image and fails the check: flagged, trials pending.
    Model maps for img0 and img1 with both methods; a prediction for img0.
    """
    images = study.image_set.images
    images.filter(name="img3").update(is_practice=True)
    check = image_create(
        image_set=study.image_set,
        name="check",
        content=gradient_image(seed=9),
        filename="check.png",
        class_name="top-left",
    )
    check.is_attention_check = True
    check.save(update_fields=["is_attention_check"])
    image_set_target_box(image=check, box=TARGET_BOX)
    study.trials_per_participant = 3
    study.practice_trials = 1
    study.attention_checks = 1
    study.save()
    painted = PaintedStudy(study=study)

    client, a = _join(study.slug, "PROLIFIC_PID=pA&STUDY_ID=sA&SESSION_ID=xA")
    painted.codes["A"] = a.code
    _submit(client, a, "img3", box_map((10, 10, 50, 50)), time_on_task_ms=1500)
    for index, name in enumerate(MAIN_IMAGES):
        values = a_map(shift=10 * index)
        extra = {"time_on_task_ms": 7000 + index}
        if name == "img0":
            extra["focus_events"] = json.dumps(
                [["blur", 100], ["hidden", 200], ["visible", 1200], ["focus", 1300], ["hidden", 5000]]
            )
            extra["time_on_task_ms"] = 6000
            extra["canvas_width"], extra["canvas_height"], extra["device_pixel_ratio"] = 640, 480, 2
        _submit(client, a, name, values, **extra)
        painted.submitted[("A", name)] = values
    _submit(client, a, "check", box_map((5, 5, 60, 50)), time_on_task_ms=3000)

    client, b = _join(study.slug, "workerId=wB&assignmentId=aB&hitId=hB")
    painted.codes["B"] = b.code
    _submit(client, b, "img3", box_map((10, 10, 50, 50)))
    for index, name in enumerate(MAIN_IMAGES):
        values = b_map(shift=1000 * index)
        extra = {"timed_out": "1", "time_on_task_ms": 30000} if name == "img2" else {"time_on_task_ms": 9000}
        _submit(client, b, name, values, **extra)
        painted.submitted[("B", name)] = values
    _submit(client, b, "check", box_map((0, 0, 80, 60)), time_on_task_ms=2500)

    client, c = _join(study.slug, "PROLIFIC_PID=pC")
    painted.codes["C"] = c.code
    _submit(client, c, "img3", box_map((10, 10, 50, 50)))
    _submit(client, c, "check", box_map((100, 70, 150, 110)), time_on_task_ms=4000)  # outside: fails

    for seed, (name, method) in enumerate(
        [
            ("img0", "integrated_gradients"),
            ("img0", "xrai"),
            ("img1", "integrated_gradients"),
            ("img1", "xrai"),
        ]
    ):
        params = method_params(method, study.method_params.get(method))
        painted.model_maps[(name, method)] = SaliencyMap.objects.create(
            image=images.get(name=name),
            model=default_model,
            method=method,
            target_class=285,
            params=params,
            params_hash=params_hash(params),
            map_npy=SaliencyMap.encode(model_map(seed)),
            runtime_s=1.5,
            device="cpu",
            versions={"torch": "test"},
            weights_sha256="f" * 64,
        )
    Prediction.objects.create(
        image=images.get(name="img0"),
        model=default_model,
        top5=[{"index": 285, "name": "Egyptian cat", "probability": 0.7}]
        + [{"index": k, "name": f"class {k}", "probability": 0.05} for k in range(4)],
        weights_sha256="f" * 64,
    )
    assert Trial.objects.filter(participant__study=study, status=Trial.Status.DONE).count() == 12
    return painted


def hand_mean(*maps_16bit: np.ndarray) -> np.ndarray:
    """What the human mean map must be: each map scaled to [0,1] by its own min and max, then
    the per-pixel mean."""
    scaled = []
    for values in maps_16bit:
        values = values.astype(np.float64)
        scaled.append((values - values.min()) / (values.max() - values.min()))
    return np.mean(scaled, axis=0)
