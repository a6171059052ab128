"""The demo study: images that ship with scikit-image and matplotlib, so it works offline."""

from pathlib import Path

DEMO_SLUG = "demo"

# name, file, ImageNet class (None when ImageNet has no such class), shown class name,
# and a rough box of the object (left, top, right, bottom as fractions) for bot painters.
DEMO_IMAGES = [
    ("chelsea", "skimage:chelsea.png", 285, "Egyptian cat", (0.05, 0.0, 0.75, 1.0)),
    ("coffee", "skimage:coffee.png", 967, "espresso", (0.2, 0.05, 0.85, 0.75)),
    ("motorcycle", "skimage:motorcycle_left.png", 665, "moped", (0.05, 0.15, 0.95, 0.95)),
    ("rocket", "skimage:rocket.jpg", 657, "missile", (0.35, 0.1, 0.65, 0.95)),
    ("astronaut", "skimage:astronaut.png", None, "astronaut", (0.1, 0.0, 0.75, 1.0)),
    ("grace_hopper", "matplotlib:grace_hopper.jpg", 652, "military uniform", (0.1, 0.45, 0.95, 1.0)),
]


def demo_image_path(source: str) -> Path:
    package, filename = source.split(":", 1)
    if package == "skimage":
        import skimage

        return Path(skimage.__file__).parent / "data" / filename
    import matplotlib

    return Path(matplotlib.get_data_path()) / "sample_data" / filename


PRACTICE_IMAGE = "rocket"
ATTENTION_IMAGE = "red_circle"
ATTENTION_BOX = (220, 90, 340, 210)  # left, top, right, bottom of the circle in its 400x300 image


def demo_object_boxes() -> dict[str, tuple[float, float, float, float]]:
    boxes = {name: box for name, _, _, _, box in DEMO_IMAGES}
    left, top, right, bottom = ATTENTION_BOX
    boxes[ATTENTION_IMAGE] = (left / 400 + 0.05, top / 300 + 0.05, right / 400 - 0.05, bottom / 300 - 0.05)
    return boxes


def attention_image_png() -> bytes:
    """A grey image with one red circle: the target region is known exactly."""
    from PIL import Image as PILImage
    from PIL import ImageDraw

    from analysis.codec import png_bytes

    picture = PILImage.new("RGB", (400, 300), (128, 128, 128))
    ImageDraw.Draw(picture).ellipse(ATTENTION_BOX, fill=(210, 30, 30))
    return png_bytes(picture)


# The instructions' worked example: an image that no study shows (the cameraman, not among
# DEMO_IMAGES: an example on a study image would prime the answer), cropped to the figure's
# 3:2 frame (left, top, right, bottom), painted for "camera" with these strokes (in the
# cropped image's pixels): the camera strongly, the hands holding it lightly, nothing else.
WORKED_EXAMPLE_IMAGE = "skimage:camera.png"
WORKED_EXAMPLE_CROP = (0, 50, 512, 391)
WORKED_EXAMPLE_CLASS = "camera"
WORKED_EXAMPLE_STROKES = [
    {
        "tool": "brush",
        "size": 36,
        "strength": 1.0,
        "points": [[262, 98, 1], [318, 96, 1], [318, 118, 1], [264, 116, 1], [262, 98, 1]],
    },
    {"tool": "brush", "size": 36, "strength": 1.0, "points": [[266, 106, 1], [314, 106, 1]]},
    {"tool": "brush", "size": 36, "strength": 1.0, "points": [[266, 106, 1], [314, 106, 1]]},
    {"tool": "brush", "size": 30, "strength": 0.35, "points": [[205, 160, 1], [235, 150, 1]]},
    {"tool": "brush", "size": 30, "strength": 0.35, "points": [[312, 135, 1], [322, 160, 1]]},
]
