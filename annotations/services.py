"""Validating and storing a participant's painted map."""

import json
import math
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from analysis import codec
from annotations.models import Annotation
from study.models import Participant, Trial

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


def attention_check_passed(values: np.ndarray, target_mask: np.ndarray, min_inside: float) -> bool:
    """Whether at least ``min_inside`` of the painted mass lies inside the target region."""
    total = float(values.sum())
    return total > 0 and float(values[target_mask].sum()) / total >= min_inside


def annotation_submit(*, participant: Participant, trial_id: int, submission: Submission) -> Annotation:
    """Validate and store one trial's map; everything or nothing is saved.

    Re-sending the same idempotency key returns the stored annotation, so a retry after a
    lost response neither fails nor duplicates.
    """
    key = submission.idempotency_key[:64]
    with transaction.atomic():
        trial = (
            Trial.objects.select_for_update()
            .select_related("image")
            .filter(pk=trial_id, participant=participant)
            .first()
        )
        if trial is None:
            raise SubmissionError("no such trial for this participant", status=404)
        if trial.status == Trial.Status.DONE:
            stored = Annotation.objects.get(trial=trial)
            if key and stored.idempotency_key == key:
                return stored
            raise SubmissionError("this trial has already been submitted", status=409)
        values, bit_depth = decode_map(submission.map_png, width=trial.image.width, height=trial.image.height)
        timed_out = submission.timed_out.lower() in ("1", "true")
        coverage = float((values >= PAINTED_LEVEL).mean())
        if not timed_out:  # when time ran out, whatever was painted is kept
            if not values.any():
                raise SubmissionError("the map is empty: paint where you see the evidence before submitting")
            if coverage < participant.study.min_coverage:
                raise SubmissionError(
                    f"please paint a little more: {coverage:.1%} of the image is painted, "
                    f"at least {participant.study.min_coverage:.1%} is needed"
                )
        strokes = parse_strokes(submission.strokes_json)
        focus_events = parse_focus_events(submission.focus_events_json)
        annotation = Annotation.objects.create(
            trial=trial,
            map_png=submission.map_png,
            width=trial.image.width,
            height=trial.image.height,
            bit_depth=bit_depth,
            strokes=strokes,
            time_on_task_ms=_number(
                submission.time_on_task_ms,
                "time_on_task_ms",
                integer=True,
                minimum=0,
                maximum=7 * 24 * 3600 * 1000,
            ),
            canvas_width=_number(
                submission.canvas_width, "canvas_width", integer=True, minimum=1, maximum=100_000
            ),
            canvas_height=_number(
                submission.canvas_height, "canvas_height", integer=True, minimum=1, maximum=100_000
            ),
            device_pixel_ratio=_number(
                submission.device_pixel_ratio, "device_pixel_ratio", integer=False, minimum=0.1, maximum=20
            ),
            idempotency_key=key,
            focus_events=focus_events,
            timed_out=timed_out,
            coverage=coverage,
        )
        trial.status = Trial.Status.DONE
        trial.completed_at = timezone.now()
        if trial.kind == Trial.Kind.ATTENTION:
            _record_attention_check(participant, trial, values)
        trial.save(update_fields=["status", "completed_at", "attention_passed"])
        if not participant.trials.filter(status=Trial.Status.PENDING).exists():
            participant.finished_at = timezone.now()
            participant.save(update_fields=["finished_at"])
    return annotation


def _record_attention_check(participant: Participant, trial: Trial, values: np.ndarray) -> None:
    """Score an attention-check trial; a failure flags the participant or screens them out."""
    study = participant.study
    if trial.image.target_mask_png is None:
        return  # an attention image without a target region cannot be scored
    target = codec.mask_from_png(trial.image.target_mask_png)
    trial.attention_passed = attention_check_passed(values, target, study.attention_min_inside)
    if trial.attention_passed:
        return
    participant.flagged = True
    fields = ["flagged"]
    if study.attention_policy == study.AttentionPolicy.SCREEN_OUT:
        participant.screened_out = True
        fields.append("screened_out")
        participant.trials.filter(status=Trial.Status.PENDING).exclude(pk=trial.pk).update(
            status=Trial.Status.SKIPPED
        )
    participant.save(update_fields=fields)
