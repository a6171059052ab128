"""Writes for studies and the participant flow."""

import random

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from explain.models import ComputeJob
from explain.services import compute_job_create
from study.models import Participant, Study, Trial

RECRUITER_PARAMETERS = {
    "PROLIFIC_PID": "prolific_pid",
    "STUDY_ID": "prolific_study_id",
    "SESSION_ID": "prolific_session_id",
    "workerId": "mturk_worker_id",
    "assignmentId": "mturk_assignment_id",
    "hitId": "mturk_hit_id",
}


def recruiter_ids_from_query(query) -> dict[str, str]:
    """Participant field -> value for the recruiter parameters present in a query dict."""
    return {field: str(query[name])[:100] for name, field in RECRUITER_PARAMETERS.items() if query.get(name)}


def _least_assigned(images, count: int) -> list[int]:
    """Ids of the ``count`` images with the fewest trials so far; ties in random order."""
    candidates = list(images.annotate(assigned=Count("trials")).values_list("pk", "assigned"))
    random.shuffle(candidates)
    candidates.sort(key=lambda item: item[1])
    return [pk for pk, _ in candidates[:count]]


class AlreadyTookPart(Exception):
    """The recruiter id has a participant already, and nothing proves this is their session."""


def participant_for_recruiter(*, study: Study, recruiter_ids: dict[str, str]) -> Participant | None:
    """The study's participant with this Prolific or MTurk worker id, if any."""
    for field in ("prolific_pid", "mturk_worker_id"):
        if recruiter_ids.get(field):
            existing = Participant.objects.filter(study=study, **{field: recruiter_ids[field]}).first()
            if existing:
                return existing
    return None


def names_another_worker(participant: Participant, recruiter_ids: dict[str, str]) -> bool:
    """Whether the link's Prolific or MTurk worker id is not the participant's: someone else
    in the same browser (a shared computer). The browser's session then proves nothing, and
    that participant's pages and completion code must not be shown. A link without a worker
    id (a reload, the plain study link) names no one else."""
    return any(
        recruiter_ids.get(field) and recruiter_ids[field] != getattr(participant, field)
        for field in ("prolific_pid", "mturk_worker_id")
    )


def same_recruiter_session(participant: Participant, recruiter_ids: dict[str, str]) -> bool:
    """Whether the link carries the participant's own recruiter session: Prolific's
    SESSION_ID or MTurk's assignmentId, which the recruiter gives only to that person for that
    attempt. A worker id alone is not enough to take over someone's trials: it is not secret
    (researchers and the participant see it) and anyone can type it into the link."""
    session = recruiter_ids.get("prolific_session_id")
    if participant.prolific_pid and session and session == participant.prolific_session_id:
        return True
    assignment = recruiter_ids.get("mturk_assignment_id")
    return bool(
        participant.mturk_worker_id
        and assignment
        and assignment != "ASSIGNMENT_ID_NOT_AVAILABLE"  # MTurk's preview: no assignment yet
        and assignment == participant.mturk_assignment_id
    )


def participant_start(
    *, study: Study, recruiter_ids: dict[str, str], user_agent: str = "", is_bot: bool = False
) -> Participant:
    """Create a consenting participant with their trials, or resume the one with the same
    recruiter id and recruiter session (AlreadyTookPart when the session differs). Practice
    images come first; the main images go least-assigned first (ties at random), never twice;
    attention checks are mixed in at random positions."""
    with transaction.atomic():
        # One assignment at a time per study, so counts cannot race past their target.
        Study.objects.select_for_update().get(pk=study.pk)
        existing = participant_for_recruiter(study=study, recruiter_ids=recruiter_ids)
        if existing is not None:
            if not same_recruiter_session(existing, recruiter_ids):
                raise AlreadyTookPart(study.slug)
            return existing
        participant = Participant.objects.create(
            study=study,
            consented_at=timezone.now(),
            user_agent=user_agent[:1000],
            is_bot=is_bot,
            **recruiter_ids,
        )
        images = study.image_set.images.filter(variant_of__isnull=True)  # variants: models only
        practice = _least_assigned(images.filter(is_practice=True), study.practice_trials)
        main = _least_assigned(
            images.filter(is_practice=False, is_attention_check=False), study.trials_per_participant
        )
        checks = _least_assigned(images.filter(is_attention_check=True), study.attention_checks)
        sequence = [(image_id, Trial.Kind.MAIN) for image_id in main]
        for image_id in checks:  # never first, so the first real trial is a real one
            sequence.insert(random.randint(1, max(1, len(sequence))), (image_id, Trial.Kind.ATTENTION))
        sequence = [(image_id, Trial.Kind.PRACTICE) for image_id in practice] + sequence
        Trial.objects.bulk_create(
            Trial(participant=participant, image_id=image_id, kind=kind, position=position)
            for position, (image_id, kind) in enumerate(sequence, start=1)
        )
    return participant


