"""Writes for the compute path: predictions, saliency maps and compute jobs."""

import hashlib
import json
import logging
import os
import time

import numpy as np
import torch
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from PIL import Image as PILImage

from explain import model_zoo, saliency
from explain.models import ComputeJob, ModelSpec, Prediction, SaliencyMap
from study.models import Image, Study

logger = logging.getLogger(__name__)

# PAIR-code/saliency 0.2.1's defaults (Captum's where PAIR has no such method), so that maps
# are comparable with the literature. One exception: occlusion's stride is 8 here, not 1
# (44,100 model passes per 224x224 image, ~12 minutes on a 2-core CPU); set it to 1 per
# study to reproduce PAIR and Captum exactly.
DEFAULT_METHOD_PARAMS: dict[str, dict] = {
    "xrai": {
        "steps": 100,
        "baselines": ["min", "max"],
        "rule": "pair",
        "algorithm": "full",
        "area_threshold": 1.0,
        "min_pixel_diff": 50,
    },
    "integrated_gradients": {
        "baseline": "zeros",
        "steps": 25,
        "rule": "pair",
        "channel_reduction": "abs_sum",
    },
    "vanilla_gradient": {"channel_reduction": "max_abs"},
    "smoothgrad": {
        "base_method": "vanilla_gradient",
        "stdev_spread": 0.15,
        "nsamples": 25,
        "magnitude": True,
        "seed": 0,
        "base_params": {},
        "channel_reduction": "abs_sum",
    },
    "gradient_x_input": {"channel_reduction": "abs_sum"},
    "blur_ig": {
        "max_sigma": 50.0,
        "steps": 100,
        "grad_step": 0.01,
        "sqrt": False,
        "channel_reduction": "abs_sum",
    },
    "guided_ig": {
        "baseline": "zeros",
        "steps": 200,
        "fraction": 0.25,
        "max_dist": 0.02,
        "channel_reduction": "abs_sum",
    },
    "grad_cam": {"layer": None, "relu": True, "interpolation": "bilinear"},
    "occlusion": {"patch_size": 15, "stride": 8, "baseline_value": 0.0, "aggregation": "mean"},
}


def method_params(method: str, overrides: dict | None = None) -> dict:
    """The full parameter dict for ``method``: defaults updated by ``overrides``."""
    if method not in DEFAULT_METHOD_PARAMS:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(sorted(DEFAULT_METHOD_PARAMS))}")
    params = dict(DEFAULT_METHOD_PARAMS[method])
    unknown = set(overrides or {}) - set(params)
    if unknown:
        raise ValueError(f"unknown parameters for {method}: {', '.join(sorted(unknown))}")
    params.update(overrides or {})
    return params


def params_hash(params: dict) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()


def library_versions() -> dict:
    import timm
    import torchvision

    return {
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "timm": timm.__version__,
        "numpy": np.__version__,
    }


_loaded_models: dict[tuple, model_zoo.LoadedModel] = {}


def _configure_torch_threads() -> None:
    if settings.TORCH_THREADS:
        torch.set_num_threads(settings.TORCH_THREADS)


def _weights_path(spec: ModelSpec) -> str | None:
    if spec.source == ModelSpec.Source.EFFICIENTNET_LITE0:
        return None
    if not spec.weights_file:
        raise ValueError(f"model {spec.name} needs a weights file")
    return spec.weights_file.path


def _model_build(spec: ModelSpec) -> model_zoo.LoadedModel:
    """Build ``spec``'s classifier afresh (no cache) and record its weights' hash."""
    _configure_torch_threads()
    loaded = model_zoo.load_model(
        source=spec.source,
        architecture=spec.architecture,
        weights_path=_weights_path(spec),
        input_size=spec.input_size,
        mean=spec.mean,
        std=spec.std,
        class_names=spec.class_names,
    )
    if spec.pk and spec.weights_sha256 != loaded.weights_sha256:
        ModelSpec.objects.filter(pk=spec.pk).update(weights_sha256=loaded.weights_sha256)
        spec.weights_sha256 = loaded.weights_sha256
    return loaded


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
        spec.weights_file.name,
        stamp,
        spec.input_size,
        tuple(spec.mean),
        tuple(spec.std),
        tuple(spec.class_names),
    )
    if key in _loaded_models:
        return _loaded_models[key]
    loaded = _model_build(spec)
    _loaded_models[key] = loaded
    return loaded


def model_spec_check(spec: ModelSpec, weights_path: str | None = None) -> model_zoo.LoadedModel:
    """Build an (unsaved) spec to see that it works, with the weights at ``weights_path``
    (e.g. an upload not stored yet) instead of its own file. ValueError if it does not."""
    if weights_path is None and spec.source != ModelSpec.Source.EFFICIENTNET_LITE0:
        weights_path = _weights_path(spec)
    return model_zoo.load_model(
        source=spec.source,
        architecture=spec.architecture,
        weights_path=weights_path,
        input_size=spec.input_size,
        mean=spec.mean,
        std=spec.std,
        class_names=spec.class_names,
    )


