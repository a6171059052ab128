"""Writes for the compute path: predictions, saliency maps and compute jobs.

torch, the model zoo and the saliency methods are imported where a model is built or run,
not at the top: the web processes import this module for the compute jobs and the method
parameters, and must not pay torch's start-up and memory (about 2.5 s and 430 MB) for it."""

from __future__ import annotations

import logging
import os
import time
from datetime import timedelta
from typing import TYPE_CHECKING

import numpy as np
from django.conf import settings
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Count, Max, Q
from django.utils import timezone
from PIL import Image as PILImage

from analysis import codec
from catalogue.models import Image
from explain.models import ComputeJob, ComputeUnit, ModelSpec, Prediction, SaliencyMap
from explain.saliency.registry import LAYER_METHODS, method_params, params_hash
from explain.samples import DEFAULT_SAMPLE, sample_image
from explain.targets import TargetPolicy, explained_classes

if TYPE_CHECKING:
    import torch

    from explain import model_zoo

logger = logging.getLogger(__name__)

RUN_COMPUTE_JOB_TASK = "explain.run_compute_job"  # explain.tasks.run_compute_job's name


def library_versions() -> dict:
    import timm
    import torch
    import torchvision

    return {
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "timm": timm.__version__,
        "numpy": np.__version__,
    }


_loaded_models: dict[tuple, model_zoo.LoadedModel] = {}


def _configure_torch_threads() -> None:
    import torch

    if settings.TORCH_THREADS:
        torch.set_num_threads(settings.TORCH_THREADS)


def _weights_path(spec: ModelSpec) -> str | None:
    if not spec.needs_weights_file:  # a packaged model, or weights by name from a cache
        return None
    if not spec.weights_file:
        raise ValueError(f"model {spec.name} needs a weights file")
    return spec.weights_file.path


def _model_build(spec: ModelSpec) -> model_zoo.LoadedModel:
    """Build ``spec``'s classifier afresh (no cache) and record its weights' hash."""
    from explain import model_zoo

    _configure_torch_threads()
    loaded = model_zoo.load_model(
        source=spec.source,
        architecture=spec.architecture,
        weights_path=_weights_path(spec),
        pretrained_weights=spec.pretrained_weights,
        input_size=spec.input_size,
        mean=spec.mean,
        std=spec.std,
        interpolation=spec.interpolation,
        class_names=spec.class_names,
        head=spec.head,
    )
    _record_weights_sha256(spec, loaded)
    return loaded


def _record_weights_sha256(spec: ModelSpec, loaded: model_zoo.LoadedModel) -> None:
    if spec.pk and spec.weights_sha256 != loaded.weights_sha256:
        ModelSpec.objects.filter(pk=spec.pk).update(weights_sha256=loaded.weights_sha256)
        spec.weights_sha256 = loaded.weights_sha256


def model_spec_load(spec: ModelSpec) -> model_zoo.LoadedModel:
    """Build the classifier of ``spec`` once per process, on the GPU when there is one.
    Raises ValueError with a clear message when the model cannot be built or does not fit
    its class names (see model_zoo.load_model)."""
    weights_path = _weights_path(spec)
    # A retrained or re-uploaded file under the same name must not be served from the cache.
    stamp = (os.stat(weights_path).st_mtime_ns, os.stat(weights_path).st_size) if weights_path else None
    key = (
        spec.pk,
        spec.source,
        spec.architecture,
        spec.pretrained_weights,
        spec.weights_file.name,
        stamp,
        spec.input_size,
        spec.interpolation,
        tuple(spec.mean),
        tuple(spec.std),
        tuple(spec.class_names),
        spec.head,
    )
    if key in _loaded_models:
        # A row with the same settings (e.g. recreated under the same id) still gets the hash.
        _record_weights_sha256(spec, _loaded_models[key])
        return _loaded_models[key]
    loaded = _model_build(spec)
    _loaded_models[key] = loaded
    return loaded


def model_spec_check(spec: ModelSpec, weights_path: str | None = None) -> model_zoo.LoadedModel:
    """Build an (unsaved) spec to see that it works, with the weights at ``weights_path``
    (e.g. an upload not stored yet) instead of its own file. ValueError if it does not.
    A packaged model or weights by name get their own preprocessing on ``spec`` first."""
    from explain import model_zoo

    # What was entered is checked even where the weights' own preprocessing replaces it.
    model_zoo.validate_model_settings(
        input_size=spec.input_size,
        mean=spec.mean,
        std=spec.std,
        class_names=spec.class_names,
        needs_mean_std=False,
    )
    spec.resolve_preprocessing()
    if weights_path is None and spec.needs_weights_file:
        weights_path = _weights_path(spec)
    return model_zoo.load_model(
        source=spec.source,
        architecture=spec.architecture,
        weights_path=weights_path,
        pretrained_weights=spec.pretrained_weights,
        input_size=spec.input_size,
        mean=spec.mean,
        std=spec.std,
        interpolation=spec.interpolation,
        class_names=spec.class_names,
        head=spec.head,
    )


