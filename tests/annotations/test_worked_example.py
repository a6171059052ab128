"""The instructions' worked example: not a study image, in the painter's colours, true to its
caption."""

import io

import numpy as np
from PIL import Image as PILImage

from analysis.render import painter_lut
from annotations.brush import render_strokes
from catalogue.demo_data import (
    ATTENTION_IMAGE,
    DEMO_IMAGES,
    PRACTICE_IMAGE,
    WORKED_EXAMPLE_CLASS,
    WORKED_EXAMPLE_CROP,
    WORKED_EXAMPLE_IMAGE,
    WORKED_EXAMPLE_STROKES,
    demo_image_path,
)


def test_the_example_image_is_never_a_study_image():
    sources = {source for _, source, *_ in DEMO_IMAGES}
    assert WORKED_EXAMPLE_IMAGE not in sources
    names = {name for name, *_ in DEMO_IMAGES} | {PRACTICE_IMAGE, ATTENTION_IMAGE}
    assert WORKED_EXAMPLE_CLASS not in names
    example = demo_image_path(WORKED_EXAMPLE_IMAGE).read_bytes()
    assert all(demo_image_path(source).read_bytes() != example for source in sources)


def example_map() -> np.ndarray:
    left, top, right, bottom = WORKED_EXAMPLE_CROP
    return render_strokes(WORKED_EXAMPLE_STROKES, right - left, bottom - top)


def test_the_caption_is_true_to_the_map():
    """'the camera is painted strongly, the hands lightly, the man and the background not at
    all' (templates/study/instructions.html), in the cropped image's pixels."""
    values = example_map()
    camera = values[100:115, 270:312]  # the camera's body
    assert np.median(camera) > 0.75
    for hand in (values[150:160, 212:228], values[140:155, 314:320]):
        assert 0.05 < hand.max() < 0.4
    assert not values[:60].any()  # the sky and the head
    assert not values[200:].any()  # the tripod's legs and the ground
    assert not values[:, :150].any()  # the man's back and shoulder


def test_the_picture_is_drawn_in_the_painters_colours(client, db):
    response = client.get("/worked-example.png")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    picture = np.asarray(PILImage.open(io.BytesIO(response.content)).convert("RGB")).astype(int)
    assert picture.shape == (300, 451, 3)  # the <img>'s width and height
    # the image is grey: what is coloured is paint, and it is magenta to purple (red and blue
    # well above green), as in the painter; the camera's strong paint is bluer (purple) than
    # the hands' light paint (magenta)
    coloured = (picture[..., 0] - picture[..., 1] > 40) & (picture[..., 2] - picture[..., 1] > 40)
    scale = 451 / 512
    ys, xs = np.nonzero(coloured)
    assert coloured.mean() > 0.01
    assert ys.min() >= 60 * scale and ys.max() <= 200 * scale and xs.min() >= 150 * scale
    camera = picture[round(105 * scale), round(290 * scale)]
    hand = picture[round(155 * scale), round(220 * scale)]
    assert camera[0] / camera[2] < 0.8 < hand[0] / hand[2]
    strong, weak = painter_lut()[255], painter_lut()[80]
    assert strong[0] / strong[2] < 0.8 < weak[0] / weak[2]


def test_the_webp_picture_is_the_png_at_a_tenth_of_its_size(client, db):
    png = client.get("/worked-example.png")
    webp = client.get("/worked-example.webp")
    assert webp.status_code == 200 and webp["Content-Type"] == "image/webp"
    assert len(webp.content) * 5 < len(png.content)
    lossless = np.asarray(PILImage.open(io.BytesIO(png.content)).convert("RGB")).astype(int)
    lossy = np.asarray(PILImage.open(io.BytesIO(webp.content)).convert("RGB")).astype(int)
    assert lossy.shape == lossless.shape and np.abs(lossy - lossless).mean() < 4
