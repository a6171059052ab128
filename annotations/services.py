"""Validating and storing a participant's painted map."""

import json
import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from analysis import codec
from annotations import brush
from annotations.models import Annotation
from study.models import Participant, Study, Trial

MAX_STROKE_LOG_BYTES = 5 * 1024 * 1024


class SubmissionError(Exception):
    """A submission we refuse; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class Submission:
    map_png: bytes
    strokes_json: str
    time_on_task_ms: str | None = None
    canvas_width: str | None = None
    canvas_height: str | None = None
    device_pixel_ratio: str | None = None
    idempotency_key: str = ""
    focus_events_json: str = "[]"
    timed_out: str = ""


def decode_map(map_png: bytes, *, width: int, height: int) -> tuple[np.ndarray, int]:
    """Check a submitted map and return it as (H,W) float32 in [0,1] with its bit depth."""
    if len(map_png) > settings.ANNOTATION_MAX_BYTES:
        raise SubmissionError(
            f"the map file is larger than {settings.ANNOTATION_MAX_BYTES} bytes", status=413
        )
    try:
        return codec.decode_gray_png(map_png, width=width, height=height)
    except codec.MapDecodeError as error:
        raise SubmissionError(str(error)) from None


def _number(value, name: str, *, integer: bool, minimum: float, maximum: float):
    if value in (None, ""):
        return None
    try:
        number = int(value) if integer else float(value)
    except (TypeError, ValueError):
        raise SubmissionError(f"{name} must be a number") from None
    if not math.isfinite(number) or not minimum <= number <= maximum:
        raise SubmissionError(f"{name} must be between {minimum} and {maximum}")
    return number


def _load_json(text: str, name: str):
    """Parse a client's JSON; NaN, infinities, over-long integers and deep nesting are refused
    here, as PostgreSQL's jsonb cannot store the first two and the others crash the parser."""

    def finite(token: str) -> float:
        value = float(token)
        if not math.isfinite(value):
            raise SubmissionError(f"{name} must contain only finite numbers")
        return value

    def refuse_constant(token: str):
        raise SubmissionError(f"{name} must contain only finite numbers, not {token}")

    try:
        return json.loads(text, parse_float=finite, parse_constant=refuse_constant)
    except json.JSONDecodeError as error:
        raise SubmissionError(f"{name} is not valid JSON: {error.msg}") from None
    except RecursionError:
        raise SubmissionError(f"{name} is nested too deeply") from None
    except ValueError:  # an integer with more digits than Python converts
        raise SubmissionError(f"{name} contains a number that is too long") from None


def parse_strokes(strokes_json: str) -> list:
    """The stroke log: a list of {"tool": "brush"|"eraser", "size": px, "points": [[x, y, ...]]}."""
    if len(strokes_json.encode()) > MAX_STROKE_LOG_BYTES:
        raise SubmissionError("the stroke log is too large", status=413)
    strokes = _load_json(strokes_json or "[]", "the stroke log")
    if not isinstance(strokes, list):
        raise SubmissionError("the stroke log must be a list of strokes")
    for index, stroke in enumerate(strokes):
        if not isinstance(stroke, dict) or stroke.get("tool") not in ("brush", "eraser"):
            raise SubmissionError(f"stroke {index} must have a tool, 'brush' or 'eraser'")
        points = stroke.get("points")
        if not isinstance(points, list) or not all(
            isinstance(point, list)
            and len(point) >= 2
            and all(isinstance(v, (int, float)) and math.isfinite(v) for v in point)
            for point in points
        ):
            raise SubmissionError(f"stroke {index} must have a list of finite [x, y, ...] points")
    return strokes


FOCUS_EVENTS = ("focus", "blur", "visible", "hidden")
PAINTED_LEVEL = 0.05  # a pixel counts as painted from this intensity on


