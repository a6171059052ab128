"""The review page: participant cards, their maps as pictures, flag and exclude. Excluded
participants' data stays stored and leaves every analysis."""

import csv
import io

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from PIL import Image as PILImage

from annotations.models import Annotation
from catalogue.models import Image
from research import inputs, selectors
from study.models import Participant
from tests.research.conftest import MAIN_IMAGES, hand_mean

REVIEW = "/research/test-study/review/"


def _participant(painted_study, name: str) -> Participant:
    return Participant.objects.get(code=painted_study.codes[name])


def _act(client, participant: Participant, action: str, **fields):
    return client.post(
        f"/research/test-study/participants/{participant.pk}/review",
        {"action": action, **fields},
        follow=True,
    )


def _csv_rows(client, path: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(client.get(path).content.decode())))


@pytest.fixture
def staff_client(client, researcher):
    client.force_login(researcher)
    return client


def test_the_review_pages_are_staff_only(client, painted_study):
    annotation = Annotation.objects.filter(trial__participant__code=painted_study.codes["A"]).first()
    a = _participant(painted_study, "A")
    paths = [REVIEW, f"/research/annotations/{annotation.pk}.png"]
    for path in paths:  # anonymous: to the login page
        response = client.get(path)
        assert response.status_code == 302 and response.url.startswith("/admin/login/"), path
    client.force_login(get_user_model().objects.create_user("someone", password="someone-pass-123"))
    for path in paths:  # logged in but not staff: refused the same way
        response = client.get(path)
        assert response.status_code == 302 and response.url.startswith("/admin/login/"), path
    response = client.post(
        f"/research/test-study/participants/{a.pk}/review", {"action": "exclude", "reason": "x"}
    )
    assert response.status_code == 302 and response.url.startswith("/admin/login/")
    a.refresh_from_db()
    assert not a.excluded


def test_one_card_per_participant_with_ids_status_attention_checks_and_maps(staff_client, painted_study):
    page = staff_client.get(REVIEW).content.decode()
    a, b, c = (_participant(painted_study, name) for name in "ABC")
    for participant in (a, b, c):
        assert f'id="participant-{participant.pk}"' in page
    assert "Prolific pA" in page and "MTurk wB" in page and "Prolific pC" in page
    assert page.count('class="badge">finished</span>') == 2 and 'class="badge">in progress</span>' in page
    assert page.count("check: passed") == 2 and page.count("check: failed") == 1
    # A and B painted practice, 3 main images and the check; C the practice image and the check.
    painted = Annotation.objects.filter(trial__participant__study=painted_study.study)
    assert painted.count() == 12
    for annotation in painted:
        assert f"/research/annotations/{annotation.pk}.png" in page
    assert page.count("csrfmiddlewaretoken") == 2 * 3  # flag and exclude forms per card
    assert 'href="/research/test-study/review/"' in staff_client.get("/research/test-study/").content.decode()


def test_the_filters_choose_the_cards(staff_client, painted_study):
    c = _participant(painted_study, "C")
    page = staff_client.get(f"{REVIEW}?show=flagged").content.decode()
    assert page.count('class="card participant-card') == 1 and f'id="participant-{c.pk}"' in page
    assert "No participants" in staff_client.get(f"{REVIEW}?show=excluded").content.decode()
    assert "No participants" in staff_client.get(f"{REVIEW}?show=bots").content.decode()
    assert staff_client.get(f"{REVIEW}?show=everyone").status_code == 400
    assert selectors.review_counts(study=painted_study.study) == {
        "all": 3,
        "flagged": 1,
        "flagged_maps": 1,  # C's failed attention check
        "excluded": 0,
        "bots": 0,
    }


def test_the_map_picture_is_the_painted_map_over_the_image(staff_client, painted_study):
    trial = _participant(painted_study, "A").trials.get(image__name="img0")
    response = staff_client.get(f"/research/annotations/{trial.annotation.pk}.png")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    with PILImage.open(io.BytesIO(response.content)) as picture:
        overlay = np.asarray(picture.convert("RGB"), dtype=np.int16)
    with Image.objects.get(name="img0").file.open("rb") as handle, PILImage.open(handle) as original:
        plain = np.asarray(
            original.convert("RGB").resize(overlay.shape[1::-1], PILImage.LANCZOS), dtype=np.int16
        )
    assert overlay.shape == (144, 192, 3)  # 160 x 120 scaled to 192 wide
    # A's map of img0 is 0 outside rows 20-60, columns 30-90: the image shows through there,
    # and the painted box is coloured.
    changed = np.abs(overlay - plain).sum(axis=2) > 30
    assert not changed[:20].any() and not changed[80:].any()
    assert changed[30:66, 40:104].mean() > 0.9


