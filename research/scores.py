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

from analysis import batch_scores
from analysis.human_maps import mean_map, resize_map
from annotations.models import Annotation
from annotations.services import PAINTED_LEVEL
from config.version import code_version
from explain.models import SaliencyMap
from research.inputs import (
    CEILING_SPLITS,
    METRICS,
    NO_FILTERS,
    SCORING,
    AnalysisFilters,
    analysed_annotations,
    study_saliency_maps,
)
from study.models import Study

CACHE_SECONDS = 7 * 24 * 3600
CEILING = batch_scores.Settings(n_splits=CEILING_SPLITS)
HIERARCHICAL_RESAMPLES = 1000


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
    images_total: int = 0

    @property
    def images_done(self) -> int:
        return len(self.n_maps)

    @property
    def complete(self) -> bool:
        return self.images_done == self.images_total

    def add(self, image_id: int, image: ImageScores) -> None:
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
    result = StudyScores()
    done = _per_image("scores", _image_data(study, filters), _compute_image, started, time_budget_s)
    result.images_total = len(done)
    for image_id, image in done.items():
        if image is not None:
            result.add(image_id, image)
    return result


@dataclass
class ParticipantDraws:
    """Per model map, its Spearman with the human mean in each of HIERARCHICAL_RESAMPLES
    resamples of the image's participants (``analysis.batch_scores.participant_bootstrap_spearman``)."""

    draws: dict[int, np.ndarray] = field(default_factory=dict)  # saliency map id -> (resamples,)
    images_done: int = 0
    images_total: int = 0

    @property
    def complete(self) -> bool:
        return self.images_done == self.images_total


def participant_draws(
    *, study: Study, filters: AnalysisFilters = NO_FILTERS, time_budget_s: float | None = None
) -> ParticipantDraws:
    """The inner level of the hierarchical bootstrap for every image, cached and resumable
    like ``study_scores`` (about 1,000 rankings per image, so this is the slow option)."""
    started = time.perf_counter()
    done = _per_image("draws", _image_data(study, filters), _compute_draws, started, time_budget_s)
    result = ParticipantDraws(images_total=len(done))
    for draws in done.values():
        if draws is not None:
            result.images_done += 1
            result.draws.update(draws)
    return result


def _image_data(study: Study, filters: AnalysisFilters) -> dict[int, tuple[list, list]]:
    """Image id -> ((annotation id, created), (saliency map id, created)) for every image
    with enough analysed maps: what an image's numbers are computed from."""
    annotations_by_image: dict[int, list] = {}
    for pk, image_id, created in (
        analysed_annotations(study=study, filters=filters)
        .order_by("trial__image_id", "pk")
        .values_list("pk", "trial__image_id", "created_at")
    ):
        annotations_by_image.setdefault(image_id, []).append((pk, created))
    maps_by_image: dict[int, list] = {}
    for saliency_map in study_saliency_maps(study=study, with_arrays=False):
        # a variant has no human maps of its own: it is scored against its original's
        human_source = saliency_map.image.variant_of_id or saliency_map.image_id
        maps_by_image.setdefault(human_source, []).append((saliency_map.pk, saliency_map.created_at))
    return {
        image_id: (annotations, maps_by_image.get(image_id, []))
        for image_id, annotations in annotations_by_image.items()
        if len(annotations) >= max(1, filters.min_annotations)
    }


def _per_image(kind: str, data: dict, compute, started: float, time_budget_s: float | None) -> dict:
    """Image id -> compute(annotation ids, map ids), from the cache or computed and cached;
    None for the images left for a later call once ``time_budget_s`` is spent."""
    common = _common_key_part(kind)
    keys = {image_id: _image_key(kind, common, image_id, *parts) for image_id, parts in data.items()}
    cached = cache.get_many(list(keys.values()))
    out = {}
    computed = 0
    for image_id, (annotations, maps) in data.items():
        value = cached.get(keys[image_id])
        if value is None:
            spent = time.perf_counter() - started
            if time_budget_s is not None and computed and spent > time_budget_s:
                out[image_id] = None  # left for the next call
                continue
            computed += 1
            value = compute([pk for pk, _ in annotations], [pk for pk, _ in maps])
            cache.set(keys[image_id], value, CACHE_SECONDS)
        out[image_id] = value
    return out


def _common_key_part(kind: str) -> str:
    """What every image's numbers depend on besides its own data: the code and parameters."""

    parts = (kind, code_version(), SCORING, CEILING, METRICS, PAINTED_LEVEL, HIERARCHICAL_RESAMPLES)
    return "\n".join(str(part) for part in parts)


def _image_key(kind: str, common: str, image_id: int, annotations: list, maps: list) -> str:
    digest = hashlib.sha256(common.encode())
    for pk, created in annotations:
        digest.update(f"a{pk},{created.isoformat()}\n".encode())
    for pk, created in maps:
        digest.update(f"m{pk},{created.isoformat()}\n".encode())
    return f"image-{kind}:{image_id}:{digest.hexdigest()}"


def _painted_maps(annotation_ids: list[int]) -> list[np.ndarray]:
    annotations = Annotation.objects.filter(pk__in=annotation_ids).only("map_png", "bit_depth")
    return [annotation.map_array() for annotation in annotations.order_by("pk")]


def _model_maps(map_ids: list[int], shape: tuple[int, int]) -> tuple[list[int], np.ndarray]:
    """(map ids, the maps resized to ``shape``), in id order."""
    saliency_maps = list(SaliencyMap.objects.filter(pk__in=map_ids).only("map_npy").order_by("pk"))
    block = np.stack([resize_map(m.map_array(), shape) for m in saliency_maps])
    return [m.pk for m in saliency_maps], block


def _compute_draws(annotation_ids: list[int], map_ids: list[int]) -> dict[int, np.ndarray]:
    if not map_ids:
        return {}
    arrays = _painted_maps(annotation_ids)
    ids, block = _model_maps(map_ids, arrays[0].shape)
    draws = batch_scores.participant_bootstrap_spearman(
        np.stack(arrays), block, n_resamples=HIERARCHICAL_RESAMPLES, rng=0
    )
    return dict(zip(ids, draws))


def _compute_image(annotation_ids: list[int], map_ids: list[int]) -> ImageScores:
    arrays = _painted_maps(annotation_ids)
    human = mean_map(arrays)
    scores = {}
    if map_ids:
        ids, block = _model_maps(map_ids, human.shape)
        scores = dict(zip(ids, batch_scores.score_maps(block, human, SCORING)))
    ceiling = None
    if len(arrays) >= 2:  # one person cannot be split
        ceiling = batch_scores.split_half_ceiling(np.stack(arrays), CEILING, rng=0)
    return ImageScores(
        n_maps=len(arrays),
        coverage=float(np.mean(human >= PAINTED_LEVEL)),
        ceiling=ceiling,
        scores=scores,
    )
