import logging
import os

from celery import Celery, bootsteps, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Idle OpenMP threads spin on a small shared machine and slow torch 10-30x.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

app = Celery("saliency_study")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class RequeueLostUnits(bootsteps.StartStopStep):
    """Runs each time the worker (re)connects to the broker, e.g. after Redis restarted:
    pending units whose messages the broker lost are queued again from the database."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def start(self, consumer):
        from explain.requeue import requeue_pending_if_queues_empty

        queues = sorted(queue.name for queue in consumer.app.amqp.queues.consume_from.values())
        try:
            requeue_pending_if_queues_empty(consumer.app, queues)
        except Exception:  # noqa: BLE001 - a database outage must not stop the worker consuming
            logging.getLogger(__name__).warning("could not check for lost compute units", exc_info=True)


app.steps["consumer"].add(RequeueLostUnits)


@signals.worker_ready.connect
def _start_heartbeat(sender, **kwargs):
    from explain.heartbeat import start_heartbeat

    queues = sorted(queue.name for queue in sender.app.amqp.queues.consume_from.values())
    start_heartbeat(hostname=sender.hostname, queues=queues)


@signals.worker_shutting_down.connect
def _stop_heartbeat(**kwargs):
    from explain.heartbeat import stop_heartbeats

    stop_heartbeats()  # the row stays: its age tells /healthz/worker the worker is gone