def model_spec_test_load(*, spec: ModelSpec, sample: str = model_zoo.DEFAULT_SAMPLE) -> dict:
    """Build ``spec`` afresh, time it, and classify one sample image: what the admin's
    "Test load" shows. Records the weights' hash on the spec."""
    started = time.perf_counter()
    loaded = _model_build(spec)
    load_seconds = time.perf_counter() - started
    picture = model_zoo.sample_image(sample)
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
    }


def model_space_values(method: str, loaded: model_zoo.LoadedModel) -> dict:
    """Arguments that depend on the model's normalisation, for methods that accept them:
    the values of a black and a white pixel in the model's input space (IG baselines)."""
    import inspect

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
    if method in saliency.LAYER_METHODS and not loaded.supports_layer_methods:
        raise ValueError(
            f"{method} needs the model's named layers, which the TorchScript model {spec.name} does not "
            "expose; use another method, or add the model as torchvision/timm weights"
        )
    batch = _model_input(image, loaded).to(loaded.device)
    started = time.perf_counter()
    # Layer-based methods need the model's own modules; the others run on the folded copy.
    module = loaded.module if method in saliency.LAYER_METHODS else loaded.gradient_module
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
    if method not in saliency.LAYER_METHODS:
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
        return SaliencyMap.objects.get(**key)


def explained_classes(image: Image, prediction: Prediction, policy: str) -> list[int]:
    """The classes a study's maps explain for this image (Study.TargetPolicy)."""
    predicted = prediction.top5[0]["index"]
    labelled = image.class_index
    if policy == Study.TargetPolicy.PREDICTED or labelled is None:
        return [predicted]
    if policy == Study.TargetPolicy.LABEL_AND_PREDICTED and predicted != labelled:
        return [labelled, predicted]
    return [labelled]


def image_maps_compute(*, image: Image, spec: ModelSpec, study: Study) -> list[SaliencyMap]:
    """Prediction plus every study method's map, for each explained class, of one image
    and model."""
    prediction = prediction_get_or_create(image=image, spec=spec)
    return [
        saliency_map_get_or_create(
            image=image,
            spec=spec,
            method=method,
            params=method_params(method, study.method_params.get(method)),
            target_class=target,
        )
        for target in explained_classes(image, prediction, study.target_policy)
        for method in study.methods
    ]


def compute_job_create(*, study: Study) -> ComputeJob:
    """Record a job for every image x model of the study and enqueue it after commit."""
    for method in study.methods:
        method_params(method, study.method_params.get(method))  # fail here, not in the worker
    n_models = study.model_specs.count()
    if n_models == 0 or not study.methods:
        raise ValueError(f"study {study.slug} has no models or no methods to compute")
    job = ComputeJob.objects.create(study=study, total=study.image_set.images.count() * n_models)
    from explain.tasks import run_compute_job

    transaction.on_commit(lambda: run_compute_job.delay(job.pk))
    return job


def compute_job_start(*, job_id: int) -> list[tuple[int, int]]:
    """Mark the job running; return its (image id, model id) units."""
    job = ComputeJob.objects.select_related("study").get(pk=job_id)
    ComputeJob.objects.filter(pk=job_id, started_at__isnull=True).update(
        status=ComputeJob.Status.RUNNING, started_at=timezone.now()
    )
    image_ids = list(job.study.image_set.images.order_by("pk").values_list("pk", flat=True))
    model_ids = list(job.study.model_specs.order_by("pk").values_list("pk", flat=True))
    return [(image_id, model_id) for image_id in image_ids for model_id in model_ids]


def compute_job_record(*, job_id: int, error: str | None = None) -> None:
    """Count one finished unit; close the job when every unit is counted."""
    with transaction.atomic():
        job = ComputeJob.objects.select_for_update().get(pk=job_id)
        if error is None:
            job.done_count = F("done_count") + 1
        else:
            job.failed_count = F("failed_count") + 1
            job.errors = [*job.errors, error][-50:]
        job.save(update_fields=["done_count", "failed_count", "errors"])
        job.refresh_from_db()
        if job.done_count + job.failed_count >= job.total and job.finished_at is None:
            job.status = ComputeJob.Status.FAILED if job.failed_count else ComputeJob.Status.DONE
            job.finished_at = timezone.now()
            job.save(update_fields=["status", "finished_at"])


def image_unit_compute(*, job_id: int, image_id: int, model_id: int) -> None:
    job = ComputeJob.objects.select_related("study").get(pk=job_id)
    image = Image.objects.get(pk=image_id)
    spec = ModelSpec.objects.get(pk=model_id)
    image_maps_compute(image=image, spec=spec, study=job.study)
