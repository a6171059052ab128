"""The permission matrix: every URL pattern of the root URLconf x five personas (anonymous,
participant A, participant B, researcher = staff without superuser, admin = superuser).

Each pattern needs an entry in EXPECTED; a URL added later without a decision fails
test_every_url_pattern_has_a_decision. Participant pages are authorised by the code in the URL
alone (it is the secret, >= 128 bits): the matrix shows that a session grants nothing beyond
its own code, that another participant's trial ids answer 404 under one's own code, and that a
guessed code answers 404."""

import math
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.contrib import admin
from django.urls import URLPattern, URLResolver, get_resolver

from annotations.models import Annotation
from study.models import new_participant_code
from tests.research.conftest import _upload, box_map, png16
from tests.security.conftest import PERSONAS, World


class Login:
    """A 302 to the admin login page (what staff_member_required and the admin answer)."""

    def __repr__(self):
        return "LOGIN"


LOGIN = Login()


@dataclass(frozen=True)
class Redirect:
    to: str  # the start of the Location header

    def __repr__(self):
        return f"302->{self.to}"


@dataclass(frozen=True)
class Check:
    label: str
    method: str
    url: Callable[[World], str]
    expect: dict  # persona -> int | LOGIN | Redirect


def everyone(outcome) -> dict:
    return dict.fromkeys(PERSONAS, outcome)


def staff_only(outcome, *, admin_outcome=None) -> dict:
    """Non-staff are sent to the login page; staff get ``outcome``."""
    return {
        "anonymous": LOGIN,
        "participant_a": LOGIN,
        "participant_b": LOGIN,
        "researcher": outcome,
        "admin": outcome if admin_outcome is None else admin_outcome,
    }


def everyone_else(outcome) -> dict:
    """The three personas without a user account."""
    return dict.fromkeys(("anonymous", "participant_a", "participant_b"), outcome)


def api(outcome) -> dict:
    """No token and no staff session: 401 (TokenAuthentication's challenge)."""
    return {
        "anonymous": 401,
        "participant_a": 401,
        "participant_b": 401,
        "researcher": outcome,
        "admin": outcome,
    }


def get(label, url, expect) -> Check:
    return Check(label, "GET", url, expect)


def post(label, url, expect) -> Check:
    return Check(label, "POST", url, expect)


def staff_action(label, url) -> list[Check]:
    """A staff-only POST action: GET is refused (405), the POST redirects back to the results."""
    return [get("POST only", url, staff_only(405)), post(label, url, staff_only(Redirect("/research/")))]


def slug(w: World) -> str:
    return w.study.slug


def a_code(w: World) -> str:
    return w.a.code


GUESSED = "x" * 32  # a well-formed but unissued code


def other_slug(w: World) -> str:
    """A second study on the same images: A's map must not be reachable through it."""
    from study.models import Study

    other, _ = Study.objects.get_or_create(
        slug="other-study", defaults={"title": "Other study", "image_set": w.study.image_set}
    )
    return other.slug


def rendition(w: World) -> str:
    """The file name of one display rendition of A's current image."""
    return w.a_pending.image.renditions[0]["name"].rsplit("/", 1)[1]


