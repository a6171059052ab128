"""Researcher exports, shared by the results page, the management commands and the API:
the tidy agreement CSV, the per-image CSV, the participant x image CSV and the study ZIP
(human mean maps, model maps, manifest). Each carries how it was made: the analysis
parameters (with the results page's filters, where they apply) and the code version, and,
for model-derived data, the method parameters and weights hash (as columns in the CSVs, in
manifest.json in the ZIP)."""

import csv
import io
import json
import math
import re
import zipfile
from functools import partial
from typing import BinaryIO, TextIO

import numpy as np
from django.utils import timezone

from analysis import codec
from config.version import code_version
from explain import diagnostic_settings as ds
from explain.models import SaliencyMap
from explain.normalisation import default_normalisation
from explain.services import json_safe
from research.faithfulness import (
    DIAGNOSTIC_COLUMNS,
    RANDOMISATION_COLUMNS,
    RANDOMISATION_PASS_BELOW,
    diagnostics_summary,
    expected_rows,
    study_diagnostics,
    write_diagnostics_csv,
    write_randomisation_csv,
)
from research.inputs import (
    ANALYSIS_PARAMS,
    NO_FILTERS,
    AnalysisFilters,
    analysis_params,
    human_mean,
    study_saliency_maps,
)
from research.selectors import agreement_rows, image_rows, participant_trial_rows
from study.models import Study

COLUMNS = [
    "study",
    "image",
    "image_sha256",
    "class_name",
    "original",  # variants: the original whose human mean they are scored against; empty for originals
    "corruption",
    "severity",
    "model",
    "method",
    "target_class",
    "target",  # shape / texture (cue conflict), label or predicted
    "n_participants",
    "metric",
    "value",
    "method_params",
    "weights_sha256",
    "analysis_params",
    "code_version",
]


def write_agreement_csv(*, study: Study, out: TextIO, filters: AnalysisFilters = NO_FILTERS) -> int:
    """Write one row per image x model x method x metric; return the number of rows."""
    writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    params = json.dumps(analysis_params(filters), sort_keys=True)
    version = code_version()
    rows = agreement_rows(study=study, filters=filters)
    for row in rows:
        writer.writerow(
            {
                **row,
                "value": f"{row['value']:.6g}",
                "analysis_params": params,
                "code_version": version,
            }
        )
    return len(rows)


IMAGE_COLUMNS = [
    "study",
    "image",
    "image_sha256",
    "class_name",
    "n_annotations",
    "human_coverage",
    "ceiling_split_half",
    "ceiling_spearman_brown",
    "model",
    "method",
    "target_class",
    "spearman",
    "spearman_normalised",
    "method_params",
    "weights_sha256",
    "analysis_params",
    "code_version",
]
IMAGE_NUMBER_COLUMNS = (
    "human_coverage",
    "ceiling_split_half",
    "ceiling_spearman_brown",
    "spearman",
    "spearman_normalised",
)


def _number(value: float) -> str:
    """Six significant digits; empty when there is no value (no ceiling, no model map)."""
    return f"{value:.6g}" if math.isfinite(value) else ""


