"""Health endpoints for load balancers and orchestrators. Unauthenticated and cheap; they
say what is wrong, never anything about studies or participants."""

import contextlib
import uuid

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from explain.heartbeat import alive_workers


def _database_ok() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as error:  # noqa: BLE001 - reported, not raised
        return f"database: {type(error).__name__}"
    return None


def _media_ok() -> str | None:
    probe = settings.MEDIA_ROOT / f".health-{uuid.uuid4().hex}"
    try:
        settings.MEDIA_ROOT.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as error:
        with contextlib.suppress(OSError):  # a full disk creates the file, then fails to write it
            probe.unlink(missing_ok=True)
        return f"media: {error.strerror or type(error).__name__}"
    return None


@never_cache
@require_GET
def web_health(request):
    """200 when this web process can reach the database and write media files, else 503."""
    problems = [problem for problem in (_database_ok(), _media_ok()) if problem]
    return JsonResponse({"ok": not problems, "problems": problems}, status=503 if problems else 200)


@never_cache
@require_GET
def worker_health(request):
    """200 when at least one Celery worker has sent a heartbeat recently, else 503."""
    problem = _database_ok()
    if problem:
        return JsonResponse({"ok": False, "problems": [problem], "workers": []}, status=503)
    workers = [
        {
            "hostname": worker.hostname,
            "device": worker.device,
            "queues": worker.queues,
            "last_seen": worker.last_seen.isoformat(),
        }
        for worker in alive_workers()
    ]
    problems = [] if workers else [f"no worker heartbeat in the last {3 * settings.WORKER_HEARTBEAT_S} s"]
    return JsonResponse(
        {"ok": bool(workers), "problems": problems, "workers": workers}, status=200 if workers else 503
    )
