"""The compute path end to end: a job row, a real Celery worker process, stored maps."""

import time

import numpy as np
import pytest

from catalogue.demo_data import demo_image_path
from catalogue.models import ImageSet
from catalogue.services import image_create
from explain.models import ComputeJob, Prediction, SaliencyMap
from study.models import Study
from study.services import study_maps_compute

pytestmark = pytest.mark.worker


def _wait_for(job: ComputeJob, worker, timeout: float = 600) -> ComputeJob:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.finished_at:
            return job
        if worker.poll() is not None:
            pytest.fail(f"the worker died:\n{worker.log_path.read_text()}")
        time.sleep(1)
    pytest.fail(f"job not finished after {timeout} s:\n{worker.log_path.read_text()[-3000:]}")


@pytest.fixture
def chelsea_study(transactional_db, default_model):
    image_set = ImageSet.objects.create(name="cats")
    path = demo_image_path("skimage:chelsea.png")
    image_create(
        image_set=image_set,
        name="chelsea",
        content=path.read_bytes(),
        filename=path.name,
        class_index=285,
        class_name="Egyptian cat",
    )
    study = Study.objects.create(
        slug="cats", title="Cats", image_set=image_set, methods=["integrated_gradients", "xrai"]
    )
    study.model_specs.add(default_model)
    return study


def test_the_worker_computes_predictions_and_pair_default_maps_once(chelsea_study, celery_worker_process):
    job = _wait_for(study_maps_compute(study=chelsea_study), celery_worker_process)
    assert job.status == ComputeJob.Status.DONE, job.errors
    assert (job.done_count, job.failed_count, job.total) == (1, 0, 1)

    prediction = Prediction.objects.get()
    assert prediction.top5[0]["name"] in {"Egyptian cat", "tabby", "tiger cat"}
    xrai = SaliencyMap.objects.get(method="xrai")
    ig = SaliencyMap.objects.get(method="integrated_gradients")
    assert xrai.params["steps"] == 100 and xrai.params["baselines"] == ["min", "max"]
    assert ig.params["steps"] == 25 and ig.params["baseline"] == "zeros"
    for saliency_map in (xrai, ig):
        values = saliency_map.map_array()
        assert values.shape == (224, 224) and np.isfinite(values).all() and values.std() > 0
        assert saliency_map.target_class == 285
        assert saliency_map.versions["torch"] and saliency_map.weights_sha256 == prediction.weights_sha256
    assert len(xrai.details["integrated_gradients"]) == 2
    assert 0 <= ig.details["completeness_gap"] < 1
    ranks = xrai.ranks_array()
    assert ranks.min() == 1 and ranks.max() == xrai.details["n_regions"]

    # A second job for the same study finds every map stored and adds none.
    again = _wait_for(study_maps_compute(study=chelsea_study), celery_worker_process)
    assert again.status == ComputeJob.Status.DONE
    assert SaliencyMap.objects.count() == 2 and Prediction.objects.count() == 1


def test_a_failing_unit_is_recorded_with_its_error(chelsea_study, celery_worker_process):
    chelsea_study.method_params = {"integrated_gradients": {"rule": "simpson"}}
    chelsea_study.methods = ["integrated_gradients"]
    chelsea_study.save()
    # The rule is checked by the engine, inside the worker: the job must say why it failed.
    job = _wait_for(study_maps_compute(study=chelsea_study), celery_worker_process)
    assert job.status == ComputeJob.Status.FAILED and job.failed_count == 1
    assert "unknown rule 'simpson'" in job.errors[0]


def test_the_worker_runs_the_studys_faithfulness_diagnostics(chelsea_study, celery_worker_process):
    from explain import diagnostic_settings as ds
    from explain.models import DiagnosticResult
    from research.faithfulness import diagnostics_summary, study_diagnostics, study_diagnostics_compute

    chelsea_study.methods = ["integrated_gradients"]
    chelsea_study.diagnostics = {
        "insertion_deletion": {"step": 224 * 28},
        "randomisation": {"evaluated_steps": 2},
        "perturbation_epsilon": {"patch_size": 56},
    }
    chelsea_study.save()
    chelsea_study.image_set.images.update(ground_truth_boxes=[[100, 50, 300, 280]])
    job = _wait_for(study_diagnostics_compute(study=chelsea_study), celery_worker_process)
    assert job.status == ComputeJob.Status.DONE, job.errors
    # No participant has painted: the checks of the IG map only, randomisation included.
    assert sorted(DiagnosticResult.objects.values_list("check_name", flat=True)) == sorted(ds.CHECKS)
    summary = diagnostics_summary(study_diagnostics(study=chelsea_study))
    (ig,) = summary
    # Lite0 calls chelsea an Egyptian cat with ~0.8 confidence: scored, or skipped with a reason.
    assert ig["sic"]["count"] + sum(ig["sic"]["skipped"].values()) == 1
    assert 0 <= ig["insertion"]["mean"] <= 1 and 0 <= ig["pixel_auc"]["mean"] <= 1
    assert [step["layers_randomised"] for step in ig["randomisation"]][0] == 1
