"""The study's faithfulness diagnostics through the compute path (research.faithfulness,
explain.diagnostic_services), on the painted study (tests/research/conftest.py): stored IG maps
for img0 and img1, participants' maps for img0-img2, the packaged EfficientNet-Lite0. The units
run in this process here; tests/explain/test_compute_with_worker.py runs one in a real worker.
The metrics' arithmetic is tested against hand-computed cases and Quantus in tests/analysis/;
this checks what is stored, reused and shown."""

import io
import math

import numpy as np
import pytest

from analysis.faithfulness.summary import pic_curves
from analysis.pic import DEFAULT_THRESHOLDS
from explain import diagnostic_settings as ds
from explain.diagnostic_services import human_map_key
from explain.models import ComputeUnit, DiagnosticResult, ModelSpec, Prediction, SaliencyMap
from explain.services import image_unit_compute
from research import faithfulness
from research.inputs import human_mean

FAST = {
    # 5 points per curve and 2 steps of the cascade: the curves' arithmetic is tested in analysis/
    "insertion_deletion": {"step": 224 * 56},
    "randomisation": {"images": 1, "evaluated_steps": 2},
    "perturbation_epsilon": {"patch_size": 56},
    # Lite0 is not confident on the generated images: no floor, so that PIC scores some of them;
    # 3 thresholds instead of 13 (PAIR's curves are tested in tests/analysis/test_pic.py)
    "pic": {"min_pred_value": 0.0, "thresholds": [0.05, 0.21, 0.5]},
}


def run_units(job) -> None:
    for unit_id in job.units.order_by("pk").values_list("pk", flat=True):
        assert image_unit_compute(unit_id=unit_id) == ComputeUnit.Status.DONE, job.units.get(pk=unit_id).error


@pytest.fixture
def diagnosed(painted_study, django_capture_on_commit_callbacks):
    study = painted_study.study
    study.methods, study.method_params, study.diagnostics = ["integrated_gradients"], {}, FAST
    study.save()
    images = study.image_set.images
    images.filter(name="img0").update(ground_truth_boxes=[[30, 20, 90, 60]])
    with django_capture_on_commit_callbacks():  # the job's enqueue is not sent: units run below
        job = faithfulness.study_diagnostics_compute(study=study)
    run_units(job)
    return study, job


def test_every_check_is_stored_for_each_map_and_the_human_mean(diagnosed):
    study, job = diagnosed
    assert job.diagnostics == ds.diagnostic_settings(FAST)
    assert job.randomisation_image_ids == [study.image_set.images.get(name="img0").pk]
    stored = DiagnosticResult.objects.all()
    by_key = {(r.image.name, r.subject, r.check_name) for r in stored}
    for name in ("img0", "img1", "img2"):
        for subject in ("integrated_gradients", ds.HUMAN_MEAN):
            for check in (ds.PIC, ds.INSERTION_DELETION, ds.LOCALISATION, ds.PERTURBATION_EPSILON):
                assert (name, subject, check) in by_key
    # Randomisation only on the sampled image, only for methods.
    assert {(r.image.name, r.subject) for r in stored.filter(check_name=ds.RANDOMISATION)} == {
        ("img0", "integrated_gradients")
    }
    # The human mean's key is its current map.
    img1 = study.image_set.images.get(name="img1")
    human = stored.get(image=img1, subject=ds.HUMAN_MEAN, check_name=ds.PIC)
    assert human.map_key == human_map_key(human_mean(study=study, image=img1)[0])
    # The missing IG map of img2 was computed first.
    assert SaliencyMap.objects.filter(image__name="img2", method="integrated_gradients").exists()


def test_a_second_job_reuses_every_result(diagnosed, django_capture_on_commit_callbacks):
    study, _ = diagnosed
    before = {r.pk: r.created_at for r in DiagnosticResult.objects.all()}
    with django_capture_on_commit_callbacks():
        job = faithfulness.study_diagnostics_compute(study=study)
    run_units(job)
    assert {r.pk: r.created_at for r in DiagnosticResult.objects.all()} == before


