"""Writes for an image's regions set by an admin: the attention-check target region (painted on
the participants' canvas), and the ground-truth object mask and boxes for localisation metrics."""

import io

import numpy as np
from PIL import Image as PILImage

from analysis.codec import mask_png
from catalogue.image_import import parse_boxes
from catalogue.models import Image

TARGET_LEVEL = 0.5  # a painted pixel at or above this is inside the target region


def image_set_target_from_map(*, image: Image, values: np.ndarray) -> int:
    """Store the painted map (H,W values in [0,1]) binarised at >= 0.5 as the target region;
    returns its pixel count. A map with nothing at 0.5 is refused: paint more strongly."""
    if values.shape != (image.height, image.width):
        raise ValueError(
            f"the map is {values.shape[1]}x{values.shape[0]}, the image {image.width}x{image.height}"
        )
    mask = values >= TARGET_LEVEL
    pixels = int(mask.sum())
    if pixels == 0:
        raise ValueError(
            "no pixel reaches 50 % intensity: paint the region with a stronger brush (or several strokes)"
        )
    image.target_mask_png = mask_png(mask)
    image.save(update_fields=["target_mask_png"])
    return pixels


def image_clear_target(*, image: Image) -> None:
    image.target_mask_png = None
    image.save(update_fields=["target_mask_png"])


def image_set_ground_truth_mask(*, image: Image, png: bytes) -> int:
    """Store an uploaded ground-truth mask (a PNG of the image's size; light = object, i.e.
    gray level above 127, or opaque where the PNG has transparency); returns its pixel count."""
    if not png.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ValueError("the mask must be a PNG file")
    try:
        with PILImage.open(io.BytesIO(png)) as picture:
            if picture.size != (image.width, image.height):
                raise ValueError(
                    f"the mask is {picture.size[0]}x{picture.size[1]} but the image is "
                    f"{image.width}x{image.height}"
                )
            if picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info:
                mask = np.asarray(picture.convert("RGBA").getchannel("A")) > 127
            else:
                mask = np.asarray(picture.convert("L")) > 127
    except ValueError:
        raise
    except Exception as error:
        raise ValueError(f"the mask PNG could not be decoded ({error})") from None
    pixels = int(mask.sum())
    if pixels == 0:
        raise ValueError("the mask is empty: the object must be light (or opaque) on a dark background")
    image.ground_truth_mask_png = mask_png(mask)
    image.save(update_fields=["ground_truth_mask_png"])
    return pixels


def image_clear_ground_truth_mask(*, image: Image) -> None:
    image.ground_truth_mask_png = None
    image.save(update_fields=["ground_truth_mask_png"])


def image_set_ground_truth_boxes(*, image: Image, text: str) -> list[list[int]]:
    """Replace the boxes with those in ``text`` (``left top right bottom`` per line); each must
    lie inside the image. Empty text removes them."""
    boxes = parse_boxes(text, image.width, image.height)
    image.ground_truth_boxes = boxes
    image.save(update_fields=["ground_truth_boxes"])
    return boxes
