"""Bulk image import: the service and `manage.py import_images`, on real files, folders and ZIPs."""

import io
import struct
import zipfile
import zlib

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from PIL import Image as PILImage

from catalogue.image_import import ImageImportError, import_images
from catalogue.models import Image, ImageSet
from explain.models import ModelSpec
from tests.conftest import gradient_image, media_files


def png_header_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height pixels, with one tiny compressed chunk: a
    decompression bomb as far as the header goes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def zip_bytes(entries: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16  # a Unix symbolic link
            archive.writestr(info, target)
    return buffer.getvalue()


def wide_image() -> bytes:
    """600 x 300: its thumbnail is 256 x 128."""
    return _png(600, 300)


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    rng = np.random.default_rng(width)
    PILImage.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_command_imports_a_folder_with_labels_flags_boxes_and_a_texture_label(media, tmp_path, db):
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    (folder / "cat.png").write_bytes(gradient_image(seed=1))
    (folder / "sub" / "elephant_cat.png").write_bytes(wide_image())
    (folder / ".DS_Store").write_bytes(b"finder junk")
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "file,label,practice,attention_check,texture_label,box\n"
        "cat,285,yes,,,10 20 60 70\n"
        "sub/elephant_cat.png,Indian elephant,0,1,tabby,0 0 600 300; 5 5 10 10\n"
    )
    out = io.StringIO()
    call_command("import_images", str(folder), "--set", "cues", "--labels", str(labels), stdout=out)
    assert "2 image(s) added to 'cues', 0 duplicate(s) skipped" in out.getvalue()
    cat = Image.objects.get(image_set__name="cues", name="cat")
    assert (cat.class_index, cat.class_name, cat.is_practice, cat.is_attention_check) == (
        285,
        "Egyptian cat",
        True,
        False,
    )
    assert cat.ground_truth_boxes == [[10, 20, 60, 70]]
    cue = Image.objects.get(name="elephant_cat")
    assert (cue.class_index, cue.class_name) == (385, "Indian elephant")
    assert (cue.texture_class_index, cue.texture_class_name) == (281, "tabby")
    assert cue.is_attention_check and not cue.is_practice
    assert cue.ground_truth_boxes == [[0, 0, 600, 300], [5, 5, 10, 10]]
    with PILImage.open(cue.thumbnail.open("rb")) as thumbnail:
        assert (thumbnail.format, thumbnail.size) == ("JPEG", (256, 128))
    with PILImage.open(cat.thumbnail.open("rb")) as thumbnail:
        assert thumbnail.size == (160, 120)  # never enlarged
    assert cat.file.read() == gradient_image(seed=1)
    # two images, two thumbnails, and WebP + JPEG renditions: the cat at 160 px, the elephant at
    # 480 and 600 px; nothing else
    assert len(media_files(media)) == 10
    assert sum("renditions" in path.parts for path in media_files(media)) == 6


def test_the_command_imports_a_zip_skipping_duplicates_and_macos_files(media, tmp_path, db):
    archive = tmp_path / "set.zip"
    archive.write_bytes(
        zip_bytes(
            {
                "set/a.png": gradient_image(seed=1),
                "set/b.png": gradient_image(seed=2),
                "set/copy_of_a.png": gradient_image(seed=1),
                "__MACOSX/set/._a.png": b"resource fork",
                "set/.hidden.png": b"not looked at",
            }
        )
    )
    out = io.StringIO()
    call_command("import_images", str(archive), "--set", "zipped", stdout=out)
    assert "2 image(s) added to 'zipped', 1 duplicate(s) skipped" in out.getvalue()
    assert "set.zip:set/copy_of_a.png: same content as set.zip:set/a.png" in out.getvalue()
    assert sorted(Image.objects.values_list("name", flat=True)) == ["a", "b"]
    # the same ZIP again: everything is a duplicate of what the set has, nothing is added
    out = io.StringIO()
    call_command("import_images", str(archive), "--set", "zipped", stdout=out)
    assert "0 image(s) added to 'zipped', 3 duplicate(s) skipped" in out.getvalue()
    assert Image.objects.count() == 2


def test_a_bad_label_names_the_file_and_the_label_and_saves_nothing(media, tmp_path, image_set):
    rows_before, files_before = Image.objects.count(), media_files(media)
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "good.png").write_bytes(gradient_image(seed=5))
    (folder / "bad.png").write_bytes(gradient_image(seed=6))
    labels = tmp_path / "labels.csv"
    labels.write_text("file,label\ngood.png,285\nbad.png,Egyptian kat\n")
    with pytest.raises(CommandError) as raised:
        call_command("import_images", str(folder), "--set", image_set.name, "--labels", str(labels))
    message = str(raised.value)
    assert "nothing was imported" in message
    assert "bad.png" in message and "'Egyptian kat' is not a class name of ImageNet" in message
    assert "close matches: 'Egyptian cat' (285)" in message
    assert Image.objects.count() == rows_before and media_files(media) == files_before


def test_a_failed_import_does_not_create_the_set(media, tmp_path, db):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "notes.txt").write_text("not an image")
    with pytest.raises(CommandError, match="notes.txt: not an image file"):
        call_command("import_images", str(folder), "--set", "never")
    assert not ImageSet.objects.filter(name="never").exists() and media_files(media) == []


