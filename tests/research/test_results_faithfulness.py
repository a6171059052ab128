"""The results page's Faithfulness section, its CSV and chart downloads and the compute action
(issue 15), on the painted study diagnosed for real (tests/research/test_faithfulness.py's
``diagnosed``: FAST settings, the job's units run in this process): the page shows the numbers
of ``research.faithfulness.study_diagnostics``."""

import csv
import io
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image as PILImage

from explain import diagnostic_settings as ds
from explain.models import ComputeJob
from research import faithfulness
from tests.research.test_faithfulness import FAST, diagnosed  # noqa: F401 (the fixture)

SVG = "{http://www.w3.org/2000/svg}"
IG = "integrated_gradients"
SKIP_WORDS = {
    "not_confident": "the model was not confident on the image",
    "blurring_did_not_lower_information": "blurring did not lower the information",
    "blurring_did_not_lower_prediction": "blurring did not lower the prediction",
}


@pytest.fixture
def staff_client(client, researcher):
    client.force_login(researcher)
    return client


def _row_cells(page: str, subject: str) -> dict[str, str]:
    """The faithfulness table's cells of one subject's row, by data-cell, as plain text."""
    row = re.search(rf'<tr data-model="[^"]*" data-subject="{subject}".*?</tr>', page, re.S).group(0)
    cells = re.findall(r'<td[^>]*data-cell="([^"]+)"[^>]*>(.*?)</td>', row, re.S)
    return {name: " ".join(re.sub(r"<[^>]+>", " ", text).split()) for name, text in cells}


def _interval(text: str) -> tuple[float, float, float]:
    value, low, high = re.fullmatch(r"(\S+) \[(\S+), (\S+)\]", text).groups()
    return float(value), float(low), float(high)


def test_the_section_shows_the_studys_diagnostics(staff_client, diagnosed):  # noqa: F811
    study, _ = diagnosed
    found = faithfulness.study_diagnostics(study=study)
    rows = [r for r in found["rows"] if r["subject"] == IG]
    page = staff_client.get(f"/research/{study.slug}/").content.decode()
    assert 'id="faithfulness"' in page and "No faithfulness diagnostics" not in page
    assert 'id="faithfulness-missing"' not in page  # everything is computed
    cells = _row_cells(page, IG)

    # Insertion / deletion: the mean over the three images, inside its interval. Lite0 is
    # unsure on the generated images: its probabilities are below 0.01, shown to two digits.
    for kind in ("insertion", "deletion"):
        mean, low, high = _interval(cells[kind])
        assert mean == pytest.approx(np.mean([r[f"{kind}_auc"] for r in rows]), rel=0.05)
        assert low <= mean <= high and low < high
    # Localisation: img0 alone has a ground truth.
    (img0,) = [r for r in rows if r["image"] == "img0"]
    assert cells["localisation"] == f"{img0['pixel_auc']:.3f} · {img0['pointing_game']:.2f} (1 image)"
    # Perturbation-ε: the mean violating share at the study's ε, and the median largest ε of
    # the images where a patch bounds it.
    assert "at ε = 0.1" in page
    share, low, high = _interval(cells["violation"])
    assert share == pytest.approx(np.mean([r["violation_share"] for r in rows]), abs=5e-4)
    assert low <= share <= high
    bounded = sorted(r["largest_epsilon"] for r in rows if r["largest_epsilon"] != float("inf"))
    assert bounded and cells["largest-epsilon"] == f"{bounded[len(bounded) // 2]:.0f}"  # in the thousands

    # PIC: the images scored, each skipped one counted with its reason in words. (Lite0 is
    # unsure on the generated images: whether blurring lowers its prediction can differ between
    # runs, so the counts are read from the rows.)
    def counts(kind: str) -> str:
        scored = sum(r[f"{kind}_auc"] != "" for r in rows)
        reasons = sorted({SKIP_WORDS[r[f"{kind}_skipped"]] for r in rows if r[f"{kind}_skipped"]})
        text = f"{kind.upper()}: {scored} scored"
        if scored < len(rows):
            assert len(reasons) == 1  # one reason: named without a count
            text += f", {len(rows) - scored} skipped ({reasons[0]})"
        return text

    assert cells["pic-counts"] == f"{counts('sic')} {counts('aic')}"
    for kind in ("sic", "aic"):
        scored = [r[f"{kind}_auc"] for r in rows if r[f"{kind}_auc"] != ""]
        if not scored:
            assert cells[kind] == "–"
        elif len(scored) == 1:  # the median curve is the image's curve; no interval
            assert cells[kind] == f"{scored[0]:.3f}"
        else:
            auc, low, high = _interval(cells[kind])
            assert low <= auc <= high
        assert (f'id="{kind}-chart"' in page) == bool(scored)
        assert (f'id="{kind}-none"' in page) != bool(scored)
    # Randomisation: one image, the last step is the whole cascade.
    last = [r for r in found["randomisation"] if r["method"] == IG][-1]
    assert last["layers_randomised"] == last["layers_total"]
    verdict = "passes" if last["spearman"] < faithfulness.RANDOMISATION_PASS_BELOW else "fails"
    assert cells["randomisation"] == f"{last['spearman']:.3f} {verdict} (1 image)"
    assert _row_cells(page, ds.HUMAN_MEAN)["randomisation"] == "not tested (no model)"

    # The charts are inline, the human mean as its own black dashed line.
    assert 'id="randomisation-chart"' in page
    assert f"/research/{study.slug}/charts/randomisation.svg" in page
    assert f"/research/{study.slug}/charts/sic.svg" in page
    root = ET.fromstring(staff_client.get(f"/research/{study.slug}/charts/sic.svg").content)
    line = root.find(f".//{SVG}g[@id='sic-0-human-mean']/{SVG}path")
    assert "stroke: #000000" in line.get("style") and "stroke-dasharray" in line.get("style")
    assert page.count('id="sic-0-human-mean"') == 1 and page.count('id="randomisation-0"') == 1


