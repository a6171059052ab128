"""The expensive part of every results view and export: each model map's scores against its
human mean, and per image the number of analysed maps, the human mean's coverage and the
split-half ceiling.

Computed one image at a time (its painted maps decoded, its model maps scored in one batch)
and cached per image (Django's cache: Redis when CACHE_URL is set, else per process) under a
key made of everything that image's numbers depend on: its analysed annotations (so a new map,
an exclusion or a flag under ``exclude_flagged`` changes the key), the model maps scored
against it, the scoring parameters and the code version. A stale number is never served, and
new data recompute only the images they touch. With a time budget (the results page) the
computation stops once the budget is spent and says how far it got; the next call goes on
from there, as every finished image is already cached.
"""

import hashlib
import time
from dataclasses import dataclass, field

import numpy as np
from django.core.cache import cache

from analysis import study as study_analysis
from analysis.aggregate import mean_human_map, resize_map
from annotations.models import Annotation
from annotations.services import PAINTED_LEVEL
from explain.models import SaliencyMap
from study.models import Study
from study.selectors import (
    CEILING_SPLITS,
    METRICS,
    NO_FILTERS,
    SCORING,
    AnalysisFilters,
    analysed_annotations,
    study_saliency_maps,
)

CACHE_SECONDS = 7 * 24 * 3600
CEILING = study_analysis.Settings(n_splits=CEILING_SPLITS)


@dataclass
class ImageScores:
    n_maps: int  # analysed painted maps
    coverage: float  # share of pixels where the human mean >= PAINTED_LEVEL
    ceiling: tuple[float, float] | None  # (split-half, Spearman-Brown); None with one map
    scores: dict[int, np.ndarray]  # saliency map id -> its METRICS values


@dataclass
class StudyScores:
    scores: dict[int, np.ndarray] = field(default_factory=dict)  # saliency map id -> METRICS values
    n_maps: dict[int, int] = field(default_factory=dict)  # image id -> analysed painted maps
    coverage: dict[int, float] = field(default_factory=dict)
    ceilings: dict[int, tuple[float, float]] = field(default_factory=dict)  # images with >= 2 maps
    images_done: int = 0
    images_total: int = 0

    @property
    def complete(self) -> bool:
        return self.images_done == self.images_total

    def add(self, image_id: int, image: ImageScores) -> None:
        self.images_done += 1
        self.n_maps[image_id] = image.n_maps
        self.coverage[image_id] = image.coverage
        if image.ceiling is not None:
            self.ceilings[image_id] = image.ceiling
        self.scores.update(image.scores)


def study_scores(
    *, study: Study, filters: AnalysisFilters = NO_FILTERS, time_budget_s: float | None = None
) -> StudyScores:
    """The study's scores for these filters; images whose data have not changed come from
    the cache. With ``time_budget_s`` it stops computing once the budget is spent (after at
    least one image, so repeated calls always finish): check ``complete``."""
    started = time.perf_counter()
    annotations_by_image: dict[int, list] = {}
    for pk, image_id, created in (
        analysed_annotations(study=study, filters=filters)
        .order_by("trial__image_id", "pk")
        .values_list("pk", "trial__image_id", "created_at")
    ):
        annotations_by_image.setdefault(image_id, []).append((pk, created))
    images = [
        image_id
        for image_id, rows in annotations_by_image.items()
        if len(rows) >= max(1, filters.min_annotations)
    ]
    maps_by_image: dict[int, list] = {}
    for saliency_map in study_saliency_maps(study=study, with_arrays=False):
        # a variant has no human maps of its own: it is scored against its original's
        human_source = saliency_map.image.variant_of_id or saliency_map.image_id
        maps_by_image.setdefault(human_source, []).append((saliency_map.pk, saliency_map.created_at))
    common = _common_key_part()
    keys = {
        image_id: _image_key(
            common, image_id, annotations_by_image[image_id], maps_by_image.get(image_id, [])
        )
        for image_id in images
    }
    cached = cache.get_many(list(keys.values()))
    result = StudyScores(images_total=len(images))
    computed = 0
    for image_id in images:
        image = cached.get(keys[image_id])
        if image is None:
            spent = time.perf_counter() - started
            if time_budget_s is not None and computed and spent > time_budget_s:
                continue  # left for the next call
            computed += 1
            image = _compute_image(
                [pk for pk, _ in annotations_by_image[image_id]],
                [pk for pk, _ in maps_by_image.get(image_id, [])],
            )
            cache.set(keys[image_id], image, CACHE_SECONDS)
        result.add(image_id, image)
    return result


def _common_key_part() -> str:
    """What every image's numbers depend on besides its own data: the code and parameters."""
    from study.exports import code_version  # exports import the selectors, which import this module

    return "\n".join(str(part) for part in (code_version(), SCORING, CEILING, METRICS, PAINTED_LEVEL))


def _image_key(common: str, image_id: int, annotations: list, maps: list) -> str:
    digest = hashlib.sha256(common.encode())
    for pk, created in annotations:
        digest.update(f"a{pk},{created.isoformat()}\n".encode())
    for pk, created in maps:
        digest.update(f"m{pk},{created.isoformat()}\n".encode())
    return f"image-scores:{image_id}:{digest.hexdigest()}"


def _compute_image(annotation_ids: list[int], map_ids: list[int]) -> ImageScores:
    arrays = [
        annotation.map_array()
        for annotation in Annotation.objects.filter(pk__in=annotation_ids)
        .only("map_png", "bit_depth")
        .order_by("pk")
    ]
    human = mean_human_map(arrays)
    scores = {}
    if map_ids:
        saliency_maps = list(SaliencyMap.objects.filter(pk__in=map_ids).only("map_npy").order_by("pk"))
        block = np.stack([resize_map(m.map_array(), human.shape) for m in saliency_maps])
        for saliency_map, values in zip(saliency_maps, study_analysis.score_maps(block, human, SCORING)):
            scores[saliency_map.pk] = values
    ceiling = (
        study_analysis.split_half_ceiling(np.stack(arrays), CEILING, rng=0) if len(arrays) >= 2 else None
    )
    return ImageScores(
        n_maps=len(arrays),
        coverage=float(np.mean(human >= PAINTED_LEVEL)),
        ceiling=ceiling,
        scores=scores,
    )