PUBLIC_AND_PARTICIPANT = {
    "": [get("root", lambda w: "/", everyone(Redirect("/research/")))],
    "healthz": [get("web health", lambda w: "/healthz", everyone(200))],
    # 503: no worker heartbeat in the tests; public so that load balancers can poll it
    "healthz/worker": [get("worker health", lambda w: "/healthz/worker", everyone(503))],
    "worked-example.png": [get("instructions' picture", lambda w: "/worked-example.png", everyone(200))],
    "worked-example.webp": [get("instructions' picture", lambda w: "/worked-example.webp", everyone(200))],
    "favicon.ico": [get("the icon", lambda w: "/favicon.ico", everyone(200))],
    "s/<slug:slug>/": [
        get(
            "study link",
            lambda w: f"/s/{slug(w)}/",
            # a browser that joined resumes its own participant; others see the consent page
            {
                **everyone(200),
                "participant_a": Redirect("/p/"),
                "participant_b": Redirect("/p/"),
            },
        ),
        get("unknown study", lambda w: "/s/no-such-study/", everyone(404)),
    ],
    "s/<slug:slug>/consent": [
        get("consent is POST only", lambda w: f"/s/{slug(w)}/consent", everyone(405)),
        post("declining stores nothing", lambda w: f"/s/{slug(w)}/consent", everyone(200)),
    ],
    "p/<str:code>/": [
        get("A's code: A's current trial", lambda w: f"/p/{a_code(w)}/", everyone(200)),
        get("a guessed code", lambda w: f"/p/{GUESSED}/", everyone(404)),
    ],
    "p/<str:code>/instructions": [
        # A has read them and started: Back or an old tab is sent on to A's current trial
        get("A's code", lambda w: f"/p/{a_code(w)}/instructions", everyone(Redirect("/p/"))),
        get("a guessed code", lambda w: f"/p/{GUESSED}/instructions", everyone(404)),
        post("a guessed code", lambda w: f"/p/{GUESSED}/instructions", everyone(404)),
    ],
    "p/<str:code>/trials/<int:trial_id>/image": [
        get("A's code, A's trial", lambda w: f"/p/{a_code(w)}/trials/{w.a_pending.pk}/image", everyone(200)),
        get("B's code, A's trial", lambda w: f"/p/{w.b.code}/trials/{w.a_pending.pk}/image", everyone(404)),
        get(
            "a guessed code, A's trial",
            lambda w: f"/p/{GUESSED}/trials/{w.a_pending.pk}/image",
            everyone(404),
        ),
    ],
    "p/<str:code>/trials/<int:trial_id>/image/<str:name>": [
        get(
            "A's code, A's trial, its rendition",
            lambda w: f"/p/{a_code(w)}/trials/{w.a_pending.pk}/image/{rendition(w)}",
            everyone(200),
        ),
        get(
            "B's code, A's trial",
            lambda w: f"/p/{w.b.code}/trials/{w.a_pending.pk}/image/{rendition(w)}",
            everyone(404),
        ),
        get(
            "A's code, a name not among the image's renditions",
            lambda w: f"/p/{a_code(w)}/trials/{w.a_pending.pk}/image/{'0' * 16}-480w-q80-v1.webp",
            everyone(404),
        ),
    ],
    "p/<str:code>/trials/<int:trial_id>/annotation": [
        get("POST only", lambda w: f"/p/{a_code(w)}/trials/{w.a_pending.pk}/annotation", everyone(405)),
        # without a map: 400 under A's code, 404 (no such participant or trial) otherwise
        post(
            "A's code, A's trial",
            lambda w: f"/p/{a_code(w)}/trials/{w.a_pending.pk}/annotation",
            everyone(400),
        ),
        post(
            "B's code, A's trial",
            lambda w: f"/p/{w.b.code}/trials/{w.a_pending.pk}/annotation",
            everyone(400),
        ),
        post("a guessed code", lambda w: f"/p/{GUESSED}/trials/{w.a_pending.pk}/annotation", everyone(404)),
    ],
    "p/<str:code>/done": [
        # A has a pending trial: the finish page sends A back to it
        get("A's code", lambda w: f"/p/{a_code(w)}/done", everyone(Redirect("/p/"))),
        get("a guessed code", lambda w: f"/p/{GUESSED}/done", everyone(404)),
    ],
}

