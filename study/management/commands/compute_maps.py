import time

from django.core.management.base import BaseCommand, CommandError

from explain.models import ComputeJob
from explain.selectors import compute_job_progress
from study.compute_estimate import study_compute_estimate
from study.models import Study
from study.services import study_maps_compute


def progress_line(progress: dict) -> str:
    """'  3/12 done (1 stored already), 1 failed, 2.4 units/min, ETA 3 min 45 s (running)'; the
    rate counts only units that computed something (explain.selectors.compute_job_progress)."""
    parts = [f"{progress['done']}/{progress['total']} done"]
    if progress["cached"]:
        parts[0] += f" ({progress['cached']} stored already)"
    if progress["failed"]:
        parts.append(f"{progress['failed']} failed")
    if progress["cancelled"]:
        parts.append(f"{progress['cancelled']} cancelled")
    if progress["rate_per_minute"] is not None:
        parts.append(f"{progress['rate_per_minute']:.2f} units/min")
    if progress["eta_text"]:
        parts.append(f"ETA {progress['eta_text']}")
    return f"  {', '.join(parts)} ({progress['job'].status})"


def wait_for_job(job: ComputeJob, *, timeout: float, stdout, stderr) -> None:
    """Print the job's progress line whenever it changes until the job finishes (then its
    failures on ``stderr``); CommandError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        job.refresh_from_db()
        progress = compute_job_progress(job)
        state = (progress["done"], progress["failed"], progress["cancelled"], job.status)
        if state != last:
            stdout.write(progress_line(progress))
            last = state
        if job.finished_at:
            for failure in progress["failures"]:
                stderr.write(f"  error: {failure['image']}, {failure['model']}: {failure['error']}")
            return
        time.sleep(1)
    raise CommandError("timed out waiting for the worker; is one running?")


class Command(BaseCommand):
    # No system checks: they import every view and the API's schema code (about 2 s of start-up);
    # manage.py check, migrate and the servers run them.
    requires_system_checks = []
    help = (
        "Queue predictions and saliency maps for every image x model x method of a study; "
        "a worker computes them."
    )

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True, help="study slug")
        parser.add_argument("--wait", action="store_true", help="wait for the worker and show progress")
        parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait at most with --wait")

    def handle(self, *args, study: str, wait: bool, timeout: float, **options):
        study_obj = Study.objects.filter(slug=study).first()
        if study_obj is None:
            raise CommandError(f"no study with slug {study!r}")
        self.stdout.write(f"estimate: {study_compute_estimate(study=study_obj).text()}")
        try:
            job = study_maps_compute(study=study_obj)
        except ValueError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            f"queued job {job.pk}: {job.total} image x model units for methods {study_obj.methods}"
        )
        if not wait:
            return
        wait_for_job(job, timeout=timeout, stdout=self.stdout, stderr=self.stderr)
        if job.status == ComputeJob.Status.FAILED:
            raise CommandError(f"{job.failed_count} of {job.total} units failed")
        if job.status == ComputeJob.Status.CANCELLED:
            raise CommandError(f"job {job.pk} was cancelled")
