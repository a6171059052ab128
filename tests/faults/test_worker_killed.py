"""kill -9 of a Celery worker in the middle of a compute unit, with a real Redis broker:
the unit's message comes back, the unit is computed again and stored once.

Two ways a worker dies. The pool process alone (what the kernel's OOM killer picks: it
holds the model): the worker's main process sees it die and, with acks_late and
reject_on_worker_lost, hands the message back to Redis at once. The whole worker, main
process and pool (a lost machine or container): nobody acks or rejects, the message stays
in Redis's unacked set and comes back after the visibility timeout (settings:
CELERY_VISIBILITY_TIMEOUT_S, 3900 s in production; 15 s here)."""

import os
import signal
import time
from collections import Counter

import pytest

from explain.models import ComputeJob, ComputeUnit, SaliencyMap
from explain.saliency.registry import method_params, params_hash
from study.models import Study
from tests.conftest import gradient_image_set
from tests.faults.conftest import django_env, pool_children, run_manage, start_worker, wait_until

pytestmark = pytest.mark.worker


@pytest.fixture
def two_image_study(transactional_db, default_model):
    image_set = gradient_image_set("faults", 2)
    study = Study.objects.create(
        slug="faults", title="Faults", image_set=image_set, methods=["integrated_gradients"]
    )
    study.model_specs.add(default_model)
    return study


def _running_unit(job: ComputeJob) -> ComputeUnit:
    return wait_until(
        lambda: job.units.filter(status=ComputeUnit.Status.RUNNING).first(),
        timeout=180,
        interval=0.05,
        what="a unit to start running",
    )


def _finished(job: ComputeJob, timeout: float) -> ComputeJob:
    def finished():
        job.refresh_from_db()
        return job.finished_at is not None

    wait_until(finished, timeout=timeout, what=f"compute job {job.pk} to finish")
    return job


def _assert_each_map_stored_once(study: Study) -> None:
    params = method_params("integrated_gradients", None)
    expected = {
        (image.pk, model.pk, "integrated_gradients", params_hash(params), 285)
        for image in study.image_set.images.all()
        for model in study.model_specs.all()
    }
    stored = Counter(
        SaliencyMap.objects.values_list("image_id", "model_id", "method", "params_hash", "target_class")
    )
    assert set(stored) == expected and set(stored.values()) == {1}


def test_a_killed_pool_process_hands_its_unit_back_at_once(
    two_image_study, processes, private_redis, tmp_path
):
    env = django_env(CELERY_BROKER_URL=private_redis.url)
    worker = start_worker(processes, tmp_path / "worker.log", env, "faults-pool")
    run_manage("compute_maps", "--study", two_image_study.slug, env=env)
    job = ComputeJob.objects.get(study=two_image_study)

    victim = _running_unit(job)
    (pool_process,) = pool_children(worker.pid)
    os.kill(pool_process, signal.SIGKILL)
    killed_at = time.monotonic()

    _finished(job, timeout=300)
    recovery_s = time.monotonic() - killed_at
    print(f"\npool process killed: job finished {recovery_s:.1f} s later")
    assert worker.poll() is None, "the main process must survive its pool process"
    assert job.status == ComputeJob.Status.DONE and job.done_count == 2, job.errors
    attempts = dict(job.units.values_list("pk", "attempts"))
    assert attempts.pop(victim.pk) == 2  # begun, killed, delivered again
    assert set(attempts.values()) == {1}
    assert "WorkerLostError" in worker.log_path.read_text()
    _assert_each_map_stored_once(two_image_study)


def test_a_killed_worker_s_unit_comes_back_after_the_visibility_timeout(
    two_image_study, processes, private_redis, tmp_path
):
    visibility_s = 15
    env = django_env(
        CELERY_BROKER_URL=private_redis.url,
        CELERY_VISIBILITY_TIMEOUT_S=str(visibility_s),
        CELERY_RESTORE_INTERVAL_S="1",
    )
    first = start_worker(processes, tmp_path / "first-worker.log", env, "faults-first")
    queued_at = time.monotonic()  # the message cannot be delivered before it is queued
    run_manage("compute_maps", "--study", two_image_study.slug, env=env)
    job = ComputeJob.objects.get(study=two_image_study)

    victim = _running_unit(job)
    processes.kill(first)  # SIGKILL to the group: the main process and its pool process
    killed_at = time.monotonic()
    # Delivered but never acked: the message waits in Redis's unacked set, not lost.
    assert private_redis.client().hlen("unacked") == 1
    victim.refresh_from_db()
    assert victim.status == ComputeUnit.Status.RUNNING and victim.attempts == 1

    second = start_worker(processes, tmp_path / "second-worker.log", env, "faults-second")
    _finished(job, timeout=300)
    recovery_s = time.monotonic() - killed_at
    print(
        f"\nwhole worker killed: job finished {recovery_s:.1f} s later (visibility timeout {visibility_s} s)"
    )
    # Redis gives the message back a visibility timeout after it was delivered, which was
    # between queueing and the kill: so not before queued_at + visibility_s (the kill itself
    # can come later than the delivery, so recovery_s alone may be a little shorter)
    assert time.monotonic() - queued_at >= visibility_s
    assert job.status == ComputeJob.Status.DONE and job.done_count == 2, job.errors
    victim.refresh_from_db()
    assert victim.attempts == 2 and victim.status == ComputeUnit.Status.DONE
    assert private_redis.client().hlen("unacked") == 0
    assert second.poll() is None
    _assert_each_map_stored_once(two_image_study)