RESEARCH = {
    "research/": [get("study list", lambda w: "/research/", staff_only(200))],
    "research/<slug:slug>/": [get("results", lambda w: f"/research/{slug(w)}/", staff_only(200))],
    "research/<slug:slug>/compute": [
        # GET: the estimate and the button; POST queues (or refuses while a job runs)
        get("estimate", lambda w: f"/research/{slug(w)}/compute", staff_only(200)),
        post("queue", lambda w: f"/research/{slug(w)}/compute", staff_only(Redirect("/research/"))),
    ],
    "research/<slug:slug>/diagnostics/compute": [
        # GET: the settings in words and the button; POST queues (or refuses while a job runs)
        get("diagnostics plan", lambda w: f"/research/{slug(w)}/diagnostics/compute", staff_only(200)),
        post(
            "queue diagnostics",
            lambda w: f"/research/{slug(w)}/diagnostics/compute",
            staff_only(Redirect("/research/")),
        ),
    ],
    "research/<slug:slug>/faithfulness.csv": [
        get("CSV", lambda w: f"/research/{slug(w)}/faithfulness.csv", staff_only(200))
    ],
    "research/<slug:slug>/randomisation.csv": [
        get("CSV", lambda w: f"/research/{slug(w)}/randomisation.csv", staff_only(200))
    ],
    "research/<slug:slug>/jobs/<int:job_id>/retry": staff_action(
        "retry", lambda w: f"/research/{slug(w)}/jobs/{w.job.pk}/retry"
    ),
    "research/<slug:slug>/jobs/<int:job_id>/cancel": staff_action(
        "cancel", lambda w: f"/research/{slug(w)}/jobs/{w.job.pk}/cancel"
    ),
    "research/<slug:slug>/review/": [
        get("review", lambda w: f"/research/{slug(w)}/review/", staff_only(200))
    ],
    "research/<slug:slug>/participants/<int:participant_id>/review": staff_action(
        "review action", lambda w: f"/research/{slug(w)}/participants/{w.a.pk}/review"
    ),
    "research/annotations/<int:annotation_id>.png": [
        get("A's painted map", lambda w: f"/research/annotations/{w.annotation.pk}.png", staff_only(200))
    ],
    "research/<slug:slug>/agreement.csv": [
        get("CSV", lambda w: f"/research/{slug(w)}/agreement.csv", staff_only(200))
    ],
    "research/<slug:slug>/images.csv": [
        get("CSV", lambda w: f"/research/{slug(w)}/images.csv", staff_only(200))
    ],
    "research/<slug:slug>/participants.csv": [
        get("CSV", lambda w: f"/research/{slug(w)}/participants.csv", staff_only(200))
    ],
    "research/<slug:slug>/watermark.csv": [
        get("CSV", lambda w: f"/research/{slug(w)}/watermark.csv", staff_only(200))
    ],
    "research/<slug:slug>/export.zip": [
        get("ZIP", lambda w: f"/research/{slug(w)}/export.zip", staff_only(200))
    ],
    "research/<slug:slug>/dataset.zip": [
        get("data set ZIP", lambda w: f"/research/{slug(w)}/dataset.zip", staff_only(200))
    ],
    "research/<slug:slug>/images/<int:image_id>/human.png": [
        get(
            "human mean",
            lambda w: f"/research/{slug(w)}/images/{w.a_done.image_id}/human.png",
            staff_only(200),
        )
    ],
    "research/<slug:slug>/images/<int:image_id>/human-top<int:percent>.png": [
        get(
            "human region",
            lambda w: f"/research/{slug(w)}/images/{w.a_done.image_id}/human-top10.png",
            staff_only(200),
        )
    ],
    "research/<slug:slug>/images/<int:image_id>/": [
        get("image page", lambda w: f"/research/{slug(w)}/images/{w.a_done.image_id}/", staff_only(200))
    ],
    "research/<slug:slug>/images/<int:image_id>/figure.<str:fmt>": [
        get(
            "image figure",
            lambda w: f"/research/{slug(w)}/images/{w.a_done.image_id}/figure.png",
            staff_only(200),
        )
    ],
    "research/<slug:slug>/charts/<slug:chart>.<str:fmt>": [
        get("chart", lambda w: f"/research/{slug(w)}/charts/spearman.svg", staff_only(200))
    ],
    "research/maps/<int:map_id>.png": [
        get("model map", lambda w: f"/research/maps/{w.saliency_map.pk}.png", staff_only(200))
    ],
    "research/maps/<int:map_id>/top<int:percent>.png": [
        get("model region", lambda w: f"/research/maps/{w.saliency_map.pk}/top10.png", staff_only(200))
    ],
    "research/images/<int:image_id>.jpg": [
        get("thumbnail", lambda w: f"/research/images/{w.a_done.image_id}.jpg", staff_only(200))
    ],
}

