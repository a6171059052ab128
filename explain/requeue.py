"""Sending compute units again whose broker message is gone.

The database, not the broker, is the record of what is left to compute: a job's units are
written (pending) before anything is queued. When the broker loses its messages (Redis
restarted without persistence, a flushed queue, the filesystem queue folder wiped), the
pending units are still in the database and are queued again from there. A unit queued
twice is harmless: the second delivery finds it done and returns (explain.tasks).
"""

import logging

from explain.models import ComputeJob, ComputeUnit

logger = logging.getLogger(__name__)

UNFINISHED = (ComputeJob.Status.QUEUED, ComputeJob.Status.RUNNING)


def pending_units_by_job() -> dict[int, list[int]]:
    """{job id: pending unit ids} over the jobs that are not finished or cancelled."""
    by_job: dict[int, list[int]] = {}
    units = ComputeUnit.objects.filter(status=ComputeUnit.Status.PENDING, job__status__in=UNFINISHED)
    for job_id, unit_id in units.order_by("job_id", "pk").values_list("job_id", "pk"):
        by_job.setdefault(job_id, []).append(unit_id)
    return by_job


def compute_units_requeue_pending(by_job: dict[int, list[int]] | None = None) -> dict[int, list[int]]:
    """Queue every pending unit of every unfinished job again (one fan-out task per job,
    which sends only the units still pending when it runs), or those of ``by_job`` when the
    caller has just read them. Returns what was queued."""
    from explain.tasks import run_compute_job

    by_job = pending_units_by_job() if by_job is None else by_job
    for job_id, unit_ids in by_job.items():
        run_compute_job.delay(job_id, unit_ids)
    if by_job:
        logger.warning(
            "re-queued %d pending compute unit(s) of job(s) %s",
            sum(len(ids) for ids in by_job.values()),
            ", ".join(map(str, by_job)),
        )
    return by_job


def queued_message_count(app, queue_names) -> int:
    """How many messages wait in these broker queues (not counting ones a worker holds)."""
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        return sum(channel.queue_declare(queue=name).message_count for name in queue_names)


def requeue_pending_if_queues_empty(app, queue_names) -> dict[int, list[int]]:
    """What a worker does on every (re)connection to the broker: if its queues are empty
    while the database has pending units, their messages were lost, so queue them again.
    A non-empty queue means the broker kept its messages: nothing is sent (no duplicates
    when a worker merely restarts)."""
    by_job = pending_units_by_job()
    if not by_job or queued_message_count(app, queue_names):
        return {}
    return compute_units_requeue_pending(by_job)
