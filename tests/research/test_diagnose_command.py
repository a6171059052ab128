"""manage.py diagnose on the painted study (tests/research/conftest.py), in process: stored IG
maps for img0 and img1, participants' maps for img0-img2, the packaged EfficientNet-Lite0."""

import csv
import json

import pytest
from django.core.management import CommandError, call_command

from explain.models import DiagnosticResult
from research.faithfulness import DIAGNOSTIC_COLUMNS, RANDOMISATION_COLUMNS
from tests.research.test_faithfulness import FAST


@pytest.fixture
def diagnosed(painted_study, tmp_path, capsys, django_capture_on_commit_callbacks):
    study = painted_study.study
    study.methods, study.method_params = ["integrated_gradients"], {}
    study.save()
    study.image_set.images.filter(name="img0").update(ground_truth_boxes=[[30, 20, 90, 60]])
    paths = tmp_path / "diagnostics.csv", tmp_path / "randomisation.csv"
    with django_capture_on_commit_callbacks():
        call_command(
            "diagnose",
            "--study",
            study.slug,
            "--checks",
            json.dumps(FAST),
            "--in-process",
            "--csv",
            str(paths[0]),
            "--randomisation-csv",
            str(paths[1]),
        )
    output = capsys.readouterr()
    tables = []
    for path in paths:
        with path.open() as handle:
            tables.append(list(csv.DictReader(handle)))
    return study, tables, output


def test_the_settings_are_saved_and_every_map_and_human_mean_diagnosed(diagnosed):
    study, (rows, steps), output = diagnosed
    study.refresh_from_db()
    assert study.diagnostics == FAST
    assert list(rows[0]) == DIAGNOSTIC_COLUMNS and list(steps[0]) == RANDOMISATION_COLUMNS
    assert {(r["image"], r["subject"]) for r in rows} == {
        (image, subject)
        for image in ("img0", "img1", "img2")
        for subject in ("integrated_gradients", "human_mean")
    }
    for row in rows:
        assert 0.0 <= float(row["insertion_auc"]) <= 1.0 and 0.0 <= float(row["deletion_auc"]) <= 1.0
        assert 0.0 <= float(row["violation_share"]) <= 1.0 and row["patches"] == "16"
        assert (row["pixel_auc"] != "") == (row["image"] == "img0")  # img0's box only
    assert {r["image"] for r in steps} == {"img0"} and {r["method"] for r in steps} == {
        "integrated_gradients"
    }
    lines = output.out.splitlines()
    header = next(line for line in lines if line.startswith("model"))
    assert "SIC" in header and "eps viol" in header and "rho random" in header
    assert any(line.startswith("efficientnet-lite0") and "human_mean" in line for line in lines)


def test_a_second_run_reuses_the_stored_results(diagnosed, capsys, django_capture_on_commit_callbacks):
    study, _, _ = diagnosed
    before = set(DiagnosticResult.objects.values_list("pk", flat=True))
    with django_capture_on_commit_callbacks():
        call_command("diagnose", "--study", study.slug, "--in-process")
    assert set(DiagnosticResult.objects.values_list("pk", flat=True)) == before
    assert "3/3 done (3 stored already)" in capsys.readouterr().out


def test_unknown_study_or_bad_settings(painted_study):
    with pytest.raises(CommandError, match="no study"):
        call_command("diagnose", "--study", "nope")
    with pytest.raises(CommandError, match="unknown diagnostics"):
        call_command("diagnose", "--study", painted_study.study.slug, "--checks", '{"magic": {}}')
    with pytest.raises(CommandError, match="--checks"):
        call_command("diagnose", "--study", painted_study.study.slug, "--checks", "{not json")
    painted_study.study.refresh_from_db()
    assert painted_study.study.diagnostics == {}