def offline_models_ensure() -> list[ModelSpec]:
    """The ImageNet models whose weights ship as Python packages (explain.packaged_models),
    created when missing: what the demo and the compare-models template use offline. A spec
    already under one of these names is kept as it is."""
    from explain.packaged_models import PACKAGED_MODELS

    specs = []
    for source, packaged in PACKAGED_MODELS.items():
        spec, _ = ModelSpec.objects.get_or_create(name=packaged.name, defaults={"source": source})
        specs.append(spec)
    return specs


def model_spec_test_load(*, spec: ModelSpec, sample: str = DEFAULT_SAMPLE) -> dict:
    """Build ``spec`` afresh, time it, and classify one sample image: what the admin's
    "Test load" shows. Records the weights' hash on the spec."""
    started = time.perf_counter()
    loaded = _model_build(spec)
    load_seconds = time.perf_counter() - started
    picture = sample_image(sample)
    started = time.perf_counter()
    top5 = loaded.top_k(loaded.preprocess(picture)[None])[0]
    return {
        "sample": sample,
        "top5": top5,
        "load_seconds": load_seconds,
        "predict_seconds": time.perf_counter() - started,
        "weights_sha256": loaded.weights_sha256,
        "device": str(loaded.device),
        "batch_norms_folded": loaded.batch_norms_folded,
        "classes": len(loaded.class_names),
        "class_names": list(loaded.class_names),
        "imagenet_classes": not spec.class_names,
        "notes": list(loaded.notes),
    }


def model_space_values(method: str, loaded: model_zoo.LoadedModel) -> dict:
    """Arguments that depend on the model's normalisation, for methods that accept them:
    the values of a black and a white pixel in the model's input space (IG baselines)."""
    import inspect

    from explain import saliency

    accepted = inspect.signature(saliency.METHODS[method]).parameters
    values = {}
    if "black_value" in accepted:
        values["black_value"] = [(0.0 - m) / s for m, s in zip(loaded.mean, loaded.std)]
    if "white_value" in accepted:
        values["white_value"] = [(1.0 - m) / s for m, s in zip(loaded.mean, loaded.std)]
    return values


def _model_input(image: Image, loaded: model_zoo.LoadedModel) -> torch.Tensor:
    with image.file.open("rb") as handle, PILImage.open(handle) as picture:
        return loaded.preprocess(picture)[None]


def prediction_get_or_create(*, image: Image, spec: ModelSpec) -> Prediction:
    existing = Prediction.objects.filter(image=image, model=spec).first()
    if existing:
        return existing
    loaded = model_spec_load(spec)
    top5 = loaded.top_k(_model_input(image, loaded))[0]
    try:
        with transaction.atomic():
            return Prediction.objects.create(
                image=image, model=spec, top5=top5, weights_sha256=loaded.weights_sha256
            )
    except IntegrityError:  # another worker stored it first
        return Prediction.objects.get(image=image, model=spec)


def saliency_map_get_or_create(
    *, image: Image, spec: ModelSpec, method: str, params: dict, target_class: int
) -> SaliencyMap:
    """The map for this cache key, computed only if no worker has stored it yet."""
    from explain import saliency

    key = {
        "image": image,
        "model": spec,
        "method": method,
        "params_hash": params_hash(params),
        "target_class": target_class,
    }
    existing = SaliencyMap.objects.filter(**key).first()
    if existing:
        return existing
    loaded = model_spec_load(spec)
    if method in LAYER_METHODS and not loaded.supports_layer_methods:
        raise ValueError(
            f"{method} needs the model's named layers, which the {loaded.kind} {spec.name} does not "
            "expose; use another method, or add the model as torchvision/timm weights"
        )
    batch = _model_input(image, loaded).to(loaded.device)
    started = time.perf_counter()
    # Layer-based methods need the model's own modules; the others run on the folded copy.
    module = loaded.module if method in LAYER_METHODS else loaded.gradient_module
    result = saliency.compute_result(
        method,
        module,
        batch,
        [target_class],
        batch_size=settings.SALIENCY_BATCH_SIZE or (8 if loaded.device.type == "cpu" else 64),
        **params,
        **model_space_values(method, loaded),
    )
    runtime = time.perf_counter() - started
    details = dict(result.details[0])
    ranks = details.pop("ranks", None)
    details = json_safe(details)
    if method not in LAYER_METHODS:
        details["batch_norms_folded"] = loaded.batch_norms_folded
    try:
        with transaction.atomic():
            return SaliencyMap.objects.create(
                **key,
                params=params,
                map_npy=SaliencyMap.encode(result.maps[0].astype(np.float32)),
                ranks_npy=None if ranks is None else SaliencyMap.encode(ranks.astype(np.int32)),
                details=details,
                runtime_s=runtime,
                device=str(loaded.device),
                versions=library_versions(),
                weights_sha256=loaded.weights_sha256,
            )
    except IntegrityError:
        existing = SaliencyMap.objects.filter(**key).first()
        if existing is None:  # not a race with another worker: say what really failed
            raise
        return existing


