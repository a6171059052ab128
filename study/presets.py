"""Ready-made studies: one call sets up each of the seed experiments with sensible defaults
from an image set the admin picks. Used by the admin's "New study from a template" page and
by `manage.py create_study`."""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify

from catalogue.models import Image, ImageSet
from catalogue.variants import DEFAULT_CORRUPTIONS
from explain.models import ModelSpec
from explain.samples import BIASED_IMAGE_SET_NAME, BIASED_MODEL_NAME
from explain.services import offline_models_ensure
from study.models import Study

DEFAULT_SEVERITIES = (1, 3, 5)


@dataclass(frozen=True)
class Preset:
    template: str
    description: str
    methods: tuple[str, ...]
    target_policy: str
    min_models: int


PRESETS = {
    preset.template: preset
    for preset in (
        Preset(
            Study.Template.COMPARE_MODELS,
            "Two or more models on the same images: which one looks where people look? With no "
            "model chosen, the three offline ImageNet models (EfficientNet-Lite0, -Lite1, -Lite2).",
            ("xrai", "integrated_gradients"),
            Study.TargetPolicy.LABEL_OR_PREDICTED,
            2,
        ),
        Preset(
            Study.Template.CORRUPTIONS,
            "Maps on corrupted copies (ImageNet-C style) of each image, compared with the human "
            "map of the original; participants see only the originals.",
            ("xrai", "integrated_gradients"),
            Study.TargetPolicy.LABEL_OR_PREDICTED,
            1,
        ),
        Preset(
            Study.Template.CUE_CONFLICT,
            "Shape-versus-texture cue-conflict images: maps for the shape class and for the texture "
            "class, and each model's shape bias.",
            ("xrai", "integrated_gradients"),
            Study.TargetPolicy.SHAPE_AND_TEXTURE,
            1,
        ),
        Preset(
            Study.Template.BIASED_MODEL,
            "The built-in watermark CNN on its test images: do the maps reveal the shortcut? "
            "Reports each map's mass on the watermark.",
            ("xrai", "integrated_gradients"),
            Study.TargetPolicy.LABEL_AND_PREDICTED,
            1,
        ),
    )
}


class PresetError(ValueError):
    """A ready-made study cannot be made from these choices; the message says why."""


def _main_originals(image_set: ImageSet):
    return image_set.images.filter(variant_of__isnull=True, is_practice=False, is_attention_check=False)


def _free_slug(base: str) -> str:
    slug, suffix = base, 2
    while Study.objects.filter(slug=slug).exists():
        slug, suffix = f"{base}-{suffix}", suffix + 1
    return slug


def study_from_template(
    *,
    template: str,
    image_set: ImageSet | None = None,
    models: list[ModelSpec] | None = None,
    title: str = "",
    slug: str = "",
    methods: list[str] | None = None,
    corruptions: list[str] | None = None,
    severities: list[int] | None = None,
) -> Study:
    """Create an open study from one of PRESETS, checking first that the image set and the
    models suit it; nothing is saved when a check fails."""
    if template not in PRESETS:
        raise PresetError(f"unknown template {template!r}; known: {', '.join(PRESETS)}")
    preset = PRESETS[template]
    models = list(models or [])
    if template == Study.Template.BIASED_MODEL:
        image_set, models = _biased_model_parts(image_set, models)
    # With no model chosen, a real comparison that needs no network and no upload.
    offline_default = template == Study.Template.COMPARE_MODELS and not models
    if image_set is None:
        raise PresetError("choose an image set")
    if len(models) < preset.min_models and not offline_default:
        raise PresetError(
            f"the {Study.Template(template).label.lower()} template needs at least "
            f"{preset.min_models} model{'s' if preset.min_models > 1 else ''}"
        )
    originals = _main_originals(image_set)
    if not originals.exists():
        raise PresetError(
            f"image set {image_set.name!r} has no images to show participants "
            "(all are practice, attention checks or variants)"
        )
    if template == Study.Template.CUE_CONFLICT:
        missing = originals.filter(texture_class_index__isnull=True).count()
        if missing == originals.count():
            raise PresetError(
                f"no image in {image_set.name!r} has a texture label; import the "
                "cue-conflict images with a texture_label column"
            )
    methods = list(methods or preset.methods)
    title = title or f"{Study.Template(template).label}: {image_set.name}"
    with transaction.atomic():
        study = Study(
            slug=slug or _free_slug(slugify(title)[:45] or template),
            title=title,
            image_set=image_set,
            methods=methods,
            target_policy=preset.target_policy,
            template=template,
            trials_per_participant=min(20, originals.count()),
            practice_trials=min(1, image_set.images.filter(is_practice=True).count()),
            attention_checks=min(
                1, image_set.images.filter(is_attention_check=True, target_mask_png__isnull=False).count()
            ),
        )
        try:
            study.full_clean()
        except ValidationError as error:
            raise PresetError(
                "; ".join(f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items())
            ) from None
        study.save()
        study.model_specs.set(offline_models_ensure() if offline_default else models)
        if template == Study.Template.CORRUPTIONS:
            _make_variants(originals, corruptions or DEFAULT_CORRUPTIONS, severities or DEFAULT_SEVERITIES)
    return study


def _biased_model_parts(image_set, models):
    model = ModelSpec.objects.filter(name=BIASED_MODEL_NAME).first()
    test_set = image_set or ImageSet.objects.filter(name=BIASED_IMAGE_SET_NAME).first()
    if model is None or test_set is None:
        raise PresetError("the biased model is not trained yet: run `python manage.py train_biased_model`")
    return test_set, [model, *[m for m in models if m.pk != model.pk]]


def _make_variants(originals, corruptions, severities) -> list[Image]:
    from catalogue.variants import image_variants_create

    variants = []
    for image in originals:
        variants += image_variants_create(
            image=image, corruptions=list(corruptions), severities=list(severities)
        )
    return variants
