"""Compute jobs as units: which images, duplicate deliveries, failures and retry, cancel,
progress with rate and ETA, the results page's job panel and the admin's actions. The
tasks run in this process on the real model (a worker process only in the last test)."""

import io
import time
from datetime import timedelta

import pytest
import torch
import torchvision
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.utils import timezone

from catalogue.models import Image, ImageSet
from catalogue.services import image_create
from explain import tasks
from explain.models import ComputeJob, ComputeUnit, ModelSpec, Prediction, SaliencyMap
from explain.selectors import compute_job_progress, format_duration
from explain.services import (
    compute_job_cancel,
    compute_job_lost_units,
    compute_job_retry,
    compute_job_start,
    compute_unit_begin,
)
from study.models import Study
from study.services import study_maps_compute
from tests.conftest import gradient_image

QUICK_IG = {"integrated_gradients": {"steps": 2}}  # part of the cache key; keeps each unit ~1 s


def _add_image(image_set, name, seed, **flags) -> Image:
    image = image_create(
        image_set=image_set,
        name=name,
        content=gradient_image(seed=seed),
        filename=f"{name}.png",
        class_index=285,
    )
    if flags:
        Image.objects.filter(pk=image.pk).update(**flags)
        image.refresh_from_db()
    return image


def _study(image_set, *models, slug="jobs") -> Study:
    study = Study.objects.create(
        slug=slug, title="Jobs", image_set=image_set, methods=["integrated_gradients"], method_params=QUICK_IG
    )
    study.model_specs.add(*models)
    return study


def _job(study, capture) -> ComputeJob:
    """A job whose enqueue callback is captured, not sent: the tests run the tasks themselves."""
    with capture(execute=False) as callbacks:
        job = study_maps_compute(study=study)
    assert len(callbacks) == 1
    return job


def _unit(job, image_name, model=None) -> ComputeUnit:
    units = job.units.filter(image__name=image_name)
    return units.get(model=model) if model else units.get()


@pytest.fixture
def one_image_study(db, default_model):
    image_set = ImageSet.objects.create(name="one")
    _add_image(image_set, "img0", seed=0)
    return _study(image_set, default_model)


@pytest.fixture
def broken_model(db):
    """A torchvision model whose weights file is not there."""
    return ModelSpec.objects.create(
        name="shufflenet",
        source=ModelSpec.Source.TORCHVISION,
        architecture="shufflenet_v2_x0_5",
        weights_file="weights/missing-shufflenet.pt",
    )


def test_units_cover_every_analysed_image_and_variant_but_no_practice_or_attention_image(
    image_set, default_model, broken_model, django_capture_on_commit_callbacks
):
    image_set.images.filter(name="img3").update(is_practice=True)
    _add_image(image_set, "check", seed=7, is_attention_check=True)
    original = image_set.images.get(name="img0")
    _add_image(image_set, "img0-blur-3", seed=8, variant_of=original, corruption="gaussian_blur", severity=3)
    study = _study(image_set, default_model, broken_model)

    job = _job(study, django_capture_on_commit_callbacks)

    analysed = {"img0", "img1", "img2", "img0-blur-3"}
    pairs = set(job.units.values_list("image__name", "model__name"))
    assert pairs == {(name, model) for name in analysed for model in ("efficientnet-lite0", "shufflenet")}
    assert job.total == 8 == job.units.count()
    assert set(job.units.values_list("status", flat=True)) == {"pending"}
    assert job.status == ComputeJob.Status.QUEUED and job.started_at is None
    assert sorted(compute_job_start(job_id=job.pk)) == sorted(job.units.values_list("pk", flat=True))


def test_a_set_without_analysed_images_is_refused_before_anything_is_stored(db, default_model):
    image_set = ImageSet.objects.create(name="practice only")
    _add_image(image_set, "warm-up", seed=1, is_practice=True)
    with pytest.raises(ValueError, match="no images to compute"):
        study_maps_compute(study=_study(image_set, default_model))
    assert not ComputeJob.objects.exists()


