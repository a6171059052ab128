"""Display renditions of study images: pure Pillow, no Django, usable from a notebook.

Participants see a JPEG or WebP copy at about the size it is displayed, chosen by the
browser from a ``srcset``; the original file stays untouched, and everything analysed (the
painted map, the models' maps) keeps the original's resolution. A rendition is never
larger than the original: widths above the original's are left out, and the original's own
width is always offered, so a large screen gets every pixel there is.
"""

import io
from dataclasses import dataclass

from PIL import Image as PILImage

RENDITION_WIDTHS = (480, 800, 1200, 1600)
JPEG_QUALITY = 85
WEBP_QUALITY = 80
# Part of every file name: a change of widths, qualities or encoder settings gets new names,
# so a browser never keeps an old rendition under a long cache lifetime.
RENDITION_VERSION = 1
FORMATS = {"webp": "image/webp", "jpeg": "image/jpeg"}


@dataclass(frozen=True)
class Rendition:
    format: str  # "webp" or "jpeg"
    width: int
    height: int
    content: bytes

    def file_name(self, sha256: str) -> str:
        return rendition_file_name(sha256, self.format, self.width)


def rendition_file_name(sha256: str, format: str, width: int) -> str:
    """Content hash, width, quality and version in the name: the file never changes."""
    quality = WEBP_QUALITY if format == "webp" else JPEG_QUALITY
    extension = "webp" if format == "webp" else "jpg"
    return f"{sha256[:16]}-{width}w-q{quality}-v{RENDITION_VERSION}.{extension}"


def rendition_file_names(sha256: str, original_width: int) -> set[str]:
    """The names make_renditions' output gets for this image with today's settings."""
    return {
        rendition_file_name(sha256, format, width)
        for width in rendition_widths(original_width)
        for format in FORMATS
    }


def rendition_widths(original_width: int) -> list[int]:
    """The widths offered for an image this wide: the standard ones below it, and its own
    (capped at the largest standard width: nobody paints on more than 1600 px of screen)."""
    largest = min(original_width, RENDITION_WIDTHS[-1])
    return [width for width in RENDITION_WIDTHS if width < largest] + [largest]


def display_rgb(picture: PILImage.Image) -> PILImage.Image:
    """The picture as 8-bit RGB on the original's own pixel grid: transparency on white,
    16-bit grey scaled down, the embedded ICC profile kept (browsers honour it in JPEG and
    WebP as in PNG). No EXIF rotation: the painted map and the models' maps are on the grid
    as stored, and the rendition carries no EXIF, so the image lines up with the canvas."""
    icc_profile = picture.info.get("icc_profile")
    if picture.mode in ("RGBA", "LA", "P", "PA") or "transparency" in picture.info:
        rgba = picture.convert("RGBA")
        flat = PILImage.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        picture = flat
    elif picture.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        picture = picture.convert("I").point(lambda value: value / 256).convert("L").convert("RGB")
    else:
        picture = picture.convert("RGB")
    if icc_profile:
        picture.info["icc_profile"] = icc_profile
    return picture


def make_renditions(picture: PILImage.Image) -> list[Rendition]:
    """WebP (q80) and JPEG (q85) copies at each of ``rendition_widths``, aspect ratio kept,
    narrowest first. Each width is resized from the next wider one (Lanczos), not from the
    original: a fraction of the time for a large original, the same look at display size."""
    rgb = display_rgb(picture)
    icc_profile = rgb.info.get("icc_profile")
    extra = {"icc_profile": icc_profile} if icc_profile else {}
    renditions = []
    scaled = rgb
    for width in reversed(rendition_widths(rgb.width)):
        height = max(1, round(rgb.height * width / rgb.width))
        if scaled.size != (width, height):
            scaled = scaled.resize((width, height), PILImage.Resampling.LANCZOS)
        for format in FORMATS:
            buffer = io.BytesIO()
            if format == "webp":
                # method 2 of 0-6: 2.3x faster than the default 4 for 5 % more bytes (measured
                # on a 1600 px photograph); imports encode every image at up to four widths.
                scaled.save(buffer, format="WEBP", quality=WEBP_QUALITY, method=2, **extra)
            else:
                scaled.save(
                    buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True, **extra
                )
            renditions.append(Rendition(format, width, height, buffer.getvalue()))
    renditions.sort(key=lambda rendition: rendition.width)
    return renditions
