"""The faithfulness diagnostics (issue 15) in the study ZIP, the data set ZIP and the API, on
real diagnostics of the painted study (tests/research/test_faithfulness.py's ``diagnosed``:
the units run in this process). The exported values are checked against the stored
DiagnosticResult rows, and the JSON against a parser that refuses NaN."""

import csv
import hashlib
import io
import json
import zipfile

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token

from explain import diagnostic_settings as ds
from explain.models import DiagnosticResult
from research import faithfulness
from research.dataset_export import DATASET_README, write_dataset_zip
from tests.research.test_faithfulness import FAST, diagnosed  # noqa: F401 (a fixture used below)
from tests.security.test_fuzz_api import SCHEMA, wsgi_requests_keep_the_test_database  # noqa: F401

IG = "integrated_gradients"
MODEL = "efficientnet-lite0"


def _strict_json(text: str | bytes):
    """json.loads that fails on NaN and Infinity (Python's json accepts them; JSON does not)."""

    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def _table(archive: zipfile.ZipFile, name: str) -> tuple[list[str], list[dict]]:
    reader = csv.DictReader(io.TextIOWrapper(archive.open(name), encoding="utf-8", newline=""))
    return reader.fieldnames, list(reader)


def _stored(study, image: str, subject: str, check: str) -> dict:
    """The stored result of one check, as the worker wrote it."""
    settings = study.diagnostic_settings()
    return DiagnosticResult.objects.get(
        image__name=image,
        subject=subject,
        check_name=check,
        settings_hash=ds.check_settings_hash(check, ds.check_parameters(settings, check)),
    ).result


def _check_diagnostics_files(archive: zipfile.ZipFile, study) -> dict:
    """The three files hold what study_diagnostics reads from the database; returns the
    manifest's "diagnostics"."""
    found = faithfulness.study_diagnostics(study=study)
    header, rows = _table(archive, "diagnostics.csv")
    assert header == faithfulness.DIAGNOSTIC_COLUMNS and "_checks" not in header
    assert len(rows) == len(found["rows"]) == 6  # img0-img2 x (IG, human mean), one model
    by_key = {(r["image"], r["subject"]): r for r in rows}
    # Values recomputed from the stored results (the CSV has 6 significant digits).
    for image, subject in (("img0", IG), ("img1", ds.HUMAN_MEAN), ("img2", IG)):
        row = by_key[image, subject]
        curves = _stored(study, image, subject, ds.INSERTION_DELETION)
        assert float(row["insertion_auc"]) == pytest.approx(curves["insertion"]["auc"], rel=1e-5)
        assert float(row["deletion_auc"]) == pytest.approx(curves["deletion"]["auc"], rel=1e-5)
        pic = _stored(study, image, subject, ds.PIC)
        if pic["sic"]["auc"] is None:
            assert row["sic_auc"] == "" and row["sic_skipped"] == pic["sic"]["skipped"]
        else:
            assert float(row["sic_auc"]) == pytest.approx(pic["sic"]["auc"], rel=1e-5)
        axiom = _stored(study, image, subject, ds.PERTURBATION_EPSILON)
        assert float(row["violation_share"]) == pytest.approx(axiom["violation_share"], rel=1e-5)
        assert row["epsilon"] == "0.1" and row["patches"] == "16"
    # Localisation only where there is a ground truth (img0's box).
    img0 = _stored(study, "img0", IG, ds.LOCALISATION)
    assert float(by_key["img0", IG]["pixel_auc"]) == pytest.approx(img0["pixel_auc"], rel=1e-5)
    assert by_key["img1", IG]["pixel_auc"] == ""

    header, steps = _table(archive, "randomisation.csv")
    assert header == faithfulness.RANDOMISATION_COLUMNS
    stored_steps = _stored(study, "img0", IG, ds.RANDOMISATION)["steps"]
    assert len(steps) == len(stored_steps) == 2  # evaluated_steps
    assert [s["layer"] for s in steps] == [s["layer"] for s in stored_steps]
    for row, stored in zip(steps, stored_steps, strict=True):
        assert float(row["spearman"]) == pytest.approx(stored["spearman"], rel=1e-5, abs=1e-6)

    summary = _strict_json(archive.read("diagnostics_summary.json"))
    expected = faithfulness.diagnostics_summary(found)
    assert [(e["model"], e["subject"]) for e in summary] == [(MODEL, IG), (MODEL, ds.HUMAN_MEAN)]
    for entry, computed in zip(summary, expected, strict=True):
        for kind in ("sic", "aic"):
            assert entry[kind]["count"] == computed[kind]["count"]
            assert entry[kind]["curve_y"] == computed[kind]["curve_y"]  # the median curve, as a list
            if computed[kind]["count"]:
                assert len(entry[kind]["curve_x"]) == 1001 and entry[kind]["auc"] == computed[kind]["auc"]
            if computed[kind]["count"] < 2:  # no interval from one image: NaN written as null
                assert entry[kind]["ci_low"] is None and entry[kind]["ci_high"] is None
            else:
                assert entry[kind]["ci_low"] <= entry[kind]["auc"] <= entry[kind]["ci_high"]
        assert entry["insertion"]["mean"] == pytest.approx(computed["insertion"]["mean"])

    manifest = _strict_json(archive.read("manifest.json"))["diagnostics"]
    settings = study.diagnostic_settings()
    assert manifest["settings"] == settings == ds.diagnostic_settings(FAST)
    for check in ds.CHECKS:
        parameters = ds.check_parameters(settings, check)
        assert manifest["checks"][check] == {
            "enabled": True,
            "parameters": parameters,
            "settings_hash": ds.check_settings_hash(check, parameters),
        }
    # Every stored result carries its check's hash.
    assert {r.settings_hash for r in DiagnosticResult.objects.all()} == {
        c["settings_hash"] for c in manifest["checks"].values()
    }
    assert manifest["counts"] == {
        "rows": 6,
        "randomisation_rows": 2,
        "expected": {
            "images": 3,
            "models": 1,
            "subjects": [IG, ds.HUMAN_MEAN],
            "human_images": 3,
            "rows": 6,
        },
    }
    return manifest


