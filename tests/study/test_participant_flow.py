import re

import pytest
from django.test import Client

from annotations.models import Annotation
from study.models import Participant, Trial
from study.services import participant_start


def _consent(client, slug="test-study", query=""):
    """Consent, then read the instructions; returns the consent response."""
    client.get(f"/s/{slug}/?{query}")
    response = client.post(f"/s/{slug}/consent", {"decision": "accept", "recruiter_ids": query})
    if response.status_code == 302:
        client.post(response.url + "instructions")
    return response


def test_the_study_link_shows_the_consent_text(client, study):
    response = client.get("/s/test-study/")
    assert response.status_code == 200
    assert study.consent_text in response.content.decode()


def test_declining_stores_nothing(client, study):
    response = client.post("/s/test-study/consent", {"decision": "decline"})
    assert response.status_code == 200
    assert "chose not to take part" in response.content.decode()
    assert Participant.objects.count() == 0


def test_consenting_records_the_recruiter_ids_and_assigns_trials(client, study):
    response = _consent(client, query="PROLIFIC_PID=p1&STUDY_ID=s1&SESSION_ID=x1")
    participant = Participant.objects.get()
    assert response.url == f"/p/{participant.code}/"
    assert (participant.prolific_pid, participant.prolific_study_id, participant.prolific_session_id) == (
        "p1",
        "s1",
        "x1",
    )
    assert participant.trials.count() == study.trials_per_participant
    assert len(participant.code) >= 32


def test_the_same_prolific_session_resumes_in_another_browser(client, study):
    _consent(client, query="PROLIFIC_PID=p1&SESSION_ID=s1")
    client.cookies.clear()
    response = client.get("/s/test-study/?PROLIFIC_PID=p1&SESSION_ID=s1")
    participant = Participant.objects.get()
    assert response.status_code == 302 and response.url == f"/p/{participant.code}/"
    assert Participant.objects.count() == 1


@pytest.mark.parametrize("query", ["PROLIFIC_PID=p1", "PROLIFIC_PID=p1&SESSION_ID=guessed"])
def test_a_prolific_id_alone_does_not_hand_over_someone_elses_trials(client, study, query):
    _consent(client, query="PROLIFIC_PID=p1&SESSION_ID=s1")
    owner = Participant.objects.get()
    stranger = Client()
    page = stranger.get(f"/s/test-study/?{query}")
    assert page.status_code == 409 and owner.code not in page.content.decode()
    assert "already started this study" in page.content.decode()
    consent = stranger.post("/s/test-study/consent", {"decision": "accept", "recruiter_ids": query})
    assert consent.status_code == 409 and owner.code not in consent.content.decode()
    assert Participant.objects.count() == 1
    # the owner's own browser still resumes
    assert client.get(f"/s/test-study/?{query}").url == f"/p/{owner.code}/"


def test_the_same_mturk_assignment_resumes_and_a_preview_id_does_not(client, study):
    _consent(client, query="workerId=W1&assignmentId=A1&hitId=H1")
    owner = Participant.objects.get()
    assert Client().get("/s/test-study/?workerId=W1&assignmentId=A1").url == f"/p/{owner.code}/"
    preview = Client().get("/s/test-study/?workerId=W1&assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE")
    assert preview.status_code == 409


def test_the_trial_page_carries_the_painter_config(client, study):
    response = _consent(client)
    page = client.get(response.url).content.decode()
    assert 'id="painter-canvas"' in page
    config = re.search(r'id="trial-config" type="application/json">(.*?)</script>', page).group(1)
    trial = Trial.objects.get(participant__study=study, position=1)
    assert f'"trialId": {trial.pk}' in config and '"width": 160' in config


def test_images_are_assigned_least_annotated_first_and_never_twice(study):
    participants = [participant_start(study=study, recruiter_ids={}) for _ in range(4)]
    for participant in participants:
        images = list(participant.trials.values_list("image_id", flat=True))
        assert len(images) == len(set(images)) == 2
    # 4 participants x 2 trials over 4 images: balanced means each image exactly twice.
    counts = [image.trials.count() for image in study.image_set.images.all()]
    assert counts == [2, 2, 2, 2]


def test_the_finish_page_shows_the_completion_code_only_when_done(client, study):
    response = _consent(client)
    code = response.url.split("/")[2]
    assert client.get(f"/p/{code}/done").status_code == 302
    participant = Participant.objects.get(code=code)
    for trial in participant.trials.all():
        Annotation.objects.create(trial=trial, map_png=b"", width=1, height=1, bit_depth=8)
        trial.status = Trial.Status.DONE
        trial.save()
    page = client.get(f"/p/{code}/", follow=True).content.decode()
    assert study.completion_code in page


def test_a_closed_study_link_is_not_found(client, study):
    study.status = study.Status.CLOSED
    study.save()
    assert client.get("/s/test-study/").status_code == 404


@pytest.mark.parametrize("path", ["/p/not-a-code/", "/p/not-a-code/done"])
def test_an_unknown_participant_code_is_not_found(client, study, path):
    assert client.get(path).status_code == 404