def test_csv_and_chart_downloads(staff_client, diagnosed):  # noqa: F811
    study, _ = diagnosed
    found = faithfulness.study_diagnostics(study=study)
    response = staff_client.get(f"/research/{study.slug}/faithfulness.csv")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    assert f'filename="{study.slug}-faithfulness.csv"' in response["Content-Disposition"]
    table = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert list(table[0]) == faithfulness.DIAGNOSTIC_COLUMNS and len(table) == 6
    by_key = {(r["image"], r["subject"]): r for r in table}
    for row in found["rows"]:
        assert float(by_key[row["image"], row["subject"]]["insertion_auc"]) == pytest.approx(
            row["insertion_auc"], rel=1e-5
        )
    response = staff_client.get(f"/research/{study.slug}/randomisation.csv")
    table = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert list(table[0]) == faithfulness.RANDOMISATION_COLUMNS
    assert [(r["image"], r["method"], r["step"]) for r in table] == [("img0", IG, "1"), ("img0", IG, "2")]
    assert table[-1]["layers_randomised"] == table[-1]["layers_total"]

    aic_scored = any(r["aic_auc"] != "" for r in found["rows"])
    assert staff_client.get(f"/research/{study.slug}/charts/aic.svg").status_code == (
        200 if aic_scored else 404
    )
    for kind in ("sic", "randomisation"):
        svg = staff_client.get(f"/research/{study.slug}/charts/{kind}.svg")
        assert svg.status_code == 200 and svg["Content-Type"] == "image/svg+xml"
        assert ET.fromstring(svg.content).tag == f"{SVG}svg"
        png = staff_client.get(f"/research/{study.slug}/charts/{kind}.png")
        assert png.status_code == 200 and png["Content-Type"] == "image/png"
        pixels = np.asarray(PILImage.open(io.BytesIO(png.content)).convert("RGB"))
        assert (pixels[0, 0] == 255).all() and len(np.unique(pixels.reshape(-1, 3), axis=0)) > 10