API = {
    "api/studies/": [get("list", lambda w: "/api/studies/", api(200))],
    "api/studies/<slug:slug>/": [get("detail", lambda w: f"/api/studies/{slug(w)}/", api(200))],
    "api/studies/<slug:slug>/images/": [get("images", lambda w: f"/api/studies/{slug(w)}/images/", api(200))],
    "api/studies/<slug:slug>/images/<int:image_id>/human-mean.npy": [
        get(
            "human mean",
            lambda w: f"/api/studies/{slug(w)}/images/{w.a_done.image_id}/human-mean.npy",
            api(200),
        )
    ],
    "api/studies/<slug:slug>/agreement/": [
        get("agreement", lambda w: f"/api/studies/{slug(w)}/agreement/", api(200))
    ],
    "api/studies/<slug:slug>/image-stats/": [
        get("image stats", lambda w: f"/api/studies/{slug(w)}/image-stats/", api(200))
    ],
    "api/studies/<slug:slug>/participants/": [
        get("participant rows", lambda w: f"/api/studies/{slug(w)}/participants/", api(200))
    ],
    "api/studies/<slug:slug>/maps/": [get("maps", lambda w: f"/api/studies/{slug(w)}/maps/", api(200))],
    "api/studies/<slug:slug>/maps/<int:map_id>.npy": [
        get("map", lambda w: f"/api/studies/{slug(w)}/maps/{w.saliency_map.pk}.npy", api(200))
    ],
    "api/studies/<slug:slug>/diagnostics/": [
        get("diagnostics", lambda w: f"/api/studies/{slug(w)}/diagnostics/", api(200))
    ],
    "api/studies/<slug:slug>/export.zip": [
        get("ZIP", lambda w: f"/api/studies/{slug(w)}/export.zip", api(200))
    ],
    "api/studies/<slug:slug>/dataset.zip": [
        get("data set ZIP", lambda w: f"/api/studies/{slug(w)}/dataset.zip", api(200))
    ],
    "api/studies/<slug:slug>/participant-maps/": [
        get("participant maps", lambda w: f"/api/studies/{slug(w)}/participant-maps/", api(200))
    ],
    # A's map through its own study; through a study it does not belong to, 404 (staff alike)
    "api/studies/<slug:slug>/participant-maps/<int:annotation_id>/": [
        get(
            "A's map",
            lambda w: f"/api/studies/{slug(w)}/participant-maps/{w.annotation.pk}/",
            api(200),
        ),
        get(
            "A's map via another study",
            lambda w: f"/api/studies/{other_slug(w)}/participant-maps/{w.annotation.pk}/",
            api(404),
        ),
    ],
    "api/studies/<slug:slug>/participant-maps/<int:annotation_id>.png": [
        get(
            "A's map, 16-bit PNG",
            lambda w: f"/api/studies/{slug(w)}/participant-maps/{w.annotation.pk}.png",
            api(200),
        ),
        get(
            "A's map via another study",
            lambda w: f"/api/studies/{other_slug(w)}/participant-maps/{w.annotation.pk}.png",
            api(404),
        ),
    ],
    "api/studies/<slug:slug>/participant-maps/<int:annotation_id>.npy": [
        get(
            "A's map, npy",
            lambda w: f"/api/studies/{slug(w)}/participant-maps/{w.annotation.pk}.npy",
            api(200),
        ),
        get(
            "A's map via another study",
            lambda w: f"/api/studies/{other_slug(w)}/participant-maps/{w.annotation.pk}.npy",
            api(404),
        ),
    ],
    # The schema and its viewers describe the endpoints only: public by decision (settings).
    # The index lists the endpoints and the schema's addresses: public, as the schema is.
    "api/": [get("index", lambda w: "/api/", everyone(200))],
    "api/schema/": [get("schema", lambda w: "/api/schema/", everyone(200))],
    "api/docs/": [get("Swagger UI", lambda w: "/api/docs/", everyone(200))],
    "api/redoc/": [get("Redoc", lambda w: "/api/redoc/", everyone(200))],
}

