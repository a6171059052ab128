"""The server owns data quality: what a submission cannot be is refused or flagged.

Every submission here goes through the real HTTP endpoint, after the trial page was served
(which records ``Trial.shown_at``, server time); "waiting" moves shown_at back, as if the
participant had painted that long."""

import json
import time
from datetime import timedelta

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from analysis import codec
from annotations.brush import render_strokes
from annotations.models import Annotation
from catalogue.services import image_set_target_box
from study.models import Participant, Trial

W, H = 160, 120
STROKES = [
    {"tool": "brush", "size": 30, "strength": 0.8, "points": [[40, 60, 1.0], [120, 60, 1.0], [120, 90, 0.5]]}
]
ELSEWHERE = [{"tool": "brush", "size": 30, "strength": 0.8, "points": [[20, 15, 1.0], [40, 20, 1.0]]}]


def painted(strokes=STROKES) -> np.ndarray:
    return render_strokes(strokes, W, H)


def join(client: Client, slug: str = "test-study") -> Participant:
    response = client.post(f"/s/{slug}/consent", {"decision": "accept"})
    participant = Participant.objects.get(code=response.url.split("/")[2])
    client.post(f"/p/{participant.code}/instructions")
    return participant


def serve(client: Client, participant: Participant) -> Trial:
    """Open the participant's page, as a browser does: the server marks the trial shown."""
    page = client.get(f"/p/{participant.code}/")
    assert page.status_code == 200 and 'id="trial-config"' in page.content.decode()
    return participant.trials.filter(status=Trial.Status.PENDING).order_by("position").first()


def wait(trial: Trial, seconds: float) -> None:
    Trial.objects.filter(pk=trial.pk).update(shown_at=trial.shown_at - timedelta(seconds=seconds))


def submit(client: Client, trial: Trial, values: np.ndarray, strokes=STROKES, **fields):
    data = {
        "map": SimpleUploadedFile("map.png", codec.unit_png16(values), content_type="image/png"),
        "strokes": json.dumps(strokes),
        "time_on_task_ms": "20000",
        "idempotency_key": f"k{trial.pk}",
        **fields,
    }
    return client.post(f"/p/{trial.participant.code}/trials/{trial.pk}/annotation", data)


def codes(trial: Trial) -> list[str]:
    return Annotation.objects.get(trial=trial).flag_codes


@pytest.fixture
def served(client, study):
    """A participant of the test study (no time limit, 3 s minimum per map) on trial 1."""
    participant = join(client)
    return serve(client, participant)


def test_a_painted_map_with_its_strokes_after_a_while_is_not_flagged(client, served):
    wait(served, 10)
    response = submit(client, served, painted())
    assert response.status_code == 200, response.content
    assert Annotation.objects.get(trial=served).flags == []


def test_an_8_bit_map_of_its_strokes_is_not_flagged(client, served):
    wait(served, 10)
    values = np.round(painted() * 255).astype(np.uint8)
    data = {"map": SimpleUploadedFile("map.png", codec.png_bytes(values), content_type="image/png")}
    response = client.post(
        f"/p/{served.participant.code}/trials/{served.pk}/annotation",
        {**data, "strokes": json.dumps(STROKES), "time_on_task_ms": "20000"},
    )
    assert response.status_code == 200, response.content
    assert codes(served) == []


def test_the_trial_page_records_when_it_was_first_served(client, study):
    participant = join(client)
    trial = serve(client, participant)
    assert trial.shown_at is not None
    first = trial.shown_at
    serve(client, participant)  # a reload does not restart the clock
    trial.refresh_from_db()
    assert trial.shown_at == first


def test_a_painted_map_with_an_empty_stroke_log_is_flagged_and_kept(client, served):
    wait(served, 10)
    response = submit(client, served, painted(), strokes=[])
    assert response.status_code == 200
    annotation = Annotation.objects.get(trial=served)
    assert annotation.flag_codes == ["strokes_mismatch"]
    assert "stroke log" in annotation.flags[0]["detail"]
    assert annotation.map_array().any()  # nothing is lost


def test_strokes_that_paint_somewhere_else_are_flagged(client, served):
    wait(served, 10)
    assert submit(client, served, painted(), strokes=ELSEWHERE).status_code == 200
    assert codes(served) == ["strokes_mismatch"]


def test_a_map_a_little_off_its_strokes_is_not_flagged_but_a_quarter_more_paint_is(client, study):
    participant = join(client)
    first = serve(client, participant)
    wait(first, 10)
    nudged = painted()
    nudged[50:52, 50:52] = np.clip(nudged[50:52, 50:52] + 0.1, 0, 1)  # a few pixels touched up
    assert submit(client, first, nudged).status_code == 200
    assert codes(first) == []
    second = serve(client, participant)
    wait(second, 10)
    assert submit(client, second, np.clip(painted() * 1.25, 0, 1)).status_code == 200
    assert codes(second) == ["strokes_mismatch"]


def test_a_stroke_without_a_usable_size_is_flagged_not_refused(client, served):
    wait(served, 10)
    strokes = [{**STROKES[0], "size": "big"}]
    assert submit(client, served, painted(), strokes=strokes).status_code == 200
    assert codes(served) == ["strokes_mismatch"]


def test_a_stroke_log_too_costly_to_replay_is_flagged_unverified_quickly(client, served):
    wait(served, 10)
    strokes = [{"tool": "brush", "size": 2, "points": [[0, 0, 1], [1e12, 0, 1]]}]  # 1e12 dabs
    started = time.monotonic()
    assert submit(client, served, painted(), strokes=strokes).status_code == 200
    assert time.monotonic() - started < 5
    annotation = Annotation.objects.get(trial=served)
    assert annotation.flag_codes == ["strokes_unverified"]


