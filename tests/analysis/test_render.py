import io

import numpy as np
from PIL import Image as PILImage

from analysis.metrics import topk_mask
from analysis.render import region_png


def _pixels(png: bytes) -> np.ndarray:
    with PILImage.open(io.BytesIO(png)) as picture:
        return np.asarray(picture.convert("RGB")).astype(int)


def test_a_region_keeps_its_colours_and_the_rest_is_dimmed():
    white = PILImage.new("RGB", (40, 20), (255, 255, 255))
    mask = np.zeros((10, 20), dtype=bool)  # half the image's resolution: resized to it
    mask[:5, :10] = True  # the top-left quarter
    pixels = _pixels(region_png(white, mask, width=40, outside=0.25))
    assert pixels.shape == (20, 40, 3)
    assert (pixels[:10, :20] == 255).all()
    assert (pixels[10:, :] == 64).all() and (pixels[:, 20:] == 64).all()  # 0.25 x 255, rounded


def test_the_top_k_region_of_a_map_covers_k_of_the_picture():
    ramp = np.tile(np.arange(100, dtype=np.float32), (50, 1))  # columns 0..99
    picture = PILImage.new("RGB", (100, 50), (200, 200, 200))
    pixels = _pixels(region_png(picture, topk_mask(ramp, 0.3), width=100))
    assert (pixels[:, 70:] == 200).all() and (pixels[:, :70] == 50).all()


def test_no_region_dims_everything():
    pixels = _pixels(region_png(PILImage.new("RGB", (8, 8), (100, 100, 100)), None, width=8))
    assert (pixels == 25).all()
