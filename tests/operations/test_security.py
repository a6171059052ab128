"""Content-Security-Policy and rate limits on the public pages and the admin login."""

import re

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client

from annotations.models import Annotation
from study.models import Participant
from tests.conftest import png_bytes


def _start(client: Client, slug: str) -> Participant:
    client.post(f"/s/{slug}/consent", {"decision": "accept"})
    participant = Participant.objects.order_by("-pk").first()
    client.post(f"/p/{participant.code}/instructions")
    return participant


def _submit(client: Client, participant: Participant, key: str, position: int | None = None):
    """Submit a map for the trial at ``position``, by default the participant's next pending one."""
    trials = participant.trials.order_by("position")
    trial = trials.get(position=position) if position is not None else trials.filter(status="pending").first()
    image = trial.image
    values = np.zeros((image.height, image.width), np.uint8)
    values[10:60, 10:80] = 255
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(
        f"/p/{participant.code}/trials/{trial.pk}/annotation",
        {
            "map": SimpleUploadedFile("map.png", png_bytes(values), content_type="image/png"),
            "strokes": "[]",
            "time_on_task_ms": "1000",
            "idempotency_key": key,
        },
        HTTP_ACCEPT="application/json",
    )


def test_every_kind_of_page_carries_the_policy(client, study, researcher):
    assert "script-src 'self';" in client.get("/admin/login/")["Content-Security-Policy"]
    pages = ["/s/test-study/", "/healthz", "/api/schema/", "/api/docs/", "/research/test-study/", "/admin/"]
    client.force_login(researcher)
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        policy = response["Content-Security-Policy"]
        assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy, page


def test_pages_under_the_strict_policy_have_no_inline_script(client, study, researcher):
    client.force_login(researcher)
    participant = _start(client, "test-study")
    for page in ["/s/test-study/", f"/p/{participant.code}/", "/api/docs/", "/research/test-study/"]:
        html = client.get(page).content.decode()
        # JSON data blocks are never executed, so the policy allows them.
        inline = re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", html)
        assert inline == [], (page, inline)


def test_redoc_gets_its_own_policy(client, db):
    response = client.get("/api/redoc/")
    assert response.status_code == 200
    assert "script-src 'self' 'unsafe-inline' blob:" in response["Content-Security-Policy"]


def test_submissions_beyond_the_limit_get_429_and_store_nothing(client, study, settings):
    settings.RATE_LIMIT_SUBMISSIONS_PER_MINUTE = 2
    participant = _start(client, "test-study")  # two trials
    first = participant.trials.order_by("position").first().position
    assert _submit(client, participant, "k1", first).status_code == 200
    assert _submit(client, participant, "k1", first).status_code == 200  # the same key again: a retry
    assert _submit(client, participant, "k2").status_code == 429  # the next trial waits
    assert Annotation.objects.filter(trial__participant=participant).count() == 1
    cache.clear()  # a new minute
    assert _submit(client, participant, "k2").status_code == 200
    assert _submit(client, participant, "k3", first).status_code == 409  # already done: counted all the same
    refused = _submit(client, participant, "k4", first)
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert "Too many requests" in refused.json()["error"]
    assert Annotation.objects.filter(trial__participant=participant).count() == 2
    # Another participant is not held back by the first one's count.
    other = Client()
    assert _submit(other, _start(other, "test-study"), "k1").status_code == 200


def test_study_starts_are_limited_per_client_address(study, settings):
    settings.RATE_LIMIT_STARTS_PER_MINUTE = 3
    statuses = [
        Client(REMOTE_ADDR="10.0.0.1").post("/s/test-study/consent", {"decision": "accept"}).status_code
        for _ in range(4)
    ]
    assert statuses[:3] == [302, 302, 302] and statuses[3] == 429
    assert Participant.objects.count() == 3
    assert (
        Client(REMOTE_ADDR="10.0.0.2").post("/s/test-study/consent", {"decision": "accept"}).status_code
        == 302
    )


def test_admin_logins_are_limited(db, settings):
    settings.RATE_LIMIT_LOGINS_PER_MINUTE = 3
    get_user_model().objects.create_superuser("boss", password="right-password-123")
    client = Client()
    for _ in range(3):
        response = client.post("/admin/login/", {"username": "boss", "password": "wrong"})
        assert response.status_code == 200  # the form again, with its error
    response = client.post("/admin/login/", {"username": "boss", "password": "right-password-123"})
    assert response.status_code == 429  # even the right password waits out the window
    assert client.get("/admin/login/").status_code == 200  # the page itself still opens


@pytest.mark.parametrize("url", ["/s/test-study/consent"])
def test_participant_posts_need_the_csrf_token(study, url):
    client = Client(enforce_csrf_checks=True)
    assert client.post(url, {"decision": "accept"}).status_code == 403
