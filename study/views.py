"""Participant flow: entry link -> consent -> trials -> finish. Views parse, call a
service, render; the server owns each participant's position."""

from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from config.security import client_ip, rate_limited
from study import services
from study.models import Participant, Study, Trial

SESSION_KEY = "participant_codes"


def _open_study(slug: str) -> Study:
    return get_object_or_404(Study, slug=slug, status=Study.Status.OPEN)


def _participant(code: str) -> Participant:
    return get_object_or_404(Participant.objects.select_related("study"), code=code)


def _already_took_part(request: HttpRequest, study: Study) -> HttpResponse:
    """The recruiter id is taken and this link does not carry its session: say so, and never
    hand out that participant's code."""
    return render(request, "study/already.html", {"study": study}, status=409)


@require_http_methods(["GET"])
def study_entry(request: HttpRequest, slug: str) -> HttpResponse:
    """The study link. A returning browser or recruiter id resumes; others see consent."""
    study = _open_study(slug)
    recruiter_ids = services.recruiter_ids_from_query(request.GET)
    code = request.session.get(SESSION_KEY, {}).get(slug)
    returning = Participant.objects.filter(study=study, code=code).first() if code else None
    if returning is None:
        returning = services.participant_for_recruiter(study=study, recruiter_ids=recruiter_ids)
        if returning is not None and not services.same_recruiter_session(returning, recruiter_ids):
            return _already_took_part(request, study)
    if returning:
        return redirect("participant_home", code=returning.code)
    total, practice = services.trials_planned(study)
    return render(
        request,
        "study/consent.html",
        {"study": study, "recruiter_ids": request.GET.urlencode(), "total": total, "practice": practice},
    )


@require_POST
@rate_limited(
    "study-start",
    key=lambda request, **kwargs: client_ip(request),
    limit_setting="RATE_LIMIT_STARTS_PER_MINUTE",
)
def study_consent(request: HttpRequest, slug: str) -> HttpResponse:
    study = _open_study(slug)
    if request.POST.get("decision") != "accept":
        return render(request, "study/declined.html", {"study": study})
    from django.http import QueryDict

    recruiter_ids = services.recruiter_ids_from_query(QueryDict(request.POST.get("recruiter_ids", "")))
    try:
        participant = services.participant_start(
            study=study, recruiter_ids=recruiter_ids, user_agent=request.headers.get("User-Agent", "")
        )
    except services.AlreadyTookPart:
        return _already_took_part(request, study)
    request.session.setdefault(SESSION_KEY, {})[slug] = participant.code
    request.session.modified = True
    return redirect("participant_home", code=participant.code)


@require_http_methods(["GET"])
def participant_home(request: HttpRequest, code: str) -> HttpResponse:
    """Wherever the participant is: instructions once, then the current trial, then done."""
    participant = _participant(code)
    if participant.instructions_seen_at is None:
        return redirect("participant_instructions", code=code)
    trial = services.trial_next(participant=participant)
    if trial is None:
        return redirect("participant_finish", code=code)
    study = participant.study
    total = participant.trials.count()
    config = {
        "imageUrl": reverse("trial_image", args=[code, trial.pk]),
        "width": trial.image.width,
        "height": trial.image.height,
        "submitUrl": reverse("trial_submit", args=[code, trial.pk]),
        "trialId": trial.pk,
        "isPractice": trial.kind == Trial.Kind.PRACTICE,
        "timeLimitS": study.time_limit_s or None,
        "minCoverage": study.min_coverage,
        "position": trial.position,
        "total": total,
    }
    return render(
        request, "study/trial.html", {"study": study, "trial": trial, "total": total, "config": config}
    )


@require_http_methods(["GET", "POST"])
def participant_instructions(request: HttpRequest, code: str) -> HttpResponse:
    participant = _participant(code)
    if request.method == "POST":
        services.participant_instructions_seen(participant=participant)
        return redirect("participant_home", code=code)
    return render(
        request, "study/instructions.html", {"study": participant.study, "participant": participant}
    )


@require_http_methods(["GET"])
def trial_image(request: HttpRequest, code: str, trial_id: int) -> FileResponse:
    trial = get_object_or_404(Trial.objects.select_related("image"), pk=trial_id, participant__code=code)
    try:
        handle = trial.image.file.open("rb")
    except FileNotFoundError:
        raise Http404("image file missing") from None
    return FileResponse(handle)


@require_http_methods(["GET"])
def participant_finish(request: HttpRequest, code: str) -> HttpResponse:
    participant = _participant(code)
    if participant.trials.filter(status=Trial.Status.PENDING).exists():
        return redirect("participant_home", code=code)
    completion_code, redirect_url = services.completion_for(participant)
    context = {
        "study": participant.study,
        "participant": participant,
        "completion_code": completion_code,
        "redirect_url": redirect_url,
    }
    return render(request, "study/finish.html", context)
