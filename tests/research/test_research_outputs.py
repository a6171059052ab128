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


def test_the_summary_has_a_bootstrap_ci_around_the_mean_and_ignores_nans():
    from research.selectors import agreement_summary

    values = [0.1, 0.2, 0.3, 0.4, float("nan")]
    rows = [
        {"model": "m", "method": "xrai", "metric": "spearman", "value": v, "image_id": i}
        for i, v in enumerate(values)
    ]
    (summary,) = agreement_summary(rows)
    assert summary["n_images"] == 4 and summary["mean"] == pytest.approx(0.25)
    # the CI of a mean of 4 values lies within their range and around their mean
    assert 0.1 <= summary["ci_low"] < 0.25 < summary["ci_high"] <= 0.4


def test_an_image_with_two_targets_counts_once_in_the_summary():
    from research.selectors import agreement_summary

    # image 0 explained for two classes (0.2 and 0.4: mean 0.3), image 1 for one (0.5)
    rows = [
        {"model": "m", "method": "xrai", "metric": "spearman", "value": v, "image_id": i}
        for i, v in [(0, 0.2), (0, 0.4), (1, 0.5)]
    ]
    (summary,) = agreement_summary(rows)
    assert summary["n_images"] == 2 and summary["mean"] == pytest.approx(0.4)
    assert summary["sd"] == pytest.approx(np.std([0.3, 0.5], ddof=1))
    all_nan = [{"model": "m", "method": "xrai", "metric": "kld", "value": float("nan"), "image_id": 0}]
    (empty,) = agreement_summary(all_nan)
    assert empty["n_images"] == 0 and np.isnan(empty["mean"])


def test_pairwise_comparisons_are_exact_sign_flip_tests_with_holm():
    from research.selectors import pairwise_comparisons

    def rows(method, values):
        return [
            {
                "model": "m",
                "method": method,
                "metric": "spearman",
                "image_id": i,
                "target_class": 0,
                "value": v,
            }
            for i, v in enumerate(values)
        ]

    # a - b = 0.1, 0.2, 0.3 on three images: of the 8 sign patterns only the observed one reaches
    # a mean of 0.2, so p = 2 * 1/8; a and c are identical (p = 1); c - b as a - b.
    comparisons = pairwise_comparisons(
        rows("a", [0.5, 0.6, 0.7]) + rows("b", [0.4, 0.4, 0.4]) + rows("c", [0.5, 0.6, 0.7])
    )
    found = {(c["a"], c["b"]): c for c in comparisons}
    assert set(found) == {("m · a", "m · b"), ("m · a", "m · c"), ("m · b", "m · c")}
    assert found[("m · a", "m · b")]["mean_difference"] == pytest.approx(0.2)
    assert found[("m · a", "m · b")]["p"] == pytest.approx(0.25)
    assert found[("m · a", "m · c")]["p"] == pytest.approx(1.0)
    assert found[("m · b", "m · c")]["p"] == pytest.approx(0.25)
    # Holm over 3 tests: 3 * 0.25, then max(0.75, 2 * 0.25), then max(0.75, 1 * 1)
    assert [found[k]["p_holm"] for k in sorted(found)] == pytest.approx([0.75, 1.0, 0.75])
    assert all(c["n_images"] == 3 for c in comparisons)
