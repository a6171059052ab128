import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Idle OpenMP threads spin on a small shared machine and slow torch 10-30x.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

app = Celery("saliency_study")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_ready.connect
def _start_heartbeat(sender, **kwargs):
    from explain.heartbeat import start_heartbeat

    queues = sorted(queue.name for queue in sender.app.amqp.queues.consume_from.values())
    start_heartbeat(hostname=sender.hostname, queues=queues)


@signals.worker_shutting_down.connect
def _stop_heartbeat(**kwargs):
    from explain.heartbeat import stop_heartbeats

    stop_heartbeats()  # the row stays: its age tells /healthz/worker the worker is gone
