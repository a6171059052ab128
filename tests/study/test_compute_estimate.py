"""The estimate shown before "Compute model maps" queues a job (results page, admin action,
compute_maps), checked against hand-made stored maps and runtimes; the button is disabled and
the POST refused while a job runs; the study's admin page links to its results."""

import numpy as np
import pytest
from django.contrib.auth import get_user_model

from explain.models import ComputeJob, SaliencyMap
from explain.saliency.registry import method_params, params_hash
from study.compute_estimate import study_compute_estimate
from study.services import study_maps_compute


def _stored(study, image, method, runtime, *, target=285, other_params=False):
    params = method_params(method, {"steps": 7} if other_params else study.method_params.get(method))
    return SaliencyMap.objects.create(
        image=image,
        model=study.model_specs.get(),
        method=method,
        target_class=target,
        params=params,
        params_hash=params_hash(params),
        map_npy=SaliencyMap.encode(np.zeros((4, 4), np.float32)),
        runtime_s=runtime,
        device="cpu",
        versions={},
        weights_sha256="",
    )


@pytest.fixture
def timed_study(study):
    """4 images x 1 model x (IG, XRAI). img0: both maps stored (a complete unit); img1: XRAI
    only. Stored runtimes: IG 2 and 4 s (the first two images), XRAI 10, 20 and 60 s."""
    images = list(study.image_set.images.order_by("pk"))
    _stored(study, images[0], "integrated_gradients", 2.0)
    _stored(study, images[0], "xrai", 10.0)
    _stored(study, images[1], "xrai", 20.0)
    _stored(study, images[1], "xrai", 60.0, target=1)  # another class: a third XRAI runtime
    _stored(study, images[2], "integrated_gradients", 4.0, target=1)  # another class: img2 still lacks XRAI
    _stored(study, images[3], "xrai", 999.0, other_params=True)  # other parameters: neither counted nor timed
    return study


def test_the_estimate_counts_stored_units_and_times_the_rest_by_medians(timed_study):
    estimate = study_compute_estimate(study=timed_study)
    # units: 4 images x 1 model; img0 complete. Medians: IG (2, 4) -> 3 s; XRAI (10, 20, 60) -> 20 s.
    # img1 lacks IG (3), img2 lacks XRAI (20; its IG map is stored), img3 lacks both (23): 46 s.
    assert (estimate.units, estimate.cached, estimate.to_compute) == (4, 1, 3)
    assert estimate.seconds == pytest.approx(46.0)
    assert estimate.text() == (
        "4 image x model units: 3 to compute, 1 stored already; about 46 s of computing on one worker"
    )


def test_without_earlier_maps_the_time_is_unknown(study):
    estimate = study_compute_estimate(study=study)
    assert (estimate.units, estimate.cached, estimate.seconds) == (4, 0, None)
    assert estimate.time_text() == (
        "time unknown (no earlier map of efficientnet-lite0 · integrated_gradients, "
        "efficientnet-lite0 · xrai to measure from)"
    )


@pytest.fixture
def staff(client, researcher):
    client.force_login(researcher)
    return client


def test_the_compute_button_shows_the_estimate_first(staff, timed_study, django_capture_on_commit_callbacks):
    page = staff.get("/research/test-study/").content.decode()
    assert 'href="/research/test-study/compute" id="compute-maps"' in page
    confirm = staff.get("/research/test-study/compute").content.decode()
    assert "4 image x model units: 3 to compute, 1 stored already; about 46 s" in confirm
    assert not ComputeJob.objects.exists()
    with django_capture_on_commit_callbacks(execute=False):
        response = staff.post("/research/test-study/compute")
    assert response.status_code == 302 and ComputeJob.objects.count() == 1


def test_while_a_job_runs_the_button_is_disabled_and_a_second_is_refused(
    staff, study, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        job = study_maps_compute(study=study)
    page = staff.get("/research/test-study/").content.decode()
    assert '<button class="button secondary" type="button" id="compute-maps" disabled' in page
    assert "0 / 4" in page and "image × model units with every map" in page  # one unit, as the job's
    assert f"job {job.pk}: Queued, 0 of 4 units done" in page
    assert "disabled" in staff.get("/research/test-study/compute").content.decode()
    response = staff.post("/research/test-study/compute", follow=True)
    assert f"Job {job.pk} is still running" in response.content.decode()
    assert ComputeJob.objects.count() == 1


def test_the_study_admin_page_links_to_results_participant_link_and_compute(client, study):
    client.force_login(get_user_model().objects.create_superuser("boss", password="boss-pass-123"))
    page = client.get(f"/admin/study/study/{study.pk}/change/").content.decode()
    for link in (
        'href="/research/test-study/"',
        'href="/s/test-study/"',
        'href="/research/test-study/compute"',
    ):
        assert link in page


def test_a_study_from_a_template_says_where_its_results_are_and_what_computing_takes(
    client, image_set, default_model
):
    from explain.models import ModelSpec

    second = ModelSpec.objects.create(name="second", source=ModelSpec.Source.EFFICIENTNET_LITE0)
    client.force_login(get_user_model().objects.create_superuser("boss", password="boss-pass-123"))
    response = client.post(
        "/admin/study/study/from-template/",
        {
            "template": "compare_models",
            "image_set": image_set.pk,
            "models": [default_model.pk, second.pk],
            "slug": "new-one",
        },
        follow=True,
    )
    page = response.content.decode()
    assert (
        'href="/research/new-one/">results</a>' in page and 'href="/s/new-one/">participant link</a>' in page
    )
    assert "New-one: 8 image x model units: 8 to compute, 0 stored already; time unknown" in page
    assert not ComputeJob.objects.exists()  # queued only when asked for, now
