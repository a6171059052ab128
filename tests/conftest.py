"""Shared fixtures: personas and small studies built through the real services."""

import io
import json
import os

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage

from catalogue.models import ImageSet
from catalogue.services import image_create
from explain.models import ModelSpec
from study.models import Study
from study.services import participant_start

# Playwright's sync API runs an event loop in the test thread; the ORM calls beside it are safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def gradient_image(width: int = 160, height: int = 120, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // width, y * 255 // height, rng.integers(0, 255, (height, width))], axis=-1)
    return png_bytes(rgb.astype(np.uint8))


def gradient_image_set(name: str, count: int, *, first_seed: int = 0, class_name: str = "") -> ImageSet:
    """An image set of ``count`` distinct gradient images img0, img1, ... labelled class 285."""
    image_set = ImageSet.objects.create(name=name)
    for index in range(count):
        image_create(
            image_set=image_set,
            name=f"img{index}",
            content=gradient_image(seed=first_seed + index),
            filename=f"img{index}.png",
            class_index=285,
            class_name=class_name,
        )
    return image_set


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Rate-limit counts live in the cache: each test starts with none, as a new minute would."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def image_set(db):
    return gradient_image_set("test set", 4, class_name="Egyptian cat")


@pytest.fixture
def default_model(db):
    return ModelSpec.objects.create(name="efficientnet-lite0", source=ModelSpec.Source.EFFICIENTNET_LITE0)


@pytest.fixture
def study(image_set, default_model):
    study = Study.objects.create(
        slug="test-study",
        title="Test study",
        image_set=image_set,
        trials_per_participant=2,
        methods=["integrated_gradients", "xrai"],
    )
    study.model_specs.add(default_model)
    return study


@pytest.fixture
def trial(study):
    """The first trial of a participant who has just started the test study."""
    participant = participant_start(study=study, recruiter_ids={})
    return participant.trials.order_by("position").first()


def post_annotation(client, trial, content: bytes, **fields):
    """Submit ``content`` as the trial's painted map, as the painter does (a one-dab stroke
    log and canvas metadata by default; ``fields`` add to or replace them)."""
    data = {
        "map": SimpleUploadedFile("map.png", content, content_type="image/png"),
        "strokes": json.dumps([{"tool": "brush", "size": 20, "points": [[60, 60, 1.0]]}]),
        "time_on_task_ms": "1234",
        "canvas_width": "640",
        "canvas_height": "480",
        "device_pixel_ratio": "2",
        **fields,
    }
    return client.post(f"/p/{trial.participant.code}/trials/{trial.pk}/annotation", data)


@pytest.fixture
def media(settings, tmp_path):
    """MEDIA_ROOT in the test's own temporary folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def media_files(media) -> list:
    return sorted(p for p in media.rglob("*") if p.is_file()) if media.exists() else []


@pytest.fixture
def researcher(db):
    return get_user_model().objects.create_user("researcher", password="research-pass-123", is_staff=True)


def _database_url_for_subprocess() -> str:
    """The URL of the database the tests are using right now (pytest-django's test DB)."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db.get("USER") or ""
    if db.get("PASSWORD"):
        auth += f":{db['PASSWORD']}"
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{auth}@{host}:{port}/{db['NAME']}"


@pytest.fixture
def celery_worker_process(transactional_db, tmp_path):
    """A real Celery worker process on the test database and this run's queue."""
    import subprocess
    import sys
    import time

    from django.conf import settings

    log_path = tmp_path / "worker.log"
    env = {**os.environ, "DATABASE_URL": _database_url_for_subprocess(), "OMP_WAIT_POLICY": "PASSIVE"}
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--concurrency",
                "1",
                "--loglevel",
                "INFO",
                "--queues",
                settings.CELERY_TASK_DEFAULT_QUEUE,
                "--without-gossip",
                "--without-mingle",
                "--hostname",
                f"test-{os.getpid()}@%h",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=settings.BASE_DIR,
        )
    deadline = time.monotonic() + 120
    while "ready." not in log_path.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the Celery worker did not start:\n{log_path.read_text()}")
        time.sleep(0.5)
    process.log_path = log_path
    yield process
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
