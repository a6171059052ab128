"""The participant x image CSV and the study ZIP, from the results page and the commands,
checked against annotations submitted by hand (tests/research/conftest.py)."""

import csv
import io
import json
import zipfile

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image as PILImage

from research.inputs import ANALYSIS_PARAMS, METRICS
from tests.research.conftest import MAIN_IMAGES, hand_mean, model_map

PARTICIPANT_COLUMNS = (
    "study,participant_code,prolific_pid,prolific_study_id,prolific_session_id,mturk_worker_id,"
    "mturk_assignment_id,mturk_hit_id,is_bot,consented_at,finished_at,flagged,screened_out,excluded,"
    "exclusion_reason,position,image,image_sha256,trial_kind,status,shown_at,completed_at,time_on_task_ms,timed_out,focus_count,"
    "blur_count,hidden_count,hidden_ms,coverage,canvas_width,canvas_height,device_pixel_ratio,"
    "attention_passed,flags,flag_reasons,participant_flags,analysed,analysis_params,code_version"
).split(",")
MODEL = "efficientnet-lite0"


def _csv(content: bytes) -> tuple[list[str], list[dict]]:
    reader = csv.DictReader(io.StringIO(content.decode()))
    return reader.fieldnames, list(reader)


def _row(rows: list[dict], code: str, image: str) -> dict:
    (row,) = [r for r in rows if r["participant_code"] == code and r["image"] == image]
    return row


def test_the_participant_csv_has_a_row_per_participant_and_image(client, researcher, painted_study):
    client.force_login(researcher)
    response = client.get("/research/test-study/participants.csv")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    assert 'filename="test-study-participants.csv"' in response["Content-Disposition"]
    columns, rows = _csv(response.content)
    assert columns == PARTICIPANT_COLUMNS
    # 3 participants x (1 practice + 3 main + 1 attention check)
    assert len(rows) == 15
    a, b, c = (painted_study.codes[name] for name in "ABC")

    row = _row(rows, a, "img0")
    assert (row["prolific_pid"], row["prolific_study_id"], row["prolific_session_id"]) == ("pA", "sA", "xA")
    assert (row["trial_kind"], row["status"], row["analysed"], row["flagged"]) == (
        "main",
        "done",
        "True",
        "False",
    )
    assert row["time_on_task_ms"] == "6000" and row["timed_out"] == "False"
    # blur 100; hidden 200 -> visible 1200 (1000 ms); focus 1300; hidden 5000 until the submission at 6000
    assert (row["focus_count"], row["blur_count"], row["hidden_count"], row["hidden_ms"]) == (
        "1",
        "1",
        "2",
        "2000",
    )
    assert row["coverage"] == "0.125"  # a 60 x 40 box of the 160 x 120 image
    assert (row["canvas_width"], row["canvas_height"], row["device_pixel_ratio"]) == ("640", "480", "2.0")
    assert row["attention_passed"] == "" and row["finished_at"] and row["completed_at"]
    assert _row(rows, a, "img1")["time_on_task_ms"] == "7001"
    assert _row(rows, a, "img1")["hidden_ms"] == "0"
    assert (_row(rows, a, "check")["trial_kind"], _row(rows, a, "check")["attention_passed"]) == (
        "attention",
        "True",
    )
    practice = _row(rows, a, "img3")
    assert (practice["trial_kind"], practice["analysed"]) == ("practice", "False")

    row = _row(rows, b, "img2")
    assert (row["mturk_worker_id"], row["mturk_assignment_id"], row["mturk_hit_id"]) == ("wB", "aB", "hB")
    assert row["prolific_pid"] == "" and row["timed_out"] == "True" and row["time_on_task_ms"] == "30000"

    c_rows = [r for r in rows if r["participant_code"] == c]
    assert all(r["flagged"] == "True" and r["screened_out"] == "False" for r in c_rows)
    assert _row(rows, c, "check")["attention_passed"] == "False"
    pending = _row(rows, c, "img0")
    assert (pending["status"], pending["time_on_task_ms"], pending["analysed"]) == ("pending", "", "False")
    assert pending["finished_at"] == "" and pending["hidden_ms"] == ""

    assert json.loads(rows[0]["analysis_params"]) == ANALYSIS_PARAMS and rows[0]["code_version"]


