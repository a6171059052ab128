"""Reads for the compute path: a compute job's progress, rate and ETA."""

from datetime import timedelta

from django.db.models import Count
from django.utils import timezone

from explain.models import ComputeJob, ComputeUnit
from explain.services import compute_job_lost_units

RATE_WINDOW = 20  # the rate is measured over the last this-many finished units
FAILURES_SHOWN = 50


def compute_job_progress(job: ComputeJob, *, now=None, window: int = RATE_WINDOW) -> dict:
    """Counts by unit status, the rate in units per minute and the ETA.

    The rate is over the last ``window`` finished (done or failed) units: their number
    divided by the time from the finish of the unit just before them (from the job's start
    while fewer have finished) to the last finish. The ETA is the last finish plus the
    remaining (pending and running) units at that rate, counted from ``now``; None when
    nothing is left or no rate is known yet.
    """
    now = now or timezone.now()
    Status = ComputeUnit.Status
    counts = dict(job.units.order_by().values_list("status").annotate(n=Count("pk")))
    count = {status: counts.get(status, 0) for status in Status.values}
    total = sum(count.values())
    finished = count[Status.DONE] + count[Status.FAILED]
    remaining = count[Status.PENDING] + count[Status.RUNNING]

    latest = list(
        job.units.filter(status__in=[Status.DONE, Status.FAILED], finished_at__isnull=False)
        .order_by("-finished_at")
        .values_list("finished_at", flat=True)[: window + 1]
    )
    rate = eta_seconds = eta_at = None
    if latest:
        last = latest[0]
        in_window, since = (window, latest[window]) if len(latest) > window else (len(latest), job.started_at)
        span_minutes = (last - since).total_seconds() / 60 if since else 0
        if span_minutes > 0:
            rate = in_window / span_minutes
            if remaining:
                eta_at = last + timedelta(minutes=remaining / rate)
                eta_seconds = max(0.0, (eta_at - now).total_seconds())

    failures = [
        {"unit": unit_id, "image": image, "model": model, "error": error, "attempts": attempts}
        for unit_id, image, model, error, attempts in job.units.filter(status=Status.FAILED)
        .order_by("pk")
        .values_list("pk", "image__name", "model__name", "error", "attempts")[:FAILURES_SHOWN]
    ]
    lost = compute_job_lost_units(job, now=now).count() if remaining else 0
    return {
        "job": job,
        "total": total,
        **{status: count[status] for status in Status.values},
        "finished": finished,
        "remaining": remaining,
        "percent": 100 * finished / total if total else 0,
        "done_percent": 100 * count[Status.DONE] / total if total else 0,
        "rate_per_minute": rate,
        "eta_seconds": eta_seconds,
        "eta_at": eta_at,
        "eta_text": format_duration(eta_seconds),
        "failures": failures,
        "lost": lost,
        "can_retry": bool(count[Status.FAILED] or lost),
        "can_cancel": bool(
            count[Status.PENDING] or (count[Status.RUNNING] and job.status != ComputeJob.Status.CANCELLED)
        ),
    }


def format_duration(seconds: float | None) -> str:
    """'1 h 05 min', '3 min 20 s', '45 s'; '' for None."""
    if seconds is None:
        return ""
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"
