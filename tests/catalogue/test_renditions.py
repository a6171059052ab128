"""Display renditions: WebP/JPEG copies at the sizes participants see, the originals untouched,
served to the participant whose trial it is with a long cache lifetime."""

import io
import re
from pathlib import Path

import numpy as np
import pytest
import skimage
from django.core.management import call_command
from PIL import Image as PILImage

from catalogue.models import Image
from catalogue.renditions import make_renditions, rendition_widths
from catalogue.services import image_create
from study.services import participant_instructions_seen, participant_start
from tests.conftest import media_files, png_bytes

ASTRONAUT = Path(skimage.__file__).parent / "data" / "astronaut.png"


@pytest.mark.parametrize(
    "original, widths",
    [
        (300, [300]),  # smaller than every standard width: only its own
        (480, [480]),
        (512, [480, 512]),
        (1200, [480, 800, 1200]),
        (1601, [480, 800, 1200, 1600]),  # never wider than 1600
        (4000, [480, 800, 1200, 1600]),
    ],
)
def test_the_widths_offered_never_exceed_the_original(original, widths):
    assert rendition_widths(original) == widths


def quadrants(width: int, height: int) -> np.ndarray:
    """Red top left, green top right, blue bottom left, white bottom right."""
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[: height // 2, : width // 2] = (255, 0, 0)
    rgb[: height // 2, width // 2 :] = (0, 255, 0)
    rgb[height // 2 :, : width // 2] = (0, 0, 255)
    rgb[height // 2 :, width // 2 :] = (255, 255, 255)
    return rgb


def test_each_rendition_is_the_picture_at_its_width_as_webp_and_jpeg():
    picture = PILImage.fromarray(quadrants(1000, 600))
    renditions = make_renditions(picture)
    assert [(r.format, r.width, r.height) for r in renditions] == [
        ("webp", 480, 288),
        ("jpeg", 480, 288),
        ("webp", 800, 480),
        ("jpeg", 800, 480),
        ("webp", 1000, 600),
        ("jpeg", 1000, 600),
    ]
    for rendition in renditions:
        decoded = PILImage.open(io.BytesIO(rendition.content))
        assert decoded.format == {"webp": "WEBP", "jpeg": "JPEG"}[rendition.format]
        assert decoded.mode == "RGB" and decoded.size == (rendition.width, rendition.height)
        pixels = np.asarray(decoded).astype(int)
        w, h = rendition.width, rendition.height
        # The middle of each quadrant keeps its colour: same orientation, same grid as the original.
        for (y, x), colour in {
            (h // 4, w // 4): (255, 0, 0),
            (h // 4, 3 * w // 4): (0, 255, 0),
            (3 * h // 4, w // 4): (0, 0, 255),
            (3 * h // 4, 3 * w // 4): (255, 255, 255),
        }.items():
            assert np.abs(pixels[y, x] - colour).max() <= 12, (rendition.format, w, (y, x))


def test_transparency_is_shown_on_white_and_16_bit_grey_scaled_to_8_bits():
    rgba = np.zeros((40, 60, 4), np.uint8)
    rgba[:, :30] = (10, 20, 30, 255)  # opaque dark left half, transparent right half
    jpeg = next(r for r in make_renditions(PILImage.fromarray(rgba)) if r.format == "jpeg")
    pixels = np.asarray(PILImage.open(io.BytesIO(jpeg.content))).astype(int)
    assert np.abs(pixels[20, 10] - (10, 20, 30)).max() <= 8
    assert np.abs(pixels[20, 50] - (255, 255, 255)).max() <= 8

    grey16 = PILImage.fromarray(np.full((40, 60), 40000, np.uint16))  # 40000 / 257 = 155.6 in 8 bits
    webp = next(r for r in make_renditions(grey16) if r.format == "webp")
    pixels = np.asarray(PILImage.open(io.BytesIO(webp.content))).astype(int)
    assert np.abs(pixels[20, 30] - 156).max() <= 2


def test_exif_rotation_is_not_applied_so_the_image_lines_up_with_the_map():
    """The painted map is on the stored pixel grid (width x height as stored); a rendition that
    turned the picture by its EXIF orientation would not line up with the canvas."""
    picture = PILImage.fromarray(quadrants(200, 100))
    exif = PILImage.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", exif=exif.tobytes(), quality=95)
    rendition = make_renditions(PILImage.open(io.BytesIO(buffer.getvalue())))[0]
    decoded = PILImage.open(io.BytesIO(rendition.content))
    assert decoded.size == (200, 100)
    assert decoded.getexif().get(0x0112) is None
    assert np.abs(np.asarray(decoded)[25, 50].astype(int) - (255, 0, 0)).max() <= 12


def test_the_astronaut_as_shown_weighs_a_fraction_of_its_png():
    original = ASTRONAUT.read_bytes()
    assert len(original) > 700_000  # the lossless PNG the trial page used to send
    renditions = make_renditions(PILImage.open(io.BytesIO(original)))
    largest = {r.format: len(r.content) for r in renditions if r.width == 512}
    assert largest["webp"] < len(original) / 10 and largest["jpeg"] < len(original) / 8


def test_adding_an_image_writes_its_renditions_and_keeps_the_original(media, image_set):
    content = png_bytes(quadrants(900, 500))
    image = image_create(image_set=image_set, name="q", content=content, filename="q.png")
    assert image.file.read() == content  # the original, byte for byte, for the analysis
    assert [(e["format"], e["width"], e["height"]) for e in image.renditions] == [
        ("webp", 480, 267),
        ("jpeg", 480, 267),
        ("webp", 800, 444),
        ("jpeg", 800, 444),
        ("webp", 900, 500),
        ("jpeg", 900, 500),
    ]
    for entry in image.renditions:
        assert re.fullmatch(
            rf"renditions/{image.sha256[:16]}-{entry['width']}w-q(80|85)-v1\.(webp|jpg)", entry["name"]
        )
        assert (media / entry["name"]).is_file()


def test_make_renditions_fills_images_stored_before_them_and_then_has_nothing_to_do(media, image_set):
    image = Image.objects.filter(image_set=image_set).first()
    names = {entry["name"] for entry in image.renditions}
    Image.objects.filter(pk=image.pk).update(renditions=[])
    for name in names:
        (media / name).unlink()
    out = io.StringIO()
    call_command("make_renditions", stdout=out)
    assert (
        out.getvalue().strip()
        == f"1 image(s) given renditions, {image_set.images.count() - 1} already current, 0 failed"
    )
    image.refresh_from_db()
    assert {entry["name"] for entry in image.renditions} == names
    assert all((media / name).is_file() for name in names)
    out = io.StringIO()
    call_command("make_renditions", stdout=out)
    assert out.getvalue().startswith("0 image(s) given renditions")


def test_a_failed_write_leaves_no_file_of_the_image_behind(media, image_set, monkeypatch):
    from django.core.files.storage import FileSystemStorage

    files_before = media_files(media)
    real_save = FileSystemStorage._save
    renditions_saved = []

    def disk_full_at_the_third_rendition(self, name, content):
        if name.startswith("renditions/"):
            if len(renditions_saved) == 2:
                raise OSError(28, "No space left on device")
            renditions_saved.append(name)
        return real_save(self, name, content)

    monkeypatch.setattr(FileSystemStorage, "_save", disk_full_at_the_third_rendition)
    with pytest.raises(OSError, match="media disk is full"):
        image_create(image_set=image_set, name="q", content=png_bytes(quadrants(900, 500)), filename="q.png")
    assert len(renditions_saved) == 2
    assert media_files(media) == files_before
    assert not Image.objects.filter(name="q").exists()


def _reading_participant(study):
    participant = participant_start(study=study, recruiter_ids={})
    participant_instructions_seen(participant=participant)
    return participant


@pytest.mark.django_db
def test_the_trial_page_offers_the_renditions_and_serves_them_to_that_participant_only(client, media, study):
    participant = _reading_participant(study)
    trial = participant.trials.order_by("position").first()
    page = client.get(f"/p/{participant.code}/").content.decode()
    names = [entry["name"].rsplit("/", 1)[1] for entry in trial.image.renditions]
    base = f"/p/{participant.code}/trials/{trial.pk}/image/"
    webp = next(n for n in names if n.endswith(".webp"))
    jpeg = next(n for n in names if n.endswith(".jpg"))
    assert f'<source type="image/webp" srcset="{base}{webp} {trial.image.width}w"' in page
    assert f'srcset="{base}{jpeg} {trial.image.width}w"' in page and 'sizes="' in page
    # The painter's canvas keeps the original's size: only the <img> bytes change.
    assert f'<canvas id="painter-canvas" width="{trial.image.width}" height="{trial.image.height}"' in page

    response = client.get(base + webp)
    assert response.status_code == 200 and response["Content-Type"] == "image/webp"
    assert response["Cache-Control"] == "private, max-age=31536000, immutable"
    assert b"".join(response.streaming_content) == (media / f"renditions/{webp}").read_bytes()

    other = participant_start(study=study, recruiter_ids={})
    assert client.get(f"/p/{other.code}/trials/{trial.pk}/image/{webp}").status_code == 404
    assert client.get(base + "../../../image").status_code == 404
    assert client.get(base + webp.replace("-v1", "-v0")).status_code == 404


@pytest.mark.django_db
def test_an_image_without_renditions_is_shown_as_its_original(client, media, study):
    participant = _reading_participant(study)
    trial = participant.trials.order_by("position").first()
    Image.objects.filter(pk=trial.image_id).update(renditions=[])
    page = client.get(f"/p/{participant.code}/").content.decode()
    assert "<picture>" not in page
    assert f'src="/p/{participant.code}/trials/{trial.pk}/image"' in page