def test_export_participants_writes_the_same_csv(tmp_path, client, researcher, painted_study):
    target = tmp_path / "participants.csv"
    call_command("export_participants", study="test-study", output=str(target), stderr=io.StringIO())
    client.force_login(researcher)
    assert (
        target.read_bytes().decode() == client.get("/research/test-study/participants.csv").content.decode()
    )


def test_the_agreement_csv_covers_the_painted_images_with_model_maps(client, researcher, painted_study):
    client.force_login(researcher)
    _, rows = _csv(client.get("/research/test-study/agreement.csv").content)
    assert len(rows) == 2 * 2 * len(METRICS)  # img0 and img1 x two methods x metrics
    assert {row["image"] for row in rows} == {"img0", "img1"}
    assert all(row["n_participants"] == "2" for row in rows)  # A and B; C painted no main image


def _expected_zip_names(with_tables: bool) -> set[str]:
    names = {"manifest.json", "diagnostics_summary.json"}  # the summary even without diagnostics
    names |= {f"human/{image}.{ext}" for image in MAIN_IMAGES for ext in ("npy", "png")}
    names |= {
        f"models/{image}__{MODEL}__{method}.npy"
        for image in ("img0", "img1")
        for method in ("integrated_gradients", "xrai")
    }
    if with_tables:
        names |= {"agreement.csv", "images.csv", "participants.csv", "diagnostics.csv", "randomisation.csv"}
    return names


def _npy(archive: zipfile.ZipFile, name: str) -> np.ndarray:
    return np.load(io.BytesIO(archive.read(name)), allow_pickle=False)