def test_changing_one_checks_parameters_recomputes_only_that_check(
    diagnosed, django_capture_on_commit_callbacks
):
    study, _ = diagnosed
    counts = {c: DiagnosticResult.objects.filter(check_name=c).count() for c in ds.CHECKS}
    study.diagnostics = {**FAST, "perturbation_epsilon": {"patch_size": 56, "epsilon": 0.5}}
    study.save()
    with django_capture_on_commit_callbacks():
        run_units(faithfulness.study_diagnostics_compute(study=study))
    after = {c: DiagnosticResult.objects.filter(check_name=c).count() for c in ds.CHECKS}
    assert after[ds.PERTURBATION_EPSILON] == 2 * counts[ds.PERTURBATION_EPSILON]
    assert {c: after[c] for c in ds.CHECKS if c != ds.PERTURBATION_EPSILON} == {
        c: counts[c] for c in ds.CHECKS if c != ds.PERTURBATION_EPSILON
    }


def test_rows_summaries_and_csv(diagnosed):
    study, _ = diagnosed
    found = faithfulness.study_diagnostics(study=study)
    rows = {(r["image"], r["subject"]): r for r in found["rows"]}
    assert set(rows) == {
        (i, s) for i in ("img0", "img1", "img2") for s in ("integrated_gradients", ds.HUMAN_MEAN)
    }
    img0 = rows["img0", "integrated_gradients"]
    assert (
        img0["pixel_auc"] != "" and rows["img1", "integrated_gradients"]["pixel_auc"] == ""
    )  # truth on img0 only
    assert 0 <= img0["insertion_auc"] <= 1 and 0 <= img0["deletion_auc"] <= 1
    assert img0["epsilon"] == 0.1 and img0["patches"] == 16  # (224 / 56) ** 2
    for row in found["rows"]:
        for kind in ("sic", "aic"):  # scored, or skipped with PAIR's reason
            assert (row[f"{kind}_auc"] != "" and not math.isnan(row[f"{kind}_auc"])) != bool(
                row[f"{kind}_skipped"]
            )
    steps = [r for r in found["randomisation"]]
    assert [r["layers_randomised"] for r in steps] == [1, steps[-1]["layers_total"]]
    assert steps[0]["layer"] and -1 <= steps[-1]["spearman"] <= 1

    summary = {(e["model"], e["subject"]): e for e in faithfulness.diagnostics_summary(found)}
    assert list(summary) == [
        ("efficientnet-lite0", "integrated_gradients"),
        ("efficientnet-lite0", ds.HUMAN_MEAN),
    ]
    ig = summary["efficientnet-lite0", "integrated_gradients"]
    assert ig["images"] == 3
    scored = [
        r["sic_auc"] for r in found["rows"] if r["subject"] == "integrated_gradients" and r["sic_auc"] != ""
    ]
    assert ig["sic"]["count"] == len(scored) and sum(ig["sic"]["skipped"].values()) == 3 - len(scored)
    # The median curve's area from the images' own areas: one curve is its own median, the
    # median of two is their mean (area is linear); three lie between their pointwise extremes.
    if len(scored) == 0:
        assert math.isnan(ig["sic"]["auc"])
    elif len(scored) in (1, 2):
        assert ig["sic"]["auc"] == pytest.approx(np.mean(scored), abs=1e-12)
    else:
        points = [
            (
                r["_checks"]["pic"]["sic"]["normalized_entropies"],
                r["_checks"]["pic"]["sic"]["normalized_predictions"],
            )
            for r in found["rows"]
            if r["subject"] == "integrated_gradients"
        ]
        curve_x, curves = pic_curves(points)
        low, high = np.trapezoid(curves.min(axis=0), curve_x), np.trapezoid(curves.max(axis=0), curve_x)
        assert low - 1e-12 <= ig["sic"]["auc"] <= high + 1e-12
    assert ig["insertion"]["mean"] == pytest.approx(
        np.mean([r["insertion_auc"] for r in found["rows"] if r["subject"] == "integrated_gradients"])
    )
    assert [s["layers_randomised"] for s in ig["randomisation"]] == [1, steps[-1]["layers_total"]]

    out = io.StringIO()
    assert faithfulness.write_diagnostics_csv(out=out, diagnostics=found) == 6
    header = out.getvalue().splitlines()[0].split(",")
    assert header == faithfulness.DIAGNOSTIC_COLUMNS


