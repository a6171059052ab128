"""The expensive part of every results view and export, computed once per state of the data:
each model map's scores against its human mean, and per image the number of analysed maps,
the human mean's coverage and the split-half ceiling.

The result is cached (Django's cache: Redis when CACHE_URL is set, else per process) under a
key made of everything it depends on: the analysed annotations (so a new map, an exclusion or
a flag under ``exclude_flagged`` is a new key), the study's model maps, the filters, the
scoring parameters and the code version. A stale result is never served; an unused one
expires. Painted maps are decoded one image at a time, so memory stays at one image's maps.
"""

import hashlib
from dataclasses import dataclass
from itertools import groupby

import numpy as np
from django.core.cache import cache
from django.db.models import F

from analysis import study as study_analysis
from analysis.aggregate import mean_human_map, resize_map
from annotations.services import PAINTED_LEVEL
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
class StudyScores:
    scores: dict[int, np.ndarray]  # saliency map id -> its METRICS values
    n_maps: dict[int, int]  # image id -> analysed painted maps (images kept by the filters)
    coverage: dict[int, float]  # image id -> share of pixels where the human mean >= PAINTED_LEVEL
    ceilings: dict[int, tuple[float, float]]  # image id -> (split-half, Spearman-Brown); >= 2 maps


def study_scores(*, study: Study, filters: AnalysisFilters = NO_FILTERS) -> StudyScores:
    """The study's scores for these filters, from the cache when the data have not changed."""
    annotations = list(
        analysed_annotations(study=study, filters=filters)
        .order_by("trial__image_id", "pk")
        .values_list("pk", "trial__image_id", "created_at")
    )
    maps = study_saliency_maps(study=study, with_arrays=False)
    key = _cache_key(study, filters, annotations, maps)
    cached = cache.get(key)
    if cached is None:
        cached = _compute(study, filters)
        cache.set(key, cached, CACHE_SECONDS)
    return cached


def _cache_key(study: Study, filters: AnalysisFilters, annotations: list, maps: list) -> str:
    from study.exports import code_version  # exports import the selectors, which import this module

    digest = hashlib.sha256()
    for part in (
        code_version(),
        repr(SCORING),
        repr(CEILING),
        repr(METRICS),
        study.pk,
        repr(filters),
        PAINTED_LEVEL,
    ):
        digest.update(f"{part}\n".encode())
    for pk, image_id, created in annotations:
        digest.update(f"a{pk},{image_id},{created.isoformat()}\n".encode())
    for saliency_map in maps:
        digest.update(f"m{saliency_map.pk},{saliency_map.created_at.isoformat()}\n".encode())
    return f"study-scores:{study.pk}:{digest.hexdigest()}"


def _compute(study: Study, filters: AnalysisFilters) -> StudyScores:
    maps_by_human: dict[int, list] = {}
    for saliency_map in study_saliency_maps(study=study):
        # a variant has no human maps of its own: it is scored against its original's
        human_source = saliency_map.image.variant_of_id or saliency_map.image_id
        maps_by_human.setdefault(human_source, []).append(saliency_map)
    annotations = (
        analysed_annotations(study=study, filters=filters)
        .annotate(image=F("trial__image_id"))
        .only("map_png", "bit_depth")
        .order_by("image", "pk")
        .iterator(chunk_size=64)
    )
    result = StudyScores(scores={}, n_maps={}, coverage={}, ceilings={})
    for image_id, group in groupby(annotations, key=lambda annotation: annotation.image):
        arrays = [annotation.map_array() for annotation in group]
        if len(arrays) < filters.min_annotations:
            continue
        human = mean_human_map(arrays)
        result.n_maps[image_id] = len(arrays)
        result.coverage[image_id] = float(np.mean(human >= PAINTED_LEVEL))
        if len(arrays) >= 2:
            result.ceilings[image_id] = study_analysis.split_half_ceiling(np.stack(arrays), CEILING, rng=0)
        group_maps = maps_by_human.get(image_id, [])
        if group_maps:
            block = np.stack([resize_map(m.map_array(), human.shape) for m in group_maps])
            for saliency_map, values in zip(group_maps, study_analysis.score_maps(block, human, SCORING)):
                result.scores[saliency_map.pk] = values
    return result