# ------------------------------------------------------------------------------- admin

# Staff without model permissions: the index opens, every model page is 403 (Django's
# default for a staff user who was given no permissions).
ADMIN_SITE = {
    "admin/login/": [
        # the rate-limited login view in config/urls.py (it shadows admin:login)
        get(
            "login page",
            lambda w: "/admin/login/",
            {**everyone(200), "researcher": Redirect("/admin/"), "admin": Redirect("/admin/")},
        ),
    ],
    "admin/": [get("index", lambda w: "/admin/", staff_only(200))],
    "admin/logout/": [
        # POST only for staff; the admin wrapper sends everyone else to the index first
        get("POST only", lambda w: "/admin/logout/", staff_only(405) | everyone_else(Redirect("/admin/"))),
    ],
    "admin/password_change/": [
        get("change own password", lambda w: "/admin/password_change/", staff_only(200))
    ],
    "admin/password_change/done/": [get("done", lambda w: "/admin/password_change/done/", staff_only(200))],
    "admin/autocomplete/": [
        # without the widget's parameters: 403 for everyone who may reach it
        get("autocomplete", lambda w: "/admin/autocomplete/", staff_only(403))
    ],
    "admin/jsi18n/": [get("translations", lambda w: "/admin/jsi18n/", staff_only(200))],
    "admin/r/<path:content_type_id>/<path:object_id>/": [
        # no model has get_absolute_url: nothing to show on the site
        get("view on site", lambda w: "/admin/r/1/1/", staff_only(404))
    ],
    "admin/^(?P<app_label>auth|authtoken|catalogue|explain|study|annotations)/$": [
        get("app index", lambda w: "/admin/study/", staff_only(404, admin_outcome=200))
    ],
    "admin/(?P<url>.*)$": [get("unknown admin URL", lambda w: "/admin/no-such-page/", staff_only(404))],
    "admin/auth/user/<id>/password/": [
        get(
            "set a user's password",
            lambda w: f"/admin/auth/user/{w.researcher.pk}/password/",
            staff_only(403, admin_outcome=200),
        )
    ],
    "admin/catalogue/imageset/<int:object_id>/upload/": [
        get(
            "bulk upload",
            lambda w: f"/admin/catalogue/imageset/{w.study.image_set_id}/upload/",
            staff_only(403, admin_outcome=200),
        )
    ],
    "admin/catalogue/image/<int:object_id>/regions/": [
        get(
            "region painter",
            lambda w: f"/admin/catalogue/image/{w.a_done.image_id}/regions/",
            staff_only(403, admin_outcome=200),
        )
    ],
    "admin/catalogue/image/<int:object_id>/regions/target": [
        get(
            "POST only",
            lambda w: f"/admin/catalogue/image/{w.a_done.image_id}/regions/target",
            staff_only(405),
        ),
        post(
            "target region",
            lambda w: f"/admin/catalogue/image/{w.a_done.image_id}/regions/target",
            staff_only(403, admin_outcome=400),  # the admin sent no map
        ),
    ],
    "admin/catalogue/image/<int:object_id>/file": [
        get(
            "image file",
            lambda w: f"/admin/catalogue/image/{w.a_done.image_id}/file",
            staff_only(403, admin_outcome=200),
        )
    ],
    "admin/catalogue/image/<int:object_id>/thumbnail.jpg": [
        get(
            "thumbnail",
            lambda w: f"/admin/catalogue/image/{w.a_done.image_id}/thumbnail.jpg",
            staff_only(403, admin_outcome=200),
        )
    ],
    "admin/study/study/from-template/": [
        get(
            "study from a template",
            lambda w: "/admin/study/study/from-template/",
            staff_only(403, admin_outcome=200),
        )
    ],
    "admin/explain/modelspec/<int:object_id>/test-load/": [
        get(
            "test load",
            lambda w: f"/admin/explain/modelspec/{w.saliency_map.model_id}/test-load/",
            staff_only(403, admin_outcome=200),
        )
    ],
}