def test_a_changed_human_mean_hides_its_old_results(diagnosed):
    study, _ = diagnosed
    participant = study.participants.filter(finished_at__isnull=False).first()
    participant.excluded, participant.exclusion_reason = True, "test"
    participant.save()
    found = faithfulness.study_diagnostics(study=study)
    assert {r["subject"] for r in found["rows"]} == {"integrated_gradients"}


def test_settings_name_bad_values():
    with pytest.raises(ValueError, match="unknown diagnostics"):
        ds.diagnostic_settings({"pics": {}})
    with pytest.raises(ValueError, match="unknown parameters for pic"):
        ds.diagnostic_settings({"pic": {"steps": 3}})
    with pytest.raises(ValueError, match="pic.thresholds must increase"):
        ds.diagnostic_settings({"pic": {"thresholds": [0.5, 0.1]}})
    with pytest.raises(ValueError, match="randomisation.evaluated_steps must be at least 2"):
        ds.diagnostic_settings({"randomisation": {"evaluated_steps": 1}})
    assert ds.diagnostic_settings()["pic"]["thresholds"] == list(DEFAULT_THRESHOLDS)


def test_results_of_another_target_class_are_not_shown(diagnosed):
    study, _ = diagnosed
    assert {r["target_class"] for r in faithfulness.study_diagnostics(study=study)["rows"]} == {285}
    # Now the maps explain the predicted class: only images predicted as 285 keep their results
    # (the fixture's hand-made prediction of img0 says 285; Lite0 calls no gradient an Egyptian cat).
    predicted = {
        p.image.name: p.top5[0]["index"] for p in Prediction.objects.filter(image__image_set=study.image_set)
    }
    study.target_policy = "predicted"
    study.save()
    kept = {r["image"] for r in faithfulness.study_diagnostics(study=study)["rows"]}
    assert kept == {
        name for name, index in predicted.items() if index == 285 and name in ("img0", "img1", "img2")
    }
    assert kept != {"img0", "img1", "img2"}


def test_the_time_estimate_is_the_missing_results_times_earlier_medians(diagnosed):
    study, _ = diagnosed
    assert faithfulness.diagnostics_time_estimate(
        study=study, diagnostics=faithfulness.study_diagnostics(study=study), randomisation_images=1
    ) == {"seconds": 0.0, "unknown": [], "text": "0 s"}
    # A new ε: every Perturbation-ε result is missing, each expected to take its map's median.
    study.diagnostics = {**FAST, "perturbation_epsilon": {"patch_size": 56, "epsilon": 0.5}}
    study.save()
    expected = 0.0
    for subject in ("integrated_gradients", ds.HUMAN_MEAN):
        runtimes = sorted(
            DiagnosticResult.objects.filter(check_name=ds.PERTURBATION_EPSILON, subject=subject).values_list(
                "runtime_s", flat=True
            )
        )
        assert len(runtimes) == 3
        expected += 3 * runtimes[1]
    estimate = faithfulness.diagnostics_time_estimate(
        study=study, diagnostics=faithfulness.study_diagnostics(study=study), randomisation_images=1
    )
    assert estimate["unknown"] == [] and estimate["seconds"] == pytest.approx(expected)
    # A model with no earlier result: unknown, named.
    other = ModelSpec.objects.create(name="other", source=ModelSpec.Source.EFFICIENTNET_LITE1)
    study.model_specs.add(other)
    estimate = faithfulness.diagnostics_time_estimate(
        study=study, diagnostics=faithfulness.study_diagnostics(study=study), randomisation_images=1
    )
    assert estimate["seconds"] is None and "other · pic of integrated_gradients" in estimate["unknown"]
