"""Participant flow: entry link -> consent -> trials -> finish. Views parse, call a
service, render; the server owns each participant's position."""

from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from config.security import client_ip, rate_limited
from study import services
from study.models import Participant, Study, Trial

SESSION_KEY = "participant_codes"
# The query flag of the page a stale tab or repeated submit is sent to (annotations.views).
ALREADY_SUBMITTED = "already_submitted"


def _open_study(slug: str) -> Study:
    return get_object_or_404(Study, slug=slug, status=Study.Status.OPEN)


def _participant(code: str) -> Participant:
    return get_object_or_404(Participant.objects.select_related("study"), code=code)


def _remembered(request: HttpRequest, study: Study, recruiter_ids: dict[str, str]) -> Participant | None:
    """The participant this browser took part as, unless the link names another worker (a
    shared computer: the session is then someone else's and proves nothing)."""
    code = request.session.get(SESSION_KEY, {}).get(study.slug)
    participant = Participant.objects.filter(study=study, code=code).first() if code else None
    if participant is not None and services.names_another_worker(participant, recruiter_ids):
        return None
    return participant


def _remember(request: HttpRequest, participant: Participant) -> None:
    request.session.setdefault(SESSION_KEY, {})[participant.study.slug] = participant.code
    request.session.modified = True


def _elsewhere(request: HttpRequest, participant: Participant) -> HttpResponse | None:
    """This browser has taken part as someone else since (a shared computer: Back or an old
    tab of the previous person's): go to that participant's own place, never show this one's
    completion code. (The other pages go by the code in their address, as before.)"""
    code = request.session.get(SESSION_KEY, {}).get(participant.study.slug)
    if code and code != participant.code and Participant.objects.filter(code=code).exists():
        return redirect("participant_home", code=code)
    return None


def _already_took_part(request: HttpRequest, study: Study) -> HttpResponse:
    """The recruiter id is taken and this link does not carry its session: say so, and never
    hand out that participant's code."""
    return render(request, "study/already.html", {"study": study}, status=409)


@never_cache
@require_http_methods(["GET"])
def study_entry(request: HttpRequest, slug: str) -> HttpResponse:
    """The study link. A returning browser or recruiter id resumes; others see consent. A
    browser that took part as another worker than the link names starts a new participant."""
    study = _open_study(slug)
    recruiter_ids = services.recruiter_ids_from_query(request.GET)
    returning = _remembered(request, study, recruiter_ids)
    if returning is None:
        returning = services.participant_for_recruiter(study=study, recruiter_ids=recruiter_ids)
        if returning is not None:
            if not services.same_recruiter_session(returning, recruiter_ids):
                return _already_took_part(request, study)
            _remember(request, returning)
    if returning:
        return redirect("participant_home", code=returning.code)
    # The session (and its cookie) starts with the consent page, so a consent POST sent again
    # after its answer was lost comes back with it and finds the participant it created.
    request.session.setdefault(SESSION_KEY, {})
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
        if not request.session.get(SESSION_KEY) and set(request.session.keys()) <= {SESSION_KEY}:
            request.session.flush()  # the consent page's empty session: nothing is kept
        return render(request, "study/declined.html", {"study": study})
    recruiter_ids = services.recruiter_ids_from_query(QueryDict(request.POST.get("recruiter_ids", "")))
    returning = _remembered(request, study, recruiter_ids)
    if returning is not None:  # consent sent again: a retry whose answer was lost, Back, a second tab
        return redirect("participant_home", code=returning.code)
    try:
        with transaction.atomic():
            participant = services.participant_start(
                study=study, recruiter_ids=recruiter_ids, user_agent=request.headers.get("User-Agent", "")
            )
            _remember(request, participant)
            # Saved in the participant's transaction (sessions live in the database): if the
            # database goes away before the answer is sent, the retry still finds them.
            request.session.save()
    except services.AlreadyTookPart:
        # A consent sent twice at once (a double click) waits for the first one's lock, then
        # finds its participant: this browser's, if the session now says so.
        code = request.session.__class__(request.session.session_key).get(SESSION_KEY, {}).get(slug)
        taken = services.participant_for_recruiter(study=study, recruiter_ids=recruiter_ids)
        if code and taken is not None and taken.code == code:
            _remember(request, taken)
            return redirect("participant_home", code=code)
        return _already_took_part(request, study)
    return redirect("participant_home", code=participant.code)


