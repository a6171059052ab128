"""Health endpoints and production settings."""

import os
import secrets
import subprocess
import sys
import time

import pytest
from django.conf import settings

from explain.models import WorkerHeartbeat


def test_web_health_is_ok_with_database_and_writable_media(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "problems": []}
    assert "no-cache" in response["Cache-Control"]


def test_web_health_reports_unwritable_media(client, db, tmp_path, settings):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    settings.MEDIA_ROOT = blocker / "media"  # cannot be created under a file
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False
    assert body["problems"] and body["problems"][0].startswith("media:")


def test_worker_health_is_503_without_a_recent_heartbeat(client, db):
    from django.utils import timezone

    stale = timezone.now() - timezone.timedelta(seconds=3 * settings.WORKER_HEARTBEAT_S + 1)
    WorkerHeartbeat.objects.create(
        hostname="old@host", pid=1, device="cpu", started_at=stale, last_seen=stale
    )
    response = client.get("/healthz/worker")
    assert response.status_code == 503
    assert response.json()["workers"] == []


@pytest.mark.django_db(transaction=True)
def test_worker_health_sees_a_running_worker(client, celery_worker_process):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        response = client.get("/healthz/worker")
        if response.status_code == 200:
            break
        time.sleep(0.5)
    assert response.status_code == 200, celery_worker_process.log_path.read_text()[-2000:]
    (worker,) = response.json()["workers"]
    assert worker["hostname"].startswith(f"test-{os.getpid()}@")
    assert worker["queues"] == [settings.CELERY_TASK_DEFAULT_QUEUE]
    assert worker["device"] == "cpu" or worker["device"].startswith("cuda")


def _check_deploy(extra_env: dict) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "DATABASE_URL"))}
    env.update(extra_env)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_settings():
    result = _check_deploy(
        {
            "DJANGO_PRODUCTION": "true",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "saliency.example.org",
        }
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_warns_on_the_embedded_default():
    # The same check fails without the production switch: the test above can fail.
    result = _check_deploy({})
    assert result.returncode != 0
    assert "security.W004" in result.stderr  # no HSTS


def test_production_refuses_to_start_without_a_secret_key():
    result = _check_deploy({"DJANGO_PRODUCTION": "true"})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr
