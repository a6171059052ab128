"""The study data set: everything a lab needs to publish a study and to re-derive its numbers
without the platform. The stimuli, every participant's painted map at the image's resolution
(16-bit grayscale PNG, lossless) with its stroke log, timing, device and flags, the human
means, every model map with its parameters, the predictions, the tables (the faithfulness
diagnostics' too), a README and a
manifest with the exact preprocessing, the human-map normalisation, the code version, the
filters and the SHA-256 of every file.

Written one file at a time into a ZIP on a file object (a temporary file for the web and the
API), so a large study never sits in memory whole.
"""

import csv
import hashlib
import io
import json
import os
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import asdict
from typing import BinaryIO

import numpy as np
from django.utils import timezone
from PIL import Image as PILImage

from analysis import codec
from annotations.brush import DAB_FLOW, SPACING_FRACTION
from annotations.models import Annotation
from annotations.services import PAINTED_LEVEL
from config.version import code_version
from explain.models import Prediction, SaliencyMap
from research.exports import (
    DIAGNOSTICS_CSV,
    DIAGNOSTICS_SUMMARY,
    RANDOMISATION_CSV,
    diagnostics_manifest,
    diagnostics_summary_bytes,
    model_map_entry,
    model_map_file_names,
    model_preprocessing,
    spreadsheet_safe,
    unique_file_stems,
    write_agreement_csv,
    write_image_csv,
    write_participant_csv,
    write_watermark_csv,
)
from research.faithfulness import (
    DIAGNOSTIC_COLUMNS,
    RANDOMISATION_COLUMNS,
    study_diagnostics,
    write_diagnostics_csv,
    write_randomisation_csv,
)
from research.inputs import (
    CEILING_SPLITS,
    METRICS,
    NO_FILTERS,
    SCORING,
    AnalysisFilters,
    analysed_annotations,
    analysis_params,
    human_mean,
    study_saliency_maps,
)
from study.models import Study

DATASET_FORMAT = "saliency-study-dataset/1"
COPY_CHUNK = 1 << 20

STIMULUS_COLUMNS = [
    "image",
    "image_id",
    "file",
    "sha256",
    "width",
    "height",
    "role",  # main / practice / attention_check / variant
    "class_index",
    "class_name",
    "texture_class_index",
    "texture_class_name",
    "variant_of",  # the original's image name, for variants
    "corruption",
    "severity",
    "watermark_box",  # JSON [left, top, right, bottom] or empty
    "ground_truth_boxes",  # JSON or empty
    "target_mask_file",
    "ground_truth_mask_file",
]

MAP_COLUMNS = [
    "annotation_id",
    "participant_id",
    "participant_code",  # joins participants.csv
    "is_bot",
    "image",
    "image_id",
    "trial_kind",  # main / practice / attention
    "position",
    "map_file",
    "strokes_file",
    "width",
    "height",
    "submitted_bit_depth",  # 8 or 16; an 8-bit map v is stored here as v x 257 (exact)
    "n_strokes",
    "shown_at",
    "completed_at",
    "submitted_at",
    "time_on_task_ms",
    "timed_out",
    "canvas_width",
    "canvas_height",
    "device_pixel_ratio",
    "user_agent",
    "coverage",
    "attention_passed",
    "flags",
    "flag_reasons",
    "participant_flagged",
    "participant_screened_out",
    "participant_excluded",
    "analysed",  # enters its image's human mean under this export's filters
]

MODEL_MAP_COLUMNS = [
    "file",
    "ranks_file",  # XRAI: int32 (H,W) ranked regions, 1 = most important; empty for other methods
    "map_id",
    "image",
    "model",
    "head",  # the model's head (ModelSpec.head) for a multi-head model; empty otherwise
    "method",
    "target_class",
    "height",
    "width",
    "params_hash",
    "params",
    "weights_sha256",
    "runtime_s",
    "device",
]

PREDICTION_COLUMNS = [
    "image",
    "model",
    "head",
    "rank",
    "class_index",
    "class_name",
    "probability",
    "weights_sha256",
]


