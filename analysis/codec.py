"""The file formats of maps and masks, written once: lossless PNG (8-bit, 16-bit grayscale,
RGB), binary mask PNGs and .npy. Pure numpy + Pillow, no Django, so notebooks decode the
exports with the same code that wrote them."""

import io

import numpy as np
from PIL import Image as PILImage

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FULL_SCALE_16 = 65535  # a 16-bit map's 1.0
BIT_DEPTH_OF_MODE = {"L": 8, "I;16": 16}


class MapDecodeError(ValueError):
    """A map file we cannot take: the message says why, for the person who sent it."""


def png_bytes(picture: PILImage.Image | np.ndarray) -> bytes:
    """A Pillow image or a uint8 / uint16 array as a lossless PNG."""
    if isinstance(picture, np.ndarray):
        picture = PILImage.fromarray(picture)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def unit_png16(values: np.ndarray) -> bytes:
    """(H,W) values in [0,1] (clipped) as a 16-bit grayscale PNG: 1.0 is 65535."""
    return png_bytes(np.round(np.clip(values, 0, 1) * FULL_SCALE_16).astype(np.uint16))


def unit_rgb_png(rgb: np.ndarray) -> bytes:
    """(H,W,3) colours in [0,1] as an 8-bit RGB PNG."""
    return png_bytes((np.clip(rgb, 0, 1) * 255).round().astype(np.uint8))


def mask_png(mask: np.ndarray) -> bytes:
    """A boolean (H,W) mask as an 8-bit PNG: 255 inside, 0 outside."""
    return png_bytes(np.where(mask, 255, 0).astype(np.uint8))


def mask_from_png(data: bytes | memoryview | None) -> np.ndarray | None:
    """A stored mask PNG as a boolean (H,W) array (light or opaque = inside), or None."""
    if not data:
        return None
    with PILImage.open(io.BytesIO(bytes(data))) as picture:
        return np.asarray(picture.convert("L")) > 127


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def npy_array(data: bytes | memoryview) -> np.ndarray:
    return np.load(io.BytesIO(bytes(data)), allow_pickle=False)


def decode_gray_png(data: bytes, *, width: int, height: int) -> tuple[np.ndarray, int]:
    """A painted map (8- or 16-bit grayscale PNG of exactly width x height) as (H,W) float32
    in [0,1] with its bit depth. Size and mode are read from the header and refused before
    any pixel is decoded. Raises MapDecodeError."""
    if not data.startswith(PNG_SIGNATURE):
        raise MapDecodeError("the map must be a PNG file")
    try:
        with PILImage.open(io.BytesIO(data)) as picture:
            if picture.size != (width, height):
                raise MapDecodeError(
                    f"the map is {picture.size[0]}x{picture.size[1]} but the image is {width}x{height}"
                )
            if picture.mode not in BIT_DEPTH_OF_MODE:
                raise MapDecodeError(
                    f"the map must be an 8- or 16-bit grayscale PNG, not mode {picture.mode}"
                )
            bit_depth = BIT_DEPTH_OF_MODE[picture.mode]
            values = np.asarray(picture)
    except MapDecodeError:
        raise
    except Exception as error:
        raise MapDecodeError(f"the map PNG could not be decoded: {error}") from None
    return values.astype(np.float32) / float(2**bit_depth - 1), bit_depth
