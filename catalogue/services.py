"""Writes for image sets and images: adding files, thumbnails, target regions."""

import hashlib
import io
from pathlib import Path

from django.core.files.base import ContentFile
from PIL import Image as PILImage

from analysis.codec import mask_png
from catalogue.models import Image, ImageSet
from catalogue.renditions import Rendition, make_renditions
from catalogue.thumbnails import thumbnail_jpeg
from config.storage import storage_error_message


def image_create(
    *,
    image_set: ImageSet,
    name: str,
    content: bytes,
    filename: str,
    class_index: int | None = None,
    class_name: str = "",
) -> Image:
    """Add an image file to a set, recording its hash and size. Idempotent on content."""
    sha256 = hashlib.sha256(content).hexdigest()
    existing = Image.objects.filter(image_set=image_set, sha256=sha256).first()
    if existing:
        return existing
    try:
        with PILImage.open(io.BytesIO(content)) as picture:
            picture.verify()
        with PILImage.open(io.BytesIO(content)) as picture:
            width, height = picture.size
            picture.load()  # verify() does not decode: a truncated file fails here
            thumbnail = thumbnail_jpeg(picture)
            renditions = make_renditions(picture)
    except Exception as error:
        raise ValueError(f"{filename} is not a readable image: {error}") from None
    image = Image(
        image_set=image_set,
        name=name,
        sha256=sha256,
        width=width,
        height=height,
        class_index=class_index,
        class_name=class_name,
    )
    try:
        image.file.save(f"{sha256[:16]}{Path(filename).suffix.lower()}", ContentFile(content), save=False)
        image.thumbnail.save(f"{sha256[:16]}.jpg", ContentFile(thumbnail), save=False)
        image_renditions_write(image, renditions)
    except OSError as error:  # e.g. a full disk: no row, and no file of this image left behind
        for name in (image.file.name, image.thumbnail.name):
            if name:
                image.file.storage.delete(name)
        raise OSError(error.errno, storage_error_message(error, filename)) from None
    image.save()
    return image


def image_set_target_box(*, image: Image, box: tuple[int, int, int, int]) -> None:
    """Store a rectangular target region (left, top, right, bottom in pixels) as the mask."""
    import numpy as np

    left, top, right, bottom = box
    if not (0 <= left < right <= image.width and 0 <= top < bottom <= image.height):
        raise ValueError(f"box {box} is not inside the {image.width}x{image.height} image")
    mask = np.zeros((image.height, image.width), dtype=bool)
    mask[top:bottom, left:right] = True
    image.target_mask_png = mask_png(mask)
    image.save(update_fields=["target_mask_png"])


def image_fill_file_facts(image: Image) -> None:
    """For images uploaded through the admin: hash, size and thumbnail from the file."""
    previous_sha256 = image.sha256
    image.file.open("rb")
    content = image.file.read()
    image.file.seek(0)
    image.sha256 = hashlib.sha256(content).hexdigest()
    with PILImage.open(io.BytesIO(content)) as picture:
        image.width, image.height = picture.size
        if image.sha256 != previous_sha256 or not image.thumbnail:
            picture.load()
            thumbnail = thumbnail_jpeg(picture)
            image.thumbnail.save(f"{image.sha256[:16]}.jpg", ContentFile(thumbnail), save=False)
        if image.sha256 != previous_sha256 or not image.renditions:
            picture.load()
            image_renditions_write(image, make_renditions(picture))


def image_thumbnail_fill(image: Image) -> None:
    """Give an image stored before thumbnails existed its thumbnail."""
    with image.file.open("rb") as handle, PILImage.open(handle) as picture:
        picture.load()
        thumbnail = thumbnail_jpeg(picture)
    image.thumbnail.save(f"{image.sha256[:16]}.jpg", ContentFile(thumbnail), save=False)
    image.save(update_fields=["thumbnail"])


# Renditions are made when an image is added (image_create, the admin's upload), from the
# picture already decoded there, so a participant is never the first to ask for one and no
# request ever encodes an image; images stored before renditions existed get theirs from
# `manage.py make_renditions` (scripts/start runs it) and are shown as the original until then.
def image_renditions_fill(image: Image) -> None:
    """Make (again) the display renditions of a stored image from its original file."""
    with image.file.open("rb") as handle, PILImage.open(handle) as picture:
        picture.load()
        renditions = make_renditions(picture)
    image_renditions_write(image, renditions)
    image.save(update_fields=["renditions"])


def image_renditions_write(image: Image, renditions: list[Rendition]) -> list[str]:
    """Write the files under renditions/ and list them on the image (unsaved). Returns the
    names this call wrote: a name is fixed by content and settings, so an existing file
    already holds these bytes (another set's image with the same content) and is left as is.
    On a failed write (a full disk), the files written so far are removed."""
    storage = image.file.storage
    entries, written = [], []
    try:
        for rendition in renditions:
            name = f"renditions/{rendition.file_name(image.sha256)}"
            if not storage.exists(name):
                stored = storage.save(name, ContentFile(rendition.content))
                if stored != name:  # written at the same moment by another import: keep one
                    storage.delete(stored)
                else:
                    written.append(name)
            entries.append(
                {
                    "format": rendition.format,
                    "width": rendition.width,
                    "height": rendition.height,
                    "name": name,
                }
            )
    except OSError:
        for name in written:
            storage.delete(name)
        raise
    image.renditions = entries
    return written
