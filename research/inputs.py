"""What the researcher side analyses: the filters, the analysed painted maps and human
means, the study's model maps, and the scoring settings every result is computed with."""

from collections import defaultdict
from dataclasses import asdict, dataclass
from urllib.parse import urlencode

import numpy as np

from analysis import batch_scores, metrics
from analysis.human_maps import mean_map, resize_map
from annotations.models import Annotation
from annotations.services import PAINTED_LEVEL
from catalogue.models import Image
from explain.models import SaliencyMap
from explain.saliency.registry import method_params, params_hash
from study.models import Study, Trial

# The metrics the platform reports, in column order: all of ``analysis.metrics``, top-k at 30 %.
SCORING = batch_scores.Settings(topk=(0.3,))
METRICS = tuple(SCORING.columns())
CEILING_SPLITS = 50
BOOTSTRAP_RESAMPLES = 1000
ANALYSIS_PARAMS = {
    "human_normalisation": "min-max per participant map, then per-pixel mean",
    "comparison_resolution": "the image's own; model maps resized bilinearly",
    "metrics": {
        "spearman": "Spearman rank correlation of flattened maps",
        "cc": "Pearson correlation of z-scored maps (MIT benchmark)",
        "sim": "histogram intersection after min-max then sum-to-one (MIT benchmark)",
        "kld": "KL divergence of the human map from the model map, eps 2.2204e-16 (MIT); lower is better",
        "nss": "mean z-scored model map over the human map's top 10 % pixels",
        "auc_judd": "AUC-Judd, human map binarised at its top 10 % (MIT, exact tie average)",
        "auc_borji": "AUC-Borji, 100 splits of uniform negatives, step 0.1, seed 0 (MIT)",
        "top30_iou": "IoU of pixels strictly above each map's 70th percentile",
        "top30_dice": "Dice of pixels strictly above each map's 70th percentile",
        "emd": "exact EMD on a grid of 1/32 of the map size, histogram-matched (MIT); lower is better",
    },
    "noise_ceiling": f"split-half Spearman of participant halves, {CEILING_SPLITS} random splits, seed 0; "
    "Spearman-Brown corrected value alongside",
    "confidence_intervals": f"percentile bootstrap over images, {BOOTSTRAP_RESAMPLES} resamples, seed 0",
    "human_coverage": f"share of the image's pixels where the human mean is >= {PAINTED_LEVEL}",
}
REGION_PERCENTS = (10, 30)  # the top-k regions the gallery shows


@dataclass(frozen=True)
class AnalysisFilters:
    """The results page's choice of painted maps, on top of the fixed rules (done main trials
    of participants not screened out)."""

    exclude_flagged: bool = False  # leave out participants who failed an attention check
    min_annotations: int = 0  # only images with at least this many analysed maps
    # Maps the server flagged at submission (Annotation.flags: blank, too fast, strokes that
    # do not paint the map, an impossible timeout) are left out unless this is set.
    include_flagged_maps: bool = False

    def as_params(self) -> dict:
        return asdict(self)

    def query_string(self) -> str:
        """The filters that are set, as a query string ("" when none is), for links that
        must honour them."""
        params = {}
        if self.exclude_flagged:
            params["exclude_flagged"] = "1"
        if self.min_annotations:
            params["min_annotations"] = str(self.min_annotations)
        if self.include_flagged_maps:
            params["include_flagged_maps"] = "1"
        return urlencode(params)


NO_FILTERS = AnalysisFilters()


def analysis_params(filters: AnalysisFilters = NO_FILTERS) -> dict:
    """ANALYSIS_PARAMS with the filters that chose the maps: what the filtered exports record."""
    return {**ANALYSIS_PARAMS, "filters": filters.as_params()}


def analysed_annotations(*, study: Study, filters: AnalysisFilters = NO_FILTERS):
    """Main-trial annotations of participants neither screened out nor excluded by a
    researcher (practice and attention checks are never analysed), without data-quality flags
    unless ``filters.include_flagged_maps``, and of participants not flagged when
    ``filters.exclude_flagged``."""
    annotations = Annotation.objects.filter(
        trial__participant__study=study,
        trial__status=Trial.Status.DONE,
        trial__kind=Trial.Kind.MAIN,
        trial__participant__screened_out=False,
        trial__participant__excluded=False,
    )
    if not filters.include_flagged_maps:
        annotations = annotations.filter(flags=[])
    if filters.exclude_flagged:
        annotations = annotations.filter(trial__participant__flagged=False)
    return annotations


def human_maps(*, study: Study, filters: AnalysisFilters = NO_FILTERS) -> dict[int, list[np.ndarray]]:
    """Image id -> the participants' painted maps, (H,W) float32 in [0,1]; only images with
    at least ``filters.min_annotations`` of them."""
    annotations = analysed_annotations(study=study, filters=filters).select_related("trial")
    maps: dict[int, list[np.ndarray]] = defaultdict(list)
    for annotation in annotations:
        maps[annotation.trial.image_id].append(annotation.map_array())
    return {image_id: arrays for image_id, arrays in maps.items() if len(arrays) >= filters.min_annotations}


def human_mean(
    *, study: Study, image: Image, filters: AnalysisFilters = NO_FILTERS
) -> tuple[np.ndarray | None, int]:
    """(The image's human mean map, or None when it has no analysed map or fewer than the
    filters ask for; the number of analysed maps)."""
    annotations = analysed_annotations(study=study, filters=filters).filter(trial__image=image)
    arrays = [annotation.map_array() for annotation in annotations]
    if len(arrays) < max(1, filters.min_annotations):
        return None, len(arrays)
    return mean_map(arrays), len(arrays)


def human_mean_region(
    *, study: Study, image: Image, percent: int, filters: AnalysisFilters = NO_FILTERS
) -> np.ndarray | None:
    """The human mean's top ``percent`` % pixels (boolean, the image's resolution), or None."""
    mean, _ = human_mean(study=study, image=image, filters=filters)
    return None if mean is None else metrics.topk_mask(mean, percent / 100)


def model_map_region(saliency_map: SaliencyMap, *, percent: int) -> np.ndarray:
    """The model map's top ``percent`` % pixels, taken after resizing it to the image's
    resolution as the agreement metrics do."""
    image = saliency_map.image
    return metrics.topk_mask(resize_map(saliency_map.map_array(), (image.height, image.width)), percent / 100)


def study_saliency_maps(*, study: Study, with_arrays: bool = True):
    """The stored maps of the study's images, models and methods at the study's parameters.
    ``with_arrays=False`` leaves the map bytes in the database, for listings."""
    hashes = {
        method: params_hash(method_params(method, study.method_params.get(method)))
        for method in study.methods
    }
    maps = (
        SaliencyMap.objects.filter(
            image__image_set=study.image_set, model__in=study.model_specs.all(), method__in=study.methods
        )
        .select_related("image", "model")
        .order_by("image__name", "model__name", "method", "target_class")
    )
    if not with_arrays:
        maps = maps.defer("map_npy", "ranks_npy")
    return [m for m in maps if hashes.get(m.method) == m.params_hash]
