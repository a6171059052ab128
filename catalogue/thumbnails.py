"""Thumbnails of study images: pure Pillow, no Django, usable from a notebook."""

import io

from PIL import Image as PILImage
from PIL import ImageOps

THUMBNAIL_LONGEST_SIDE = 256
THUMBNAIL_JPEG_QUALITY = 85


def thumbnail_jpeg(picture: PILImage.Image, longest_side: int = THUMBNAIL_LONGEST_SIDE) -> bytes:
    """A JPEG whose longest side is ``longest_side`` (never enlarged), aspect ratio kept.

    Transparent pixels are shown on white, as a browser shows them on the admin's page."""
    picture = ImageOps.exif_transpose(picture)
    if picture.mode in ("RGBA", "LA", "P", "PA") or "transparency" in picture.info:
        rgba = picture.convert("RGBA")
        flat = PILImage.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        picture = flat
    elif picture.mode in ("I;16", "I", "F"):
        picture = picture.convert("I").point(lambda value: value / 256).convert("L")
    else:
        picture = picture.convert("RGB")
    picture.thumbnail((longest_side, longest_side), PILImage.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=THUMBNAIL_JPEG_QUALITY, optimize=True)
    return buffer.getvalue()


def thumbnail_jpeg_from_bytes(content: bytes, longest_side: int = THUMBNAIL_LONGEST_SIDE) -> bytes:
    with PILImage.open(io.BytesIO(content)) as picture:
        picture.load()
        return thumbnail_jpeg(picture, longest_side)