def write_image_csv(*, study: Study, out: TextIO, filters: AnalysisFilters = NO_FILTERS) -> int:
    """Write one row per image x model x method (an image without model maps: one row with
    the model columns empty); return the number of rows."""
    writer = csv.DictWriter(out, fieldnames=IMAGE_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    params = json.dumps(analysis_params(filters), sort_keys=True)
    version = code_version()
    rows = image_rows(study=study, filters=filters)
    for row in rows:
        writer.writerow(
            {
                **row,
                **{column: _number(row[column]) for column in IMAGE_NUMBER_COLUMNS},
                "analysis_params": params,
                "code_version": version,
            }
        )
    return len(rows)


PARTICIPANT_COLUMNS = [
    "study",
    "participant_code",
    "prolific_pid",
    "prolific_study_id",
    "prolific_session_id",
    "mturk_worker_id",
    "mturk_assignment_id",
    "mturk_hit_id",
    "is_bot",
    "consented_at",
    "finished_at",
    "flagged",
    "screened_out",
    "excluded",
    "exclusion_reason",
    "position",
    "image",
    "image_sha256",
    "trial_kind",
    "status",
    "shown_at",
    "completed_at",
    "time_on_task_ms",
    "timed_out",
    "focus_count",
    "blur_count",
    "hidden_count",
    "hidden_ms",
    "coverage",
    "canvas_width",
    "canvas_height",
    "device_pixel_ratio",
    "attention_passed",
    "flags",  # this map's data-quality flag codes, ";"-separated (annotations.services.FLAG_CODES)
    "flag_reasons",  # "code: detail" for each, "; "-separated
    "participant_flags",  # the codes found on any of the participant's maps
    "analysed",
    "analysis_params",
    "code_version",
]


# Recruiter ids arrive in the study link's query string, so anyone can type them.
PARTICIPANT_TYPED_COLUMNS = [
    "prolific_pid",
    "prolific_study_id",
    "prolific_session_id",
    "mturk_worker_id",
    "mturk_assignment_id",
    "mturk_hit_id",
]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """Text that a spreadsheet would run as a formula gets a leading apostrophe (OWASP's
    advice against CSV injection); real Prolific and MTurk ids never start that way."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def write_participant_csv(*, study: Study, out: TextIO) -> int:
    """Write one row per participant x image (every assigned trial); return the row count."""
    writer = csv.DictWriter(out, fieldnames=PARTICIPANT_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    analysis_params = json.dumps(ANALYSIS_PARAMS, sort_keys=True)
    version = code_version()
    rows = participant_trial_rows(study=study)
    for row in rows:
        writer.writerow(
            {
                **row,
                **{column: spreadsheet_safe(row[column]) for column in PARTICIPANT_TYPED_COLUMNS},
                "exclusion_reason": spreadsheet_safe(row["exclusion_reason"]),
                "coverage": None if row["coverage"] is None else f"{row['coverage']:.6g}",
                "flags": ";".join(item["code"] for item in row["flags"]),
                "flag_reasons": "; ".join(f"{item['code']}: {item['detail']}" for item in row["flags"]),
                "participant_flags": ";".join(row["participant_flags"]),
                "analysis_params": analysis_params,
                "code_version": version,
            }
        )
    return len(rows)


WATERMARK_COLUMNS = [
    "image",
    "class",
    "model",
    "method",
    "target_class",
    "target",
    "predicted_class",
    "on_watermark",
    "on_control",
    "code_version",
]


def write_watermark_csv(*, study: Study, out: TextIO) -> int:
    """Write one row per model map of an image carrying a watermark; return the row count."""
    from research.shortcut_selectors import watermark_rows

    writer = csv.DictWriter(out, fieldnames=WATERMARK_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    version = code_version()
    rows = watermark_rows(study=study)
    for row in rows:
        writer.writerow(
            {
                **row,
                "on_watermark": _number(row["on_watermark"]),
                "on_control": _number(row["on_control"]),
                "code_version": version,
            }
        )
    return len(rows)


# --- faithfulness diagnostics (issue 15) in the ZIPs and the API ---------------------------------

DIAGNOSTICS_CSV, RANDOMISATION_CSV, DIAGNOSTICS_SUMMARY = (
    "diagnostics.csv",
    "randomisation.csv",
    "diagnostics_summary.json",
)
# Columns of DIAGNOSTIC_COLUMNS that hold text; every other one is a number (or empty).
DIAGNOSTIC_TEXT_COLUMNS = ("image", "model", "subject", "sic_skipped", "aic_skipped")
SUMMARY_CURVES = ("sic", "aic", "insertion", "deletion")  # the summary entries with curve_x, curve_y


def diagnostic_json_row(row: dict) -> dict:
    """A row of research.faithfulness.study_diagnostics for JSON: the DIAGNOSTIC_COLUMNS only
    (never the private "_checks"), numbers as numbers, an empty number (not computed, or no
    value) as null, and ``largest_epsilon_unbounded`` true where no patch bounds ε (the CSV's
    "inf"; largest_epsilon is then null)."""
    out = {}
    for column in DIAGNOSTIC_COLUMNS:
        value = row[column]
        out[column] = value if column in DIAGNOSTIC_TEXT_COLUMNS else (None if value == "" else value)
    largest = row["largest_epsilon"]
    out["largest_epsilon_unbounded"] = isinstance(largest, float) and math.isinf(largest)
    return json_safe(out)


def randomisation_json_row(row: dict) -> dict:
    return json_safe({column: row[column] for column in RANDOMISATION_COLUMNS})


def diagnostics_summary_json(diagnostics: dict, *, curves: bool = True) -> list[dict]:
    """diagnostics_summary as JSON-safe lists (NaN as null); without ``curves`` the median
    curves (curve_x, curve_y of sic, aic, insertion, deletion) are left out."""
    summary = json_safe(diagnostics_summary(diagnostics))
    if not curves:
        for entry in summary:
            for kind in SUMMARY_CURVES:
                for key in ("curve_x", "curve_y"):
                    entry[kind].pop(key, None)
    return summary


def diagnostics_expected(diagnostics: dict) -> dict:
    """What a complete run of the study's diagnostics stores: one row per image x model x
    method, and one per image with a human mean x model."""
    return {
        "images": diagnostics["images"],
        "models": diagnostics["models"],
        "subjects": diagnostics["subjects"],
        "human_images": diagnostics["human_images"],
        "rows": expected_rows(diagnostics),
    }


def diagnostics_manifest(diagnostics: dict) -> dict:
    """The manifest's "diagnostics": the study's resolved settings, each check's parameters
    and settings hash (the cache key of its stored results), and the counts."""
    settings = diagnostics["settings"]
    checks = {}
    for check in ds.CHECKS:
        parameters = ds.check_parameters(settings, check)
        checks[check] = {
            "enabled": settings[check]["enabled"],
            "parameters": parameters,
            "settings_hash": ds.check_settings_hash(check, parameters),
        }
    return json_safe(
        {
            "settings": settings,
            "checks": checks,
            "counts": {
                "rows": len(diagnostics["rows"]),
                "randomisation_rows": len(diagnostics["randomisation"]),
                "expected": diagnostics_expected(diagnostics),
            },
            "human_mean_filters": "the human_mean subject is the participants' mean map under the default "
            "analysis filters, whatever filters this export was made with",
            "randomisation_pass_below": RANDOMISATION_PASS_BELOW,
            "files": {
                DIAGNOSTICS_CSV: "one row per image x model x subject (a method, or human_mean)",
                RANDOMISATION_CSV: "one row per image x model x method x evaluated step of the cascade",
                DIAGNOSTICS_SUMMARY: "per model x subject: PIC (SIC, AIC) median curves with bootstrap "
                "AUC intervals, insertion/deletion means and median curves, localisation, "
                "Perturbation-epsilon and randomisation summaries (NaN as null)",
            },
            "columns": {DIAGNOSTICS_CSV: DIAGNOSTIC_COLUMNS, RANDOMISATION_CSV: RANDOMISATION_COLUMNS},
        }
    )


def diagnostics_summary_bytes(diagnostics: dict) -> bytes:
    return json.dumps(diagnostics_summary_json(diagnostics), indent=1, allow_nan=False).encode()


ZIP_FORMAT = "saliency-study-export/1"
# How explain.model_zoo.LoadedModel.preprocess prepares every model's input (all sources).
RESIZE_RULE = (
    "RGB; the whole image resized to input_size x input_size (no crop, aspect not kept) with "
    "Pillow's Image.resize and the interpolation below (Pillow's bilinear and bicubic widen their "
    "kernel when shrinking, i.e. antialiased); values / 255; then (x - mean) / std per channel"
)


def model_map_entry(saliency_map: SaliencyMap, array: np.ndarray, file: str) -> dict:
    """A model map's manifest entry: where it is, what it explains, and how it was made."""
    return {
        "file": file,
        "map_id": saliency_map.pk,
        "image": saliency_map.image.name,
        "model": saliency_map.model.name,
        "head": saliency_map.model.head,
        "method": saliency_map.method,
        "target_class": saliency_map.target_class,
        "shape": list(array.shape),
        "params": saliency_map.params,
        "params_hash": saliency_map.params_hash,
        "weights_sha256": saliency_map.weights_sha256,
        "runtime_s": saliency_map.runtime_s,
        "device": saliency_map.device,
        "versions": saliency_map.versions,
        "details": saliency_map.details,
    }


def model_preprocessing(spec) -> dict:
    """The preprocessing a model's maps and predictions were computed with: the spec's mean and
    std, or, where it leaves them empty, the defaults the loader falls back to for its source
    (``explain.normalisation.default_normalisation``, as ``load_model`` does)."""
    mean, std = list(spec.mean or []), list(spec.std or [])
    resolved_from = "model spec"
    if not mean or not std:
        default_mean, default_std = default_normalisation(spec.source)
        mean, std = mean or list(default_mean), std or list(default_std)
        resolved_from = f"the loader's defaults for the source {spec.source!r} (the spec leaves them empty)"
    # Specs stored before ModelSpec had an interpolation were resized bicubically.
    interpolation = getattr(spec, "interpolation", "") or "bicubic"
    preprocessing = {
        "input_size": [spec.input_size, spec.input_size],
        "mean": [float(v) for v in mean],
        "std": [float(v) for v in std],
        "mean_std_from": resolved_from,
        "interpolation": interpolation,
        "resize": RESIZE_RULE,
        "channel_order": "RGB",
    }
    published = getattr(spec, "weights_preprocessing", None)
    if published:
        preprocessing["weights_published_with"] = published  # for the record; not what was applied
    return preprocessing


def safe_file_stem(name: str) -> str:
    """A file-name-safe version of an image, model or method name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "unnamed"


def unique_file_stems(names: dict[int, str]) -> dict[int, str]:
    """Image id -> file stem, unique even when two names sanitise alike."""
    stems, taken = {}, set()
    for key, name in sorted(names.items()):
        stem = safe_file_stem(name)
        if stem in taken:
            stem = f"{stem}-{key}"
        taken.add(stem)
        stems[key] = stem
    return stems


def model_map_file_names(saliency_maps) -> dict[int, str]:
    """Map id -> models/IMAGE__MODEL__METHOD.npy; when one image x model x method has maps
    for several target classes (target policy "both"), each gets __target<K> appended."""
    stems = unique_file_stems({m.image_id: m.image.name for m in saliency_maps})
    targets: dict[tuple, set] = {}
    for m in saliency_maps:
        targets.setdefault((m.image_id, m.model_id, m.method), set()).add(m.target_class)
    names = {}
    for m in saliency_maps:
        stem = f"{stems[m.image_id]}__{safe_file_stem(m.model.name)}__{safe_file_stem(m.method)}"
        if len(targets[(m.image_id, m.model_id, m.method)]) > 1:
            stem += f"__target{m.target_class}"
        names[m.pk] = f"models/{stem}.npy"
    return names


def write_study_zip(
    *, study: Study, out: BinaryIO, include_tables: bool = True, filters: AnalysisFilters = NO_FILTERS
) -> dict:
    """Write the study ZIP; return its manifest. ``filters`` choose the human maps (the
    human means and the agreement and image tables), as on the results page.

    human/IMAGE.npy   float32 (H,W) mean of the min-max normalised participant maps, in [0,1]
    human/IMAGE.png   the same as a 16-bit grayscale PNG, round(mean x 65535)
    models/IMAGE__MODEL__METHOD.npy   float32 model map at the model's input resolution, as computed
    agreement.csv, images.csv, participants.csv   the tables (unless include_tables is false)
    diagnostics.csv, randomisation.csv   the faithfulness diagnostics' tables (unless include_tables
                      is false; header only while the study has no stored diagnostics)
    diagnostics_summary.json   per model x subject summaries with the median curves (always)
    manifest.json     provenance and one entry per file; "diagnostics": settings, hashes, counts
    """
    images = {image.pk: image for image in study.image_set.images.all()}
    image_stems = unique_file_stems({pk: image.name for pk, image in images.items()})
    saliency_maps = study_saliency_maps(study=study, with_arrays=False)
    map_names = model_map_file_names(saliency_maps)
    manifest = {
        "format": ZIP_FORMAT,
        "study": {
            "slug": study.slug,
            "title": study.title,
            "image_set": study.image_set.name,
            "target_policy": study.target_policy,
            "methods": study.methods,
        },
        "exported_at": timezone.now().isoformat(),
        "code_version": code_version(),
        "analysis_params": ANALYSIS_PARAMS,
        "filters": filters.as_params(),
        "method_params": study.full_method_params(),
        "models": [
            {
                "name": spec.name,
                "source": spec.source,
                "architecture": spec.architecture,
                "head": spec.head,  # the head it explains, of a multi-head model; empty otherwise
                "input_size": spec.input_size,
                "mean": spec.mean,  # as stored; empty means the source's defaults
                "std": spec.std,
                "preprocessing": model_preprocessing(spec),  # what was actually used
                "weights_sha256": spec.weights_sha256,
            }
            for spec in study.model_specs.order_by("name")
        ],
        "encodings": {
            "human_npy": "float32 (H,W) at the image's resolution: per-pixel mean of the participants' "
            "maps, each min-max normalised to [0,1] first",
            "human_png": f"16-bit grayscale, round(mean x {codec.FULL_SCALE_16}); not rescaled, so "
            f"{codec.FULL_SCALE_16} means every participant's strongest paint",
            "model_npy": "float32 (H,W) at the model's input resolution, the method's raw output",
        },
        "human_maps": [],
        "model_maps": [],
        "tables": {},
    }
    diagnostics = study_diagnostics(study=study)
    manifest["diagnostics"] = diagnostics_manifest(diagnostics)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        # One image (and below, one model map) in memory at a time: studies can be large.
        for image_id, image in sorted(images.items(), key=lambda item: image_stems[item[0]]):
            mean, n_participants = human_mean(study=study, image=image, filters=filters)
            if mean is None:
                continue  # no analysed map (practice, attention, unseen), or fewer than the filters ask
            mean = mean.astype(np.float32)
            stem = f"human/{image_stems[image_id]}"
            archive.writestr(f"{stem}.npy", codec.npy_bytes(mean))
            archive.writestr(f"{stem}.png", codec.unit_png16(mean))
            manifest["human_maps"].append(
                {
                    "image": image.name,
                    "image_id": image.pk,
                    "image_sha256": image.sha256,
                    "class_index": image.class_index,
                    "class_name": image.class_name,
                    "n_participants": n_participants,
                    "shape": list(mean.shape),
                    "npy": f"{stem}.npy",
                    "png": f"{stem}.png",
                }
            )
        for saliency_map in saliency_maps:
            array = SaliencyMap.objects.get(pk=saliency_map.pk).map_array()
            archive.writestr(map_names[saliency_map.pk], codec.npy_bytes(array))
            manifest["model_maps"].append(model_map_entry(saliency_map, array, map_names[saliency_map.pk]))
        if include_tables:
            for name, writer in (
                ("agreement.csv", partial(write_agreement_csv, filters=filters)),
                ("images.csv", partial(write_image_csv, filters=filters)),
                ("participants.csv", write_participant_csv),  # every trial: the filters do not apply
            ):
                buffer = io.StringIO()
                manifest["tables"][name] = {"rows": writer(study=study, out=buffer)}
                archive.writestr(name, buffer.getvalue())
            # The diagnostics' human means use the default filters (manifest diagnostics).
            for name, writer in (
                (DIAGNOSTICS_CSV, write_diagnostics_csv),
                (RANDOMISATION_CSV, write_randomisation_csv),
            ):
                buffer = io.StringIO()
                manifest["tables"][name] = {"rows": writer(out=buffer, diagnostics=diagnostics)}
                archive.writestr(name, buffer.getvalue())
        archive.writestr(DIAGNOSTICS_SUMMARY, diagnostics_summary_bytes(diagnostics))
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, sort_keys=True, default=str))
    return manifest
