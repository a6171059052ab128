"""Faithfulness diagnostics of a study's stored maps and of its human means (explain.diagnostics):
PIC SIC / AIC, insertion / deletion, localisation against ground truth, and the cascading
model-parameter randomisation test on a sample of images. Prints a table per model x method
and writes a CSV with one row per image x model x method and one summary row per model x
method."""

import csv
import math
import sys
import time
from collections import defaultdict

import numpy as np
from django.core.management.base import BaseCommand, CommandError

from analysis.pic import DEFAULT_MIN_PRED_VALUE, aggregate_pic
from explain import diagnostics
from explain.models import Prediction, SaliencyMap
from explain.saliency.registry import METHODS, method_params, params_hash
from explain.services import image_explained_classes, model_spec_load, prediction_get_or_create
from research.inputs import human_mean
from study.models import Study

HUMAN_MEAN = "human_mean"
RANDOMISATION_PASS_BELOW = 0.5  # Spearman with the original map after every layer is re-initialised

COLUMNS = (
    "level",  # "image" or "summary" (model x method over the study's images)
    "image",
    "model",
    "method",
    "target_class",
    "images",  # summary: images with a map
    "sic_auc",  # image: its curve's AUC; summary: the AUC of the images' median curve
    "sic_skipped",  # image: the reason PIC skipped it; summary: how many it skipped
    "sic_images",  # summary: curves in the median
    "aic_auc",
    "aic_skipped",
    "aic_images",
    "insertion_auc",  # summary: mean over images
    "deletion_auc",
    "pixel_auc",
    "f1",
    "mae",
    "pointing_game",
    "randomisation_layers",  # layers re-initialised at the last evaluated step / in all
    "spearman_logits",  # after re-initialising the logits layer only
    "spearman_random",  # after re-initialising every layer
    "spearman_abs_random",
    "ssim_random",
    "randomisation_passes",  # summary: spearman_random < RANDOMISATION_PASS_BELOW
)


def _mean(values) -> float:
    finite = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return float(np.mean(finite)) if finite else float("nan")


def _fmt(value, digits: int = 3) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


