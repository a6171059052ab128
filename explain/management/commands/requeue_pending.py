from django.core.management.base import BaseCommand

from explain.requeue import compute_units_requeue_pending


class Command(BaseCommand):
    help = (
        "Queue again every pending unit of every unfinished compute job, e.g. after the broker "
        "lost its messages. Workers do this themselves when they (re)connect to an empty queue; "
        "units queued twice are computed once."
    )

    def handle(self, *args, **options):
        by_job = compute_units_requeue_pending()
        if not by_job:
            self.stdout.write("no pending compute units")
            return
        for job_id, unit_ids in by_job.items():
            self.stdout.write(f"job {job_id}: {len(unit_ids)} pending unit(s) queued again")