@never_cache
@require_http_methods(["GET"])
def participant_home(request: HttpRequest, code: str) -> HttpResponse:
    """Wherever the participant is: instructions once, then the current trial, then done."""
    participant = _participant(code)
    if participant.instructions_seen_at is None:
        return redirect("participant_instructions", code=code)
    trial = services.trial_next(participant=participant)
    if trial is None:
        finish = reverse("participant_finish", args=[code])
        return redirect(f"{finish}?{ALREADY_SUBMITTED}" if ALREADY_SUBMITTED in request.GET else finish)
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
    context = {"study": study, "trial": trial, "total": total, "config": config}
    context["image_sources"] = display_sources(code, trial)
    context["already_submitted"] = ALREADY_SUBMITTED in request.GET
    return render(request, "study/trial.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
def participant_instructions(request: HttpRequest, code: str) -> HttpResponse:
    """Shown once: afterwards (Back, an old tab) it sends the participant on to where they are."""
    participant = _participant(code)
    if request.method == "POST" or participant.instructions_seen_at is not None:
        services.participant_instructions_seen(participant=participant)
        return redirect("participant_home", code=code)
    return render(
        request, "study/instructions.html", {"study": participant.study, "participant": participant}
    )


# The stage's CSS width (annotations/css/painter.css): the column beside the toolbar, at most
# 956 px, or the height left under the header times the aspect ratio; on phones the screen less
# its margins, or 62 % of its height times the aspect ratio. The browser picks the rendition
# that covers that many CSS pixels at its device pixel ratio.
STAGE_SIZES = (
    "(max-width: 820px) min(calc(100vw - 20px), calc(62vh * {w} / {h})), "
    "min(956px, calc((100vh - 150px) * {w} / {h}))"
)


def display_sources(code: str, trial: Trial) -> dict | None:
    """The trial image's renditions as srcset strings (WebP, JPEG) for the painter's
    <picture>; None while the image has none (make_renditions): the original is shown."""
    image = trial.image
    if not image.renditions:
        return None

    def url(entry: dict) -> str:
        return reverse("trial_image_rendition", args=[code, trial.pk, entry["name"].rsplit("/", 1)[-1]])

    def srcset(format: str) -> str:
        return ", ".join(f"{url(e)} {e['width']}w" for e in image.renditions if e["format"] == format)

    largest_jpeg = max((e for e in image.renditions if e["format"] == "jpeg"), key=lambda e: e["width"])
    return {
        "webp": srcset("webp"),
        "jpeg": srcset("jpeg"),
        "src": url(largest_jpeg),
        "sizes": STAGE_SIZES.format(w=image.width, h=image.height),
    }


@require_http_methods(["GET"])
def trial_image_rendition(request: HttpRequest, code: str, trial_id: int, name: str) -> FileResponse:
    """A display rendition of the trial's image. Its name holds the content hash and the
    settings, so its bytes never change: cached for a year (private: the URL names a participant)."""
    trial = get_object_or_404(Trial.objects.select_related("image"), pk=trial_id, participant__code=code)
    entry = next((e for e in trial.image.renditions if e["name"].rsplit("/", 1)[-1] == name), None)
    if entry is None:
        raise Http404("no such rendition")
    try:
        handle = trial.image.file.storage.open(entry["name"], "rb")
    except FileNotFoundError:
        raise Http404("rendition file missing: run manage.py make_renditions") from None
    response = FileResponse(handle, content_type="image/webp" if entry["format"] == "webp" else "image/jpeg")
    response["Cache-Control"] = "private, max-age=31536000, immutable"
    return response


@require_http_methods(["GET"])
def trial_image(request: HttpRequest, code: str, trial_id: int) -> FileResponse:
    trial = get_object_or_404(Trial.objects.select_related("image"), pk=trial_id, participant__code=code)
    try:
        handle = trial.image.file.open("rb")
    except FileNotFoundError:
        raise Http404("image file missing") from None
    return FileResponse(handle)


@never_cache
@require_http_methods(["GET"])
def participant_finish(request: HttpRequest, code: str) -> HttpResponse:
    participant = _participant(code)
    if elsewhere := _elsewhere(request, participant):
        return elsewhere
    if participant.trials.filter(status=Trial.Status.PENDING).exists():
        return redirect("participant_home", code=code)
    completion_code, redirect_url = services.completion_for(participant)
    context = {
        "study": participant.study,
        "participant": participant,
        "completion_code": completion_code,
        "redirect_url": redirect_url,
        "already_submitted": ALREADY_SUBMITTED in request.GET,
    }
    return render(request, "study/finish.html", context)