def parse_focus_events(focus_events_json: str) -> list:
    """[[event, ms since page load], ...] with event one of FOCUS_EVENTS."""
    events = _load_json(focus_events_json or "[]", "focus_events")
    if not isinstance(events, list) or len(events) > 10_000:
        raise SubmissionError("focus_events must be a list of at most 10000 events")
    for event in events:
        if not (
            isinstance(event, list)
            and len(event) == 2
            and event[0] in FOCUS_EVENTS
            and isinstance(event[1], (int, float))
            and math.isfinite(event[1])
        ):
            raise SubmissionError(
                'each focus event must be ["focus"|"blur"|"visible"|"hidden", milliseconds]'
            )
    return events


# ---------------------------------------------------------------- data-quality flags
# A flagged map is stored (nothing is lost) but left out of every analysis unless the
# researcher includes flagged maps (research.inputs.AnalysisFilters.include_flagged_maps).
FLAG_CODES = {
    "impossible_timeout": "time cannot have run out: the study has no time limit, or it had not passed",
    "blank": "nothing painted",
    "too_fast": "submitted sooner after the trial page was served than the study's minimum",
    "strokes_mismatch": "the map is not what its stroke log paints",
    "strokes_unverified": "the stroke log is too costly to replay, so the map could not be checked",
    "failed_attention_check": "too little paint inside the attention check's target region",
}
# A timeout is possible from the time limit minus this after the page was served: the
# browser's countdown starts only after the page has arrived, so real timeouts come later.
TIMEOUT_GRACE_S = 2.0
# A map matches its strokes when the replayed map differs from it by at most this share of
# the painted mass (sum |replayed - submitted| / the larger of the two sums). The painter and
# brush.py are numerically identical (browser submissions replay to within 2/65535 per
# pixel), so what is left is 16- or 8-bit quantisation, far below this; a map without its
# stroke log, or painted elsewhere, or with a quarter more paint, is far above it.
STROKES_TOLERANCE = 0.05
# Replay cost cap, in pixel updates (each dab costs its window, plus a fixed overhead): about
# 2 s of brush.py. Real painting stays far below (a 160x120 trial ~1e3 dabs, 1e6 updates).
REPLAY_MAX_DABS = 200_000
REPLAY_DAB_OVERHEAD = 300
REPLAY_MAX_COST = 60_000_000


def flag(code: str, detail: str) -> dict:
    assert code in FLAG_CODES, code
    return {"code": code, "detail": detail}


def _timing_flags(
    *, study: Study, shown_at: datetime | None, now: datetime, time_on_task_ms: int | None, timed_out: bool
) -> list[dict]:
    """impossible_timeout and too_fast, by server time from the trial page to the submission."""
    flags = []
    elapsed = (now - shown_at).total_seconds() if shown_at else None
    if timed_out:
        if not study.time_limit_s:
            flags.append(flag("impossible_timeout", "the study has no time limit, but time_out was sent"))
        elif elapsed is None or elapsed < study.time_limit_s - TIMEOUT_GRACE_S:
            seen = "the trial page was never served" if elapsed is None else f"after {elapsed:.1f} s"
            flags.append(
                flag("impossible_timeout", f"timed out {seen}; the time limit is {study.time_limit_s} s")
            )
    minimum = study.min_seconds_per_map
    if minimum > 0:
        client_s = None if time_on_task_ms is None else time_on_task_ms / 1000
        if elapsed is None:
            flags.append(flag("too_fast", "the trial page was never served before this map was submitted"))
        elif elapsed < minimum or (client_s is not None and client_s < minimum):
            client = "" if client_s is None else f" (the browser reports {client_s:.1f} s)"
            flags.append(
                flag(
                    "too_fast",
                    f"submitted {elapsed:.1f} s after the trial page was served{client}; "
                    f"at least {minimum:g} s per map",
                )
            )
    return flags


