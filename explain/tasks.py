"""Thin Celery tasks: take ids, call a service, record the outcome."""

import logging

from celery import shared_task
from django.db import OperationalError

from explain import services

logger = logging.getLogger(__name__)


@shared_task(name="explain.run_compute_job", acks_late=True, reject_on_worker_lost=True)
def run_compute_job(job_id: int) -> None:
    for image_id, model_id in services.compute_job_start(job_id=job_id):
        compute_image_maps.delay(job_id, image_id, model_id)


@shared_task(
    name="explain.compute_image_maps",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=3300,
    time_limit=3600,
    max_retries=3,
)
def compute_image_maps(self, job_id: int, image_id: int, model_id: int) -> None:
    """Prediction and maps for one image x model; a re-delivered task finds them stored."""
    try:
        services.image_unit_compute(job_id=job_id, image_id=image_id, model_id=model_id)
    except OperationalError as error:  # the database went away: worth another try
        raise self.retry(exc=error, countdown=2 ** (self.request.retries + 2)) from error
    except Exception as error:
        logger.exception("compute failed for job %s image %s model %s", job_id, image_id, model_id)
        services.compute_job_record(job_id=job_id, error=f"image {image_id}, model {model_id}: {error!r}")
        return
    services.compute_job_record(job_id=job_id)
