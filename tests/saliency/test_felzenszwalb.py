import numpy as np
import pytest
from skimage import color, data, segmentation
from skimage.transform import resize

from explain.saliency import felzenszwalb
from explain.saliency.xrai_segments import (
    FELZENSZWALB_MIN_SIZE,
    FELZENSZWALB_SCALES,
    FELZENSZWALB_SIGMA,
    _normalised_for_segmentation,
)


def _xrai_input(rgb) -> np.ndarray:
    """What XRAI segments: the image rescaled to [-1, 1] and resized to 224x224."""
    return _normalised_for_segmentation(np.asarray(rgb, dtype=np.float64))


IMAGES = {
    "chelsea": lambda: _xrai_input(data.chelsea()),
    "coffee": lambda: _xrai_input(data.coffee()),
    "astronaut": lambda: _xrai_input(data.astronaut()),
    "camera_rgb": lambda: _xrai_input(color.gray2rgb(data.camera())),
    "noise": lambda: np.random.default_rng(0).uniform(-1, 1, size=(224, 224, 3)),
    # Every edge costs 0: the merge order is decided by argsort's handling of ties alone.
    "constant": lambda: np.full((224, 224, 3), 0.25),
    "non_square": lambda: _xrai_input(data.astronaut())[:150, 10:210],
    "uint8_coffee": lambda: resize(data.coffee(), (120, 180), preserve_range=True).astype(np.uint8),
    "steps": lambda: np.kron(np.random.default_rng(1).integers(0, 3, size=(14, 14, 3)), np.ones((16, 16, 1))),
}


@pytest.mark.parametrize("name", IMAGES)
def test_labels_equal_skimages_at_every_xrai_scale(name):
    image = IMAGES[name]()
    edges = felzenszwalb.sorted_edges(image, FELZENSZWALB_SIGMA)
    for scale in FELZENSZWALB_SCALES:
        expected = segmentation.felzenszwalb(
            image, scale=scale, sigma=FELZENSZWALB_SIGMA, min_size=FELZENSZWALB_MIN_SIZE, channel_axis=-1
        )
        ours = felzenszwalb.segment(edges, scale, FELZENSZWALB_MIN_SIZE)
        assert ours.dtype == expected.dtype
        np.testing.assert_array_equal(ours, expected, err_msg=f"{name}, scale {scale}")


@pytest.mark.parametrize(
    "image, scale, sigma, min_size",
    [
        (data.camera()[100:228, 50:250], 100, 0.8, 20),  # grey (H,W)
        (data.chelsea()[::3, ::3], 1, 0.5, 5),  # many small regions
        (data.coffee()[::4, ::4], 10, 0, 1),  # no smoothing, no post-merge
        (np.random.default_rng(2).uniform(size=(1, 40, 3)), 50, 0.8, 3),  # a single row
        (np.random.default_rng(3).uniform(size=(40, 1, 3)), 50, 0.8, 3),  # a single column
    ],
)
def test_drop_in_equals_skimage_for_other_parameters(image, scale, sigma, min_size):
    expected = segmentation.felzenszwalb(image, scale=scale, sigma=sigma, min_size=min_size)
    np.testing.assert_array_equal(felzenszwalb.felzenszwalb(image, scale, sigma, min_size), expected)
