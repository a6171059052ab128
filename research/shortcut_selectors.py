"""Reads for the biased-model study: how much of each map's mass lies on the watermark
(the shortcut) against a same-sized control region elsewhere in the image."""

from collections import defaultdict

import numpy as np

from analysis import localisation, stats
from analysis.aggregate import mean_human_map
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
    """Per model x method x target: mean share on the watermark with its bootstrap 95 % CI
    over images, the mean share on the control region, and how often the watermark got more."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row["model"], row["method"], row["target"])].append(row)
    summary = []
    for (model, method, target), members in sorted(groups.items()):
        on_mark = np.array([row["on_watermark"] for row in members], dtype=float)
        on_control = np.array([row["on_control"] for row in members], dtype=float)
        keep = np.isfinite(on_mark) & np.isfinite(on_control)
        low, high = stats.bootstrap_ci(on_mark[keep][None], n_resamples=BOOTSTRAP_RESAMPLES, rng=0)
        summary.append(
            {
                "model": model,
                "method": method,
                "target": target,
                "maps": int(keep.sum()),
                "on_watermark": float(on_mark[keep].mean()) if keep.any() else float("nan"),
                "ci_low": float(low[0]),
                "ci_high": float(high[0]),
                "on_control": float(on_control[keep].mean()) if keep.any() else float("nan"),
                "watermark_wins": float((on_mark[keep] > on_control[keep]).mean())
                if keep.any()
                else float("nan"),
            }
        )
    return summary


def human_watermark_share(*, study: Study) -> dict | None:
    """The same shares for the participants' mean maps, or None when nobody has painted an
    image that carries a watermark."""
    images = {image.pk: image for image in study.image_set.images.filter(watermark_box__isnull=False)}
    shares = [
        localisation.box_and_control_shares(
            mean_human_map(arrays), tuple(image.watermark_box), image.width, image.height
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