def trials_planned(study: Study) -> tuple[int, int]:
    """How many images a new participant will see in all, and how many of them are practice:
    what participant_start assigns, bounded by the images the set has of each kind."""
    images = study.image_set.images.filter(variant_of__isnull=True)
    practice = min(study.practice_trials, images.filter(is_practice=True).count())
    main = min(
        study.trials_per_participant, images.filter(is_practice=False, is_attention_check=False).count()
    )
    checks = min(study.attention_checks, images.filter(is_attention_check=True).count())
    return practice + main + checks, practice


def participant_instructions_seen(*, participant: Participant) -> None:
    if participant.instructions_seen_at is None:
        participant.instructions_seen_at = timezone.now()
        participant.save(update_fields=["instructions_seen_at"])


def completion_for(participant: Participant) -> tuple[str, str]:
    """The completion code to show and the URL to send the participant to ('' for none)."""
    study = participant.study
    code = (
        study.screen_out_code if participant.screened_out and study.screen_out_code else study.completion_code
    )
    if study.completion_redirect_url:
        return code, study.completion_redirect_url.replace("{code}", code)
    if participant.prolific_pid:
        return code, f"https://app.prolific.com/submissions/complete?cc={code}"
    return code, ""


def trial_next(*, participant: Participant) -> Trial | None:
    """The participant's current trial (the server owns the position), marked shown."""
    trial = (
        participant.trials.filter(status=Trial.Status.PENDING)
        .select_related("image")
        .order_by("position")
        .first()
    )
    if trial and trial.shown_at is None:
        trial.shown_at = timezone.now()
        trial.save(update_fields=["shown_at"])
    return trial


def participant_set_flagged(*, participant: Participant, flagged: bool) -> None:
    """A researcher's flag (or unflag): the results page's "exclude flagged" filter uses it."""
    participant.flagged = flagged
    participant.save(update_fields=["flagged"])


def participant_exclude(*, participant: Participant, reason: str) -> None:
    """Leave the participant out of every analysis; their data stays stored."""
    reason = (reason or "").strip()
    limit = Participant._meta.get_field("exclusion_reason").max_length
    if not reason:
        raise ValueError("give a reason for excluding the participant")
    if len(reason) > limit:
        raise ValueError(f"the reason is {len(reason)} characters long; at most {limit}")
    participant.excluded, participant.exclusion_reason = True, reason
    participant.save(update_fields=["excluded", "exclusion_reason"])


def participant_include(*, participant: Participant) -> None:
    """Undo an exclusion: the participant's maps enter the analysis again."""
    participant.excluded, participant.exclusion_reason = False, ""
    participant.save(update_fields=["excluded", "exclusion_reason"])


def study_compute_images(study: Study):
    """The images a study's compute job covers: every image of its set, variants included,
    but not practice and attention-check images (they are never analysed)."""
    return study.image_set.images.filter(is_practice=False, is_attention_check=False)


def study_maps_compute(*, study: Study, **diagnostics) -> ComputeJob:
    """Record and queue a compute job for every image x model x method the study asks for.
    ``diagnostics``: compute_job_create's diagnostics arguments, for a job that runs the
    faithfulness checks after the maps (research.faithfulness)."""
    image_ids = list(study_compute_images(study).order_by("pk").values_list("pk", flat=True))
    if not image_ids and study.methods and study.model_specs.exists():
        raise ValueError(
            f"study {study.slug} has no images to compute "
            "(practice and attention-check images are never analysed)"
        )
    return compute_job_create(
        image_ids=image_ids,
        model_ids=list(study.model_specs.order_by("pk").values_list("pk", flat=True)),
        methods=study.methods,
        method_overrides=study.method_params,
        target_policy=study.target_policy,
        study_id=study.pk,
        label=f"study {study.slug}",
        **diagnostics,
    )
