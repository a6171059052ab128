"""Reads for the results page's "Corruptions" and "Cue conflict" sections: agreement by
severity, how corruptions change the models' predictions, shape- against texture-target
agreement and the models' shape bias."""

from django.db.models import F

from analysis import summaries
from catalogue.models import Image
from explain.models import Prediction
from study.models import Study


def has_variants(study: Study) -> bool:
    return study.image_set.images.filter(variant_of__isnull=False).exists()


def is_cue_conflict(study: Study) -> bool:
    return study.target_policy == Study.TargetPolicy.SHAPE_AND_TEXTURE


# The summaries are analysis.summaries' (pure, shared with notebooks): the severity curves of
# the agreement rows, the prediction flips of ``prediction_changes``, shape against texture.
severity_curves = summaries.severity_curves
flip_summary = summaries.flip_summary
cue_conflict_agreement = summaries.cue_conflict_agreement


def _top1(prediction: Prediction) -> dict:
    return prediction.top5[0]


def _probability_of(prediction: Prediction, class_index: int | None) -> float | None:
    """The probability of ``class_index`` when it is among the stored top 5, else None."""
    for entry in prediction.top5:
        if entry["index"] == class_index:
            return float(entry["probability"])
    return None


def prediction_changes(*, study: Study) -> list[dict]:
    """Per variant x model with predictions for it and its original: both top-1 classes, the
    labelled class's probability before and after (None when outside the top 5) and whether
    the top-1 class flipped. Sorted by original, corruption, severity, model."""
    models = list(study.model_specs.all())
    predictions = {
        (p.image_id, p.model_id): p
        for p in Prediction.objects.filter(image__image_set=study.image_set, model__in=models)
    }
    variants = (
        Image.objects.filter(image_set=study.image_set, variant_of__isnull=False)
        .select_related("variant_of")
        .defer("target_mask_png", "ground_truth_mask_png", "variant_of__target_mask_png")
        .order_by("variant_of__name", "corruption", "severity")
    )
    rows = []
    for variant in variants:
        for model in sorted(models, key=lambda m: m.name):
            before = predictions.get((variant.variant_of_id, model.pk))
            after = predictions.get((variant.pk, model.pk))
            if before is None or after is None:
                continue
            rows.append(
                {
                    "original": variant.variant_of.name,
                    "variant": variant.name,
                    "corruption": variant.corruption,
                    "severity": variant.severity,
                    "model": model.name,
                    "class_name": variant.class_name,
                    "original_top1": _top1(before)["name"],
                    "original_top1_index": _top1(before)["index"],
                    "variant_top1": _top1(after)["name"],
                    "variant_top1_index": _top1(after)["index"],
                    "label_probability_original": _probability_of(before, variant.class_index),
                    "label_probability": _probability_of(after, variant.class_index),
                    "flipped": _top1(after)["index"] != _top1(before)["index"],
                }
            )
    return rows


def shape_bias(*, study: Study) -> list[dict]:
    """Per model, over the set's original cue-conflict images (a texture class that differs
    from the shape class): shape decisions / (shape + texture decisions), as Geirhos et al.
    (ICLR 2019), a decision being the top-1 class (ImageNet classes here, not their 16
    categories); images decided for neither are counted apart. None without any decision."""
    images = study.image_set.images.filter(
        variant_of__isnull=True, texture_class_index__isnull=False, class_index__isnull=False
    ).exclude(texture_class_index=F("class_index"))
    cues = {image.pk: (image.class_index, image.texture_class_index) for image in images}
    result = []
    for model in study.model_specs.order_by("name"):
        shape = texture = neither = 0
        for prediction in Prediction.objects.filter(model=model, image_id__in=list(cues)):
            top1 = _top1(prediction)["index"]
            shape_class, texture_class = cues[prediction.image_id]
            if top1 == shape_class:
                shape += 1
            elif top1 == texture_class:
                texture += 1
            else:
                neither += 1
        result.append(
            {
                "model": model.name,
                "shape": shape,
                "texture": texture,
                "neither": neither,
                "shape_bias": shape / (shape + texture) if shape + texture else None,
            }
        )
    return result