# The object each registered model's change pages are opened with.
ADMIN_OBJECTS = {
    "auth.group": lambda w: w.group.pk,
    "auth.user": lambda w: w.researcher.pk,
    "authtoken.tokenproxy": lambda w: w.researcher.pk,  # the token admin is keyed by its user
    "catalogue.imageset": lambda w: w.study.image_set_id,
    "catalogue.image": lambda w: w.a_done.image_id,
    "study.study": lambda w: w.study.pk,
    "study.participant": lambda w: w.a.pk,
    "annotations.annotation": lambda w: w.annotation.pk,
    "explain.modelspec": lambda w: w.saliency_map.model_id,
    "explain.prediction": lambda w: w.prediction.pk,
    "explain.saliencymap": lambda w: w.saliency_map.pk,
    "explain.computejob": lambda w: w.job.pk,
}
# Models whose admin refuses adding even to a superuser (rows come from the services).
NO_ADD = {"explain.computejob"}


def _model_admin_checks(label: str) -> dict:
    """The six standard pages of one registered model: staff only, and a staff user without
    permissions is refused (403) everywhere except the bare-id redirect."""
    app, model = label.split(".")
    base = f"/admin/{app}/{model}/"
    obj = ADMIN_OBJECTS[label]
    add_for_admin = 403 if label in NO_ADD else 200
    return {
        f"admin/{app}/{model}/": [get("list", lambda w: base, staff_only(403, admin_outcome=200))],
        f"admin/{app}/{model}/add/": [
            get("add", lambda w: base + "add/", staff_only(403, admin_outcome=add_for_admin))
        ],
        f"admin/{app}/{model}/<path:object_id>/history/": [
            get("history", lambda w: f"{base}{obj(w)}/history/", staff_only(403, admin_outcome=200))
        ],
        f"admin/{app}/{model}/<path:object_id>/delete/": [
            get(
                "delete (confirmation page)",
                lambda w: f"{base}{obj(w)}/delete/",
                staff_only(403, admin_outcome=200),
            )
        ],
        f"admin/{app}/{model}/<path:object_id>/change/": [
            get("change", lambda w: f"{base}{obj(w)}/change/", staff_only(403, admin_outcome=200))
        ],
        f"admin/{app}/{model}/<path:object_id>/": [
            get("old-style URL", lambda w: f"{base}{obj(w)}/", staff_only(Redirect(f"{base}")))
        ],
    }


def _admin_model_checks() -> dict:
    checks = {}
    for model in admin.site._registry:
        checks.update(_model_admin_checks(model._meta.label_lower))
    return checks


AREAS = {
    "public and participant pages": PUBLIC_AND_PARTICIPANT,
    "research pages": RESEARCH,
    "JSON API": API,
    "admin site and custom admin pages": ADMIN_SITE,
    "admin model pages": _admin_model_checks(),
}
EXPECTED = {route: checks for area in AREAS.values() for route, checks in area.items()}


def _walk(resolver: URLResolver, prefix: str = ""):
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern, prefix + str(pattern.pattern))
        else:
            assert isinstance(pattern, URLPattern)
            yield prefix + str(pattern.pattern)


ROUTES = sorted(set(_walk(get_resolver())))