def test_the_study_zip_holds_human_means_model_maps_tables_and_manifest(client, researcher, painted_study):
    client.force_login(researcher)
    response = client.get("/research/test-study/export.zip")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert 'filename="test-study-export.zip"' in response["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert set(archive.namelist()) == _expected_zip_names(with_tables=True)

    submitted = painted_study.submitted
    for image in MAIN_IMAGES:
        expected = hand_mean(submitted[("A", image)], submitted[("B", image)])
        mean = _npy(archive, f"human/{image}.npy")
        assert mean.dtype == np.float32 and mean.shape == (120, 160)
        np.testing.assert_allclose(mean, expected, atol=1e-6)
        with PILImage.open(io.BytesIO(archive.read(f"human/{image}.png"))) as picture:
            assert picture.mode == "I;16"
            png = np.asarray(picture).astype(np.int64)
        assert np.abs(png - np.round(expected * 65535)).max() <= 1
    for seed, (image, method) in enumerate(painted_study.model_maps):
        stored = _npy(archive, f"models/{image}__{MODEL}__{method}.npy")
        np.testing.assert_array_equal(stored, model_map(seed))

    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["code_version"] and manifest["analysis_params"] == ANALYSIS_PARAMS
    assert manifest["study"]["slug"] == "test-study"
    assert set(manifest["method_params"]) == {"integrated_gradients", "xrai"}
    assert manifest["method_params"]["integrated_gradients"]["steps"] == 25  # the defaults, in full
    assert [model["name"] for model in manifest["models"]] == [MODEL]
    human = {entry["image"]: entry for entry in manifest["human_maps"]}
    assert set(human) == set(MAIN_IMAGES)
    assert human["img0"]["n_participants"] == 2 and human["img0"]["npy"] == "human/img0.npy"
    maps = {entry["file"]: entry for entry in manifest["model_maps"]}
    assert set(maps) == {name for name in _expected_zip_names(False) if name.startswith("models/")}
    entry = maps[f"models/img0__{MODEL}__xrai.npy"]
    assert entry["params"] == painted_study.model_maps[("img0", "xrai")].params
    assert entry["weights_sha256"] == "f" * 64 and entry["target_class"] == 285
    assert manifest["tables"] == {
        "agreement.csv": {"rows": 2 * 2 * len(METRICS)},
        "images.csv": {"rows": 5},  # img0 and img1 x two methods, img2 without model maps
        "participants.csv": {"rows": 15},
        "diagnostics.csv": {"rows": 0},  # none run: header only (tests/research/test_diagnostics_exports.py)
        "randomisation.csv": {"rows": 0},
    }
    assert manifest["filters"] == {
        "exclude_flagged": False,
        "min_annotations": 0,
        "include_flagged_maps": False,
    }
    _, participants = _csv(archive.read("participants.csv"))
    assert len(participants) == 15


def test_export_study_writes_the_zip_and_can_leave_the_tables_out(tmp_path, painted_study):
    target = tmp_path / "study.zip"
    call_command("export_study", study="test-study", output=str(target), stderr=io.StringIO())
    assert set(zipfile.ZipFile(target).namelist()) == _expected_zip_names(with_tables=True)
    call_command("export_study", study="test-study", output=str(target), no_csv=True, stderr=io.StringIO())
    with zipfile.ZipFile(target) as archive:
        assert set(archive.namelist()) == _expected_zip_names(with_tables=False)
        assert json.loads(archive.read("manifest.json"))["tables"] == {}


def test_a_map_per_target_class_gets_the_class_in_its_file_name(painted_study, tmp_path):
    # Target policy "both": one image x model x method can have maps for two classes.
    original = painted_study.model_maps[("img0", "xrai")]
    original.pk = None
    original.target_class = 281
    original.save()
    target = tmp_path / "study.zip"
    call_command("export_study", study="test-study", output=str(target), no_csv=True, stderr=io.StringIO())
    names = set(zipfile.ZipFile(target).namelist())
    assert {
        f"models/img0__{MODEL}__xrai__target281.npy",
        f"models/img0__{MODEL}__xrai__target285.npy",
    } <= names
    assert f"models/img0__{MODEL}__xrai.npy" not in names


@pytest.mark.parametrize("command", ["export_participants", "export_study"])
def test_exports_of_an_unknown_study_are_a_clear_error(db, command, tmp_path):
    with pytest.raises(CommandError, match="no study with slug 'nope'"):
        call_command(command, study="nope", output=str(tmp_path / "out"))


def test_the_results_page_links_every_export(client, researcher, painted_study):
    client.force_login(researcher)
    page = client.get("/research/test-study/").content.decode()
    for url in ("agreement.csv", "images.csv", "participants.csv", "export.zip"):
        assert f'href="/research/test-study/{url}"' in page


@pytest.mark.parametrize("path", ["participants.csv", "export.zip"])
def test_the_new_exports_need_a_staff_login(client, study, path):
    response = client.get(f"/research/test-study/{path}")
    assert response.status_code == 302 and "/admin/login/" in response.url


def test_a_recruiter_id_that_looks_like_a_formula_is_defused_in_the_csv(client, researcher, study):
    # Anyone can put anything in the study link's query string; a spreadsheet must not run it.
    query = "PROLIFIC_PID=%3DHYPERLINK(%22http://x%22)&workerId=A1B2C3"
    client.get(f"/s/test-study/?{query}")
    client.post("/s/test-study/consent", {"decision": "accept", "recruiter_ids": query})
    client.force_login(researcher)
    _, rows = _csv(client.get("/research/test-study/participants.csv").content)
    assert rows and all(row["prolific_pid"] == '\'=HYPERLINK("http://x")' for row in rows)
    assert all(row["mturk_worker_id"] == "A1B2C3" for row in rows)
