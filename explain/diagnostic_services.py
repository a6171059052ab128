"""Writes for the faithfulness diagnostics (issue 15): a compute unit whose job asks for
diagnostics runs every enabled check (explain.diagnostic_settings) on each map of its image x
model, and on the participants' mean map the job recorded for the image, and stores one
``DiagnosticResult`` per check and map. A result already stored under the same cache key is
reused, so a unit delivered twice, or a job queued again, computes nothing twice.

All checks of an image judge the class its maps explain first (the first of the target
policy's classes), the human mean included. torch is imported where a model runs
(``explain.diagnostics``)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from functools import partial

import numpy as np
from django.db import IntegrityError, transaction

from analysis.faithfulness import perturbation_epsilon as epsilon_axiom
from catalogue.models import Image
from explain import diagnostic_settings as ds
from explain.models import DiagnosticResult, ModelSpec, SaliencyMap
from explain.services import (
    image_explained_classes,
    json_safe,
    model_spec_load,
    prediction_get_or_create,
    saliency_map_get_or_create,
)

NO_GROUND_TRUTH = "no_ground_truth"
BLANK_MAP = "blank_map"


def human_map_key(mean: np.ndarray) -> str:
    """The cache key of a mean map: sha256 of its float32 values."""
    return hashlib.sha256(np.ascontiguousarray(mean, dtype=np.float32).tobytes()).hexdigest()


class _ImageContext:
    """What the checks of one image x model share, each built once, when first needed: the
    loaded model, the picture at the model's input size, the ground truth, the patches'
    removal deltas (independent of the map)."""

    def __init__(self, image: Image, spec: ModelSpec, target: int):
        self.image, self.spec, self.target = image, spec, target
        self._loaded = self._picture = self._pixels = self._deltas = None
        self._truth_read, self._truth = False, None
        self.blur_cache: dict = {}  # PIC's blurred images, shared by the maps of the image

    @property
    def loaded(self):
        if self._loaded is None:
            self._loaded = model_spec_load(self.spec)
        return self._loaded

    @property
    def picture(self):
        from explain import diagnostics

        if self._picture is None:
            self._picture = diagnostics.image_picture(self.image)
        return self._picture

    @property
    def pixels(self) -> np.ndarray:
        from explain import diagnostics

        if self._pixels is None:
            self._pixels = diagnostics.model_input_image(self.loaded, self.picture)
        return self._pixels

    @property
    def truth(self) -> np.ndarray | None:
        from explain import diagnostics

        if not self._truth_read:
            self._truth, self._truth_read = diagnostics.ground_truth_mask(self.image), True
        return self._truth

    def patch_deltas(self, patch_size: int) -> tuple[list[np.ndarray], np.ndarray]:
        from explain import diagnostics

        if self._deltas is None or self._deltas[0] != patch_size:
            size = self.loaded.input_size
            indices = epsilon_axiom.feature_pixel_indices(
                epsilon_axiom.patch_features(size, size, patch_size), (size, size)
            )
            scores = diagnostics.softmax_score(self.loaded, self.target)
            deltas = epsilon_axiom.removal_deltas(self.pixels, indices, scores, target=None)
            self._deltas = (patch_size, indices, deltas)
        return self._deltas[1], self._deltas[2]


def _pic(context: _ImageContext, values: np.ndarray, parameters: dict) -> dict:
    from explain import diagnostics

    outcomes = diagnostics.pic_curves(
        context.loaded,
        context.pixels,
        values,
        context.target,
        mask_seed=context.image.pk,
        thresholds=tuple(parameters["thresholds"]),
        min_pred_value=parameters["min_pred_value"],
        blur_cache=context.blur_cache,
    )
    result = {}
    for kind, outcome in outcomes.items():
        if outcome.result is None:
            result[kind] = {"auc": None, "skipped": outcome.skipped}
            continue
        found = outcome.result
        result[kind] = {
            "auc": found.auc,
            "skipped": None,
            "thresholds": found.thresholds.tolist(),
            "predictions": found.predictions.tolist(),
            "entropies": found.entropies.tolist(),
            # The points of the curve; analysis.pic.curve_from_points samples them again.
            "normalized_entropies": found.normalized_entropies.tolist(),
            "normalized_predictions": found.normalized_predictions.tolist(),
        }
    return result


def _insertion_deletion(context: _ImageContext, values: np.ndarray, parameters: dict) -> dict:
    from explain import diagnostics

    curves = diagnostics.perturbation_curves(
        context.loaded, context.pixels, values, context.target, step=parameters["step"]
    )
    return {
        kind: {"auc": curve.auc, "fractions": curve.fractions.tolist(), "scores": curve.scores.tolist()}
        for kind, curve in curves.items()
    }


def _localisation(context: _ImageContext, values: np.ndarray, parameters: dict) -> dict:
    from explain import diagnostics

    if context.truth is None:
        return {"skipped": NO_GROUND_TRUTH}
    return {"skipped": None, **diagnostics.localisation_scores(values, context.truth)}


def _perturbation_epsilon(context: _ImageContext, values: np.ndarray, parameters: dict) -> dict:
    from explain import diagnostics

    scaled = diagnostics.at_input_size(values, context.loaded).astype(np.float64)
    total = np.abs(scaled).sum()
    if total == 0:
        return {"skipped": BLANK_MAP, "epsilon": parameters["epsilon"]}
    indices, deltas = context.patch_deltas(parameters["patch_size"])
    attributions = epsilon_axiom.feature_attributions(scaled / total, indices)
    smallest, largest = epsilon_axiom.epsilon_bounds(attributions, deltas)
    violating = epsilon_axiom.violating_features(attributions, deltas, parameters["epsilon"])
    return {
        "skipped": None,
        "epsilon": parameters["epsilon"],
        "features": len(indices),
        "violation_share": float(violating.mean()),
        # +inf (no patch bounds ε from above) and NaN (no ε satisfies the axiom) both read null
        # in JSON; the flag tells them apart.
        "largest_epsilon": largest,
        "largest_epsilon_unbounded": bool(largest == np.inf),
        "smallest_epsilon": smallest,
    }


def _randomisation(context: _ImageContext, saliency_map: SaliencyMap, parameters: dict) -> dict:
    from explain import diagnostics

    rows = diagnostics.randomisation_rows(
        context.loaded,
        context.picture,
        saliency_map.method,
        saliency_map.params,
        context.target,
        seed=parameters["seed"],
        evaluated_steps=parameters["evaluated_steps"],
    )
    return {"steps": rows}


MAP_CHECKS: dict[str, Callable] = {
    ds.PIC: _pic,
    ds.INSERTION_DELETION: _insertion_deletion,
    ds.LOCALISATION: _localisation,
    ds.PERTURBATION_EPSILON: _perturbation_epsilon,
}


def _map_check(check: str, context: _ImageContext, values: Callable[[], np.ndarray], parameters: dict):
    return MAP_CHECKS[check](context, values(), parameters)


def _store(key: dict, parameters: dict, compute: Callable[[], dict], weights_sha256: Callable[[], str]):
    """The stored result for ``key``, computed and stored when no worker has stored it yet."""
    existing = DiagnosticResult.objects.filter(**key).first()
    if existing is not None:
        return existing
    started = time.perf_counter()
    result = json_safe(compute())
    runtime = time.perf_counter() - started
    try:
        with transaction.atomic():
            return DiagnosticResult.objects.create(
                **key,
                parameters=parameters,
                result=result,
                runtime_s=runtime,
                weights_sha256=weights_sha256(),
            )
    except IntegrityError:
        existing = DiagnosticResult.objects.filter(**key).first()
        if existing is None:
            raise
        return existing


def image_diagnostics_compute(
    *,
    image: Image,
    spec: ModelSpec,
    method_params: dict[str, dict],
    target_policy: str,
    settings: dict,
    human_mean: np.ndarray | None = None,
    randomise: bool = False,
) -> list[DiagnosticResult]:
    """Every enabled check of ``settings`` (resolved, explain.diagnostic_settings) on the map of
    each method (computed first if missing) and, when given and enabled, on ``human_mean``;
    the randomisation test on the methods' maps when ``randomise``."""
    prediction = prediction_get_or_create(image=image, spec=spec)
    target = image_explained_classes(image, prediction, target_policy)[0]
    context = _ImageContext(image, spec, target)
    subjects = []  # (subject, map_key, values, stored map or None)
    for method, params in method_params.items():
        stored = saliency_map_get_or_create(
            image=image, spec=spec, method=method, params=params, target_class=target
        )
        subjects.append((method, stored.params_hash, stored.map_array, stored))
    if human_mean is not None and settings[ds.HUMAN_MEAN]:
        subjects.append((ds.HUMAN_MEAN, human_map_key(human_mean), lambda: human_mean, None))

    def weights() -> str:
        return context.loaded.weights_sha256

    results = []
    for check in ds.enabled_checks(settings):
        parameters = ds.check_parameters(settings, check)
        settings_hash = ds.check_settings_hash(check, parameters)
        for subject, map_key, values, stored in subjects:
            key = {
                "image": image,
                "model": spec,
                "subject": subject,
                "target_class": target,
                "check_name": check,
                "map_key": map_key,
                "settings_hash": settings_hash,
            }
            if check == ds.RANDOMISATION:
                if stored is None or not randomise:
                    continue
                compute = partial(_randomisation, context, stored, parameters)
            else:
                compute = partial(_map_check, check, context, values, parameters)
            results.append(_store(key, parameters, compute, weights))
    return results