def test_the_study_zip_and_its_command_carry_the_diagnostics(diagnosed, client, researcher, tmp_path):  # noqa: F811
    study, _ = diagnosed
    client.force_login(researcher)
    response = client.get(f"/research/{study.slug}/export.zip")
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    _check_diagnostics_files(archive, study)
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["tables"]["diagnostics.csv"] == {"rows": 6}
    assert manifest["tables"]["randomisation.csv"] == {"rows": 2}

    # The command writes the same files; --no-csv leaves the two tables out, not the summary.
    target = tmp_path / "study.zip"
    call_command("export_study", study=study.slug, output=str(target), stderr=io.StringIO())
    with zipfile.ZipFile(target) as written:
        for name in ("diagnostics.csv", "randomisation.csv", "diagnostics_summary.json"):
            assert written.read(name) == archive.read(name)
    call_command("export_study", study=study.slug, output=str(target), no_csv=True, stderr=io.StringIO())
    with zipfile.ZipFile(target) as written:
        names = set(written.namelist())
        assert "diagnostics_summary.json" in names and "diagnostics.csv" not in names
        assert json.loads(written.read("manifest.json"))["diagnostics"]["counts"]["rows"] == 6


def test_the_data_set_zip_carries_the_diagnostics_with_checksums(diagnosed):  # noqa: F811
    study, _ = diagnosed
    buffer = io.BytesIO()
    write_dataset_zip(study=study, out=buffer)
    archive = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    _check_diagnostics_files(archive, study)
    manifest = json.loads(archive.read("manifest.json"))
    listed = {entry["path"]: entry for entry in manifest["files"]}
    for name in ("diagnostics.csv", "randomisation.csv", "diagnostics_summary.json"):
        data = archive.read(name)
        assert listed[name]["sha256"] == hashlib.sha256(data).hexdigest()
        assert listed[name]["bytes"] == len(data)
    assert manifest["tables"]["diagnostics.csv"] == {"rows": 6}
    assert manifest["tables"]["randomisation.csv"] == {"rows": 2}
    readme = archive.read("README.md").decode()
    assert readme == DATASET_README
    assert "diagnostics.csv" in readme and ", ".join(faithfulness.DIAGNOSTIC_COLUMNS) in readme


def test_without_diagnostics_the_files_are_there_header_only(painted_study):
    study = painted_study.study
    buffer = io.BytesIO()
    write_dataset_zip(study=study, out=buffer)
    archive = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    assert archive.read("diagnostics.csv").decode().splitlines() == [
        ",".join(faithfulness.DIAGNOSTIC_COLUMNS)
    ]
    assert archive.read("randomisation.csv").decode().splitlines() == [
        ",".join(faithfulness.RANDOMISATION_COLUMNS)
    ]
    assert _strict_json(archive.read("diagnostics_summary.json")) == []
    manifest = json.loads(archive.read("manifest.json"))["diagnostics"]
    assert manifest["settings"] == study.diagnostic_settings()
    assert manifest["counts"]["rows"] == 0 and manifest["counts"]["expected"]["images"] == 3


@pytest.fixture
def api(client, researcher):
    key = Token.objects.create(user=researcher).key
    return lambda path: client.get(path, HTTP_AUTHORIZATION=f"Token {key}")


