"""Practice trials, attention checks, time limits, coverage, focus events, completion."""

import io
import json
import threading

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from PIL import Image as PILImage

from annotations.models import Annotation
from catalogue.models import Image
from catalogue.services import image_create, image_set_target_box
from research.inputs import AnalysisFilters, human_maps
from study.models import Participant, Study, Trial
from study.services import participant_start
from tests.conftest import gradient_image

INCLUDE_FLAGGED = AnalysisFilters(include_flagged_maps=True)


def _png16(values: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(np.round(np.clip(values, 0, 1) * 65535).astype(np.uint16)).save(buffer, format="PNG")
    return buffer.getvalue()


def _submit(client, trial, values, **fields):
    data = {
        "map": SimpleUploadedFile("map.png", _png16(values)),
        "strokes": "[]",
        "idempotency_key": f"k{trial.pk}",
        **fields,
    }
    return client.post(f"/p/{trial.participant.code}/trials/{trial.pk}/annotation", data)


def _painted(box=(20, 20, 60, 60), shape=(120, 160)):
    values = np.zeros(shape)
    left, top, right, bottom = box
    values[top:bottom, left:right] = 0.8
    return values


@pytest.fixture
def designed_study(study):
    """4 main images plus a practice image and an attention check with a known target box."""
    image_set = study.image_set
    practice = image_create(
        image_set=image_set,
        name="practice",
        content=gradient_image(seed=10),
        filename="p.png",
        class_name="cat",
    )
    practice.is_practice = True
    practice.save()
    check = image_create(
        image_set=image_set,
        name="check",
        content=gradient_image(seed=11),
        filename="c.png",
        class_name="red square",
    )
    check.is_attention_check = True
    check.save()
    image_set_target_box(image=check, box=(100, 60, 150, 110))
    study.practice_trials = 1
    study.attention_checks = 1
    study.save()
    return study


def test_consent_leads_to_instructions_once_then_trials(client, study):
    response = client.post("/s/test-study/consent", {"decision": "accept"})
    code = response.url.split("/")[2]
    assert client.get(f"/p/{code}/").url == f"/p/{code}/instructions"
    page = client.get(f"/p/{code}/instructions").content.decode()
    assert study.instructions in page and "/worked-example.png" in page
    client.post(f"/p/{code}/instructions")
    assert 'id="painter-canvas"' in client.get(f"/p/{code}/").content.decode()


def test_the_worked_example_is_a_picture(client, db):
    response = client.get("/worked-example.png")
    assert response.status_code == 200 and response.content.startswith(b"\x89PNG")


def test_practice_comes_first_and_attention_checks_are_mixed_in_later(designed_study):
    for _ in range(5):
        participant = participant_start(study=designed_study, recruiter_ids={})
        kinds = list(participant.trials.order_by("position").values_list("kind", flat=True))
        assert kinds[0] == Trial.Kind.PRACTICE
        assert kinds.count(Trial.Kind.ATTENTION) == 1 and kinds[1] != Trial.Kind.ATTENTION
        assert kinds.count(Trial.Kind.MAIN) == designed_study.trials_per_participant


def test_consent_announces_as_many_images_as_the_participant_gets(client, designed_study):
    page = client.get("/s/test-study/").content.decode()
    participant = participant_start(study=designed_study, recruiter_ids={})
    total = participant.trials.count()
    assert total == designed_study.trials_per_participant + 2
    assert f"You will see {total} images; the first one is for practice." in page


def test_the_trial_page_tells_the_painter_about_practice_time_limit_and_coverage(client, designed_study):
    designed_study.time_limit_s = 45
    designed_study.min_coverage = 0.05
    designed_study.save()
    participant = participant_start(study=designed_study, recruiter_ids={})
    participant.instructions_seen_at = participant.consented_at
    participant.save()
    page = client.get(f"/p/{participant.code}/").content.decode()
    config = json.loads(page.split('id="trial-config" type="application/json">')[1].split("</script>")[0])
    assert config["isPractice"] is True and config["timeLimitS"] == 45 and config["minCoverage"] == 0.05


def _trial(participant, kind):
    return participant.trials.get(kind=kind)


def _current(participant, kind):
    """The participant's trial of ``kind``, moved to their current position (the server takes
    trials only in the order it assigned them)."""
    trial = _trial(participant, kind)
    current = participant.trials.filter(status=Trial.Status.PENDING).order_by("position").first()
    if current.pk != trial.pk:
        Trial.objects.filter(pk=trial.pk).update(position=0)
        Trial.objects.filter(pk=current.pk).update(position=trial.position)
        Trial.objects.filter(pk=trial.pk).update(position=current.position)
    return _trial(participant, kind)


def test_painting_inside_the_target_passes_the_attention_check(client, designed_study):
    participant = participant_start(study=designed_study, recruiter_ids={})
    response = _submit(client, _current(participant, Trial.Kind.ATTENTION), _painted((105, 65, 145, 105)))
    assert response.status_code == 200
    assert _trial(participant, Trial.Kind.ATTENTION).attention_passed is True
    participant.refresh_from_db()
    assert not participant.flagged


def test_painting_outside_the_target_flags_the_participant(client, designed_study):
    participant = participant_start(study=designed_study, recruiter_ids={})
    assert (
        _submit(client, _current(participant, Trial.Kind.ATTENTION), _painted((0, 0, 60, 60))).status_code
        == 200
    )
    participant.refresh_from_db()
    assert participant.flagged and not participant.screened_out
    assert _trial(participant, Trial.Kind.ATTENTION).attention_passed is False
    assert participant.trials.filter(status=Trial.Status.PENDING).count() == 3  # they go on


def test_screen_out_policy_ends_the_study_with_the_screen_out_code(client, designed_study):
    designed_study.attention_policy = Study.AttentionPolicy.SCREEN_OUT
    designed_study.screen_out_code = "SCREENED"
    designed_study.save()
    participant = participant_start(study=designed_study, recruiter_ids={"prolific_pid": "p9"})
    participant.instructions_seen_at = participant.consented_at
    participant.save()
    _submit(client, _current(participant, Trial.Kind.ATTENTION), _painted((0, 0, 60, 60)))
    participant.refresh_from_db()
    assert participant.screened_out and participant.finished_at is not None
    assert not participant.trials.filter(status=Trial.Status.PENDING).exists()
    page = client.get(f"/p/{participant.code}/", follow=True).content.decode()
    assert "SCREENED" in page and "https://app.prolific.com/submissions/complete?cc=SCREENED" in page


def test_practice_and_attention_maps_and_screened_out_participants_are_not_analysed(client, designed_study):
    participant = participant_start(study=designed_study, recruiter_ids={})
    for trial in participant.trials.all():
        box = (105, 65, 145, 105) if trial.kind == Trial.Kind.ATTENTION else (20, 20, 60, 60)
        assert _submit(client, trial, _painted(box)).status_code == 200
    # the maps here are not brush strokes and are sent at once: the server flags them, and
    # this test is about which trials are analysed, so flagged maps are included
    analysed = human_maps(study=designed_study, filters=INCLUDE_FLAGGED)
    main_images = set(participant.trials.filter(kind=Trial.Kind.MAIN).values_list("image_id", flat=True))
    assert set(analysed) == main_images
    Participant.objects.filter(pk=participant.pk).update(screened_out=True)
    assert human_maps(study=designed_study, filters=INCLUDE_FLAGGED) == {}


def test_prolific_participants_are_redirected_with_the_completion_code(client, study):
    participant = participant_start(study=study, recruiter_ids={"prolific_pid": "abc"})
    participant.trials.update(status=Trial.Status.DONE)
    page = client.get(f"/p/{participant.code}/done").content.decode()
    assert f'href="https://app.prolific.com/submissions/complete?cc={study.completion_code}"' in page
    assert 'http-equiv="refresh"' not in page  # a button, no timed redirect (WCAG 2.2.1)


def test_a_study_redirect_url_gets_the_code_and_others_see_no_redirect(client, study):
    plain = participant_start(study=study, recruiter_ids={})
    plain.trials.update(status=Trial.Status.DONE)
    assert "http-equiv" not in client.get(f"/p/{plain.code}/done").content.decode()
    study.completion_redirect_url = "https://example.org/back?code={code}"
    study.save()
    assert (
        f"https://example.org/back?code={study.completion_code}"
        in client.get(f"/p/{plain.code}/done").content.decode()
    )


def test_a_map_below_the_minimum_coverage_is_refused_unless_time_ran_out(client, study):
    study.min_coverage = 0.2
    study.save()
    participant = participant_start(study=study, recruiter_ids={})
    trial = participant.trials.order_by("position").first()
    response = _submit(client, trial, _painted((0, 0, 10, 10)))
    assert response.status_code == 400 and "paint a little more" in response.json()["error"]
    response = _submit(client, trial, np.zeros((120, 160)), timed_out="1")
    assert response.status_code == 200
    annotation = Annotation.objects.get(trial=trial)
    assert annotation.timed_out and annotation.coverage == 0.0


def test_focus_events_are_stored_and_checked(client, study):
    participant = participant_start(study=study, recruiter_ids={})
    first, second = participant.trials.order_by("position")
    bad = _submit(client, first, _painted(), focus_events='[["sleep", 3]]')
    assert bad.status_code == 400 and "focus event" in bad.json()["error"]
    events = [["blur", 1200], ["focus", 4100.5], ["hidden", 5000], ["visible", 9000]]
    assert _submit(client, first, _painted(), focus_events=json.dumps(events)).status_code == 200
    assert Annotation.objects.get(trial=first).focus_events == events


def test_the_same_mturk_worker_resumes(client, study):
    client.get("/s/test-study/?workerId=W1&assignmentId=A1&hitId=H1")
    first = client.post(
        "/s/test-study/consent",
        {"decision": "accept", "recruiter_ids": "workerId=W1&assignmentId=A1&hitId=H1"},
    )
    participant = Participant.objects.get()
    assert (participant.mturk_worker_id, participant.mturk_assignment_id, participant.mturk_hit_id) == (
        "W1",
        "A1",
        "H1",
    )
    client.cookies.clear()
    again = client.get("/s/test-study/?workerId=W1&assignmentId=A1")  # the worker's own assignment
    assert again.url == first.url and Participant.objects.count() == 1
    # the worker id alone is not enough (in a browser that has not shown the assignment)
    client.cookies.clear()
    assert client.get("/s/test-study/?workerId=W1").status_code == 409


@pytest.mark.django_db(transaction=True)
def test_participants_arriving_at_once_get_balanced_images(study):
    """8 participants at once, 2 images each, 4 images: each image exactly 4 times."""
    errors = []

    def arrive():
        try:
            participant_start(study=Study.objects.get(pk=study.pk), recruiter_ids={})
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=arrive) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    counts = sorted(
        Image.objects.filter(image_set=study.image_set).values_list("trials__participant", flat=True)
    )
    per_image = [image.trials.count() for image in Image.objects.filter(image_set=study.image_set)]
    assert per_image == [4, 4, 4, 4], counts