def test_a_map_sent_sooner_than_the_minimum_after_the_page_is_flagged_too_fast(client, served):
    # the browser claims 20 s; the server served the page less than a second ago
    assert submit(client, served, painted()).status_code == 200
    annotation = Annotation.objects.get(trial=served)
    assert annotation.flag_codes == ["too_fast"]
    assert "after the trial page was served" in annotation.flags[0]["detail"]


def test_a_client_time_on_task_of_1_ms_is_too_fast_even_after_waiting(client, served):
    wait(served, 10)
    assert submit(client, served, painted(), time_on_task_ms="1").status_code == 200
    assert codes(served) == ["too_fast"]


def test_a_map_for_a_trial_page_never_served_is_too_fast(client, study):
    participant = join(client)  # no GET of the trial page
    trial = participant.trials.order_by("position").first()
    assert submit(client, trial, painted()).status_code == 200
    annotation = Annotation.objects.get(trial=trial)
    assert annotation.flag_codes == ["too_fast"] and "never served" in annotation.flags[0]["detail"]


def test_a_minimum_of_0_seconds_checks_no_time(client, study):
    study.min_seconds_per_map = 0
    study.save()
    participant = join(client)
    trial = serve(client, participant)
    assert submit(client, trial, painted(), time_on_task_ms="1").status_code == 200
    assert codes(trial) == []


def test_a_timeout_in_a_study_without_time_limit_is_impossible(client, served):
    response = submit(client, served, np.zeros((H, W)), strokes=[], timed_out="1", time_on_task_ms="1")
    assert response.status_code == 200  # kept, so nothing is lost, but never analysed by default
    annotation = Annotation.objects.get(trial=served)
    assert annotation.timed_out
    assert annotation.flag_codes == ["impossible_timeout", "blank", "too_fast"]
    assert "no time limit" in annotation.flags[0]["detail"]


def test_a_timeout_before_the_time_limit_has_passed_is_impossible(client, study):
    study.time_limit_s = 30
    study.save()
    participant = join(client)
    trial = serve(client, participant)
    wait(trial, 10)
    assert submit(client, trial, painted(), timed_out="1").status_code == 200
    annotation = Annotation.objects.get(trial=trial)
    assert annotation.flag_codes == ["impossible_timeout"]
    assert "30 s" in annotation.flags[0]["detail"]


def test_a_real_timeout_is_accepted_and_an_empty_one_is_flagged_blank(client, study):
    study.time_limit_s = 30
    study.save()
    participant = join(client)
    first = serve(client, participant)
    wait(first, 29)  # within the grace: the browser's countdown starts after the page is served
    assert submit(client, first, painted(), timed_out="1").status_code == 200
    assert codes(first) == []
    second = serve(client, participant)
    wait(second, 31)
    assert submit(client, second, np.zeros((H, W)), strokes=[], timed_out="1").status_code == 200
    annotation = Annotation.objects.get(trial=second)
    assert annotation.flag_codes == ["blank"] and annotation.timed_out


def test_an_empty_map_without_a_timeout_is_still_refused(client, served):
    wait(served, 10)
    response = submit(client, served, np.zeros((H, W)), strokes=[])
    assert response.status_code == 400 and "the map is empty" in response.json()["error"]
    assert not Annotation.objects.exists()


def test_a_later_trial_is_refused_with_the_current_trials_url(client, study):
    participant = join(client)
    first = serve(client, participant)
    second = participant.trials.get(position=2)
    response = submit(client, second, painted())
    assert response.status_code == 409
    error = response.json()["error"]
    assert "not the current trial" in error and f"/p/{participant.code}/" in error
    assert response.json()["next_url"].startswith(f"/p/{participant.code}/")
    assert not Annotation.objects.exists()
    second.refresh_from_db()
    assert second.status == Trial.Status.PENDING
    wait(first, 10)
    assert submit(client, first, painted()).status_code == 200
    assert submit(client, first, painted()).status_code == 200  # a retry: idempotent as before
    assert submit(client, first, painted(), idempotency_key="other").status_code == 409
    assert Annotation.objects.count() == 1


def test_a_skipped_trial_cannot_be_submitted(client, study):
    participant = join(client)
    first = serve(client, participant)
    participant.trials.exclude(pk=first.pk).update(status=Trial.Status.SKIPPED)
    skipped = participant.trials.get(position=2)
    response = submit(client, skipped, painted())
    assert response.status_code == 409 and "not the current trial" in response.json()["error"]
    assert not Annotation.objects.exists()


def test_a_failed_attention_check_flags_its_map_and_the_participant(client, study):
    check = study.image_set.images.get(name="img3")
    check.is_attention_check = True
    check.save()
    image_set_target_box(image=check, box=(100, 60, 150, 110))
    study.attention_checks = 1
    study.save()
    participant = join(client)
    while True:
        trial = serve(client, participant)
        wait(trial, 10)
        assert submit(client, trial, painted()).status_code == 200
        if trial.kind == Trial.Kind.ATTENTION:
            break
    participant.refresh_from_db()
    assert participant.flagged  # as before: the "exclude flagged" filter reads it
    annotation = Annotation.objects.get(trial=trial)
    assert annotation.flag_codes == ["failed_attention_check"]
    assert "inside the target region" in annotation.flags[0]["detail"]