def json_safe(value):
    """JSON has no NaN or infinity (PostgreSQL refuses them): such numbers become None, e.g.
    IG's relative completeness gap when the image and the baseline score the same (0/0)."""
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, float | np.floating) and not np.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def image_explained_classes(image: Image, prediction: Prediction, policy: str) -> list[int]:
    """The classes a job's maps explain for this image (explain.targets.TargetPolicy)."""
    return explained_classes(
        predicted=prediction.top5[0]["index"],
        labelled=image.class_index,
        texture=image.texture_class_index,
        policy=policy,
    )


def image_maps_compute(
    *, image: Image, spec: ModelSpec, method_params: dict[str, dict], target_policy: str
) -> list[SaliencyMap]:
    """Prediction plus the map of each method (name -> full parameters, in order) for each
    class the target policy explains, of one image and model."""
    prediction = prediction_get_or_create(image=image, spec=spec)
    return [
        saliency_map_get_or_create(image=image, spec=spec, method=method, params=params, target_class=target)
        for target in image_explained_classes(image, prediction, target_policy)
        for method, params in method_params.items()
    ]


# A unit's task is killed at the hard time limit, so a unit still "running" after it has no
# worker computing it any more: its task was lost (e.g. the broker dropped the redelivery).
UNIT_SOFT_TIME_LIMIT_S = 3300
UNIT_TIME_LIMIT_S = 3600
LOST_AFTER = timedelta(seconds=UNIT_TIME_LIMIT_S)
JOB_ERRORS_KEPT = 50  # ComputeJob.errors keeps the first failures' text for a quick look


def _enqueue_job(job_id: int, unit_ids: list[int] | None = None) -> None:
    """Queue the job's fan-out task by its name (explain.tasks imports this module, not the
    other way round), once the transaction that recorded the units has committed."""
    from celery import current_app

    args = [job_id] if unit_ids is None else [job_id, unit_ids]
    transaction.on_commit(lambda: current_app.send_task(RUN_COMPUTE_JOB_TASK, args=args))


def compute_job_create(
    *,
    image_ids: list[int],
    model_ids: list[int],
    methods: list[str],
    method_overrides: dict[str, dict] | None = None,
    target_policy: str = TargetPolicy.LABEL_OR_PREDICTED,
    study_id: int | None = None,
    label: str = "",
    diagnostics: dict | None = None,
    randomisation_image_ids: list[int] | None = None,
    human_means: dict[int, np.ndarray] | None = None,
) -> ComputeJob:
    """Record a job with one unit per image x model and enqueue it after commit. The job
    keeps every method's full parameters and the target policy it was given, so the worker
    needs nothing else. ``label`` names what asked for it in errors (e.g. the study).

    ``diagnostics``: faithfulness checks to run after the maps (explain.diagnostic_settings
    overrides, resolved here); ``randomisation_image_ids``: the images of the randomisation
    test; ``human_means``: image id -> the participants' mean map, diagnosed as one more map."""
    what = label or "the job"
    if not model_ids or not methods:
        raise ValueError(f"{what} has no models or no methods to compute")
    resolved = {m: method_params(m, (method_overrides or {}).get(m)) for m in methods}  # fail here
    if target_policy not in TargetPolicy.values:
        raise ValueError(f"unknown target policy {target_policy!r}; known: {', '.join(TargetPolicy.values)}")
    if not image_ids:
        raise ValueError(f"{what} has no images to compute")
    from explain.diagnostic_settings import diagnostic_settings  # analysis.pic loads scipy.spatial

    checks = {} if diagnostics is None else diagnostic_settings(diagnostics)
    means = {
        image_id: SaliencyMap.encode(np.asarray(mean, dtype=np.float32))
        for image_id, mean in (human_means or {}).items()
    }
    with transaction.atomic():
        job = ComputeJob.objects.create(
            study_id=study_id,
            methods=list(methods),
            method_params=resolved,
            target_policy=target_policy,
            diagnostics=checks,
            randomisation_image_ids=sorted(randomisation_image_ids or []),
            total=len(image_ids) * len(model_ids),
        )
        ComputeUnit.objects.bulk_create(
            ComputeUnit(job=job, image_id=image_id, model_id=model_id, reference_map_npy=means.get(image_id))
            for image_id in image_ids
            for model_id in model_ids
        )
        _enqueue_job(job.pk)
    return job