def _replay_cost(strokes: list, *, width: int, height: int) -> tuple[int, float] | str | None:
    """(dabs, cost) of replaying ``strokes``; a str saying why they cannot be replayed; None
    when replaying them would cost more than the cap."""
    dabs, cost = 0, 0.0
    for index, stroke in enumerate(strokes):
        size, strength = stroke.get("size"), stroke.get("strength", 1.0)
        if not (isinstance(size, (int, float)) and not isinstance(size, bool) and math.isfinite(size)):
            return f"stroke {index} has no usable size"
        if not (isinstance(strength, (int, float)) and math.isfinite(strength)):
            return f"stroke {index} has no usable strength"
        points = stroke["points"]
        length = sum(math.dist(a[:2], b[:2]) for a, b in zip(points, points[1:]))
        count = (length / brush.dab_spacing(size) + 1) if points else 0
        window = min(abs(size) + 2, width) * min(abs(size) + 2, height)
        dabs += count
        cost += count * (REPLAY_DAB_OVERHEAD + window)
        if not math.isfinite(cost) or dabs > REPLAY_MAX_DABS or cost > REPLAY_MAX_COST:
            return None
    return int(dabs), cost


def _strokes_flags(strokes: list, values: np.ndarray) -> list[dict]:
    """strokes_mismatch when the stroke log does not paint ``values`` (H,W in [0,1]);
    strokes_unverified when it is too costly to replay."""
    height, width = values.shape
    cost = _replay_cost(strokes, width=width, height=height)
    if cost is None:
        return [
            flag(
                "strokes_unverified",
                f"replaying the stroke log would take more than {REPLAY_MAX_DABS} dabs or "
                f"{REPLAY_MAX_COST:.0e} pixel updates",
            )
        ]
    if isinstance(cost, str):
        return [flag("strokes_mismatch", f"the stroke log cannot be replayed: {cost}")]
    replayed = brush.render_strokes(strokes, width, height).astype(np.float64)
    submitted = values.astype(np.float64)
    mass = max(float(submitted.sum()), float(replayed.sum()))
    if mass == 0:
        return []
    difference = float(np.abs(replayed - submitted).sum()) / mass
    if difference <= STROKES_TOLERANCE:
        return []
    if not strokes:
        detail = "the map is painted but the stroke log is empty"
    else:
        detail = (
            f"replaying the stroke log differs from the map by {difference:.0%} of the painted "
            f"mass (at most {STROKES_TOLERANCE:.0%} allowed)"
        )
    return [flag("strokes_mismatch", detail)]


def attention_check_passed(values: np.ndarray, target_mask: np.ndarray, min_inside: float) -> bool:
    """Whether at least ``min_inside`` of the painted mass lies inside the target region."""
    total = float(values.sum())
    return total > 0 and float(values[target_mask].sum()) / total >= min_inside


def _current_trial(*, participant: Participant, trial_id: int, key: str, lock: bool) -> Trial | Annotation:
    """The trial to store a map for, or the stored annotation when this is a retry with the
    same idempotency key. Only the participant's current trial (their first pending one, in
    the order the server assigned) takes a map."""
    trials = Trial.objects.select_related("image")
    if lock:
        trials = trials.select_for_update()
    trial = trials.filter(pk=trial_id, participant=participant).first()
    if trial is None:
        raise SubmissionError("no such trial for this participant", status=404)
    if trial.status == Trial.Status.DONE:
        stored = Annotation.objects.get(trial=trial)
        if key and stored.idempotency_key == key:
            return stored
        raise SubmissionError("this trial has already been submitted", status=409)
    current = (
        participant.trials.filter(status=Trial.Status.PENDING)
        .order_by("position")
        .values_list("pk", flat=True)
        .first()
    )
    if trial.pk != current:
        url = reverse("participant_home", args=[participant.code])
        raise SubmissionError(
            f"this is not the current trial: trials are done in the order given; continue at {url}",
            status=409,
        )
    return trial