def test_excluding_leaves_the_maps_stored_but_out_of_the_agreement(staff_client, painted_study):
    a = _participant(painted_study, "A")
    before = _csv_rows(staff_client, "/research/test-study/agreement.csv")
    assert {row["n_participants"] for row in before} == {"2"}

    response = _act(staff_client, a, "exclude", reason="painted the background", show="all", page="1")
    assert response.redirect_chain[-1][0] == f"{REVIEW}?show=all&page=1#participant-{a.pk}"
    assert f"Participant {a.pk} excluded." in response.content.decode()
    a.refresh_from_db()
    assert a.excluded and a.exclusion_reason == "painted the background"

    after = _csv_rows(staff_client, "/research/test-study/agreement.csv")
    assert len(after) == len(before) and {row["n_participants"] for row in after} == {"1"}
    assert Annotation.objects.filter(trial__participant=a).count() == 5  # still stored
    study = painted_study.study
    for name in MAIN_IMAGES:  # the human mean is now B's map alone
        mean, count = inputs.human_mean(study=study, image=Image.objects.get(name=name))
        assert count == 1
        np.testing.assert_allclose(mean, hand_mean(painted_study.submitted[("B", name)]), atol=1e-6)

    rows = [
        r
        for r in _csv_rows(staff_client, "/research/test-study/participants.csv")
        if r["participant_code"] == a.code
    ]
    assert {(r["excluded"], r["exclusion_reason"], r["analysed"]) for r in rows} == {
        ("True", "painted the background", "False")
    }
    assert "excluded: painted the background" in staff_client.get(f"{REVIEW}?show=excluded").content.decode()

    _act(staff_client, a, "include")
    a.refresh_from_db()
    assert not a.excluded and a.exclusion_reason == ""
    assert {
        row["n_participants"] for row in _csv_rows(staff_client, "/research/test-study/agreement.csv")
    } == {"2"}


def test_an_exclusion_needs_a_reason_of_at_most_200_characters(staff_client, painted_study):
    a = _participant(painted_study, "A")
    assert "give a reason" in _act(staff_client, a, "exclude", reason="   ").content.decode()
    assert "at most 200" in _act(staff_client, a, "exclude", reason="x" * 201).content.decode()
    assert "unknown action" in _act(staff_client, a, "delete").content.decode()
    a.refresh_from_db()
    assert not a.excluded and a.exclusion_reason == ""
    assert staff_client.get(f"/research/test-study/participants/{a.pk}/review").status_code == 405


def test_flag_and_unflag(staff_client, painted_study):
    a = _participant(painted_study, "A")
    _act(staff_client, a, "flag")
    a.refresh_from_db()
    assert a.flagged
    assert f'id="participant-{a.pk}"' in staff_client.get(f"{REVIEW}?show=flagged").content.decode()
    # the results page's "exclude flagged" filter now leaves A out too
    rows = _csv_rows(staff_client, "/research/test-study/agreement.csv?exclude_flagged=1")
    assert {row["n_participants"] for row in rows} == {"1"}
    _act(staff_client, a, "unflag")
    a.refresh_from_db()
    assert not a.flagged


def test_the_admin_excludes_and_includes_participants(client, painted_study):
    client.force_login(get_user_model().objects.create_superuser("boss", password="boss-pass-123"))
    b = _participant(painted_study, "B")
    response = client.post(
        "/admin/study/participant/",
        {"action": "exclude_participants", "_selected_action": [b.pk]},
        follow=True,
    )
    assert [str(m) for m in response.context["messages"]] == ["excluded 1 participant(s)"]
    b.refresh_from_db()
    assert b.excluded and b.exclusion_reason == "excluded in the admin by boss"
    assert client.get("/admin/study/participant/?excluded__exact=1").context["cl"].result_count == 1
    client.post("/admin/study/participant/", {"action": "include_participants", "_selected_action": [b.pk]})
    b.refresh_from_db()
    assert not b.excluded