def test_the_api_serves_the_rows_as_numbers_and_no_nan(diagnosed, api):  # noqa: F811
    study, _ = diagnosed
    # One map whose ε no patch bounds: the CSV says inf, the JSON null with the flag.
    unbounded = DiagnosticResult.objects.get(
        image__name="img1", subject=IG, check_name=ds.PERTURBATION_EPSILON
    )
    unbounded.result = {**unbounded.result, "largest_epsilon": None, "largest_epsilon_unbounded": True}
    unbounded.save()

    response = api(f"/api/studies/{study.slug}/diagnostics/")
    assert response.status_code == 200
    body = _strict_json(response.content)
    found = faithfulness.study_diagnostics(study=study)
    assert body["settings"] == study.diagnostic_settings()
    assert body["expected"]["rows"] == body["count"] == len(body["rows"]) == 6
    assert body["randomisation_count"] == len(body["randomisation"]) == 2
    rows = {(r["image"], r["subject"]): r for r in body["rows"]}
    for row in found["rows"]:
        served = rows[row["image"], row["subject"]]
        assert set(served) == {*faithfulness.DIAGNOSTIC_COLUMNS, "largest_epsilon_unbounded"}
        assert served["insertion_auc"] == row["insertion_auc"]  # a number, full precision
        assert served["pixel_auc"] == (None if row["pixel_auc"] == "" else row["pixel_auc"])
        assert served["patches"] == 16 and served["target_class"] == row["target_class"]
        stored = _stored(study, row["image"], row["subject"], ds.PERTURBATION_EPSILON)
        assert served["largest_epsilon_unbounded"] == stored["largest_epsilon_unbounded"]
        if stored["largest_epsilon_unbounded"]:
            assert served["largest_epsilon"] is None
        else:
            assert served["largest_epsilon"] == stored["largest_epsilon"]
    assert rows["img1", IG]["largest_epsilon"] is None and rows["img1", IG]["largest_epsilon_unbounded"]
    csv_text = io.StringIO()
    faithfulness.write_diagnostics_csv(out=csv_text, diagnostics=found)
    (line,) = [line for line in csv_text.getvalue().splitlines() if line.startswith(f"img1,{MODEL},{IG},")]
    assert line.split(",")[faithfulness.DIAGNOSTIC_COLUMNS.index("largest_epsilon")] == "inf"

    # The summary without the long curves by default, with them on request.
    summary = {e["subject"]: e for e in body["summary"]}
    assert "curve_y" not in summary[IG]["sic"] and "curve_x" not in summary[IG]["insertion"]
    assert summary[IG]["images"] == 3
    with_curves = _strict_json(api(f"/api/studies/{study.slug}/diagnostics/?curves=1").content)
    computed = {e["subject"]: e for e in faithfulness.diagnostics_summary(found)}
    entry = {e["subject"]: e for e in with_curves["summary"]}[IG]
    assert entry["insertion"]["curve_y"] == computed[IG]["insertion"]["curve_y"]
    assert len(entry["insertion"]["curve_x"]) == 5  # FAST: 5 points per curve
    assert api(f"/api/studies/{study.slug}/diagnostics/?curves=maybe").status_code == 400


def test_the_answer_on_real_diagnostics_matches_the_openapi_schema(
    diagnosed,  # noqa: F811
    researcher,
    wsgi_requests_keep_the_test_database,  # noqa: F811
):
    """The fuzzer (tests/security/test_fuzz_api.py) sees a study without diagnostics: empty
    rows. Here the rows, the randomisation steps and the summary are real."""
    study, _ = diagnosed
    key = Token.objects.create(user=researcher).key
    operation = SCHEMA["/api/studies/{slug}/diagnostics/"]["GET"]
    for query in ({}, {"curves": "true"}):
        case = operation.Case(path_parameters={"slug": study.slug}, query=query)
        response = case.call_and_validate(headers={"Authorization": f"Token {key}"})
        assert response.status_code == 200 and len(response.json()["rows"]) == 6


def test_the_diagnostics_endpoint_refuses_anyone_without_a_staff_token(
    client, django_user_model, painted_study
):
    path = f"/api/studies/{painted_study.study.slug}/diagnostics/"
    assert client.get(path).status_code == 401  # anonymous: TokenAuthentication's challenge
    assert client.get(path, HTTP_AUTHORIZATION="Token nope").status_code == 401
    plain = django_user_model.objects.create_user("plain", password="plain-pass-123")
    key = Token.objects.create(user=plain).key
    assert client.get(path, HTTP_AUTHORIZATION=f"Token {key}").status_code == 403  # not staff
    client.force_login(plain)
    assert client.get(path).status_code == 403
    assert "diagnostics" in {e["name"] for e in client.get("/api/").json()["endpoints"]}


def test_the_schema_documents_the_diagnostics_endpoint(db, tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    schema = target.read_text()
    assert "  /api/studies/{slug}/diagnostics/:" in schema
    assert "largest_epsilon_unbounded" in schema and "name: curves" in schema