def test_results_of_other_settings_count_as_missing(staff_client, diagnosed):  # noqa: F811
    study, _ = diagnosed
    study.diagnostics = {**FAST, "perturbation_epsilon": {"patch_size": 56, "epsilon": 0.5}}
    study.save()
    page = staff_client.get(f"/research/{study.slug}/").content.decode()
    # 3 images x (IG + human mean) x 4 per-map checks + 1 randomisation; Perturbation-ε's 6 are stale
    assert "6 of 25 expected results are missing" in page
    assert "Computing again computes only the missing ones" in page
    assert "at ε = 0.5" in page
    plan = staff_client.get(f"/research/{study.slug}/diagnostics/compute").content.decode()
    assert "19 of 25 results are stored already" in plan
    assert "Estimated time: about" in plan  # every missing result has earlier ones to time it by


def test_empty_state_links_to_the_compute_action(staff_client, painted_study):
    page = staff_client.get("/research/test-study/").content.decode()
    assert "No faithfulness diagnostics are computed yet" in page
    assert 'href="/research/test-study/diagnostics/compute"' in page
    for kind in ("sic", "aic", "randomisation"):
        assert staff_client.get(f"/research/test-study/charts/{kind}.svg").status_code == 404
    table = staff_client.get("/research/test-study/faithfulness.csv").content.decode().splitlines()
    assert table == [",".join(faithfulness.DIAGNOSTIC_COLUMNS)]


def test_the_compute_action_shows_the_plan_and_queues_a_diagnostics_job(
    staff_client, painted_study, django_capture_on_commit_callbacks
):
    study = painted_study.study
    study.diagnostics = {"randomisation": {"images": 2}, "localisation": {"enabled": False}}
    study.save()
    plan = staff_client.get("/research/test-study/diagnostics/compute").content.decode()
    assert "3 images × 1 model" in plan and "ε = 0.1" in plan
    assert "The randomisation test runs on\n  img0, img1" in plan
    assert "<s>Localisation" in plan and "(switched off)" in plan
    assert "stored already with these settings and are reused" in plan
    assert "Time unknown: no earlier result to measure from for efficientnet-lite0 · pic of" in plan
    with django_capture_on_commit_callbacks() as callbacks:
        response = staff_client.post("/research/test-study/diagnostics/compute")
    assert response.status_code == 302 and response["Location"] == "/research/test-study/#faithfulness"
    job = ComputeJob.objects.get(study=study)
    assert job.diagnostics == study.diagnostic_settings() and len(callbacks) == 1
    names = sorted(
        study.image_set.images.filter(pk__in=job.randomisation_image_ids).values_list("name", flat=True)
    )
    assert names == ["img0", "img1"]

    # While it runs: the page says so, the button is disabled, and a POST is refused.
    plan = staff_client.get("/research/test-study/diagnostics/compute").content.decode()
    assert f"Job {job.pk} is still running" in plan and 'id="diagnostics-confirm"' not in plan
    with django_capture_on_commit_callbacks() as callbacks:
        response = staff_client.post("/research/test-study/diagnostics/compute", follow=True)
    assert ComputeJob.objects.filter(study=study).count() == 1 and not callbacks
    assert f"Job {job.pk} is still running" in response.content.decode()


def test_a_study_with_every_check_off_is_refused_with_a_message(staff_client, painted_study):
    study = painted_study.study
    study.diagnostics = {check: {"enabled": False} for check in ds.CHECKS}
    study.save()
    response = staff_client.post("/research/test-study/diagnostics/compute", follow=True)
    assert "every diagnostic switched off" in response.content.decode()
    assert not ComputeJob.objects.filter(study=study).exists()


@pytest.mark.parametrize(
    "path",
    [
        "/research/test-study/diagnostics/compute",
        "/research/test-study/faithfulness.csv",
        "/research/test-study/randomisation.csv",
        "/research/test-study/charts/sic.svg",
        "/research/test-study/charts/randomisation.png",
    ],
)
def test_anonymous_users_are_sent_to_the_login(client, painted_study, path):
    response = client.get(path)
    assert response.status_code == 302 and "/login/" in response["Location"]
    response = client.post("/research/test-study/diagnostics/compute")
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert not ComputeJob.objects.exists()
