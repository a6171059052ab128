"""Worker heartbeats: each Celery worker process writes a row every WORKER_HEARTBEAT_S
seconds from a background thread, so /healthz/worker can say which workers are alive, on
which device, without a broadcast that the filesystem transport cannot do."""

import logging
import os
import threading

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from explain.models import WorkerHeartbeat

logger = logging.getLogger(__name__)
_stop_events: list[threading.Event] = []


def worker_device() -> str:
    """The device the worker's tasks will use, as "cuda:0 (NAME)" or "cpu"."""
    # NVML's device count does not initialise CUDA, so forked pool processes can still use it.
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    import torch

    if not torch.cuda.is_available():
        return "cpu"
    try:
        return f"cuda:0 ({torch.cuda.get_device_name(0)})"
    except Exception:  # noqa: BLE001 - a name is nice to have, the device is what counts
        return "cuda:0"


def beat(*, hostname: str, queues: list[str], device: str, started_at) -> None:
    WorkerHeartbeat.objects.update_or_create(
        hostname=hostname,
        defaults={
            "pid": os.getpid(),
            "queues": queues,
            "device": device,
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
            "started_at": started_at,
            "last_seen": timezone.now(),
        },
    )


def start_heartbeat(*, hostname: str, queues: list[str]) -> threading.Event:
    """Beat now and then every interval until the returned event is set."""
    stop = threading.Event()
    device = worker_device()
    started_at = timezone.now()

    def run() -> None:
        while True:
            try:
                close_old_connections()
                beat(hostname=hostname, queues=queues, device=device, started_at=started_at)
            except Exception:  # noqa: BLE001 - a database outage must not kill the thread
                logger.warning("worker heartbeat failed", exc_info=True)
            finally:
                connection.close()
            if stop.wait(settings.WORKER_HEARTBEAT_S):
                return

    threading.Thread(target=run, name="worker-heartbeat", daemon=True).start()
    _stop_events.append(stop)
    return stop


def stop_heartbeats() -> None:
    for stop in _stop_events:
        stop.set()


def alive_workers() -> list[WorkerHeartbeat]:
    """Workers whose last beat is younger than three intervals."""
    cutoff = timezone.now() - timezone.timedelta(seconds=3 * settings.WORKER_HEARTBEAT_S)
    return list(WorkerHeartbeat.objects.filter(last_seen__gte=cutoff).order_by("hostname"))