def compute_job_start(*, job_id: int, unit_ids: list[int] | None = None) -> list[int]:
    """The job's units to enqueue now: the pending ones (of ``unit_ids`` when given)."""
    units = ComputeUnit.objects.filter(job_id=job_id, status=ComputeUnit.Status.PENDING)
    if unit_ids is not None:
        units = units.filter(pk__in=unit_ids)
    return list(units.order_by("pk").values_list("pk", flat=True))


def _lock_job_and_unit(unit_id: int) -> tuple[ComputeJob, ComputeUnit] | None:
    """Every change of a unit's status happens under its job's row lock, so concurrent
    workers settle the job's counts and status one at a time. None: the unit is gone."""
    job_id = ComputeUnit.objects.filter(pk=unit_id).values_list("job_id", flat=True).first()
    if job_id is None:
        return None
    job = ComputeJob.objects.select_for_update().get(pk=job_id)
    unit = ComputeUnit.objects.select_related("image", "model").get(pk=unit_id)
    unit.job = job
    return job, unit


def _job_settle(job: ComputeJob, now) -> None:
    """Derive the job's counts, status and finish time from its units' statuses (the job
    row is locked). Counting, not incrementing, keeps a twice-delivered task from counting
    twice."""
    Status = ComputeUnit.Status
    counts = dict(job.units.order_by().values_list("status").annotate(n=Count("pk")))
    job.done_count = counts.get(Status.DONE, 0)
    job.failed_count = counts.get(Status.FAILED, 0)
    job.errors = [
        f"{image}, {model}: {error}"
        for image, model, error in job.units.filter(status=Status.FAILED)
        .order_by("pk")
        .values_list("image__name", "model__name", "error")[:JOB_ERRORS_KEPT]
    ]
    if counts.get(Status.PENDING, 0) + counts.get(Status.RUNNING, 0) == 0:
        if counts.get(Status.CANCELLED, 0):
            job.status = ComputeJob.Status.CANCELLED
        elif job.failed_count:
            job.status = ComputeJob.Status.FAILED
        else:
            job.status = ComputeJob.Status.DONE
        job.finished_at = job.finished_at or now
    else:
        if job.status != ComputeJob.Status.CANCELLED:  # a cancelled job waits for its running units
            job.status = ComputeJob.Status.RUNNING if job.started_at else ComputeJob.Status.QUEUED
        job.finished_at = None
    job.save(update_fields=["done_count", "failed_count", "errors", "status", "finished_at", "started_at"])


def compute_unit_begin(*, unit_id: int) -> ComputeUnit | None:
    """Mark the unit running (one more attempt) and return it; None when there is nothing
    to do: it is done, failed or cancelled already (a duplicate delivery, or a cancel), or
    gone. A unit found "running" is taken over: its worker was killed and the broker
    delivered the task again (the maps it stored are found by their cache key)."""
    now = timezone.now()
    with transaction.atomic():
        locked = _lock_job_and_unit(unit_id)
        if locked is None:
            return None
        job, unit = locked
        if unit.status not in (ComputeUnit.Status.PENDING, ComputeUnit.Status.RUNNING):
            return None
        unit.status = ComputeUnit.Status.RUNNING
        unit.attempts += 1
        unit.started_at, unit.finished_at, unit.error = now, None, ""
        unit.save(update_fields=["status", "attempts", "started_at", "finished_at", "error"])
        job.started_at = job.started_at or now
        _job_settle(job, now)
    return unit