def test_every_url_pattern_has_a_decision():
    missing = [route for route in ROUTES if route not in EXPECTED]
    assert not missing, f"URL patterns without an entry in the permission matrix: {missing}"
    stale = [route for route in EXPECTED if route not in ROUTES]
    assert not stale, f"matrix entries for URL patterns that no longer exist: {stale}"


def _outcome(response):
    if response.status_code == 302:
        location = response["Location"]
        if location.startswith("/admin/login/?next="):
            return LOGIN
        return location
    return response.status_code


def _matches(actual, expected) -> bool:
    if isinstance(expected, Redirect):
        return isinstance(actual, str) and actual.startswith(expected.to)
    return actual is expected if expected is LOGIN else actual == expected


@pytest.mark.parametrize("area", list(AREAS))
def test_each_persona_gets_what_the_matrix_says(world, area):
    """One world per area (building it dominates the run time); every mismatch is listed."""
    mismatches = []
    for route, checks in AREAS[area].items():
        for check in checks:
            url = check.url(world)
            for persona, expected in check.expect.items():
                actual = _outcome(world.request(persona, check.method, url))
                if not _matches(actual, expected):
                    mismatches.append(
                        f"{route} ({check.label}): {check.method} {url} as {persona}: "
                        f"{actual!r}, expected {expected!r}"
                    )
    assert not mismatches, "\n".join(mismatches)


# ------------------------------------------------------------- participant data isolation


def test_a_participant_cannot_paint_into_another_participants_trial(world):
    """B's code with A's pending trial id: 404, and A's trial stays pending and unpainted."""
    response = world.clients["participant_b"].post(
        f"/p/{world.b.code}/trials/{world.a_pending.pk}/annotation",
        {"map": _upload(png16(box_map((0, 0, 160, 120)))), "strokes": "[]"},
    )
    assert response.status_code == 404 and response.json() == {"error": "no such trial for this participant"}
    world.a_pending.refresh_from_db()
    assert world.a_pending.status == "pending"
    assert Annotation.objects.count() == 1  # A's own earlier one


def test_participant_pages_show_nothing_of_other_participants(world):
    """A's trial page carries A's code and trial ids only; B's page never mentions A's."""
    page_b = world.clients["participant_b"].get(f"/p/{world.b.code}/").content.decode()
    assert world.a.code not in page_b
    assert f"/trials/{world.a_pending.pk}/" not in page_b
    page_a = world.clients["participant_a"].get(f"/p/{world.a.code}/").content.decode()
    assert f"/p/{world.a.code}/trials/{world.a_pending.pk}/image" in page_a


def test_the_study_link_resumes_only_the_browsers_own_participant(world):
    """The session remembers one code per study: B's browser is sent to B's pages, never A's."""
    response = world.clients["participant_b"].get(f"/s/{world.study.slug}/")
    assert response["Location"] == f"/p/{world.b.code}/"


def test_a_researcher_session_without_staff_status_gets_no_research_page_or_api(world, django_user_model):
    user = django_user_model.objects.create_user("ex-researcher", password="long-password-123")
    world.clients["anonymous"].force_login(user)
    assert _outcome(world.clients["anonymous"].get("/research/")) is LOGIN
    assert world.clients["anonymous"].get("/api/studies/").status_code == 403


# ------------------------------------------------------------------- participant codes

ALPHABET_BITS = math.log2(64)  # token_urlsafe: base64url, 6 bits per character


def test_participant_codes_carry_at_least_128_random_bits():
    codes = [new_participant_code() for _ in range(20_000)]
    alphabet = set("".join(codes))
    assert alphabet <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert len(alphabet) == 64  # every base64url character turns up: the whole alphabet is used
    assert {len(code) for code in codes} == {32}
    assert 32 * ALPHABET_BITS == 192 >= 128
    assert len(set(codes)) == len(codes)
    # each character position is uniform: over 20000 codes a position sees all 64 symbols
    assert all(len({code[i] for code in codes}) == 64 for i in range(32))