class Command(BaseCommand):
    requires_system_checks = []
    help = (
        "Faithfulness diagnostics (PIC SIC/AIC, insertion/deletion, localisation, model-parameter "
        "randomisation) of a study's stored maps, with the human mean scored as one more method."
    )

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True, help="study slug")
        parser.add_argument("--methods", help="comma-separated methods (default: the study's)")
        parser.add_argument("--models", help="comma-separated model names (default: the study's)")
        parser.add_argument("--images", type=int, help="only the first N main images (by name)")
        parser.add_argument(
            "--randomisation-images", type=int, default=2, help="images of the randomisation test (0: none)"
        )
        parser.add_argument(
            "--randomisation-steps",
            type=int,
            default=diagnostics.DEFAULT_EVALUATED_STEPS,
            help="steps of the cascade where the map is recomputed (logits, ..., all layers)",
        )
        parser.add_argument(
            "--perturbation-step",
            type=int,
            help="pixels per step of the insertion/deletion curves (default: RISE's 224 steps)",
        )
        parser.add_argument(
            "--min-pred-value",
            type=float,
            default=DEFAULT_MIN_PRED_VALUE,
            help="PIC skips an image whose target probability is below this (default 0.8, the paper's)",
        )
        parser.add_argument("--no-perturbation", action="store_true", help="skip insertion/deletion")
        parser.add_argument("--no-human", action="store_true", help="do not score the human means")
        parser.add_argument("--csv", help="write the rows to this CSV file ('-': standard output)")

    def handle(self, *args, **options):
        study = Study.objects.filter(slug=options["study"]).first()
        if study is None:
            raise CommandError(f"no study with slug {options['study']!r}")
        methods = options["methods"].split(",") if options["methods"] else list(study.methods)
        unknown = [m for m in methods if m not in METHODS]
        if unknown:
            raise CommandError(f"unknown methods {unknown}; known: {', '.join(METHODS)}")
        specs = list(study.model_specs.order_by("name"))
        if options["models"]:
            wanted = options["models"].split(",")
            missing = sorted(set(wanted) - {s.name for s in specs})
            if missing:
                raise CommandError(f"models not in the study: {missing}")
            specs = [s for s in specs if s.name in wanted]
        images = list(
            study.image_set.images.filter(
                is_practice=False, is_attention_check=False, variant_of=None
            ).order_by("name")
        )
        if options["images"]:
            images = images[: options["images"]]
        if not images or not specs:
            raise CommandError("the study has no main images or no models to diagnose")

        started = time.perf_counter()
        rows, missing_maps = self._image_rows(study, images, specs, methods, options)
        summaries = self._summaries(rows, specs, methods, include_human=not options["no_human"])
        for line in missing_maps:
            self.stderr.write(f"missing map: {line}")
        self._print_table(summaries)
        self.stdout.write(f"{len(images)} images, {time.perf_counter() - started:.0f} s")
        if options["csv"]:
            self._write_csv(options["csv"], rows + summaries)

    def _image_rows(self, study, images, specs, methods, options):
        rows, missing = [], []
        hashes = {m: params_hash(method_params(m, study.method_params.get(m))) for m in methods}
        for image_index, image in enumerate(images):
            picture = diagnostics.image_picture(image)
            truth = diagnostics.ground_truth_mask(image)
            mean = None if options["no_human"] else human_mean(study=study, image=image)[0]
            for spec in specs:
                loaded = model_spec_load(spec)
                prediction = Prediction.objects.filter(image=image, model=spec).first()
                prediction = prediction or prediction_get_or_create(image=image, spec=spec)
                target = image_explained_classes(image, prediction, study.target_policy)[0]
                pixels = diagnostics.model_input_image(loaded, picture)
                maps = {}
                for method in methods:
                    stored = SaliencyMap.objects.filter(
                        image=image,
                        model=spec,
                        method=method,
                        params_hash=hashes[method],
                        target_class=target,
                    ).first()
                    if stored is None:
                        missing.append(f"{image.name} x {spec.name} x {method} (class {target})")
                    else:
                        maps[method] = stored.map_array()
                if mean is not None:
                    maps[HUMAN_MEAN] = mean
                for method, values in maps.items():
                    row = self._map_row(loaded, image, pixels, values, target, truth, options)
                    row.update(model=spec.name, method=method)
                    if method != HUMAN_MEAN and image_index < options["randomisation_images"]:
                        row.update(
                            self._randomisation(loaded, picture, study, method, target, image.pk, options)
                        )
                    rows.append(row)
                    self.stdout.write(
                        f"  {image.name} x {spec.name} x {method}: SIC {_fmt(row['sic_auc'])} "
                        f"{row['sic_skipped']}".rstrip()
                    )
        return rows, missing

    def _map_row(self, loaded, image, pixels, values, target, truth, options) -> dict:
        row = dict.fromkeys(COLUMNS, "")
        row.update(level="image", image=image.name, target_class=target)
        curves = diagnostics.pic_curves(
            loaded, pixels, values, target, mask_seed=image.pk, min_pred_value=options["min_pred_value"]
        )
        for kind, outcome in curves.items():
            row[f"{kind}_auc"] = outcome.auc
            row[f"{kind}_skipped"] = outcome.skipped or ""
            row[f"_{kind}_result"] = outcome.result
        if not options["no_perturbation"]:
            perturbation = diagnostics.perturbation_curves(
                loaded, pixels, values, target, step=options["perturbation_step"]
            )
            row["insertion_auc"] = perturbation["insertion"].auc
            row["deletion_auc"] = perturbation["deletion"].auc
        if truth is not None:
            row.update(diagnostics.localisation_scores(values, truth))
        return row

    def _randomisation(self, loaded, picture, study, method, target, seed, options) -> dict:
        params = method_params(method, study.method_params.get(method))
        steps = diagnostics.randomisation_rows(
            loaded, picture, method, params, target, seed=seed, evaluated_steps=options["randomisation_steps"]
        )
        first, last = steps[0], steps[-1]
        return {
            "randomisation_layers": f"{last['layers_randomised']}/{last['layers_total']}",
            "spearman_logits": first["spearman"],
            "spearman_random": last["spearman"],
            "spearman_abs_random": last["spearman_abs"],
            "ssim_random": last["ssim"],
        }

    def _summaries(self, rows, specs, methods, include_human) -> list[dict]:
        groups = defaultdict(list)
        for row in rows:
            groups[(row["model"], row["method"])].append(row)
        order = [*methods, HUMAN_MEAN] if include_human else methods
        summaries = []
        for spec in specs:
            for method in order:
                group = groups.get((spec.name, method))
                if not group:
                    continue
                summary = dict.fromkeys(COLUMNS, "")
                summary.update(level="summary", model=spec.name, method=method, images=len(group))
                for kind in ("sic", "aic"):
                    results = [r[f"_{kind}_result"] for r in group if r[f"_{kind}_result"] is not None]
                    summary[f"{kind}_auc"] = aggregate_pic(results).auc if results else float("nan")
                    summary[f"{kind}_images"] = len(results)
                    summary[f"{kind}_skipped"] = len(group) - len(results)
                for column in ("insertion_auc", "deletion_auc", "pixel_auc", "f1", "mae", "pointing_game"):
                    summary[column] = _mean(r[column] for r in group if r[column] != "")
                randomised = [r for r in group if r["spearman_random"] != ""]
                if randomised:
                    for column in (
                        "spearman_logits",
                        "spearman_random",
                        "spearman_abs_random",
                        "ssim_random",
                    ):
                        summary[column] = _mean(r[column] for r in randomised)
                    summary["randomisation_layers"] = randomised[0]["randomisation_layers"]
                    summary["randomisation_passes"] = bool(
                        summary["spearman_random"] < RANDOMISATION_PASS_BELOW
                    )
                summaries.append(summary)
        return summaries

    def _print_table(self, summaries) -> None:
        header = (
            ("model", "model", 0),
            ("method", "method", 0),
            ("images", "n", 0),
            ("sic_auc", "SIC", 3),
            ("sic_images", "SIC n", 0),
            ("aic_auc", "AIC", 3),
            ("aic_images", "AIC n", 0),
            ("insertion_auc", "ins", 3),
            ("deletion_auc", "del", 3),
            ("pixel_auc", "pxAUC", 3),
            ("pointing_game", "point", 2),
            ("spearman_logits", "rho logits", 2),
            ("spearman_random", "rho random", 2),
            ("ssim_random", "SSIM random", 2),
            ("randomisation_passes", "passes", 0),
        )
        table = [[title for _, title, _ in header]]
        for summary in summaries:
            table.append([_fmt(summary[column], digits) for column, _, digits in header])
        widths = [max(len(line[i]) for line in table) for i in range(len(header))]
        for line in table:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())

    def _write_csv(self, path: str, rows: list[dict]) -> None:
        handle = sys.stdout if path == "-" else open(path, "w", newline="")
        try:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS, extrasaction="ignore")
            writer.writeheader()
            for row in rows:
                writer.writerow({column: _fmt(row[column], 6) for column in COLUMNS})
        finally:
            if handle is not sys.stdout:
                handle.close()