def compute_unit_finish(*, unit_id: int, error: str | None = None) -> str | None:
    """Mark the unit done, or failed with ``error``; settle its job. Returns the unit's
    status. Success wins over a failure of a concurrent duplicate; a failure does not
    overwrite a success."""
    now = timezone.now()
    with transaction.atomic():
        locked = _lock_job_and_unit(unit_id)
        if locked is None:
            return None
        job, unit = locked
        if error is None and unit.status != ComputeUnit.Status.DONE:
            unit.status, unit.error = ComputeUnit.Status.DONE, ""
        elif error is not None and unit.status == ComputeUnit.Status.RUNNING:
            unit.status, unit.error = ComputeUnit.Status.FAILED, error
        else:
            return unit.status
        unit.finished_at = now
        unit.save(update_fields=["status", "error", "finished_at"])
        _job_settle(job, now)
    return unit.status


def image_unit_compute(*, unit_id: int) -> str | None:
    """Run one unit (the prediction and every map of one image x model, then the job's
    diagnostics of those maps): its final status,
    or None when there was nothing to do. A database error is raised for the task to retry;
    any other error fails the unit with its text."""
    unit = compute_unit_begin(unit_id=unit_id)
    if unit is None:
        return None
    try:
        job = unit.job
        params = {method: job.method_params[method] for method in job.methods}
        image_maps_compute(
            image=unit.image, spec=unit.model, method_params=params, target_policy=job.target_policy
        )
        if job.diagnostics:
            from explain.diagnostic_services import image_diagnostics_compute

            stored_mean = unit.reference_map_npy
            image_diagnostics_compute(
                image=unit.image,
                spec=unit.model,
                method_params=params,
                target_policy=job.target_policy,
                settings=job.diagnostics,
                human_mean=None if stored_mean is None else codec.npy_array(bytes(stored_mean)),
                randomise=unit.image_id in job.randomisation_image_ids,
            )
    except OperationalError:
        raise
    except Exception as error:
        logger.exception("compute unit %s (image %s, model %s) failed", unit.pk, unit.image_id, unit.model_id)
        return compute_unit_finish(unit_id=unit.pk, error=f"{type(error).__name__}: {error}")
    return compute_unit_finish(unit_id=unit.pk)


def compute_job_lost_units(job: ComputeJob, *, now=None):
    """Units whose task can no longer arrive. Running: started longer ago than the task's
    hard time limit (Celery has killed any task by then). Pending: the job has shown no
    activity (created, or a unit started or finished) for that long, so its queue is stalled
    rather than busy. Re-enqueueing one that was not lost after all only sends a duplicate,
    which its status makes a no-op once it has run."""
    cutoff = (now or timezone.now()) - LOST_AFTER
    units = job.units.all()
    latest = units.aggregate(started=Max("started_at"), finished=Max("finished_at"))
    activity = max(moment for moment in (job.created_at, job.started_at, *latest.values()) if moment)
    lost = Q(status=ComputeUnit.Status.RUNNING, started_at__lt=cutoff)
    if activity < cutoff:
        lost |= Q(status=ComputeUnit.Status.PENDING)
    return units.filter(lost)


def compute_job_retry(*, job_id: int, now=None) -> list[int]:
    """Put the job's failed and lost units back to pending, reopen the job and re-enqueue
    those units (after commit); return their ids."""
    now = now or timezone.now()
    with transaction.atomic():
        job = ComputeJob.objects.select_for_update().get(pk=job_id)
        retried = job.units.filter(status=ComputeUnit.Status.FAILED) | compute_job_lost_units(job, now=now)
        unit_ids = sorted(retried.values_list("pk", flat=True))
        if not unit_ids:
            raise ValueError(f"compute job {job.pk} has no failed or lost units to retry")
        ComputeUnit.objects.filter(pk__in=unit_ids).update(
            status=ComputeUnit.Status.PENDING, error="", started_at=None, finished_at=None
        )
        job.status = ComputeJob.Status.RUNNING  # reopened: _job_settle no longer keeps a cancel
        _job_settle(job, now)
        _enqueue_job(job.pk, unit_ids)
    return unit_ids


def compute_job_cancel(*, job_id: int) -> int:
    """Cancel the job's pending units (their tasks return without computing); running units
    finish. Returns the number of units cancelled."""
    now = timezone.now()
    with transaction.atomic():
        job = ComputeJob.objects.select_for_update().get(pk=job_id)
        cancelled = job.units.filter(status=ComputeUnit.Status.PENDING).update(
            status=ComputeUnit.Status.CANCELLED
        )
        if not cancelled and not job.units.filter(status=ComputeUnit.Status.RUNNING).exists():
            raise ValueError(f"compute job {job.pk} has nothing left to cancel")
        job.status = ComputeJob.Status.CANCELLED
        _job_settle(job, now)
    return cancelled