def test_a_task_delivered_twice_is_counted_once_and_computed_once(
    one_image_study, django_capture_on_commit_callbacks
):
    job = _job(one_image_study, django_capture_on_commit_callbacks)
    unit = job.units.get()

    assert tasks.compute_unit(unit.pk) == ComputeUnit.Status.DONE
    stored = SaliencyMap.objects.get()
    unit.refresh_from_db()
    job.refresh_from_db()
    assert (unit.status, unit.attempts, unit.error) == ("done", 1, "")
    assert unit.started_at <= unit.finished_at
    assert (job.status, job.done_count, job.failed_count) == ("done", 1, 0)
    finished_at = job.finished_at

    # The broker delivers the same message again: nothing to do, nothing counted.
    assert tasks.compute_unit(unit.pk) is None
    unit.refresh_from_db()
    job.refresh_from_db()
    assert unit.attempts == 1 and (job.done_count, job.finished_at) == (1, finished_at)
    assert SaliencyMap.objects.get().pk == stored.pk and Prediction.objects.count() == 1


def test_a_task_redelivered_after_its_worker_died_takes_the_unit_over_from_the_cache(
    one_image_study, django_capture_on_commit_callbacks
):
    job = _job(one_image_study, django_capture_on_commit_callbacks)
    unit = job.units.get()
    tasks.compute_unit(unit.pk)
    stored = SaliencyMap.objects.get()
    # As if a worker had marked the unit running and been killed: acks_late redelivers.
    ComputeUnit.objects.filter(pk=unit.pk).update(status=ComputeUnit.Status.RUNNING, finished_at=None)

    started = time.perf_counter()
    assert tasks.compute_unit(unit.pk) == ComputeUnit.Status.DONE
    unit.refresh_from_db()
    job.refresh_from_db()
    assert unit.attempts == 2 and job.done_count == 1 and job.status == "done"
    assert SaliencyMap.objects.get() == stored and SaliencyMap.objects.get().created_at == stored.created_at
    assert time.perf_counter() - started < 5  # maps found by their cache key, not recomputed


def test_a_failing_unit_records_its_error_and_a_retry_after_the_fix_completes_the_job(
    one_image_study, broken_model, django_capture_on_commit_callbacks
):
    one_image_study.model_specs.add(broken_model)
    job = _job(one_image_study, django_capture_on_commit_callbacks)
    good, bad = (
        _unit(job, "img0", one_image_study.model_specs.get(name="efficientnet-lite0")),
        _unit(job, "img0", broken_model),
    )

    assert tasks.compute_unit(bad.pk) == ComputeUnit.Status.FAILED
    job.refresh_from_db()
    assert job.status == ComputeJob.Status.RUNNING and job.finished_at is None  # the good unit is pending
    assert tasks.compute_unit(good.pk) == ComputeUnit.Status.DONE
    bad.refresh_from_db()
    job.refresh_from_db()
    assert bad.status == "failed" and bad.attempts == 1
    assert bad.error.startswith("FileNotFoundError") and "missing-shufflenet.pt" in bad.error
    assert (job.status, job.done_count, job.failed_count) == (ComputeJob.Status.FAILED, 1, 1)
    assert job.finished_at is not None and "missing-shufflenet.pt" in job.errors[0]
    failure = compute_job_progress(job)["failures"][0]
    assert (failure["image"], failure["model"], failure["error"]) == ("img0", "shufflenet", bad.error)

    # The fix: a real weights file. Retry reopens the same job and re-enqueues only that unit.
    weights = io.BytesIO()
    torch.save(torchvision.models.shufflenet_v2_x0_5(weights=None).state_dict(), weights)
    broken_model.weights_file.save("shufflenet.pt", ContentFile(weights.getvalue()))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert compute_job_retry(job_id=job.pk) == [bad.pk]
    assert len(callbacks) == 1
    job.refresh_from_db()
    assert job.status == ComputeJob.Status.RUNNING and job.finished_at is None and job.failed_count == 0
    assert compute_job_start(job_id=job.pk, unit_ids=[bad.pk]) == [bad.pk]

    assert tasks.compute_unit(bad.pk) == ComputeUnit.Status.DONE
    bad.refresh_from_db()
    job.refresh_from_db()
    assert (bad.status, bad.attempts, bad.error) == ("done", 2, "")
    assert (job.status, job.done_count, job.failed_count, job.errors) == ("done", 2, 0, [])
    assert SaliencyMap.objects.filter(model=broken_model).count() == 1
    with pytest.raises(ValueError, match="no failed or lost units"):
        compute_job_retry(job_id=job.pk)


