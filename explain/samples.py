"""The offline sample images a model's "test load" classifies (scikit-image and matplotlib
ship them). Free of torch, so that the admin can list them without loading it."""

from PIL import Image as PILImage

from catalogue.demo_data import demo_image_path

# Images for a model's "test load", all available offline: name -> label shown to the admin.
SAMPLE_IMAGES = {
    "chelsea": "cat (scikit-image chelsea)",
    "coffee": "espresso (scikit-image coffee)",
    "astronaut": "astronaut (scikit-image)",
    "motorcycle_left": "motorcycle (scikit-image motorcycle_left)",
    "rocket": "rocket (scikit-image)",
    "grace_hopper": "Grace Hopper in uniform (matplotlib)",
    "watermark_circle": "watermark dataset: a circle carrying the watermark",
    "watermark_circle_clean": "watermark dataset: a circle without the watermark",
}
DEFAULT_SAMPLE = "chelsea"

# The built-in biased model and its test set (explain.biased_model makes them): named here,
# without torch, so that the study templates can find them from a web process.
BIASED_MODEL_NAME = "watermark-cnn"
BIASED_IMAGE_SET_NAME = "watermark-test"


def sample_image(name: str) -> PILImage.Image:
    """The RGB sample image ``name`` (a key of SAMPLE_IMAGES)."""
    if name not in SAMPLE_IMAGES:
        raise ValueError(f"unknown sample image {name!r}; known: {', '.join(SAMPLE_IMAGES)}")
    if name.startswith("watermark_"):
        from explain import watermark

        data = watermark.generate(1, seed=0, watermark="none" if name.endswith("_clean") else "all")
        return PILImage.fromarray(data.uint8_images()[0])
    if name == "grace_hopper":
        path = demo_image_path("matplotlib:grace_hopper.jpg")
    else:
        path = demo_image_path(f"skimage:{name}{'.jpg' if name == 'rocket' else '.png'}")
    with PILImage.open(path) as picture:
        return picture.convert("RGB")
