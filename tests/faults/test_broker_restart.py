"""Redis restarted (no persistence) while compute jobs are queued: every queued message is
gone, but the job and its units are in the database first, so nothing is lost. A worker
queues the pending units again whenever it (re)connects to an empty queue
(config.celery.RequeueLostUnits -> explain.requeue), and `manage.py requeue_pending` does
it by hand."""

import time
from collections import Counter

import pytest

from explain.models import ComputeJob, ComputeUnit, SaliencyMap
from study.models import Study
from tests.conftest import gradient_image_set
from tests.faults.conftest import django_env, run_manage, start_worker, wait_until

pytestmark = pytest.mark.worker


@pytest.fixture
def three_image_study(transactional_db, default_model):
    image_set = gradient_image_set("broker faults", 3, first_seed=10)
    study = Study.objects.create(
        slug="broker-faults", title="Broker faults", image_set=image_set, methods=["integrated_gradients"]
    )
    study.model_specs.add(default_model)
    return study


def _queue_length(redis_server) -> int:
    from django.conf import settings

    return redis_server.client().llen(settings.CELERY_TASK_DEFAULT_QUEUE)


def _finished(job: ComputeJob, timeout: float) -> None:
    def finished():
        job.refresh_from_db()
        return job.finished_at is not None

    wait_until(finished, timeout=timeout, what=f"compute job {job.pk} to finish")


def _assert_done_once_each(job: ComputeJob) -> None:
    assert job.status == ComputeJob.Status.DONE and job.done_count == job.total == 3, job.errors
    assert set(job.units.values_list("status", flat=True)) == {ComputeUnit.Status.DONE}
    keys = Counter(
        SaliencyMap.objects.values_list("image_id", "model_id", "method", "params_hash", "target_class")
    )
    assert len(keys) == 3 and set(keys.values()) == {1}


def test_jobs_queued_before_a_redis_restart_are_computed_by_the_next_worker(
    three_image_study, processes, private_redis, tmp_path
):
    env = django_env(CELERY_BROKER_URL=private_redis.url)
    run_manage("compute_maps", "--study", three_image_study.slug, env=env)  # no worker runs yet
    job = ComputeJob.objects.get(study=three_image_study)
    assert _queue_length(private_redis) == 1  # the job's fan-out message

    private_redis.restart()
    assert _queue_length(private_redis) == 0  # the message is gone with the restart
    restarted_at = time.monotonic()

    worker = start_worker(processes, tmp_path / "worker.log", env, "faults-broker")
    _finished(job, timeout=300)
    print(f"\nRedis restarted with a queued job: done {time.monotonic() - restarted_at:.1f} s later")
    assert "re-queued 3 pending compute unit(s)" in worker.log_path.read_text()
    _assert_done_once_each(job)
    assert set(job.units.values_list("attempts", flat=True)) == {1}


def test_a_redis_restart_under_a_running_worker_loses_no_unit(
    three_image_study, processes, private_redis, tmp_path
):
    env = django_env(CELERY_BROKER_URL=private_redis.url)
    worker = start_worker(processes, tmp_path / "worker.log", env, "faults-reconnect")
    run_manage("compute_maps", "--study", three_image_study.slug, env=env)
    job = ComputeJob.objects.get(study=three_image_study)
    wait_until(
        lambda: job.units.filter(status=ComputeUnit.Status.RUNNING).exists() and _queue_length(private_redis),
        timeout=180,
        interval=0.05,
        what="a running unit with the others queued",
    )

    private_redis.restart()  # the queued units' messages are gone; the worker reconnects
    restarted_at = time.monotonic()
    _finished(job, timeout=300)
    print(f"\nRedis restarted under a busy worker: job done {time.monotonic() - restarted_at:.1f} s later")
    log = worker.log_path.read_text()
    assert "re-queued" in log and worker.poll() is None
    _assert_done_once_each(job)


def test_requeue_pending_command_queues_every_pending_unit_again(three_image_study, private_redis):
    env = django_env(CELERY_BROKER_URL=private_redis.url)
    run_manage("compute_maps", "--study", three_image_study.slug, env=env)
    job = ComputeJob.objects.get(study=three_image_study)
    private_redis.restart()

    output = run_manage("requeue_pending", env=env)

    assert output.strip() == f"job {job.pk}: 3 pending unit(s) queued again"
    assert _queue_length(private_redis) == 1  # one fan-out task for the job's three units
