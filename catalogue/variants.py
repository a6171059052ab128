"""Writes for corruption variants: corrupted copies of an image, stored in the same set and
linked to their original. The models compute them like any image; participants never see
them (participant_start draws originals only); the analysis scores their maps against the
human mean of the original."""

from django.db import transaction
from PIL import Image as PILImage

from analysis.codec import png_bytes
from catalogue import corruptions
from catalogue.models import Image, ImageSet
from catalogue.services import image_create

# The five; the admin form and make_variants offer every corruption in catalogue.corruptions.
DEFAULT_CORRUPTIONS = ("glass_blur", "gaussian_noise", "motion_blur", "contrast", "jpeg_compression")

# Copied from the original: a corruption changes pixels, not what or where the object is.
COPIED_FIELDS = (
    "class_index",
    "class_name",
    "texture_class_index",
    "texture_class_name",
    "ground_truth_mask_png",
    "ground_truth_boxes",
    "watermark_box",
)


def variant_name(image: Image, corruption: str, severity: int) -> str:
    return f"{image.name}__{corruption}-{severity}"


def parse_severities(text: str) -> list[int]:
    """ "1-5", "2", "1,3,5" or "1-2,4" -> sorted severities; ValueError for anything else."""
    severities: set[int] = set()
    try:
        for part in text.split(","):
            low, dash, high = part.strip().partition("-")
            first, last = int(low), int(high if dash else low)
            if first > last:
                raise ValueError
            severities.update(range(first, last + 1))
    except ValueError:
        raise ValueError(f"severities must look like 1-5, 3 or 1,3,5, not {text!r}") from None
    return sorted(severities)


def check_request(corruption_names: list[str], severities: list[int]) -> None:
    """ValueError, naming what is allowed, for an empty list, an unknown corruption or a
    severity outside 1-5."""
    if not corruption_names or not severities:
        raise ValueError("choose at least one corruption and one severity")
    for name in corruption_names:
        corruptions.check(name, 1)
    for severity in severities:
        corruptions.check(corruption_names[0], severity)


def _check_original(image: Image) -> None:
    if image.variant_of_id is not None:
        raise ValueError(f"{image.name} is itself a variant; corrupt its original instead")
    if image.is_practice or image.is_attention_check:
        raise ValueError(f"{image.name} is a practice or attention-check image, never analysed: no variants")


def image_variants_create(
    *, image: Image, corruptions: list[str], severities: list[int], seed: int = 0
) -> list[Image]:
    """One variant of ``image`` per corruption x severity, in its set, labels copied; an
    existing variant is reused, not made again. Everything is checked before anything is
    written, and all are saved together or none."""
    names, levels = list(dict.fromkeys(corruptions)), sorted(set(severities))
    check_request(names, levels)
    _check_original(image)
    with image.file.open("rb") as handle, PILImage.open(handle) as picture:
        picture.load()
        original = picture.convert("RGB")
    variants = []
    with transaction.atomic():
        for name in names:
            for severity in levels:
                existing = Image.objects.filter(variant_of=image, corruption=name, severity=severity).first()
                if existing:
                    variants.append(existing)
                    continue
                variants.append(_variant_create(image, original, name, severity, seed))
    return variants


def _variant_create(
    image: Image, original: PILImage.Image, corruption: str, severity: int, seed: int
) -> Image:
    name = variant_name(image, corruption, severity)
    if Image.objects.filter(image_set=image.image_set, name=name).exists():
        raise ValueError(f"the set already has an image named {name} that is not this variant")
    content = png_bytes(corruptions.corrupt(original, corruption, severity, seed=seed))
    variant = image_create(image_set=image.image_set, name=name, content=content, filename=f"{name}.png")
    if variant.variant_of_id is not None or variant.name != name:  # same pixels as another image
        raise ValueError(f"{name} comes out identical to {variant.name}; nothing was saved")
    for field in COPIED_FIELDS:
        setattr(variant, field, getattr(image, field))
    variant.variant_of, variant.corruption, variant.severity = image, corruption, severity
    variant.save()
    return variant


def image_set_variants_create(
    *, image_set: ImageSet, corruptions: list[str], severities: list[int], seed: int = 0
) -> list[Image]:
    """Variants of every original main image of the set (practice and attention-check
    images are never analysed, so they get none); all or nothing."""
    check_request(list(corruptions), list(severities))
    originals = image_set.images.filter(variant_of__isnull=True, is_practice=False, is_attention_check=False)
    with transaction.atomic():
        return [
            variant
            for image in originals.order_by("name")
            for variant in image_variants_create(
                image=image, corruptions=corruptions, severities=severities, seed=seed
            )
        ]
