"""Researcher side: results page, agreement CSV and its command, on real computed maps."""

import csv
import io
import re

import numpy as np
import pytest
from django.core.management import call_command

from explain.services import image_maps_compute
from study.models import Study


@pytest.fixture
def analysed_study(study):
    # Fewer IG steps keep the test quick; they are part of each map's cache key and export.
    study.method_params = {"integrated_gradients": {"steps": 4}, "xrai": {"steps": 4}}
    study.trials_per_participant = 4
    study.save()
    call_command("simulate_participants", study=study.slug, n=3, stdout=io.StringIO())
    for image in study.image_set.images.all()[:2]:
        image_maps_compute(
            image=image,
            spec=study.model_specs.get(),
            method_params=study.full_method_params(),
            target_policy=study.target_policy,
        )
    return study


def test_simulated_participants_submit_through_the_http_path(analysed_study):
    participants = analysed_study.participants.all()
    assert participants.count() == 3
    for participant in participants:
        assert participant.is_bot and participant.finished_at is not None
        annotation = participant.trials.first().annotation
        assert annotation.bit_depth == 16 and annotation.strokes and annotation.map_array().max() > 0


def test_the_agreement_csv_has_a_finite_row_per_image_model_method_metric(client, researcher, analysed_study):
    client.force_login(researcher)
    response = client.get(f"/research/{analysed_study.slug}/agreement.csv")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    # 2 images with maps x 1 model x 2 methods x 10 metrics
    assert len(rows) == 40
    assert {row["metric"] for row in rows} == {
        "spearman",
        "cc",
        "sim",
        "kld",
        "nss",
        "auc_judd",
        "auc_borji",
        "top30_iou",
        "top30_dice",
        "emd",
    }
    assert {row["method"] for row in rows} == {"integrated_gradients", "xrai"}
    assert all(np.isfinite(float(row["value"])) for row in rows)
    assert all(row["n_participants"] == "3" for row in rows)
    assert '"steps": 4' in rows[0]["method_params"] and "min-max" in rows[0]["analysis_params"]


def test_export_agreement_writes_the_same_csv_to_a_file(tmp_path, client, researcher, analysed_study):
    target = tmp_path / "agreement.csv"
    call_command("export_agreement", study=analysed_study.slug, output=str(target), stderr=io.StringIO())
    client.force_login(researcher)
    from_page = client.get(f"/research/{analysed_study.slug}/agreement.csv").content.decode()
    assert target.read_bytes().decode() == from_page


def test_the_results_page_shows_the_table_and_gallery(client, researcher, analysed_study):
    client.force_login(researcher)
    page = client.get(f"/research/{analysed_study.slug}/").content.decode()
    assert 'id="summary"' in page and "spearman" in page and "top30_iou" in page
    # 3 bot participants per image: a split-half ceiling exists, and the chart is drawn
    assert 'id="ceiling"' in page and 'id="spearman-chart"' in page and "<svg" in page
    assert 'id="comparisons"' in page  # integrated_gradients vs xrai
    assert "noise ceiling" in page
    assert len(re.findall(r'src="/research/maps/\d+\.png"', page)) == 4
    map_url = page.split('src="/research/maps/')[1].split('"')[0]
    picture = client.get(f"/research/maps/{map_url}")
    assert picture.status_code == 200 and picture.content.startswith(b"\x89PNG")


@pytest.mark.parametrize(
    "path",
    [
        "/research/",
        "/research/test-study/",
        "/research/test-study/agreement.csv",
        "/research/test-study/images.csv",
    ],
)
def test_research_pages_need_a_staff_login(client, study, path):
    response = client.get(path)
    assert response.status_code == 302 and "/admin/login/" in response.url


def test_export_of_an_unknown_study_is_a_clear_error(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no study with slug 'nope'"):
        call_command("export_agreement", study="nope")


def test_the_compute_button_queues_a_job(client, researcher, study, django_capture_on_commit_callbacks):
    client.force_login(researcher)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(f"/research/{study.slug}/compute")
    assert response.status_code == 302
    job = study.compute_jobs.get()
    assert job.total == 4 and job.status == "queued"
    assert len(callbacks) == 1  # the enqueue waits for the commit


def test_compute_maps_refuses_a_study_without_models(db, image_set):
    from django.core.management.base import CommandError

    Study.objects.create(slug="empty", title="Empty", image_set=image_set, methods=["xrai"])
    with pytest.raises(CommandError, match="no models or no methods"):
        call_command("compute_maps", study="empty")
