"""research.scores: the results' scores are computed once per state of the data and recomputed
whenever the data they depend on change (checked on the hand-made study of conftest.py)."""

import re

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from analysis import metrics
from analysis.human_maps import mean_map, resize_map
from explain.models import SaliencyMap
from research.inputs import METRICS, AnalysisFilters
from research.scores import participant_draws, study_scores
from research.selectors import agreement_rows, agreement_summary, hierarchical_cis
from study.models import Participant
from tests.research.conftest import a_map, b_map, model_map

pytestmark = pytest.mark.django_db


def _queries(function) -> tuple[object, int]:
    with CaptureQueriesContext(connection) as context:
        result = function()
    return result, len(context.captured_queries)


def test_a_second_call_reads_no_maps(painted_study):
    study = painted_study.study
    first, first_queries = _queries(lambda: study_scores(study=study))
    again, again_queries = _queries(lambda: study_scores(study=study))
    assert again_queries < first_queries
    assert again.n_maps == first.n_maps and again.ceilings == first.ceilings
    for pk, values in first.scores.items():
        np.testing.assert_array_equal(again.scores[pk], values)


def test_the_scores_are_the_metrics_of_the_stored_maps(painted_study):
    scores = study_scores(study=painted_study.study)
    img0 = painted_study.study.image_set.images.get(name="img0")
    assert scores.n_maps[img0.pk] == 2
    human = mean_map([a_map(0) / 65535, b_map(0) / 65535])
    saliency_map = painted_study.model_maps[("img0", "xrai")]
    model = resize_map(model_map(1), human.shape)
    np.testing.assert_allclose(
        scores.scores[saliency_map.pk][METRICS.index("cc")], metrics.cc(model, human), atol=1e-9
    )


def test_an_exclusion_is_seen_at_once(painted_study):
    study = painted_study.study
    img0 = study.image_set.images.get(name="img0")
    before = study_scores(study=study)
    assert before.n_maps[img0.pk] == 2 and img0.pk in before.ceilings
    Participant.objects.filter(code=painted_study.codes["B"]).update(excluded=True)
    after = study_scores(study=study)
    assert after.n_maps[img0.pk] == 1
    assert img0.pk not in after.ceilings  # one person cannot be split


def test_a_new_model_map_is_seen_at_once(painted_study):
    study = painted_study.study
    img2 = study.image_set.images.get(name="img2")
    before = study_scores(study=study)
    template = painted_study.model_maps[("img0", "xrai")]
    added = SaliencyMap.objects.create(
        image=img2,
        model=template.model,
        method=template.method,
        target_class=template.target_class,
        params=template.params,
        params_hash=template.params_hash,
        map_npy=SaliencyMap.encode(model_map(7)),
        runtime_s=1.0,
        device="cpu",
        weights_sha256="f" * 64,
    )
    assert added.pk not in before.scores
    assert added.pk in study_scores(study=study).scores


def test_filters_have_their_own_results(painted_study):
    study = painted_study.study
    everyone = study_scores(study=study)
    strict = study_scores(study=study, filters=AnalysisFilters(min_annotations=3))
    assert everyone.n_maps and not strict.n_maps  # no image has 3 analysed maps


def test_a_time_budget_spreads_the_work_over_calls_and_loses_nothing(painted_study):
    study = painted_study.study
    calls = []
    while not calls or not calls[-1].complete:
        calls.append(study_scores(study=study, time_budget_s=0))  # one new image per call
        assert len(calls) <= 3
    assert [call.images_done for call in calls] == [1, 2, 3] and calls[-1].images_total == 3
    unbudgeted = study_scores(study=study)
    assert unbudgeted.n_maps == calls[-1].n_maps and unbudgeted.scores.keys() == calls[-1].scores.keys()


def test_the_results_page_shows_progress_until_every_image_is_scored(
    client, researcher, painted_study, settings
):
    settings.RESULTS_TIME_BUDGET_S = 0
    client.force_login(researcher)
    pages = [client.get("/research/test-study/") for _ in range(3)]
    for page, done in zip(pages[:2], (1, 2)):
        assert page.status_code == 200
        html = page.content.decode()
        assert f"<strong>{done} of 3 images</strong>" in html and 'http-equiv="refresh"' in html
        assert 'id="summary"' not in html
    assert 'id="summary"' in pages[2].content.decode()  # the third image: the results


def test_hierarchical_cis_with_one_participant_per_image_are_the_image_level_cis(painted_study):
    """Participants cannot vary when each image has one: the images are resampled exactly as
    for the ordinary CI, so the two intervals must coincide."""
    study = painted_study.study
    Participant.objects.filter(code=painted_study.codes["B"]).update(excluded=True)
    rows = agreement_rows(study=study)
    summary = {(r["model"], r["method"]): r for r in agreement_summary(rows) if r["metric"] == "spearman"}
    draws = participant_draws(study=study)
    assert draws.complete and len(draws.draws) == 4  # img0 and img1 x two methods
    cis = hierarchical_cis(rows, draws.draws)
    assert cis.keys() == summary.keys()
    for group, (low, high) in cis.items():
        assert (low, high) == pytest.approx((summary[group]["ci_low"], summary[group]["ci_high"]), abs=1e-12)


def test_the_results_page_adds_hierarchical_cis_on_request(client, researcher, painted_study, settings):
    settings.RESULTS_TIME_BUDGET_S = 0
    client.force_login(researcher)
    plain = client.get("/research/test-study/").content.decode()  # one call per image first
    while "Scoring the model maps" in plain:
        plain = client.get("/research/test-study/").content.decode()
    assert "Hierarchical 95 % CI" not in plain
    page = client.get("/research/test-study/?hierarchical=1").content.decode()
    assert "Resampling each image" in page and "<strong>1 of 3 images</strong>" in page
    for _ in range(2):
        page = client.get("/research/test-study/?hierarchical=1").content.decode()
    assert "Hierarchical 95 % CI" in page
    cells = re.findall(r'<td class="num hierarchical">([^<]*)</td>', page)
    filled = [cell for cell in cells if cell]
    assert len(filled) == 2  # the two methods' Spearman rows
    for cell in filled:
        low, high = (float(part) for part in cell.split(" – "))
        assert -1 <= low <= high <= 1
