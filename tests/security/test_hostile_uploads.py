"""Hostile uploads the existing tests (tests/annotations/test_submission.py,
tests/study/test_image_import.py, tests/study/test_image_admin.py) leave out. Each gets a 4xx
(or, in the admin's forms, the page again) with a message naming the problem, and nothing is
partially saved: no annotation row, the trial still pending, no image row, no media file."""

import io
import json
import zipfile

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage

from annotations.models import Annotation
from catalogue.models import Image
from study.models import Trial
from tests.conftest import gradient_image, media_files, post_annotation
from tests.security.conftest import png_claiming

WIDTH, HEIGHT = 160, 120  # the fixture images' size


def png(array: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    picture = PILImage.fromarray(array)
    (picture.convert(mode) if mode else picture).save(buffer, format="PNG")
    return buffer.getvalue()


def good_map() -> np.ndarray:
    values = np.zeros((HEIGHT, WIDTH), np.uint16)
    values[30:90, 40:120] = 60000
    return values


def other_format(kind: str) -> bytes:
    if kind == "ZIP":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("map.png", png(good_map()))
        return buffer.getvalue()
    buffer = io.BytesIO()
    PILImage.fromarray((good_map() >> 8).astype(np.uint8)).save(buffer, format=kind)
    return buffer.getvalue()


def assert_refused(response, trial, status: int, message: str):
    assert response.status_code == status, response.content[:300]
    assert message in response.json()["error"]
    assert Annotation.objects.count() == 0
    trial.refresh_from_db()
    trial.participant.refresh_from_db()
    assert trial.status == Trial.Status.PENDING and trial.completed_at is None
    assert trial.participant.finished_at is None


# ---------------------------------------------------------------- the participants' endpoint


def test_the_good_map_used_below_is_accepted(client, trial):
    """The baseline: every refusal below differs from this accepted submission in one part."""
    assert post_annotation(client, trial, png(good_map())).status_code == 200
    assert Annotation.objects.count() == 1


@pytest.mark.parametrize("field", ["time_on_task_ms", "canvas_width", "canvas_height", "device_pixel_ratio"])
@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-Infinity", "1e309", "12abc"])
def test_nan_inf_or_junk_in_a_numeric_field_is_refused_by_name(client, trial, field, value):
    assert_refused(post_annotation(client, trial, png(good_map()), **{field: value}), trial, 400, field)


@pytest.mark.parametrize(
    ("mode", "name"),
    [("RGBA", "RGBA"), ("P", "P"), ("1", "1"), ("LA", "LA"), ("RGB", "RGB")],
)
def test_a_colour_palette_bilevel_or_alpha_map_is_refused(client, trial, mode, name):
    eight_bit = (good_map() >> 8).astype(np.uint8)
    response = post_annotation(client, trial, png(eight_bit, mode))
    assert_refused(response, trial, 400, f"must be an 8- or 16-bit grayscale PNG, not mode {name}")


def test_a_truncated_png_is_refused(client, trial):
    noisy = np.random.default_rng(0).integers(1, 65535, (HEIGHT, WIDTH)).astype(np.uint16)
    whole = png(noisy)
    assert_refused(
        post_annotation(client, trial, whole[: len(whole) // 2]), trial, 400, "could not be decoded"
    )


@pytest.mark.parametrize(("width", "height"), [(1, 1), (WIDTH, HEIGHT + 1), (10_000, 10_000)])
def test_a_png_declaring_another_size_is_refused_before_decoding(client, trial, width, height):
    """The header alone decides: 10000 x 10000 x 16 bit would be 200 MB decoded."""
    response = post_annotation(client, trial, png_claiming(width, height, bit_depth=16))
    assert_refused(response, trial, 400, f"the map is {width}x{height} but the image is {WIDTH}x{HEIGHT}")


def test_a_png_declaring_100000_squared_pixels_is_refused_as_a_decompression_bomb(client, trial):
    """Past twice Pillow's MAX_IMAGE_PIXELS the header is refused as it is opened."""
    response = post_annotation(client, trial, png_claiming(100_000, 100_000, bit_depth=16))
    assert_refused(response, trial, 400, "could be decompression bomb")


def test_a_png_of_the_right_size_with_too_little_pixel_data_is_refused(client, trial):
    assert_refused(
        post_annotation(client, trial, png_claiming(WIDTH, HEIGHT)), trial, 400, "could not be decoded"
    )


@pytest.mark.parametrize("kind", ["JPEG", "GIF", "ZIP"])
def test_a_map_that_is_a_jpeg_gif_or_zip_is_refused(client, trial, kind):
    assert_refused(
        post_annotation(client, trial, other_format(kind)), trial, 400, "the map must be a PNG file"
    )


def test_an_empty_map_file_is_refused(client, trial):
    assert_refused(post_annotation(client, trial, b""), trial, 400, "the map must be a PNG file")


def test_a_map_file_far_over_the_limit_is_refused_without_being_read_whole(client, trial, settings):
    settings.ANNOTATION_MAX_BYTES = 4096
    content = png(good_map()) + b"\x00" * 200_000  # trailing junk after IEND
    assert_refused(post_annotation(client, trial, content), trial, 413, "larger than 4096 bytes")


def test_a_stroke_log_over_its_limit_is_413(client, trial):
    strokes = json.dumps([{"tool": "brush", "size": 20, "points": [[1, 2]] * 1_000_000}])  # about 8 MB
    assert_refused(post_annotation(client, trial, png(good_map()), strokes=strokes), trial, 413, "too large")


def test_form_fields_over_djangos_limit_are_a_400(client, trial, settings):
    """Over DATA_UPLOAD_MAX_MEMORY_SIZE Django itself refuses the form (before the view)."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = post_annotation(client, trial, png(good_map()), strokes="[" + "0," * 2000 + "0]")
    assert response.status_code == 400
    assert Annotation.objects.count() == 0
    trial.refresh_from_db()
    assert trial.status == Trial.Status.PENDING


@pytest.mark.parametrize("field", ["strokes", "focus_events"])
def test_deeply_nested_json_is_refused(client, trial, field):
    nested = "[" * 100_000 + "]" * 100_000  # 200 kB, below the size limit; once crashed the parser
    name = "the stroke log" if field == "strokes" else "focus_events"
    assert_refused(
        post_annotation(client, trial, png(good_map()), **{field: nested}),
        trial,
        400,
        f"{name} is nested too deeply",
    )


@pytest.mark.parametrize(
    ("strokes", "message"),
    [
        # NaN and infinities outside the points once reached the database, which PostgreSQL's
        # jsonb refuses (a 500); an over-long integer crashed the parser
        ('[{"tool": "brush", "size": NaN, "points": []}]', "finite numbers, not NaN"),
        ('[{"tool": "brush", "size": 1e999, "points": []}]', "finite numbers"),
        ('[{"tool": "brush", "points": [], "meta": {"a": [-Infinity]}}]', "finite numbers, not -Infinity"),
        ('[{"tool": "brush", "size": ' + "9" * 5000 + ', "points": []}]', "a number that is too long"),
    ],
)
def test_non_finite_or_huge_numbers_anywhere_in_the_stroke_log_are_refused(client, trial, strokes, message):
    assert_refused(post_annotation(client, trial, png(good_map()), strokes=strokes), trial, 400, message)


def test_nan_in_focus_events_is_refused(client, trial):
    response = post_annotation(client, trial, png(good_map()), focus_events='[["blur", NaN]]')
    assert_refused(response, trial, 400, "focus_events must contain only finite numbers")


# ------------------------------------------------------------------- the admin's uploads


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


def zip_of(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ([upload("zeros.zip", zip_of({"zeros.bmp": b"\x00" * (8 * 1024 * 1024)}))], "looks like a ZIP bomb"),
        (
            [upload("bomb.png", png_claiming(100_000, 100_000, colour_type=2))],
            "refused as a decompression bomb",
        ),
        ([upload("big.png", png_claiming(8000, 6000, colour_type=2))], "megapixels, more than the limit"),
        ([upload("notes.png", b"just some text")], "notes.png: not an image file"),
        ([upload("cut.png", gradient_image()[:400])], "cut.png: the image could not be decoded"),
        ([upload("broken.zip", b"PK\x03\x04 not really")], "broken.zip: not a readable ZIP file"),
        # one bad file refuses the whole upload: the good one is not added either
        (
            [upload("ok.png", gradient_image(seed=21)), upload("bad.png", b"nope")],
            "bad.png: not an image file",
        ),
    ],
)
def test_hostile_files_in_the_admin_bulk_upload_are_named_and_nothing_is_added(
    admin_client, media, image_set, files, message
):
    rows_before, files_before = Image.objects.count(), media_files(media)
    response = admin_client.post(f"/admin/catalogue/imageset/{image_set.pk}/upload/", {"files": files})
    page = response.content.decode()
    assert response.status_code == 400 and "Nothing was added" in page
    assert message in page
    assert Image.objects.count() == rows_before and media_files(media) == files_before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (png_claiming(100_000, 100_000, colour_type=2), "Upload a valid image"),
        (b"just some text", "Upload a valid image"),
    ],
)
def test_the_admin_single_image_form_refuses_bombs_and_non_images(
    admin_client, media, image_set, content, message
):
    rows_before, files_before = Image.objects.count(), media_files(media)
    response = admin_client.post(
        "/admin/catalogue/image/add/",
        {
            "image_set": image_set.pk,
            "name": "hostile",
            "file": upload("hostile.png", content),
            "class_name": "",
        },
    )
    assert response.status_code == 400 and message in response.content.decode()
    assert Image.objects.count() == rows_before and media_files(media) == files_before


def test_the_admin_target_painter_refuses_a_map_declaring_a_huge_size(admin_client, image_set):
    image = image_set.images.first()
    response = admin_client.post(
        f"/admin/catalogue/image/{image.pk}/regions/target",
        {"map": upload("map.png", png_claiming(100_000, 100_000, bit_depth=16))},
    )
    assert response.status_code == 400
    assert "could be decompression bomb" in response.json()["error"]
    image.refresh_from_db()
    assert image.target_mask_png is None
