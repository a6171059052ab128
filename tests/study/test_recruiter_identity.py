"""Who a browser is: a recruiter id on the link outranks the participant the browser's session
remembers, so a shared computer never hands one person's completion code to the next, and a
consent POST sent again (a retry, Back, a second tab) never locks its sender out."""

import pytest
from django.contrib.sessions.middleware import SessionMiddleware
from django.db import DatabaseError
from django.test import Client

from study.models import Participant, Trial


def _consent(client, query):
    """Open the link, consent and read the instructions; returns the consent answer."""
    client.get(f"/s/test-study/?{query}")
    response = client.post("/s/test-study/consent", {"decision": "accept", "recruiter_ids": query})
    assert response.status_code == 302, response.content.decode()
    client.post(response.url + "instructions")
    return response


def _finish(participant):
    participant.trials.update(status=Trial.Status.DONE)


PROLIFIC = ("PROLIFIC_PID=p1&STUDY_ID=st&SESSION_ID=s1", "PROLIFIC_PID=p2&STUDY_ID=st&SESSION_ID=s2")
MTURK = ("workerId=W1&assignmentId=A1&hitId=H", "workerId=W2&assignmentId=A2&hitId=H")


@pytest.mark.parametrize("first, second", [PROLIFIC, MTURK], ids=["prolific", "mturk"])
def test_another_recruiter_id_in_a_finished_browser_starts_a_new_participant(client, study, first, second):
    _consent(client, first)
    previous = Participant.objects.get()
    _finish(previous)
    assert study.completion_code in client.get(f"/p/{previous.code}/", follow=True).content.decode()

    page = client.get(f"/s/test-study/?{second}")
    assert page.status_code == 200, page.get("Location")
    text = page.content.decode()
    assert 'id="consent-accept"' in text
    assert study.completion_code not in text and previous.code not in text

    _consent(client, second)
    newcomer = Participant.objects.exclude(pk=previous.pk).get()
    assert (newcomer.prolific_pid or newcomer.mturk_worker_id) in ("p2", "W2")
    assert newcomer.trials.filter(status=Trial.Status.PENDING).count() == study.trials_per_participant
    # this browser is the newcomer's now: the previous participant's finish page sends it on
    finish = client.get(f"/p/{previous.code}/done")
    assert finish.status_code == 302 and finish.url == f"/p/{newcomer.code}/"
    assert study.completion_code not in client.get(f"/p/{newcomer.code}/", follow=True).content.decode()


def test_the_previous_participant_coming_back_to_the_shared_browser_resumes(client, study):
    _consent(client, PROLIFIC[0])
    first = Participant.objects.get()
    _consent(client, PROLIFIC[1])
    second = Participant.objects.exclude(pk=first.pk).get()
    back = client.get(f"/s/test-study/?{PROLIFIC[0]}")
    assert back.status_code == 302 and back.url == f"/p/{first.code}/"
    assert client.get(f"/p/{first.code}/").status_code == 200
    assert client.get(f"/p/{second.code}/done").url == f"/p/{first.code}/"


def test_the_same_recruiter_id_in_the_same_browser_resumes(client, study):
    _consent(client, PROLIFIC[0])
    participant = Participant.objects.get()
    for query in (PROLIFIC[0], "PROLIFIC_PID=p1", ""):
        again = client.get(f"/s/test-study/?{query}")
        assert again.status_code == 302 and again.url == f"/p/{participant.code}/"
    assert Participant.objects.count() == 1


def test_a_recruiter_id_taken_in_another_browser_gets_409_without_the_code(client, study):
    _consent(client, PROLIFIC[0])
    owner = Participant.objects.get()
    _finish(owner)
    other = Client()
    _consent(other, PROLIFIC[1])
    for answer in (
        other.get("/s/test-study/?PROLIFIC_PID=p1&SESSION_ID=guess"),
        other.post("/s/test-study/consent", {"decision": "accept", "recruiter_ids": "PROLIFIC_PID=p1"}),
    ):
        assert answer.status_code == 409
        assert owner.code not in answer.content.decode()
        assert study.completion_code not in answer.content.decode()


@pytest.mark.parametrize("query", ["PROLIFIC_PID=p1", ""], ids=["prolific-id-only", "no-recruiter"])
def test_a_repeated_consent_post_resumes_the_same_participant(client, study, query):
    """A retried POST (its answer was lost), Back to the consent page or a second tab."""
    first = _consent(client, query)
    again = client.post("/s/test-study/consent", {"decision": "accept", "recruiter_ids": query})
    assert again.status_code == 302 and again.url == first.url
    assert Participant.objects.count() == 1


def test_a_consent_post_retried_after_its_answer_failed_resumes(client, study, monkeypatch):
    """The participant was committed, then saving the session failed (the database went away):
    the browser got a 500 and no new cookie. Its retry must find the same participant, not a
    409 page (locked out) nor a second participant (their place lost)."""
    client.get("/s/test-study/?PROLIFIC_PID=p1")
    original = SessionMiddleware.process_response
    calls = []

    def failing_once(self, request, response):
        if not calls:
            calls.append(1)
            raise DatabaseError("the server closed the connection unexpectedly")
        return original(self, request, response)

    monkeypatch.setattr(SessionMiddleware, "process_response", failing_once)
    client.raise_request_exception = False
    data = {"decision": "accept", "recruiter_ids": "PROLIFIC_PID=p1"}
    assert client.post("/s/test-study/consent", data).status_code == 500
    retry = client.post("/s/test-study/consent", data)
    participant = Participant.objects.get()
    assert retry.status_code == 302 and retry.url == f"/p/{participant.code}/"


def test_declining_leaves_no_session_behind(client, study):
    client.get("/s/test-study/")
    client.post("/s/test-study/consent", {"decision": "decline"})
    assert not client.session.get("participant_codes")
    assert Participant.objects.count() == 0


def test_a_consent_sent_twice_at_once_leads_both_answers_to_the_same_participant(client, study, monkeypatch):
    """A double click: the second POST read the session before the first one committed (the
    study's row lock keeps them apart), so it finds the recruiter id taken. It must resume the
    participant this browser's session now holds, not answer 409."""
    from study import views

    first = _consent(client, "PROLIFIC_PID=p1")
    monkeypatch.setattr(views, "_remembered", lambda *args: None)  # the stale read
    second = client.post("/s/test-study/consent", {"decision": "accept", "recruiter_ids": "PROLIFIC_PID=p1"})
    assert second.status_code == 302 and second.url == first.url
    assert Participant.objects.count() == 1
    # another browser with the same id alone still gets the 409 page
    other = Client()
    other.get("/s/test-study/")
    assert (
        other.post(
            "/s/test-study/consent", {"decision": "accept", "recruiter_ids": "PROLIFIC_PID=p1"}
        ).status_code
        == 409
    )