def test_every_problem_is_reported_together(media, db):
    archive = zip_bytes(
        {
            "ok.png": gradient_image(seed=1),
            "../escape.png": gradient_image(seed=2),
            "/etc/absolute.png": gradient_image(seed=3),
            "readme.txt": b"hello",
            "bomb.png": png_header_claiming(100_000, 100_000),
            "big.png": png_header_claiming(8000, 6000),  # 48 megapixels, below Pillow's own limit
            "unlabelled.png": gradient_image(seed=4),
        },
        symlinks={"link.png": "/etc/passwd"},
    )
    labels = "file,label\nok,285\nbig,1\nmissing.png,2\n"
    with pytest.raises(ImageImportError) as raised:
        import_images(
            image_set_name="bad",
            sources=[_Upload("all.zip", archive)],
            labels_csv=labels,
            labels_csv_name="l.csv",
        )
    errors = "\n".join(raised.value.errors)
    assert "all.zip:../escape.png: refused, the entry points outside the archive (..)" in errors
    assert "all.zip:/etc/absolute.png: refused, the entry has an absolute path" in errors
    assert "all.zip:link.png: refused, the entry is a symbolic link" in errors
    assert "all.zip:readme.txt: not an image file" in errors
    assert "all.zip:bomb.png: refused as a decompression bomb" in errors
    assert "all.zip:big.png: 8000x6000 is 48.0 megapixels, more than the limit of 40" in errors
    assert "l.csv line 4: 'missing.png' matches no imported file" in errors
    assert "all.zip:unlabelled.png: no row in l.csv" in errors
    # big.png's row matches no *image*: it was refused, so the row is reported too
    assert "l.csv line 3: 'big' matches no imported file" in errors
    assert Image.objects.count() == 0 and media_files(media) == []


def test_a_zip_bomb_entry_is_refused_by_its_compression_ratio(media, db):
    archive = zip_bytes({"zeros.bmp": b"\x00" * (8 * 1024 * 1024), "ok.png": gradient_image()})
    with pytest.raises(ImageImportError) as raised:
        import_images(image_set_name="bomb", sources=[_Upload("bomb.zip", archive)])
    assert len(raised.value.errors) == 1
    assert raised.value.errors[0].startswith("bomb.zip:zeros.bmp: refused, compressed")
    assert "looks like a ZIP bomb" in raised.value.errors[0]


def test_total_size_and_file_count_are_bounded(media, db, settings):
    settings.IMAGE_IMPORT_MAX_FILES = 2
    uploads = [_Upload(f"{i}.png", gradient_image(seed=i)) for i in range(3)]
    with pytest.raises(ImageImportError, match="more than 2 files"):
        import_images(image_set_name="many", sources=uploads)
    settings.IMAGE_IMPORT_MAX_FILES = 100
    settings.IMAGE_IMPORT_MAX_TOTAL_MB = 1
    big = _png(700, 700)  # noise: about 1.4 MB
    with pytest.raises(ImageImportError, match="more than 1 MB of files"):
        import_images(image_set_name="many", sources=[_Upload("big.png", big)])


def test_labels_are_checked_against_the_chosen_models_class_names(media, db):
    ModelSpec.objects.create(
        name="pets", source=ModelSpec.Source.TORCHVISION, class_names=["cat", "dog", "Crane", "crane"]
    )
    uploads = [_Upload("a.png", gradient_image(seed=1)), _Upload("b.png", gradient_image(seed=2))]
    with pytest.raises(ImageImportError) as raised:
        import_images(
            image_set_name="pets",
            sources=uploads,
            labels_csv="file,label\na,DOG\nb,crane\n",
            model_name="pets",
        )
    assert raised.value.errors == [
        "b.png (labels CSV line 3): label 'crane' names several classes (2, 3): give the index instead"
    ]
    result = import_images(
        image_set_name="pets",
        sources=uploads,
        labels_csv="file,label\na,DOG\nb,4\n".replace("b,4", "b,3"),
        model_name="pets",
    )
    assert result.added == ["a", "b"]
    assert list(Image.objects.order_by("name").values_list("class_index", "class_name")) == [
        (1, "dog"),
        (3, "crane"),
    ]
    with pytest.raises(ImageImportError, match=r"class index 4 is out of range for model 'pets' \(0-3\)"):
        import_images(
            image_set_name="pets2",
            sources=[_Upload("c.png", gradient_image(seed=3))],
            labels_csv="file,label\nc,4\n",
            model_name="pets",
        )


def test_a_box_outside_the_image_and_a_bad_flag_are_errors(media, db):
    with pytest.raises(ImageImportError) as raised:
        import_images(
            image_set_name="boxes",
            sources=[_Upload("a.png", gradient_image(seed=1))],  # 160 x 120
            labels_csv="file,label,practice,box\na,285,maybe,0 0 161 120\n",
        )
    assert raised.value.errors == [
        "a.png (labels CSV line 2): practice 'maybe' is not yes/no (use 1 or 0)",
        "a.png (labels CSV line 2): box '0 0 161 120' is not inside the 160x120 image "
        "(need 0 <= left < right <= width and 0 <= top < bottom <= height)",
    ]


def test_an_existing_name_with_other_content_is_an_error(media, image_set):
    with pytest.raises(ImageImportError, match="the set already has a different image named 'img0'"):
        import_images(image_set_name=image_set.name, sources=[_Upload("img0.png", gradient_image(seed=77))])


class _Upload(io.BytesIO):
    """What an uploaded file offers the service: a name, its size and its bytes."""

    def __init__(self, name: str, content: bytes):
        super().__init__(content)
        self.name, self.size = name, len(content)


def test_make_thumbnails_fills_in_the_missing_ones(media, image_set):
    Image.objects.filter(name__in=["img0", "img1"]).update(thumbnail="")
    out = io.StringIO()
    call_command("make_thumbnails", "--set", image_set.name, stdout=out)
    assert "2 thumbnail(s) made, 0 failed" in out.getvalue()
    for image in Image.objects.all():
        with PILImage.open(image.thumbnail.open("rb")) as thumbnail:
            assert (thumbnail.format, thumbnail.size) == ("JPEG", (160, 120))
