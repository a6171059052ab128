"""Corruption variants: the service, the make_variants command and the admin action."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image as PILImage

from catalogue.models import Image
from catalogue.services import image_create
from catalogue.variants import image_variants_create, parse_severities
from tests.conftest import gradient_image


def pixels_size(image: Image) -> tuple[int, int, str]:
    with image.file.open("rb") as handle, PILImage.open(handle) as picture:
        return picture.width, picture.height, picture.mode


def test_variants_have_the_originals_size_labels_and_links(image_set):
    odd = image_create(
        image_set=image_set,
        name="odd",
        content=gradient_image(width=97, height=61, seed=5),
        filename="odd.png",
        class_index=281,
        class_name="tabby",
    )
    odd.texture_class_index, odd.texture_class_name = 340, "zebra"
    odd.save()
    variants = image_variants_create(
        image=odd,
        corruptions=["glass_blur", "gaussian_noise", "motion_blur", "contrast", "jpeg_compression"],
        severities=[1, 5],
    )
    assert len(variants) == 10
    for variant in variants:
        assert (variant.width, variant.height) == (97, 61)
        assert pixels_size(variant) == (97, 61, "RGB")
        assert variant.variant_of == odd and variant.image_set == image_set
        assert variant.name == f"odd__{variant.corruption}-{variant.severity}"
        assert (variant.class_index, variant.class_name) == (281, "tabby")
        assert (variant.texture_class_index, variant.texture_class_name) == (340, "zebra")
        assert variant.thumbnail  # made by image_create like any image
    assert {(v.corruption, v.severity) for v in variants} == {
        (c, s)
        for c in ["glass_blur", "gaussian_noise", "motion_blur", "contrast", "jpeg_compression"]
        for s in (1, 5)
    }


def test_variants_are_reused_not_made_twice(image_set):
    original = image_set.images.get(name="img0")
    first = image_variants_create(image=original, corruptions=["contrast"], severities=[2, 4])
    again = image_variants_create(image=original, corruptions=["contrast"], severities=[4, 2, 3])
    assert [v.pk for v in again[:1]] == [first[0].pk] and again[2].pk == first[1].pk
    assert original.variants.count() == 3


@pytest.mark.parametrize(
    "corruptions, severities, message",
    [
        (["contrast", "snow"], [1], "unknown corruption 'snow'"),
        (["contrast"], [1, 6], "severity must be an integer from 1 to 5"),
        (["contrast"], [0], "severity must be an integer from 1 to 5"),
        ([], [1], "at least one corruption"),
    ],
)
def test_bad_requests_are_clear_errors_and_save_nothing(image_set, corruptions, severities, message):
    before = Image.objects.count()
    with pytest.raises(ValueError, match=message):
        image_variants_create(
            image=image_set.images.get(name="img0"), corruptions=corruptions, severities=severities
        )
    assert Image.objects.count() == before


def test_variants_of_variants_or_practice_images_are_refused(image_set):
    original = image_set.images.get(name="img0")
    (variant,) = image_variants_create(image=original, corruptions=["pixelate"], severities=[3])
    with pytest.raises(ValueError, match="itself a variant"):
        image_variants_create(image=variant, corruptions=["contrast"], severities=[1])
    original.is_practice = True
    original.save()
    with pytest.raises(ValueError, match="practice or attention-check"):
        image_variants_create(image=original, corruptions=["contrast"], severities=[1])


def test_parse_severities():
    assert parse_severities("1-5") == [1, 2, 3, 4, 5]
    assert parse_severities("1,3, 5") == [1, 3, 5]
    assert parse_severities("2-3,5") == [2, 3, 5]
    for text in ("", "a", "3-1", "1-"):
        with pytest.raises(ValueError, match="severities must look like"):
            parse_severities(text)


def test_make_variants_command_corrupts_every_main_image(image_set):
    image_set.images.filter(name="img3").update(is_practice=True)
    out = io.StringIO()
    call_command(
        "make_variants",
        "--set",
        "test set",
        "--corruptions",
        "contrast,jpeg_compression",
        "--severities",
        "1,5",
        stdout=out,
    )
    assert "12 variants" in out.getvalue()  # 3 main images x 2 corruptions x 2 severities
    assert not Image.objects.filter(variant_of__name="img3").exists()
    call_command(
        "make_variants", "--set", "test set", "--corruptions", "contrast", "--severities", "1", stdout=out
    )
    assert Image.objects.filter(variant_of__isnull=False).count() == 12  # reused
    with pytest.raises(CommandError, match="unknown corruption 'fog'"):
        call_command("make_variants", "--set", "test set", "--corruptions", "fog")
    with pytest.raises(CommandError, match="no image set named 'nope'"):
        call_command("make_variants", "--set", "nope")


def test_admin_action_asks_then_generates(admin_client, image_set):
    ids = list(image_set.images.filter(name__in=["img0", "img1"]).values_list("pk", flat=True))
    url = "/admin/catalogue/image/"
    form = admin_client.post(url, {"action": "generate_variants", "_selected_action": ids})
    assert form.status_code == 200 and b'id="variants-form"' in form.content
    assert not Image.objects.filter(variant_of__isnull=False).exists()
    done = admin_client.post(
        url,
        {
            "action": "generate_variants",
            "_selected_action": ids,
            "apply": "1",
            "corruptions": ["contrast"],
            "severities": ["2", "3"],
            "seed": "0",
        },
    )
    assert done.status_code == 302
    assert Image.objects.filter(variant_of__pk__in=ids, corruption="contrast").count() == 4
    sets = admin_client.post(
        "/admin/catalogue/imageset/",
        {
            "action": "generate_variants",
            "_selected_action": [image_set.pk],
            "apply": "1",
            "corruptions": ["pixelate"],
            "severities": ["1"],
            "seed": "0",
        },
    )
    assert sets.status_code == 302
    assert Image.objects.filter(corruption="pixelate").count() == 4  # every original of the set