def test_cancel_stops_pending_units_and_lets_a_running_one_finish(
    image_set, default_model, django_capture_on_commit_callbacks
):
    job = _job(_study(image_set, default_model), django_capture_on_commit_callbacks)
    running = _unit(job, "img0")
    compute_unit_begin(unit_id=running.pk)  # a worker has started it

    assert compute_job_cancel(job_id=job.pk) == 3
    job.refresh_from_db()
    assert job.status == ComputeJob.Status.CANCELLED and job.finished_at is None  # img0 still runs
    cancelled = _unit(job, "img1")
    assert tasks.compute_unit(cancelled.pk) is None  # its queued task returns without computing
    assert not Prediction.objects.filter(image__name="img1").exists()
    assert compute_job_start(job_id=job.pk) == []

    assert tasks.compute_unit(running.pk) == ComputeUnit.Status.DONE  # the running unit finishes
    job.refresh_from_db()
    assert (job.status, job.done_count) == (ComputeJob.Status.CANCELLED, 1) and job.finished_at
    progress = compute_job_progress(job)
    assert (progress["done"], progress["cancelled"], progress["pending"], progress["eta_seconds"]) == (
        1,
        3,
        0,
        None,
    )
    assert not progress["can_cancel"]
    with pytest.raises(ValueError, match="nothing left to cancel"):
        compute_job_cancel(job_id=job.pk)


@pytest.fixture
def timed_job(image_set, default_model, broken_model, django_capture_on_commit_callbacks):
    """8 units (4 images x 2 models) with hand-made timestamps, T0 = job start: done at
    T0+60 s and T0+80 s (each stored a prediction while it ran), failed at T0+100 s, one
    running since T0+90 s, four pending."""
    job = _job(_study(image_set, default_model, broken_model), django_capture_on_commit_callbacks)
    t0 = timezone.now() - timedelta(minutes=10)
    units = list(job.units.order_by("pk"))
    for unit, status, started, finished, error in [
        (units[0], "done", 0, 60, ""),
        (units[1], "done", 0, 80, ""),
        (units[2], "failed", 30, 100, "RuntimeError: out of memory"),
        (units[3], "running", 90, None, ""),
    ]:
        ComputeUnit.objects.filter(pk=unit.pk).update(
            status=status,
            attempts=1,
            error=error,
            started_at=t0 + timedelta(seconds=started),
            finished_at=finished and t0 + timedelta(seconds=finished),
        )
    ComputeJob.objects.filter(pk=job.pk).update(
        status=ComputeJob.Status.RUNNING, started_at=t0, created_at=t0 - timedelta(seconds=5)
    )
    for unit, stored in ((units[0], 30), (units[1], 40)):
        prediction = Prediction.objects.create(image=unit.image, model=unit.model, top5=[], weights_sha256="")
        Prediction.objects.filter(pk=prediction.pk).update(created_at=t0 + timedelta(seconds=stored))
    job.refresh_from_db()
    return job, t0


