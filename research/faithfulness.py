"""The study's faithfulness diagnostics (issue 15): queue them, read them back, summarise them.

Queuing records a compute job whose units compute the maps (if missing) and then the study's
checks (``Study.diagnostics``, explain.diagnostic_settings) of every map, plus the
participants' mean map of each image (default analysis filters) as one more subject,
``human_mean``; the randomisation test runs on the first ``randomisation.images`` main images
by name. Reading selects, for the study's models, methods (at the study's parameters), current
human means and current check parameters, the stored ``DiagnosticResult`` rows: a result of
other parameters, or of a human mean that has changed since (new or excluded maps), is not
shown; the page says how many are missing.

One row per image x model x subject (``DIAGNOSTIC_COLUMNS``) and one per evaluated step of
the randomisation cascade (``RANDOMISATION_COLUMNS``) feed the page's tables, its CSV
downloads, the exports and the API alike."""

from __future__ import annotations

import csv
import math
import statistics
from collections import defaultdict
from typing import TextIO

from analysis.faithfulness.summary import median_curve, pic_summary, score_summary
from explain import diagnostic_settings as ds
from explain.diagnostic_services import human_map_key
from explain.models import ComputeJob, DiagnosticResult, Prediction
from explain.saliency.registry import params_hash
from explain.selectors import diagnostic_runtime_medians, format_duration
from explain.services import image_explained_classes
from research.inputs import analysed_annotations, human_mean
from study.models import Study
from study.services import study_compute_images, study_maps_compute

RANDOMISATION_PASS_BELOW = 0.5  # Spearman with the original map once every layer is re-initialised

DIAGNOSTIC_COLUMNS = [
    "image",
    "model",
    "subject",  # a method, or human_mean
    "target_class",
    "sic_auc",
    "sic_skipped",  # why PIC could not score the image (analysis.pic's reasons)
    "aic_auc",
    "aic_skipped",
    "insertion_auc",  # higher is better
    "deletion_auc",  # lower is better
    "pixel_auc",  # localisation against the ground truth; empty without one
    "f1",
    "mae",
    "pointing_game",
    "epsilon",  # the study's ε for Perturbation-ε
    "violation_share",  # share of patches with attribution < ε · Δy (lower is better)
    "largest_epsilon",  # largest ε the map satisfies; "inf": no patch bounds it; empty: none
    "patches",
]
RANDOMISATION_COLUMNS = [
    "image",
    "model",
    "method",
    "target_class",
    "step",
    "layer",  # the last layer re-initialised, counting from the logits
    "layers_randomised",
    "layers_total",
    "spearman",
    "spearman_abs",
    "ssim",
]


def study_diagnostics_images(study: Study):
    return study_compute_images(study).order_by("name")


def randomisation_image_ids(study: Study, settings: dict) -> list[int]:
    """The first ``randomisation.images`` main images (not variants) by name."""
    count = settings[ds.RANDOMISATION]["images"] if settings[ds.RANDOMISATION]["enabled"] else 0
    images = study_diagnostics_images(study).filter(variant_of=None)
    return list(images.values_list("pk", flat=True)[:count])


def human_means(study: Study) -> dict[int, object]:
    """Image id -> the participants' mean map (default filters), for images that have one."""
    means = {}
    for image in study_diagnostics_images(study):
        mean, _ = human_mean(study=study, image=image)
        if mean is not None:
            means[image.pk] = mean
    return means


def study_diagnostics_compute(*, study: Study) -> ComputeJob:
    """Record and queue a job: the study's maps and their faithfulness diagnostics."""
    settings = study.diagnostic_settings()
    if not ds.enabled_checks(settings):
        raise ValueError(f"study {study.slug} has every diagnostic switched off (its diagnostics setting)")
    return study_maps_compute(
        study=study,
        diagnostics=settings,
        randomisation_image_ids=randomisation_image_ids(study, settings),
        human_means=human_means(study) if settings[ds.HUMAN_MEAN] else None,
    )


# --- reading ---------------------------------------------------------------------------------


def _explained_targets(study: Study, images) -> dict[tuple[int, int], int]:
    """(image id, model id) -> the class the diagnostics judge now: the first class the study's
    target policy explains, from the stored prediction (none stored: no result is current)."""
    predictions = Prediction.objects.filter(
        image__in=images, model__in=study.model_specs.all()
    ).select_related("image")
    return {
        (p.image_id, p.model_id): image_explained_classes(p.image, p, study.target_policy)[0]
        for p in predictions
        if p.top5  # a prediction stored without classes explains nothing
    }


