"""What "Compute model maps" would do before it is queued: how many image x model units, how
many of them have every map stored already, and how long the rest should take, from the
measured runtime of earlier maps of the same model, method and parameters."""

from collections import defaultdict
from dataclasses import dataclass, field

from explain.models import SaliencyMap
from explain.saliency.registry import method_params, params_hash
from explain.selectors import format_duration, map_runtime_medians
from explain.targets import TargetPolicy
from study.models import Study
from study.services import study_compute_images


@dataclass(frozen=True)
class ComputeEstimate:
    units: int  # image x model
    cached: int  # units whose every method's map is stored already
    seconds: float | None  # None: some model x method has no earlier map to measure from
    unmeasured: list[str] = field(default_factory=list)  # "model · method" without one

    @property
    def to_compute(self) -> int:
        return self.units - self.cached

    def time_text(self) -> str:
        if self.to_compute == 0:
            return "nothing to compute"
        if self.seconds is None:
            return f"time unknown (no earlier map of {', '.join(self.unmeasured)} to measure from)"
        return f"about {format_duration(self.seconds) or '0 s'} of computing on one worker"

    def text(self) -> str:
        """'10 image x model units: 8 to compute, 2 stored already; about 3 min 20 s of computing
        on one worker'"""
        return (
            f"{self.units} image x model unit{'s' if self.units != 1 else ''}: {self.to_compute} to compute, "
            f"{self.cached} stored already; {self.time_text()}"
        )


def study_compute_estimate(*, study: Study) -> ComputeEstimate:
    """The units a compute job of the study would have, those already complete, and the time
    of the others: per unit, the sum over the study's methods of the median runtime of the
    stored maps of that model and method at the study's parameters (times two classes for
    cue-conflict images with a texture label). Model loading and predictions are not in it."""
    hashes = {
        method: params_hash(method_params(method, study.method_params.get(method)))
        for method in study.methods
    }
    images = list(study_compute_images(study).values_list("pk", "texture_class_index"))
    model_ids = list(study.model_specs.order_by("pk").values_list("pk", flat=True))
    names = dict(study.model_specs.values_list("pk", "name"))
    stored = defaultdict(set)  # (image, model) -> methods with a map at the study's parameters
    for image_id, model_id, method, map_hash in SaliencyMap.objects.filter(
        image_id__in=study_compute_images(study).values("pk"),
        model_id__in=model_ids,
        method__in=study.methods,
    ).values_list("image_id", "model_id", "method", "params_hash"):
        if hashes.get(method) == map_hash:
            stored[image_id, model_id].add(method)
    medians = map_runtime_medians(model_ids=model_ids, params_hashes=hashes)
    cached, seconds, unmeasured = 0, 0.0, set()
    for image_id, texture in images:
        targets = 2 if study.target_policy == TargetPolicy.SHAPE_AND_TEXTURE and texture is not None else 1
        for model_id in model_ids:
            missing = [method for method in study.methods if method not in stored[image_id, model_id]]
            if not missing:
                cached += 1
                continue
            for method in missing:
                if (model_id, method) in medians:
                    seconds += targets * medians[model_id, method]
                else:
                    unmeasured.add(f"{names[model_id]} · {method}")
    return ComputeEstimate(
        units=len(images) * len(model_ids),
        cached=cached,
        seconds=None if unmeasured else seconds,
        unmeasured=sorted(unmeasured),
    )