def test_progress_rate_and_eta_from_hand_made_timestamps(timed_job):
    job, t0 = timed_job
    now = t0 + timedelta(seconds=130)

    progress = compute_job_progress(job, now=now)
    assert (
        progress["total"],
        progress["done"],
        progress["failed"],
        progress["running"],
        progress["pending"],
    ) == (
        8,
        2,
        1,
        1,
        4,
    )
    assert progress["finished"] == 3 and progress["remaining"] == 5 and progress["percent"] == 37.5
    # The rate counts units that computed something (the failed one stored nothing). Fewer
    # than 20: 2 units from the start to the last computed finish, 80 s: 1.5 per minute;
    # 5 left at that rate end 5 / 1.5 min = 200 s after T0+80 s, i.e. 150 s after now.
    assert (progress["computed"], progress["cached"]) == (2, 0)
    assert progress["rate_per_minute"] == pytest.approx(1.5)
    assert abs(progress["eta_at"] - (t0 + timedelta(seconds=280))) < timedelta(milliseconds=1)
    assert progress["eta_seconds"] == pytest.approx(150)
    assert progress["eta_text"] == "2 min 30 s"

    # Over the last 1: the finish at T0+80 s, after the one at T0+60 s: 1 per 20 s.
    windowed = compute_job_progress(job, now=now, window=1)
    assert windowed["rate_per_minute"] == pytest.approx(3.0)
    assert windowed["eta_seconds"] == pytest.approx(80 + 100 - 130)

    # Past the estimate: 0, not negative.
    assert compute_job_progress(job, now=t0 + timedelta(hours=1))["eta_seconds"] == 0


def test_units_that_found_their_maps_stored_make_no_rate(timed_job):
    # compute_maps --wait once printed "3534.82 units/min" for a job whose maps existed
    job, t0 = timed_job
    Prediction.objects.all().delete()  # nothing was stored while the two done units ran
    progress = compute_job_progress(job, now=t0 + timedelta(seconds=130))
    assert (progress["done"], progress["computed"], progress["cached"]) == (2, 0, 2)
    assert progress["rate_per_minute"] is None and progress["eta_text"] == ""


def test_no_rate_before_the_first_unit_finishes(one_image_study, django_capture_on_commit_callbacks):
    progress = compute_job_progress(_job(one_image_study, django_capture_on_commit_callbacks))
    assert (
        progress["rate_per_minute"] is None and progress["eta_seconds"] is None and progress["eta_text"] == ""
    )
    assert (progress["pending"], progress["percent"], progress["can_retry"], progress["can_cancel"]) == (
        1,
        0,
        False,
        True,
    )


def test_units_are_lost_only_past_the_tasks_hard_time_limit(timed_job, django_capture_on_commit_callbacks):
    job, t0 = timed_job
    # Within the hour: the running unit may still be computing and the queue is moving.
    assert compute_job_lost_units(job, now=t0 + timedelta(minutes=30)).count() == 0
    # An hour after it started the running unit's task has been killed; no unit has started
    # or finished for an hour either, so the pending ones' messages are gone too.
    later = t0 + timedelta(seconds=100, hours=1, minutes=1)
    lost = compute_job_lost_units(job, now=later)
    assert sorted(lost.values_list("status", flat=True)) == ["pending"] * 4 + ["running"]
    assert compute_job_progress(job, now=later)["lost"] == 5

    with django_capture_on_commit_callbacks(execute=False):
        retried = compute_job_retry(job_id=job.pk, now=later)
    assert len(retried) == 6  # the failed unit and the five lost ones
    assert set(ComputeUnit.objects.filter(pk__in=retried).values_list("status", flat=True)) == {"pending"}
    assert ComputeUnit.objects.filter(job=job, status="done").count() == 2


def test_format_duration():
    assert [format_duration(s) for s in (None, 4.6, 75, 3725)] == ["", "5 s", "1 min 15 s", "1 h 02 min"]