def _current_results(study: Study) -> tuple[list[DiagnosticResult], dict]:
    """The stored results that match the study now, and what was looked for."""
    settings = study.diagnostic_settings()
    hashes = {
        check: ds.check_settings_hash(check, ds.check_parameters(settings, check))
        for check in ds.enabled_checks(settings)
    }
    map_keys = {method: params_hash(params) for method, params in study.full_method_params().items()}
    images = study_diagnostics_images(study)
    human_images = (
        set(
            analysed_annotations(study=study)
            .filter(trial__image__in=images)
            .values_list("trial__image_id", flat=True)
            .distinct()
        )
        if settings[ds.HUMAN_MEAN]
        else set()
    )
    candidates = list(
        DiagnosticResult.objects.filter(
            image__in=images,
            model__in=study.model_specs.all(),
            subject__in=[*map_keys, ds.HUMAN_MEAN],
            check_name__in=list(hashes),
            settings_hash__in=list(hashes.values()),
        )
        .select_related("image", "model")
        .order_by("image__name", "model__name", "subject", "check_name")
    )
    # The means (every painted map decoded) only when there are human results to match them to.
    human_keys = {}
    if human_images and any(result.subject == ds.HUMAN_MEAN for result in candidates):
        human_keys = {image_id: human_map_key(mean) for image_id, mean in human_means(study).items()}
    targets = _explained_targets(study, images)
    results = [
        result
        for result in candidates
        if hashes[result.check_name] == result.settings_hash
        and targets.get((result.image_id, result.model_id)) == result.target_class
        and (
            human_keys.get(result.image_id) == result.map_key
            if result.subject == ds.HUMAN_MEAN
            else map_keys[result.subject] == result.map_key
        )
    ]
    expected = {
        "images": images.count(),
        "models": study.model_specs.count(),
        "subjects": [*map_keys, *([ds.HUMAN_MEAN] if human_images else [])],
        "human_images": len(human_images),
    }
    return results, {"settings": settings, **expected}


def expected_rows(diagnostics: dict) -> int:
    """The rows a complete run stores: image x model x method, and image x model for each image
    with a human mean."""
    methods = [subject for subject in diagnostics["subjects"] if subject != ds.HUMAN_MEAN]
    return diagnostics["models"] * (diagnostics["images"] * len(methods) + diagnostics["human_images"])


def _number(value) -> float:
    return float("nan") if value is None else float(value)


def _row(image, model, subject: str, target: int, results: dict[str, dict]) -> dict:
    row = dict.fromkeys(DIAGNOSTIC_COLUMNS, "")
    row.update(image=image.name, model=model.name, subject=subject, target_class=target)
    pic = results.get(ds.PIC)
    if pic is not None:
        for kind in ("sic", "aic"):
            row[f"{kind}_auc"] = "" if pic[kind]["auc"] is None else pic[kind]["auc"]
            row[f"{kind}_skipped"] = pic[kind]["skipped"] or ""
    curves = results.get(ds.INSERTION_DELETION)
    if curves is not None:
        row["insertion_auc"] = curves["insertion"]["auc"]
        row["deletion_auc"] = curves["deletion"]["auc"]
    located = results.get(ds.LOCALISATION)
    if located is not None and not located["skipped"]:
        row.update({key: _number(located[key]) for key in ("pixel_auc", "f1", "mae", "pointing_game")})
    axiom = results.get(ds.PERTURBATION_EPSILON)
    if axiom is not None:
        row["epsilon"] = axiom["epsilon"]
        if not axiom["skipped"]:
            row["violation_share"] = axiom["violation_share"]
            unbounded = axiom["largest_epsilon_unbounded"]
            row["largest_epsilon"] = math.inf if unbounded else _number(axiom["largest_epsilon"])
            row["patches"] = axiom["features"]
    return row


def study_diagnostics(*, study: Study) -> dict:
    """Everything the page, the CSVs, the exports and the API show: ``rows`` (one per image x
    model x subject), ``randomisation`` rows, the raw ``curves`` (PIC points and
    insertion/deletion curves per row), the ``settings`` and the ``expected`` counts."""
    results, expected = _current_results(study)
    grouped: dict[tuple, dict[str, dict]] = defaultdict(dict)
    keys = {}
    for result in results:
        key = (result.image.name, result.model.name, result.subject)
        grouped[key][result.check_name] = result.result
        keys[key] = (result.image, result.model, result.target_class)
    rows, randomisation = [], []
    for key in sorted(grouped):
        image, model, target = keys[key]
        checks = grouped[key]
        row = _row(image, model, key[2], target, checks)
        row["_checks"] = checks  # the curves, for summaries; not a CSV column
        rows.append(row)
        for step, found in enumerate((checks.get(ds.RANDOMISATION) or {}).get("steps", []), start=1):
            randomisation.append(
                {
                    "image": image.name,
                    "model": model.name,
                    "method": key[2],
                    "target_class": target,
                    "step": step,
                    **{column: found.get(column) for column in RANDOMISATION_COLUMNS[5:]},
                }
            )
    return {"rows": rows, "randomisation": randomisation, **expected}


