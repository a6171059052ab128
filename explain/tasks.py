"""Thin Celery tasks: take ids, call a service. A unit's status decides whether there is
anything to do, so a task delivered twice (acks_late, a killed worker) is harmless."""

from celery import shared_task
from django.db import OperationalError

from explain import services


@shared_task(name=services.RUN_COMPUTE_JOB_TASK, acks_late=True, reject_on_worker_lost=True)
def run_compute_job(job_id: int, unit_ids: list[int] | None = None) -> None:
    """Fan the job's pending units (of ``unit_ids`` when given: a retry) out to the workers."""
    for unit_id in services.compute_job_start(job_id=job_id, unit_ids=unit_ids):
        compute_unit.delay(unit_id)


@shared_task(
    name="explain.compute_unit",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=services.UNIT_SOFT_TIME_LIMIT_S,
    time_limit=services.UNIT_TIME_LIMIT_S,
    max_retries=3,
)
def compute_unit(self, unit_id: int) -> str | None:
    """Prediction and maps of one image x model; the unit records done or failed."""
    try:
        return services.image_unit_compute(unit_id=unit_id)
    except OperationalError as error:  # the database went away: worth another try
        raise self.retry(exc=error, countdown=2 ** (self.request.retries + 2)) from error
