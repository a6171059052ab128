"""A second tab, a repeated submit, Back: the participant is taken to where they are, with a
message, never to a dead end or a page out of order."""

import numpy as np
import pytest

from study.models import Participant, Trial
from tests.conftest import png_bytes, post_annotation


def painted_map() -> bytes:
    """A grayscale map the size of the conftest images, a quarter of it painted."""
    values = np.zeros((120, 160), dtype=np.uint8)
    values[30:90, 40:120] = 200
    return png_bytes(values)


def _started(client):
    """A participant who consented and read the instructions, in this client's browser."""
    client.get("/s/test-study/")
    consent = client.post("/s/test-study/consent", {"decision": "accept", "recruiter_ids": ""})
    client.post(consent.url + "instructions")
    return Participant.objects.get()


def _pending(participant):
    return list(participant.trials.filter(status=Trial.Status.PENDING).order_by("position"))


def test_a_stale_tab_submitting_a_done_trial_gets_the_current_trials_url(client, study):
    participant = _started(client)
    first, second = _pending(participant)
    assert post_annotation(client, first, painted_map(), idempotency_key="tab-1").status_code == 200

    stale = post_annotation(client, first, painted_map(), idempotency_key="tab-2")
    assert stale.status_code == 409
    answer = stale.json()
    assert "already been submitted" in answer["error"]
    assert answer["next_url"].startswith(f"/p/{participant.code}/")

    page = client.get(answer["next_url"])
    text = page.content.decode()
    assert page.status_code == 200 and f'"trialId": {second.pk}' in text
    assert 'id="already-submitted"' in text
    # the same page without the flag carries no message
    assert 'id="already-submitted"' not in client.get(f"/p/{participant.code}/").content.decode()


def test_a_stale_tab_on_the_last_trial_is_taken_to_the_finish_page_with_the_message(client, study):
    participant = _started(client)
    for trial in _pending(participant):
        answer = post_annotation(client, trial, painted_map(), idempotency_key=f"a{trial.pk}")
        assert answer.status_code == 200
    stale = post_annotation(client, trial, painted_map(), idempotency_key="another-tab")
    assert stale.status_code == 409
    finish = client.get(stale.json()["next_url"], follow=True)
    text = finish.content.decode()
    assert finish.redirect_chain[-1][0].startswith(f"/p/{participant.code}/done")
    assert study.completion_code in text and 'id="already-submitted"' in text


def test_the_same_submission_sent_again_still_answers_200(client, study):
    participant = _started(client)
    first = _pending(participant)[0]
    for _ in range(2):
        answer = post_annotation(client, first, painted_map(), idempotency_key="same")
        assert answer.status_code == 200 and answer.json()["next_url"] == f"/p/{participant.code}/"


def test_the_instructions_once_read_send_the_participant_to_the_current_trial(client, study):
    participant = _started(client)
    again = client.get(f"/p/{participant.code}/instructions")
    assert again.status_code == 302 and again.url == f"/p/{participant.code}/"


@pytest.mark.parametrize("page", ["entry", "home", "instructions", "finish"])
def test_participant_pages_are_never_cached(client, study, page):
    """So Back asks the server again instead of showing a page as it was."""
    if page == "entry":
        response = client.get("/s/test-study/")
    else:
        client.get("/s/test-study/")
        consent = client.post("/s/test-study/consent", {"decision": "accept", "recruiter_ids": ""})
        code = consent.url.split("/")[2]
        if page != "instructions":
            client.post(f"/p/{code}/instructions")
        if page == "finish":
            Trial.objects.update(status=Trial.Status.DONE)
        path = {"home": f"/p/{code}/", "instructions": f"/p/{code}/instructions", "finish": f"/p/{code}/done"}
        response = client.get(path[page])
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


def test_participant_pages_reload_when_restored_from_the_back_forward_cache(client, study):
    participant = _started(client)
    page = client.get(f"/p/{participant.code}/").content.decode()
    assert "study/js/fresh_page.js" in page