def diagnostics_summary(diagnostics: dict) -> list[dict]:
    """One entry per model x subject (methods in the study's order, the human mean last): PIC
    median curves with AUC intervals, skipped counts by reason, mean insertion / deletion AUC
    with intervals and median curves, mean localisation scores, Perturbation-ε (mean violation
    share, median largest ε), the randomisation's mean similarities per evaluated step and
    whether the method passes (mean Spearman after the full cascade below 0.5)."""
    by_group: dict[tuple, list[dict]] = defaultdict(list)
    for row in diagnostics["rows"]:
        by_group[row["model"], row["subject"]].append(row)
    steps: dict[tuple, dict[int, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for row in diagnostics["randomisation"]:
        steps[row["model"], row["method"]][row["layers_randomised"]].append(row)
    order = {subject: index for index, subject in enumerate(diagnostics["subjects"])}
    summary = []
    for (model, subject), rows in sorted(
        by_group.items(), key=lambda item: (item[0][0], order.get(item[0][1], 99))
    ):
        entry = {"model": model, "subject": subject, "images": len(rows)}
        for kind in ("sic", "aic"):
            points = [
                (
                    r["_checks"][ds.PIC][kind]["normalized_entropies"],
                    r["_checks"][ds.PIC][kind]["normalized_predictions"],
                )
                for r in rows
                if ds.PIC in r["_checks"] and r["_checks"][ds.PIC][kind]["auc"] is not None
            ]
            entry[kind] = pic_summary(points)
            skipped = defaultdict(int)
            for r in rows:
                if r[f"{kind}_skipped"]:
                    skipped[r[f"{kind}_skipped"]] += 1
            entry[kind]["skipped"] = dict(skipped)
        for kind in ("insertion", "deletion"):
            entry[kind] = score_summary([r[f"{kind}_auc"] for r in rows if r[f"{kind}_auc"] != ""])
            curves = [
                r["_checks"][ds.INSERTION_DELETION][kind]
                for r in rows
                if ds.INSERTION_DELETION in r["_checks"]
            ]
            same = [c for c in curves if curves and c["fractions"] == curves[0]["fractions"]]
            entry[kind]["curve_x"] = same[0]["fractions"] if same else []
            entry[kind]["curve_y"] = median_curve([c["scores"] for c in same])
        for column in ("pixel_auc", "f1", "mae", "pointing_game"):
            entry[column] = score_summary([r[column] for r in rows if r[column] != ""])
        entry["violation_share"] = score_summary(
            [r["violation_share"] for r in rows if r["violation_share"] != ""]
        )
        # inf: no patch bounds ε; a map that satisfies the axiom at no ε (NaN) ranks below all.
        largest = [
            -math.inf if math.isnan(r["largest_epsilon"]) else r["largest_epsilon"]
            for r in rows
            if r["largest_epsilon"] != ""
        ]
        entry["largest_epsilon_median"] = statistics.median_low(largest) if largest else float("nan")
        entry["epsilon"] = next((r["epsilon"] for r in rows if r["epsilon"] != ""), "")
        cascade = steps.get((model, subject), {})
        entry["randomisation"] = [
            {
                "layers_randomised": count,
                "layer": found[0]["layer"],
                "layers_total": found[0]["layers_total"],
                "images": len(found),
                **{
                    measure: score_summary([f[measure] for f in found])["mean"]
                    for measure in ("spearman", "spearman_abs", "ssim")
                },
            }
            for count, found in sorted(cascade.items())
        ]
        last = entry["randomisation"][-1]["spearman"] if entry["randomisation"] else float("nan")
        entry["randomisation_passes"] = None if math.isnan(last) else bool(last < RANDOMISATION_PASS_BELOW)
        summary.append(entry)
    return summary


# --- CSV -------------------------------------------------------------------------------------


def _cell(value) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return "inf" if math.isinf(value) else f"{value:.6g}"
    return str(value)


def write_diagnostics_csv(*, out: TextIO, diagnostics: dict) -> int:
    """One row per image x model x subject; returns the number of rows."""
    writer = csv.writer(out)
    writer.writerow(DIAGNOSTIC_COLUMNS)
    for row in diagnostics["rows"]:
        writer.writerow([_cell(row[column]) for column in DIAGNOSTIC_COLUMNS])
    return len(diagnostics["rows"])


def write_randomisation_csv(*, out: TextIO, diagnostics: dict) -> int:
    """One row per image x model x method x evaluated step of the cascade."""
    writer = csv.writer(out)
    writer.writerow(RANDOMISATION_COLUMNS)
    for row in diagnostics["randomisation"]:
        writer.writerow([_cell(row[column]) for column in RANDOMISATION_COLUMNS])
    return len(diagnostics["randomisation"])


# --- for the results page --------------------------------------------------------------------

ROW_CHECKS = (ds.PIC, ds.INSERTION_DELETION, ds.LOCALISATION, ds.PERTURBATION_EPSILON)


def diagnostics_missing(diagnostics: dict, *, randomisation_images: int) -> dict:
    """How many of the expected results are not stored (or not current): each enabled check of
    every image x model x subject (the human mean only for images with one), and the
    randomisation test of each sampled image x model x method."""
    settings = diagnostics["settings"]
    checks = [check for check in ROW_CHECKS if settings[check]["enabled"]]
    methods = [s for s in diagnostics["subjects"] if s != ds.HUMAN_MEAN]
    expected = expected_rows(diagnostics) * len(checks)
    found = sum(check in row["_checks"] for row in diagnostics["rows"] for check in checks)
    if settings[ds.RANDOMISATION]["enabled"]:
        expected += diagnostics["models"] * len(methods) * randomisation_images
        found += sum(ds.RANDOMISATION in row["_checks"] for row in diagnostics["rows"])
    return {"expected": expected, "found": found, "missing": max(0, expected - found)}


def settings_in_words(settings: dict) -> list[dict]:
    """The study's resolved diagnostics, one plain sentence per check, for the compute page."""
    pic, curves = settings[ds.PIC], settings[ds.INSERTION_DELETION]
    axiom, cascade = settings[ds.PERTURBATION_EPSILON], settings[ds.RANDOMISATION]
    step = "input pixels ÷ 224 pixels" if curves["step"] is None else f"{curves['step']} pixels"
    words = {
        ds.PIC: (
            f"PIC (SIC and AIC): reveal the map's top pixels on a blurred image at {len(pic['thresholds'])} "
            f"thresholds ({', '.join(f'{t:g}' for t in pic['thresholds'])}); images the model is less than "
            f"{pic['min_pred_value']:g} confident on are skipped"
        ),
        ds.INSERTION_DELETION: f"Insertion and deletion curves: {step} per step",
        ds.LOCALISATION: "Localisation against each image's ground truth (mask or boxes), where it has one",
        ds.PERTURBATION_EPSILON: (
            f"Perturbation-ε: square patches of {axiom['patch_size']} pixels of the model's input removed "
            f"to the image's mean colour, ε = {axiom['epsilon']:g}"
        ),
        ds.RANDOMISATION: (
            f"Randomisation (cascading, Adebayo et al. 2018) on the first {cascade['images']} main "
            f"image(s) by name: the map recomputed at {cascade['evaluated_steps']} steps of the cascade "
            f"(seed {cascade['seed']})"
        ),
    }
    return [
        {"check": check, "enabled": settings[check]["enabled"], "text": words[check]} for check in ds.CHECKS
    ]


def diagnostics_time_estimate(*, study: Study, diagnostics: dict, randomisation_images: int) -> dict:
    """The time the missing results should take: per model, check and map, the results not
    stored times the median runtime of that model's earlier results of that check and map
    (``explain.selectors.diagnostic_runtime_medians``). ``seconds`` is None, and ``unknown``
    names the pairs, where a model has no earlier result of a check for a map. Maps computed
    first are not in it (the map estimate covers them)."""
    settings = diagnostics["settings"]
    specs = list(study.model_specs.order_by("name"))
    medians = diagnostic_runtime_medians(model_ids=[spec.pk for spec in specs])
    found = defaultdict(int)
    for row in diagnostics["rows"]:
        for check in row["_checks"]:
            found[row["model"], check, row["subject"]] += 1
    seconds, unknown = 0.0, []
    for spec in specs:
        for subject in diagnostics["subjects"]:
            human = subject == ds.HUMAN_MEAN
            for check in ds.enabled_checks(settings):
                if check == ds.RANDOMISATION:
                    if human:
                        continue
                    expected = randomisation_images
                else:
                    expected = diagnostics["human_images"] if human else diagnostics["images"]
                missing = max(0, expected - found[spec.name, check, subject])
                if not missing:
                    continue
                median = medians.get((spec.pk, check, subject))
                if median is None:
                    unknown.append(f"{spec.name} · {check} of {subject}")
                else:
                    seconds += missing * median
    return {"seconds": None if unknown else seconds, "unknown": unknown, "text": format_duration(seconds)}
