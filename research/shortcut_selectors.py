"""Reads for the biased-model study: how much of each map's mass lies on the watermark
(the shortcut) against a same-sized control region elsewhere in the image."""

import numpy as np

from analysis import localisation, summaries
from analysis.human_maps import mean_map
from explain.models import Prediction
from research.inputs import BOOTSTRAP_RESAMPLES, human_maps, study_saliency_maps
from study.models import Study


def watermark_rows(*, study: Study) -> list[dict]:
    """One row per stored model map of an image that carries a watermark: the share of the
    map's positive mass on the watermark box and on its control box."""
    predicted = {
        (image_id, model_id): top5[0]["index"]
        for image_id, model_id, top5 in Prediction.objects.filter(
            image__image_set=study.image_set, model__in=study.model_specs.all()
        ).values_list("image_id", "model_id", "top5")
    }
    rows = []
    for saliency_map in study_saliency_maps(study=study):
        image = saliency_map.image
        if not image.watermark_box:
            continue
        on_mark, on_control = localisation.box_and_control_shares(
            saliency_map.map_array(), tuple(image.watermark_box), image.width, image.height
        )
        target = "label" if saliency_map.target_class == image.class_index else "predicted"
        rows.append(
            {
                "image": image.name,
                "class": image.class_name,
                "model": saliency_map.model.name,
                "method": saliency_map.method,
                "target_class": saliency_map.target_class,
                "target": target,
                "predicted_class": predicted.get((image.pk, saliency_map.model_id)),
                "on_watermark": on_mark,
                "on_control": on_control,
            }
        )
    return rows


def watermark_summary(rows: list[dict]) -> list[dict]:
    """``summaries.watermark_summary`` of ``watermark_rows``: per model x method x target, the
    mean share on the watermark with its bootstrap 95 % CI (BOOTSTRAP_RESAMPLES, seed 0), the
    mean share on the control region, and how often the watermark got more."""
    return summaries.watermark_summary(rows, n_resamples=BOOTSTRAP_RESAMPLES, seed=0)


def human_watermark_share(*, study: Study) -> dict | None:
    """The same shares for the participants' mean maps, or None when nobody has painted an
    image that carries a watermark."""
    images = {image.pk: image for image in study.image_set.images.filter(watermark_box__isnull=False)}
    shares = [
        localisation.box_and_control_shares(
            mean_map(arrays), tuple(image.watermark_box), image.width, image.height
        )
        for image_id, arrays in human_maps(study=study).items()
        if (image := images.get(image_id)) is not None
    ]
    if not shares:
        return None
    on_mark, on_control = np.array(shares, dtype=float).T
    return {
        "images": len(shares),
        "on_watermark": float(np.nanmean(on_mark)),
        "on_control": float(np.nanmean(on_control)),
    }
