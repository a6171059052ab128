"""Flagged maps (annotations.services' data-quality flags) stay out of every analysis unless
the researcher includes them: inputs, results, CSVs, ZIP, API and the export commands."""

import csv
import io
import json
import zipfile

import numpy as np
import pytest
from django.core.management import call_command
from django.test import Client

from annotations.models import Annotation
from research import inputs
from study.models import Participant, Study, Trial
from tests.annotations.test_flags import STROKES, H, W, join, painted, serve, submit, wait
from tests.conftest import gradient_image_set

INCLUDE = inputs.AnalysisFilters(include_flagged_maps=True)


@pytest.fixture
def five_image_study(db, default_model) -> Study:
    study = Study.objects.create(
        slug="five",
        title="Five images",
        image_set=gradient_image_set("five images", 5, class_name="Egyptian cat"),
        trials_per_participant=5,
        methods=["integrated_gradients"],
    )
    study.model_specs.add(default_model)
    return study


def test_a_scripted_participant_finishing_5_blank_trials_in_seconds_has_no_map_analysed(five_image_study):
    """The incident: consent, then 5 submissions at once (4 blank "timeouts" in a study with no
    time limit, 1 painted map without strokes, 1 ms each): all stored, none analysed."""
    client = Client()
    participant = join(client, "five")
    for index in range(5):
        trial = serve(client, participant)
        values = painted() if index == 2 else np.zeros((H, W))
        fields = {} if index == 2 else {"timed_out": "1"}
        response = submit(client, trial, values, strokes=[], time_on_task_ms="1", **fields)
        assert response.status_code == 200, response.content
    participant.refresh_from_db()
    assert participant.finished_at is not None
    assert Annotation.objects.filter(trial__participant=participant).count() == 5
    assert inputs.analysed_annotations(study=five_image_study).count() == 0
    assert inputs.human_maps(study=five_image_study) == {}
    # the researcher can still look at them on purpose
    assert inputs.analysed_annotations(study=five_image_study, filters=INCLUDE).count() == 5
    flags = [a.flag_codes for a in Annotation.objects.filter(trial__participant=participant)]
    assert sum("blank" in f for f in flags) == 4 and all("too_fast" in f for f in flags)
    assert sum("impossible_timeout" in f for f in flags) == 4
    assert sum("strokes_mismatch" in f for f in flags) == 1


def _paint_first_image(client: Client, study: Study, strokes, *, seconds: float) -> Participant:
    """A participant whose first trial is img0 (positions arranged), painted with ``strokes``
    and submitted ``seconds`` after the page was served."""
    participant = join(client, study.slug)
    first = participant.trials.get(position=1)
    target = participant.trials.filter(image__name="img0").first()
    if target is None:  # not assigned img0: give them img0 instead of their first image
        Trial.objects.filter(pk=first.pk).update(image=study.image_set.images.get(name="img0"))
    elif target.pk != first.pk:  # swap positions so that img0 comes first
        position = target.position
        Trial.objects.filter(pk=target.pk).update(position=999)
        Trial.objects.filter(pk=first.pk).update(position=position)
        Trial.objects.filter(pk=target.pk).update(position=1)
    trial = serve(client, participant)
    assert trial.image.name == "img0"
    if seconds:
        wait(trial, seconds)
    values = painted(strokes)
    assert submit(client, trial, values, strokes=strokes).status_code == 200
    return participant


GOOD = STROKES
OTHER = [{"tool": "brush", "size": 40, "strength": 1.0, "points": [[30, 30, 1.0], [60, 40, 1.0]]}]


@pytest.fixture
def one_clean_one_fast(study):
    """img0 painted twice: a clean map (GOOD, 10 s) and a too-fast one (OTHER, at once)."""
    _paint_first_image(Client(), study, GOOD, seconds=10)
    _paint_first_image(Client(), study, OTHER, seconds=0)
    flags = sorted(tuple(a.flag_codes) for a in Annotation.objects.all())
    assert flags == [(), ("too_fast",)]
    return study


def _minmax(values: np.ndarray) -> np.ndarray:
    values = values.astype(np.float64)
    return (values - values.min()) / (values.max() - values.min())


def _stored(strokes) -> np.ndarray:
    """The map as the server stores it: 16-bit."""
    return np.round(painted(strokes) * 65535) / 65535


def test_a_flagged_map_is_left_out_of_the_human_mean_unless_included(one_clean_one_fast):
    study = one_clean_one_fast
    image = study.image_set.images.get(name="img0")
    mean, n = inputs.human_mean(study=study, image=image)
    assert n == 1
    np.testing.assert_allclose(mean, _minmax(_stored(GOOD)), atol=1e-6)
    mean, n = inputs.human_mean(study=study, image=image, filters=INCLUDE)
    assert n == 2
    np.testing.assert_allclose(mean, (_minmax(_stored(GOOD)) + _minmax(_stored(OTHER))) / 2, atol=1e-6)