def annotation_submit(*, participant: Participant, trial_id: int, submission: Submission) -> Annotation:
    """Validate and store one trial's map; everything or nothing is saved.

    Re-sending the same idempotency key returns the stored annotation, so a retry after a
    lost response neither fails nor duplicates. Only the current trial takes a map (409
    otherwise). What cannot be real but might be, is stored with flags (``FLAG_CODES``).
    """
    key = submission.idempotency_key[:64]
    study = participant.study
    # Checked once without a lock to answer early, and again under the lock below; the map
    # is decoded and its strokes replayed in between, outside the transaction.
    trial = _current_trial(participant=participant, trial_id=trial_id, key=key, lock=False)
    if isinstance(trial, Annotation):
        return trial
    values, bit_depth = decode_map(submission.map_png, width=trial.image.width, height=trial.image.height)
    timed_out = submission.timed_out.lower() in ("1", "true")
    coverage = float((values >= PAINTED_LEVEL).mean())
    if not timed_out:  # when time ran out, whatever was painted is kept
        if not values.any():
            raise SubmissionError("the map is empty: paint where you see the evidence before submitting")
        if coverage < study.min_coverage:
            raise SubmissionError(
                f"please paint a little more: {coverage:.1%} of the image is painted, "
                f"at least {study.min_coverage:.1%} is needed"
            )
    strokes = parse_strokes(submission.strokes_json)
    focus_events = parse_focus_events(submission.focus_events_json)
    time_on_task_ms = _number(
        submission.time_on_task_ms, "time_on_task_ms", integer=True, minimum=0, maximum=7 * 24 * 3600 * 1000
    )
    canvas_width = _number(submission.canvas_width, "canvas_width", integer=True, minimum=1, maximum=100_000)
    canvas_height = _number(
        submission.canvas_height, "canvas_height", integer=True, minimum=1, maximum=100_000
    )
    device_pixel_ratio = _number(
        submission.device_pixel_ratio, "device_pixel_ratio", integer=False, minimum=0.1, maximum=20
    )
    flags = _strokes_flags(strokes, values)
    if not values.any():
        flags.append(flag("blank", "nothing is painted"))
    with transaction.atomic():
        trial = _current_trial(participant=participant, trial_id=trial_id, key=key, lock=True)
        if isinstance(trial, Annotation):
            return trial
        now = timezone.now()
        flags += _timing_flags(
            study=study,
            shown_at=trial.shown_at,
            now=now,
            time_on_task_ms=time_on_task_ms,
            timed_out=timed_out,
        )
        if trial.kind == Trial.Kind.ATTENTION:
            flags += _record_attention_check(participant, trial, values)
        annotation = Annotation.objects.create(
            trial=trial,
            map_png=submission.map_png,
            width=trial.image.width,
            height=trial.image.height,
            bit_depth=bit_depth,
            strokes=strokes,
            time_on_task_ms=time_on_task_ms,
            canvas_width=canvas_width,
            canvas_height=canvas_height,
            device_pixel_ratio=device_pixel_ratio,
            idempotency_key=key,
            focus_events=focus_events,
            timed_out=timed_out,
            coverage=coverage,
            flags=sorted(flags, key=lambda item: list(FLAG_CODES).index(item["code"])),
        )
        trial.status = Trial.Status.DONE
        trial.completed_at = now
        trial.save(update_fields=["status", "completed_at", "attention_passed"])
        if not participant.trials.filter(status=Trial.Status.PENDING).exists():
            participant.finished_at = timezone.now()
            participant.save(update_fields=["finished_at"])
    return annotation


def _record_attention_check(participant: Participant, trial: Trial, values: np.ndarray) -> list[dict]:
    """Score an attention-check trial; a failure flags the participant (or screens them out)
    and the map (failed_attention_check, returned)."""
    study = participant.study
    if trial.image.target_mask_png is None:
        return []  # an attention image without a target region cannot be scored
    target = codec.mask_from_png(trial.image.target_mask_png)
    trial.attention_passed = attention_check_passed(values, target, study.attention_min_inside)
    if trial.attention_passed:
        return []
    total = float(values.sum())
    inside = float(values[target].sum()) / total if total > 0 else 0.0
    failed = flag(
        "failed_attention_check",
        f"{inside:.0%} of the painted mass is inside the target region, "
        f"at least {study.attention_min_inside:.0%} is needed",
    )
    participant.flagged = True
    fields = ["flagged"]
    if study.attention_policy == study.AttentionPolicy.SCREEN_OUT:
        participant.screened_out = True
        fields.append("screened_out")
        participant.trials.filter(status=Trial.Status.PENDING).exclude(pk=trial.pk).update(
            status=Trial.Status.SKIPPED
        )
    participant.save(update_fields=fields)
    return [failed]
