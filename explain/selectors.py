"""Reads for the compute path: a compute job's progress, rate and ETA, and the measured
time of earlier maps that estimates a new job."""

import statistics
from collections import defaultdict
from datetime import timedelta

from django.db.models import Count
from django.utils import timezone

from explain.models import ComputeJob, ComputeUnit, DiagnosticResult, Prediction, SaliencyMap
from explain.services import compute_job_lost_units

RATE_WINDOW = 20  # the rate is measured over the last this-many finished units
FAILURES_SHOWN = 50


def compute_job_progress(job: ComputeJob, *, now=None, window: int = RATE_WINDOW) -> dict:
    """Counts by unit status, the rate in units per minute and the ETA.

    The rate is measured on work actually done: over the last ``window`` units that computed
    something (stored a new map, prediction or diagnostic while they ran; a unit whose maps were all
    stored already takes no time and would make the rate meaningless), their number divided
    by the time from the finish of the computed unit just before them (from the job's start
    while fewer have finished) to the last one's finish. The ETA is that last finish plus the
    remaining (pending and running) units at that rate, counted from ``now``; None when
    nothing is left or no rate is known yet. ``computed`` and ``cached`` count the done units
    of each kind.
    """
    now = now or timezone.now()
    Status = ComputeUnit.Status
    counts = dict(job.units.order_by().values_list("status").annotate(n=Count("pk")))
    count = {status: counts.get(status, 0) for status in Status.values}
    total = sum(count.values())
    finished = count[Status.DONE] + count[Status.FAILED]
    remaining = count[Status.PENDING] + count[Status.RUNNING]

    computed = _computed_finishes(job)
    latest = computed[: window + 1]
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
        "computed": len(computed),
        "cached": count[Status.DONE] - len(computed),
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


def _computed_finishes(job: ComputeJob) -> list:
    """The finish times, latest first, of the job's done units that stored a new map, diagnostic or
    prediction between their start and their finish."""
    units = list(
        job.units.filter(status=ComputeUnit.Status.DONE, started_at__isnull=False, finished_at__isnull=False)
        .order_by("-finished_at")
        .values_list("image_id", "model_id", "started_at", "finished_at")
    )
    if not units:
        return []
    stored = defaultdict(list)  # (image, model) -> times a map or prediction was stored
    for rows in (SaliencyMap.objects, Prediction.objects, DiagnosticResult.objects):
        for image_id, model_id, created_at in rows.filter(
            image_id__in=job.units.values("image_id"),  # subqueries: no parameter per unit
            model_id__in=job.units.values("model_id"),
            created_at__gte=job.created_at,
        ).values_list("image_id", "model_id", "created_at"):
            stored[image_id, model_id].append(created_at)
    return [
        finished
        for image_id, model_id, started, finished in units
        if any(started <= moment <= finished for moment in stored[image_id, model_id])
    ]


def map_runtime_medians(
    *, model_ids: list[int], params_hashes: dict[str, str]
) -> dict[tuple[int, str], float]:
    """(model id, method) -> the median runtime in seconds of the stored maps of that model and
    method at those parameters (``params_hashes``: method -> hash): what one more is expected
    to take. Pairs with no stored map are absent."""
    runtimes = defaultdict(list)
    for method, params_hash in params_hashes.items():
        for model_id, runtime in SaliencyMap.objects.filter(
            model_id__in=model_ids, method=method, params_hash=params_hash
        ).values_list("model_id", "runtime_s"):
            runtimes[model_id, method].append(runtime)
    return {key: statistics.median(values) for key, values in runtimes.items()}


def diagnostic_runtime_medians(*, model_ids: list[int]) -> dict[tuple[int, str, str], float]:
    """(model id, check, subject) -> the median runtime in seconds of the stored diagnostics of
    that model, check and map (any parameters): what one more is expected to take."""
    runtimes = defaultdict(list)
    for model_id, check, subject, runtime in DiagnosticResult.objects.filter(
        model_id__in=model_ids
    ).values_list("model_id", "check_name", "subject", "runtime_s"):
        runtimes[model_id, check, subject].append(runtime)
    return {key: statistics.median(values) for key, values in runtimes.items()}


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