@pytest.fixture
def staff(client, researcher):
    client.force_login(researcher)
    return client


def test_the_api_and_csvs_follow_the_switch_and_record_it(one_clean_one_fast, staff):
    image = one_clean_one_fast.image_set.images.get(name="img0")
    url = f"/api/studies/test-study/images/{image.pk}/human-mean.npy"
    assert staff.get(url)["X-Participants"] == "1"
    response = staff.get(url + "?include_flagged_maps=1")
    assert response["X-Participants"] == "2"
    mean = np.load(io.BytesIO(response.content))
    np.testing.assert_allclose(mean, (_minmax(_stored(GOOD)) + _minmax(_stored(OTHER))) / 2, atol=1e-6)
    images = {entry["name"]: entry for entry in staff.get("/api/studies/test-study/images/").json()}
    assert images["img0"]["n_annotations"] == 1
    included = staff.get("/api/studies/test-study/images/?include_flagged_maps=1").json()
    entry = next(e for e in included if e["name"] == "img0")
    assert entry["n_annotations"] == 2 and "include_flagged_maps=1" in entry["human_mean_url"]
    body = staff.get("/api/studies/test-study/image-stats/?include_flagged_maps=true").json()
    assert body["analysis_params"]["filters"]["include_flagged_maps"] is True
    assert body["rows"][0]["n_annotations"] == 2
    rows = list(csv.DictReader(io.StringIO(staff.get("/research/test-study/images.csv").content.decode())))
    assert rows[0]["n_annotations"] == "1"
    assert json.loads(rows[0]["analysis_params"])["filters"]["include_flagged_maps"] is False
    rows = list(
        csv.DictReader(
            io.StringIO(staff.get("/research/test-study/images.csv?include_flagged_maps=1").content.decode())
        )
    )
    assert rows[0]["n_annotations"] == "2"
    zero = staff.get("/research/test-study/images.csv?include_flagged_maps=0").content.decode()
    assert next(csv.DictReader(io.StringIO(zero)))["n_annotations"] == "1"  # 0 means off


def test_the_zip_and_the_export_command_take_the_switch(one_clean_one_fast, staff, tmp_path):
    response = staff.get("/research/test-study/export.zip")
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["filters"]["include_flagged_maps"] is False
    assert [m["n_participants"] for m in manifest["human_maps"]] == [1]
    target = tmp_path / "export.zip"
    call_command("export_study", study="test-study", output=str(target), include_flagged_maps=True)
    manifest = json.loads(zipfile.ZipFile(target).read("manifest.json"))
    assert manifest["filters"]["include_flagged_maps"] is True
    assert [m["n_participants"] for m in manifest["human_maps"]] == [2]


def test_the_results_page_offers_the_switch(one_clean_one_fast, staff):
    page = staff.get("/research/test-study/?include_flagged_maps=1").content.decode()
    assert 'name="include_flagged_maps"' in page and "include_flagged_maps=1" in page


def test_flags_and_their_reasons_are_on_the_review_page_the_csv_and_the_api(one_clean_one_fast, staff):
    fast = Annotation.objects.get(flags__0__code="too_fast")
    page = staff.get("/research/test-study/review/").content.decode()
    assert "too_fast" in page and "after the trial page was served" in page
    rows = list(
        csv.DictReader(io.StringIO(staff.get("/research/test-study/participants.csv").content.decode()))
    )
    code = fast.trial.participant.code
    row = next(r for r in rows if r["participant_code"] == code and r["position"] == "1")
    assert row["flags"] == "too_fast" and "after the trial page was served" in row["flag_reasons"]
    assert row["participant_flags"] == "too_fast" and row["analysed"] == "False"
    clean = next(r for r in rows if r["participant_code"] != code and r["position"] == "1")
    assert clean["flags"] == "" and clean["participant_flags"] == "" and clean["analysed"] == "True"
    api_rows = staff.get("/api/studies/test-study/participants/").json()["rows"]
    api_row = next(r for r in api_rows if r["participant_code"] == code and r["position"] == 1)
    assert api_row["flags"] == [{"code": "too_fast", "detail": fast.flags[0]["detail"]}]
    assert api_row["participant_flags"] == ["too_fast"]
    flagged_view = staff.get("/research/test-study/review/?show=flagged_maps").content.decode()
    assert f"participant-{fast.trial.participant_id}" in flagged_view


def test_simulated_participants_paint_real_strokes_in_simulated_time_and_are_not_flagged(study):
    call_command("simulate_participants", study=study.slug, n=2, stdout=io.StringIO())
    annotations = Annotation.objects.filter(trial__participant__study=study)
    assert annotations.count() == 4
    assert [a.flags for a in annotations] == [[]] * 4
    assert all(a.time_on_task_ms >= 8000 for a in annotations)
    assert inputs.analysed_annotations(study=study).count() == 4