class _Archive:
    """A ZIP being written that records each file's size and SHA-256 for the manifest."""

    def __init__(self, out: BinaryIO):
        self.zip = zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED)
        self.files: list[dict] = []

    def add(self, path: str, data: bytes) -> str:
        self.zip.writestr(path, data)
        self.files.append({"path": path, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
        return path

    def add_stream(self, path: str, source: BinaryIO) -> str:
        """Copy a file object into the ZIP in chunks (stimuli can be large)."""
        digest, size = hashlib.sha256(), 0
        with self.zip.open(path, "w", force_zip64=True) as target:
            for block in iter(lambda: source.read(COPY_CHUNK), b""):
                target.write(block)
                digest.update(block)
                size += len(block)
        self.files.append({"path": path, "bytes": size, "sha256": digest.hexdigest()})
        return path

    def add_csv(self, path: str, write: Callable[[io.StringIO], int]) -> int:
        buffer = io.StringIO(newline="")
        rows = write(buffer)
        self.add(path, buffer.getvalue().encode())
        return rows

    def close(self) -> None:
        self.zip.close()


def _csv_rows(columns: list[str], rows: Iterable[dict]) -> Callable[[io.StringIO], int]:
    def write(out: io.StringIO) -> int:
        writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        count = 0
        for row in rows:
            writer.writerow(row)
            count += 1
        return count

    return write


def _json(value) -> str:
    return "" if value in (None, [], {}) else json.dumps(value, sort_keys=True)


def _iso(moment) -> str:
    return moment.isoformat() if moment else ""


def annotation_png16(annotation: Annotation) -> bytes:
    """The painted map as a 16-bit grayscale PNG, lossless: a 16-bit submission as it is, an
    8-bit one with each value v written as v x 257 (so v / 255 == (v x 257) / 65535)."""
    with PILImage.open(io.BytesIO(bytes(annotation.map_png))) as picture:
        values = np.asarray(picture)
    if annotation.bit_depth == 8:
        values = values.astype(np.uint16) * 257
    return codec.png_bytes(values.astype(np.uint16))


def _role(image) -> str:
    if image.variant_of_id:
        return "variant"
    if image.is_practice:
        return "practice"
    if image.is_attention_check:
        return "attention_check"
    return "main"


def _write_stimuli(archive: _Archive, images: list, stems: dict[int, str]) -> list[dict]:
    rows = []
    names = {image.pk: image.name for image in images}
    for image in images:
        stem = stems[image.pk]
        extension = os.path.splitext(image.file.name)[1].lower() or ".img"
        with image.file.open("rb") as handle:
            path = archive.add_stream(f"stimuli/{stem}{extension}", handle)
        target = ground_truth = ""
        if image.target_mask_png:
            target = archive.add(f"stimuli/{stem}.target-mask.png", bytes(image.target_mask_png))
        if image.ground_truth_mask_png:
            ground_truth = archive.add(
                f"stimuli/{stem}.ground-truth-mask.png", bytes(image.ground_truth_mask_png)
            )
        rows.append(
            {
                "image": image.name,
                "image_id": image.pk,
                "file": path,
                "sha256": image.sha256,
                "width": image.width,
                "height": image.height,
                "role": _role(image),
                "class_index": image.class_index,
                "class_name": image.class_name,
                "texture_class_index": image.texture_class_index,
                "texture_class_name": image.texture_class_name,
                "variant_of": names.get(image.variant_of_id, ""),
                "corruption": image.corruption,
                "severity": image.severity,
                "watermark_box": _json(image.watermark_box),
                "ground_truth_boxes": _json(image.ground_truth_boxes),
                "target_mask_file": target,
                "ground_truth_mask_file": ground_truth,
            }
        )
    return rows


def _write_participant_maps(
    archive: _Archive, study: Study, stems: dict[int, str], analysed_ids: set[int]
) -> list[dict]:
    """Every painted map of the study (practice, attention checks, flagged and excluded
    participants' too, marked by ``analysed``), one at a time from the database."""
    annotations = (
        Annotation.objects.filter(trial__participant__study=study)
        .select_related("trial__participant", "trial__image")
        .order_by("pk")
    )
    rows = []
    for annotation in annotations.iterator(chunk_size=50):
        trial, participant = annotation.trial, annotation.trial.participant
        stem = f"participant_maps/p{participant.pk}/{stems[trial.image_id]}"
        map_file = archive.add(f"{stem}.png", annotation_png16(annotation))
        log = {
            "annotation_id": annotation.pk,
            "participant_id": participant.pk,
            "image": trial.image.name,
            "width": annotation.width,
            "height": annotation.height,
            "strokes": annotation.strokes,
            "focus_events": annotation.focus_events,
        }
        strokes_file = archive.add(f"{stem}.strokes.json", json.dumps(log, separators=(",", ":")).encode())
        rows.append(
            {
                "annotation_id": annotation.pk,
                "participant_id": participant.pk,
                "participant_code": participant.code,
                "is_bot": participant.is_bot,
                "image": trial.image.name,
                "image_id": trial.image_id,
                "trial_kind": trial.kind,
                "position": trial.position,
                "map_file": map_file,
                "strokes_file": strokes_file,
                "width": annotation.width,
                "height": annotation.height,
                "submitted_bit_depth": annotation.bit_depth,
                "n_strokes": len(annotation.strokes or []),
                "shown_at": _iso(trial.shown_at),
                "completed_at": _iso(trial.completed_at),
                "submitted_at": _iso(annotation.created_at),
                "time_on_task_ms": annotation.time_on_task_ms,
                "timed_out": annotation.timed_out,
                "canvas_width": annotation.canvas_width,
                "canvas_height": annotation.canvas_height,
                "device_pixel_ratio": annotation.device_pixel_ratio,
                "user_agent": spreadsheet_safe(participant.user_agent),
                "coverage": "" if annotation.coverage is None else f"{annotation.coverage:.6g}",
                "attention_passed": "" if trial.attention_passed is None else trial.attention_passed,
                "flags": ";".join(annotation.flag_codes),
                "flag_reasons": "; ".join(f"{f['code']}: {f['detail']}" for f in annotation.flags),
                "participant_flagged": participant.flagged,
                "participant_screened_out": participant.screened_out,
                "participant_excluded": participant.excluded,
                "analysed": annotation.pk in analysed_ids,
            }
        )
    return rows


def _write_human_means(
    archive: _Archive, study: Study, images: list, stems: dict[int, str], filters: AnalysisFilters
) -> tuple[list[dict], set[int]]:
    """The human means (as the results page computes them) and the ids of the maps in them."""
    entries, used = [], set()
    for image in images:
        mean, n_maps = human_mean(study=study, image=image, filters=filters)
        if mean is None:
            continue
        ids = list(
            analysed_annotations(study=study, filters=filters)
            .filter(trial__image=image)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        used.update(ids)
        mean = mean.astype(np.float32)
        stem = f"human/{stems[image.pk]}"
        entries.append(
            {
                "image": image.name,
                "image_id": image.pk,
                "n_participants": n_maps,
                "annotation_ids": ids,
                "shape": list(mean.shape),
                "npy": archive.add(f"{stem}.npy", codec.npy_bytes(mean)),
                "png": archive.add(f"{stem}.png", codec.unit_png16(mean)),
            }
        )
    return entries, used


def _write_model_maps(archive: _Archive, study: Study, images: list) -> tuple[list[dict], list[dict]]:
    originals = {image.pk: image.variant_of_id or image.pk for image in images}
    names = {image.pk: image.name for image in images}
    saliency_maps = study_saliency_maps(study=study, with_arrays=False)
    files = model_map_file_names(saliency_maps)
    entries, rows = [], []
    for saliency_map in saliency_maps:
        stored = SaliencyMap.objects.only("map_npy", "ranks_npy").get(pk=saliency_map.pk)
        array = stored.map_array()
        path = archive.add(files[saliency_map.pk], codec.npy_bytes(array))
        ranks = ""
        if stored.ranks_npy is not None:  # XRAI's ranked regions, as stored
            ranks = archive.add(path.removesuffix(".npy") + "__ranks.npy", bytes(stored.ranks_npy))
        entry = {
            **model_map_entry(saliency_map, array, path),
            "ranks_file": ranks,
            "scored_against": names[originals[saliency_map.image_id]],
        }
        entries.append(entry)
        rows.append(
            {
                **entry,
                "height": array.shape[0],
                "width": array.shape[1],
                "params": json.dumps(saliency_map.params, sort_keys=True),
            }
        )
    return entries, rows


def _prediction_rows(study: Study) -> list[dict]:
    predictions = (
        Prediction.objects.filter(image__image_set=study.image_set, model__in=study.model_specs.all())
        .select_related("image", "model")
        .order_by("image__name", "model__name")
    )
    return [
        {
            "image": prediction.image.name,
            "model": prediction.model.name,
            "head": prediction.model.head,
            "rank": rank,
            "class_index": entry["index"],
            "class_name": entry["name"],
            "probability": entry["probability"],
            "weights_sha256": prediction.weights_sha256,
        }
        for prediction in predictions
        for rank, entry in enumerate(prediction.top5, start=1)
    ]


def _study_design(study: Study) -> dict:
    fields = (
        "slug",
        "title",
        "status",
        "target_policy",
        "methods",
        "trials_per_participant",
        "practice_trials",
        "attention_checks",
        "attention_policy",
        "attention_min_inside",
        "time_limit_s",
        "min_coverage",
        "min_seconds_per_map",
        "target_annotations_per_image",
        "instructions",
    )
    return {
        **{name: getattr(study, name) for name in fields},
        "image_set": study.image_set.name,
        "created_at": study.created_at.isoformat(),
    }


def human_map_normalisation() -> dict:
    """How each participant's map is scaled and the maps averaged (what every human number uses)."""
    return {
        "stored_map": "each participant's painted intensity in [0,1] at the image's resolution; "
        "the PNG's value / 65535 (participant_maps/*.png)",
        "per_participant": "min-max to [0,1]: (m - min(m)) / (max(m) - min(m)) in float64; a "
        "constant map (nothing painted) becomes all zeros (analysis.human_maps.normalise_participant, "
        "'minmax')",
        "mean": "per-pixel arithmetic mean of the normalised maps listed in manifest human_maps[]"
        ".annotation_ids (analysis.human_maps.mean_map); no blur",
        "stored_mean": "human/IMAGE.npy: that mean as float32; human/IMAGE.png: round(mean x 65535), 16-bit",
        "which_maps": "main trials marked done, of participants neither screened out nor excluded by "
        "a researcher, without server flags unless filters.include_flagged_maps, of participants not "
        "flagged by an attention check when filters.exclude_flagged; images with fewer than "
        "filters.min_annotations such maps get no mean. Practice and attention-check maps are "
        "never analysed. participant_maps.csv column 'analysed' marks the maps that are in a mean",
        "variants": "a variant image has no human maps; its model maps are scored against its "
        "original's human mean (model_maps.csv / manifest 'scored_against')",
    }


def scoring_recipe() -> dict:
    """How agreement.csv and images.csv are computed from the files, step by step."""
    return {
        "model_map_to_image": "each model map (float32, the model's input resolution) resized to the "
        "human mean's (H,W) with Pillow's bilinear resize in float32 mode 'F' "
        "(analysis.human_maps.resize_map), then float64",
        "metrics": "each metric of analysis.metrics on (resized model map, human mean); the settings "
        "below (analysis.batch_scores.Settings) give k's and the AUC-Borji seed",
        "settings": asdict(SCORING),
        "metric_columns": list(METRICS),
        "ceiling": f"analysis.ceiling.split_half(participant maps in annotation_id order, n_splits="
        f"{CEILING_SPLITS}, rng=0) on the analysed maps of images with >= 2 of them; images.csv "
        "gives the split-half value and its Spearman-Brown correction",
        "human_coverage": f"share of the image's pixels where the human mean >= {PAINTED_LEVEL}",
        "painted_level": PAINTED_LEVEL,
        "ceiling_splits": CEILING_SPLITS,
        "csv_precision": "values are written with 6 significant digits",
    }


def write_dataset_zip(*, study: Study, out: BinaryIO, filters: AnalysisFilters = NO_FILTERS) -> dict:
    """Write the study data set (layout in DATASET_README) to ``out``; return its manifest."""
    images = list(study.image_set.images.order_by("name"))
    stems = unique_file_stems({image.pk: image.name for image in images})
    archive = _Archive(out)
    try:
        stimuli = _write_stimuli(archive, images, stems)
        human_maps, used_ids = _write_human_means(archive, study, images, stems, filters)
        map_rows = _write_participant_maps(archive, study, stems, used_ids)
        model_maps, model_map_rows = _write_model_maps(archive, study, images)
        tables = {
            "stimuli.csv": archive.add_csv("stimuli.csv", _csv_rows(STIMULUS_COLUMNS, stimuli)),
            "participant_maps.csv": archive.add_csv("participant_maps.csv", _csv_rows(MAP_COLUMNS, map_rows)),
            "model_maps.csv": archive.add_csv("model_maps.csv", _csv_rows(MODEL_MAP_COLUMNS, model_map_rows)),
            "predictions.csv": archive.add_csv(
                "predictions.csv", _csv_rows(PREDICTION_COLUMNS, _prediction_rows(study))
            ),
            "agreement.csv": archive.add_csv(
                "agreement.csv", lambda out: write_agreement_csv(study=study, out=out, filters=filters)
            ),
            "images.csv": archive.add_csv(
                "images.csv", lambda out: write_image_csv(study=study, out=out, filters=filters)
            ),
            "participants.csv": archive.add_csv(
                "participants.csv", lambda out: write_participant_csv(study=study, out=out)
            ),
        }
        # Always written (header only while nothing is stored), so the layout does not change.
        diagnostics = study_diagnostics(study=study)
        tables[DIAGNOSTICS_CSV] = archive.add_csv(
            DIAGNOSTICS_CSV, lambda out: write_diagnostics_csv(out=out, diagnostics=diagnostics)
        )
        tables[RANDOMISATION_CSV] = archive.add_csv(
            RANDOMISATION_CSV, lambda out: write_randomisation_csv(out=out, diagnostics=diagnostics)
        )
        archive.add(DIAGNOSTICS_SUMMARY, diagnostics_summary_bytes(diagnostics))
        if study.image_set.images.filter(watermark_box__isnull=False).exists():
            tables["watermark.csv"] = archive.add_csv(
                "watermark.csv", lambda out: write_watermark_csv(study=study, out=out)
            )
        archive.add("README.md", DATASET_README.encode())
        manifest = {
            "format": DATASET_FORMAT,
            "study": _study_design(study),
            "exported_at": timezone.now().isoformat(),
            "code_version": code_version(),
            "filters": filters.as_params(),
            "analysis_params": analysis_params(filters),
            "human_map_normalisation": human_map_normalisation(),
            "scoring": scoring_recipe(),
            "brush": {
                "reference": "annotations/brush.py render_strokes (the painter's brush.js does the same)",
                "dab_flow": DAB_FLOW,
                "spacing_fraction": SPACING_FRACTION,
            },
            "method_params": study.full_method_params(),
            "models": [
                {
                    "name": spec.name,
                    "source": spec.source,
                    "architecture": spec.architecture,
                    "head": spec.head,  # the head it explains, of a multi-head model; empty otherwise
                    "class_names": spec.class_names or "the 1000 ImageNet classes",
                    "weights_sha256": spec.weights_sha256,
                    "preprocessing": model_preprocessing(spec),
                }
                for spec in study.model_specs.order_by("name")
            ],
            "human_maps": human_maps,
            "model_maps": model_maps,
            "diagnostics": diagnostics_manifest(diagnostics),
            "tables": {name: {"rows": rows} for name, rows in tables.items()},
            "files": archive.files,  # every file but manifest.json itself
        }
        archive.add("manifest.json", json.dumps(manifest, indent=2, sort_keys=True, default=str).encode())
    finally:
        archive.close()
    return manifest


DATASET_README = """\
# Study data set

Exported by the saliency study platform (format `saliency-study-dataset/1`). `manifest.json`
records the study design, the code version, the analysis filters, how human maps are
normalised, the exact preprocessing of every model, how the tables were computed, and the
size and SHA-256 of every other file.

## Layout

```
README.md                 this file
manifest.json             provenance; "files" lists every file with its sha256
stimuli/IMAGE.EXT         the image files as uploaded (originals, practice, attention checks, variants)
stimuli/IMAGE.target-mask.png, IMAGE.ground-truth-mask.png   8-bit masks (255 inside), where defined
stimuli.csv               one row per image (columns below)
participant_maps/pID/IMAGE.png           a participant's painted map: 16-bit grayscale, the image's
                                         size, intensity = value / 65535 (lossless)
participant_maps/pID/IMAGE.strokes.json  its stroke log and focus/blur events
participant_maps.csv      one row per painted map (columns below)
human/IMAGE.npy           float32 (H,W): the human mean used by every number (see manifest
                          "human_map_normalisation")
human/IMAGE.png           the same, 16-bit grayscale, round(mean x 65535) (a preview; use the .npy)
models/IMAGE__MODEL__METHOD[__targetK].npy   float32 model map at the model's input resolution
models/IMAGE__MODEL__xrai[__targetK]__ranks.npy   XRAI's ranked regions (int32, 1 = most important)
model_maps.csv            one row per model map: file, ids, target class, shape, parameters
predictions.csv           each model's top-5 classes per image
agreement.csv             image x model x method x metric (the results page's download)
images.csv                image x model x method: analysed maps, coverage, noise ceiling, Spearman
participants.csv          participant x trial: recruiter ids, timing, focus, flags
watermark.csv             (watermarked image sets only) each map's mass on the watermark box
diagnostics.csv           faithfulness diagnostics: image x model x subject (a method or human_mean)
randomisation.csv         the model-randomisation test: image x model x method x cascade step
diagnostics_summary.json  per model x subject: SIC/AIC median curves with AUC intervals, and more
```

`pID` is the participant's id; `participant_code` in participant_maps.csv and
participants.csv joins the two. The code is also the participant's private study link: close
the study before you publish it, or drop that column.

## stimuli.csv
image, image_id, file, sha256, width, height, role (main / practice / attention_check /
variant), class_index, class_name, texture_class_index, texture_class_name (cue conflict),
variant_of (the original's name), corruption, severity, watermark_box (JSON [left, top,
right, bottom]), ground_truth_boxes (JSON), target_mask_file, ground_truth_mask_file.

## participant_maps.csv
annotation_id, participant_id, participant_code, is_bot, image, image_id, trial_kind (main /
practice / attention), position (order shown), map_file, strokes_file, width, height,
submitted_bit_depth (an 8-bit submission v is stored as v x 257, exactly the same
intensity), n_strokes, shown_at, completed_at, submitted_at (ISO 8601, UTC), time_on_task_ms,
timed_out, canvas_width, canvas_height, device_pixel_ratio, user_agent, coverage (share of
pixels painted >= 0.05), attention_passed, flags and flag_reasons (the server's data-quality
flags at submission), participant_flagged (failed an attention check),
participant_screened_out, participant_excluded (by a researcher), analysed (the map is in its
image's human mean under this export's filters).

A stroke log is a list of `{"tool": "brush"|"eraser", "size": diameter px, "strength": s,
"points": [[x, y, pressure], ...]}` in image pixels; replaying it with the brush model
(manifest "brush") from an empty map gives the painted map.

## model_maps.csv, predictions.csv
file, ranks_file, map_id, image, model, head, method, target_class, height, width, params_hash,
params (JSON, every parameter of the method), weights_sha256, runtime_s, device. predictions.csv:
image, model, head, rank (1-5), class_index, class_name, probability, weights_sha256. head: the
head a model explains, of a multi-head model (one model per head, the class names its own);
empty for single-head models. Each model's input
preprocessing (resolved mean and std, input size, resize rule) is in manifest "models".

## Rebuilding a human mean and a score

```python
import json, zipfile, io, csv
import numpy as np
from PIL import Image

z = zipfile.ZipFile("STUDY-dataset.zip")
manifest = json.loads(z.read("manifest.json"))
rows = {int(r["annotation_id"]): r for r in csv.DictReader(io.TextIOWrapper(z.open("participant_maps.csv")))}
entry = manifest["human_maps"][0]
maps = []
for annotation_id in entry["annotation_ids"]:
    m = np.asarray(Image.open(z.open(rows[annotation_id]["map_file"])), np.float64) / 65535
    maps.append((m - m.min()) / (m.max() - m.min()) if m.max() > m.min() else np.zeros_like(m))
mean = np.mean(maps, axis=0)
assert np.allclose(mean, np.load(z.open(entry["npy"])), atol=1e-6)
```

agreement.csv's numbers: resize each model map to the human mean's size (Pillow bilinear in
float32 mode "F") and apply the metric named in manifest "scoring" (the functions of the
platform's `analysis.metrics`, MIT saliency benchmark conventions).
"""

DATASET_README += f"""
## diagnostics.csv, randomisation.csv, diagnostics_summary.json
The study's faithfulness diagnostics, as stored when this was exported (header only if none
were run); manifest "diagnostics" gives the settings, each check's parameters and settings
hash, and the rows found and expected. The subject human_mean is the participants' mean map
under the default filters. diagnostics.csv: {", ".join(DIAGNOSTIC_COLUMNS)}. Empty: not
computed, or no value (no ground truth, PIC skipped for the reason in sic_skipped /
aic_skipped); largest_epsilon "inf": no patch bounds ε. randomisation.csv:
{", ".join(RANDOMISATION_COLUMNS)}. diagnostics_summary.json: one entry per model x subject
with the median curves as lists (curve_x, curve_y), AUCs with 95 % bootstrap intervals and
mean scores; NaN is written as null.
"""