def test_the_results_page_shows_progress_and_errors_and_posts_retry_and_cancel(client, researcher, timed_job):
    job, _ = timed_job
    study = job.study
    client.force_login(researcher)
    page = client.get(f"/research/{study.slug}/").content.decode()
    assert '<meta http-equiv="refresh" content="5">' in page  # refreshes while it runs
    assert "2 of 8 units done, 1 failed, 1 running" in page
    assert 'aria-valuenow="3"' in page and "units/min" in page and "ETA" in page
    failed = job.units.get(status="failed")
    assert (
        "RuntimeError: out of memory" in page
        and f"<td>{failed.image.name}</td><td>{failed.model.name}</td>" in page
    )
    assert 'id="retry-failed"' in page and 'id="cancel-job"' in page and "csrfmiddlewaretoken" in page

    response = client.post(f"/research/{study.slug}/jobs/{job.pk}/retry")
    assert response.status_code == 302
    failed.refresh_from_db()
    assert failed.status == "pending"
    response = client.post(f"/research/{study.slug}/jobs/{job.pk}/cancel", follow=True)
    assert "Cancelled job" in response.content.decode()
    assert set(job.units.exclude(status__in=["done", "running"]).values_list("status", flat=True)) == {
        "cancelled"
    }
    assert client.get(f"/research/{study.slug}/jobs/{job.pk}/cancel").status_code == 405


def test_only_staff_can_retry_or_cancel(client, timed_job):
    job, _ = timed_job
    client.force_login(get_user_model().objects.create_user("participant-ish", password="x-pass-123"))
    response = client.post(f"/research/{job.study.slug}/jobs/{job.pk}/cancel")
    assert response.status_code == 302 and "/login/" in response.url
    assert not job.units.filter(status="cancelled").exists()


def test_the_admin_retries_failed_units_and_cancels(client, timed_job):
    job, _ = timed_job
    client.force_login(get_user_model().objects.create_superuser("boss", password="boss-pass-123"))
    page = client.get(f"/admin/explain/computejob/{job.pk}/change/").content.decode()
    assert "RuntimeError: out of memory" in page  # the units inline

    response = client.post(
        "/admin/explain/computejob/", {"action": "retry_failed", "_selected_action": [job.pk]}, follow=True
    )
    assert [str(m) for m in response.context["messages"]] == [f"job {job.pk}: re-queued 1 unit(s)"]
    response = client.post(
        "/admin/explain/computejob/", {"action": "cancel_jobs", "_selected_action": [job.pk]}, follow=True
    )
    assert [str(m) for m in response.context["messages"]] == [f"job {job.pk}: cancelled 5 pending units"]
    job.refresh_from_db()
    assert job.status == ComputeJob.Status.CANCELLED


@pytest.mark.worker
def test_compute_maps_wait_shows_rate_and_eta_with_a_real_worker(
    transactional_db, default_model, celery_worker_process
):
    image_set = ImageSet.objects.create(name="pair")
    for index in range(2):
        _add_image(image_set, f"img{index}", seed=index)
    _add_image(image_set, "warm-up", seed=5, is_practice=True)
    study = _study(image_set, default_model, slug="worker-jobs")
    out = io.StringIO()
    call_command("compute_maps", study=study.slug, wait=True, timeout=600, stdout=out)
    lines = out.getvalue().splitlines()
    # the estimate before queuing: no earlier map of this model and method to measure from
    assert lines[0].startswith("estimate: 2 image x model units: 2 to compute, 0 stored already; time unk")
    assert lines[1].startswith("queued job") and "2 image x model units" in lines[1]
    assert "2/2 done" in lines[-1] and "units/min" in lines[-1] and "(done)" in lines[-1]
    job = ComputeJob.objects.get()
    assert job.status == "done" and set(job.units.values_list("attempts", flat=True)) == {1}
    assert not Prediction.objects.filter(image__name="warm-up").exists()
