import time

from django.core.management.base import BaseCommand, CommandError

from explain.models import ComputeJob
from explain.services import compute_job_create
from study.models import Study


class Command(BaseCommand):
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
        try:
            job = compute_job_create(study=study_obj)
        except ValueError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            f"queued job {job.pk}: {job.total} image x model units for methods {study_obj.methods}"
        )
        if not wait:
            return
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            job.refresh_from_db()
            state = (job.done_count, job.failed_count, job.status)
            if state != last:
                self.stdout.write(
                    f"  {job.done_count}/{job.total} done, {job.failed_count} failed ({job.status})"
                )
                last = state
            if job.finished_at:
                for error in job.errors:
                    self.stderr.write(f"  error: {error}")
                if job.status == ComputeJob.Status.FAILED:
                    raise CommandError(f"{job.failed_count} of {job.total} units failed")
                return
            time.sleep(1)
        raise CommandError("timed out waiting for the worker; is one running?")
