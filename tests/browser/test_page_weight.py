"""Page weight in a real headless Chromium: the trial page shows the demo astronaut (a 792 KB
lossless PNG) as a WebP rendition from its srcset, never wider than the original, over the
painter's canvas at the original's size (static files' compression: tests/catalogue/test_static_files.py)."""

import io
from pathlib import Path

import pytest
import skimage
from PIL import Image as PILImage

from catalogue.models import ImageSet
from catalogue.services import image_create
from study.models import Study
from tests.browser.test_painting import browser, start  # noqa: F401 (browser is a fixture)

pytestmark = pytest.mark.browser

ASTRONAUT = Path(skimage.__file__).parent / "data" / "astronaut.png"
DESKTOP = {"viewport": {"width": 1440, "height": 900}, "device_scale_factor": 1}
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
}
PHONE_1X = {**PHONE, "device_scale_factor": 1}


@pytest.fixture
def astronaut_study(transactional_db, media, default_model):
    image_set = ImageSet.objects.create(name="astronaut set")
    image_create(
        image_set=image_set,
        name="astronaut",
        content=ASTRONAUT.read_bytes(),
        filename="astronaut.png",
        class_name="astronaut",
    )
    study = Study.objects.create(
        slug="test-study", title="Astronaut", image_set=image_set, trials_per_participant=1
    )
    study.model_specs.add(default_model)
    return study


def image_responses(page) -> list:
    responses = []
    page.on("response", lambda response: responses.append(response) if "/image" in response.url else None)
    return responses


@pytest.mark.parametrize(
    "device, shown_width",
    [(DESKTOP, 512), (PHONE, 512), (PHONE_1X, 480)],  # 512: the original's own width, at most
    ids=["desktop", "phone-3x", "phone-1x"],
)
def test_the_astronaut_is_shown_as_a_small_webp_over_a_canvas_of_its_own_size(
    live_server,
    browser,  # noqa: F811 (the fixture)
    astronaut_study,
    device,
    shown_width,
):
    original_bytes = ASTRONAUT.stat().st_size
    assert original_bytes > 700_000
    context = browser.new_context(**device)
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        responses = image_responses(page)
        start(page, live_server)
        page.wait_for_function("() => document.getElementById('painter-image').complete")
        image = page.locator("#painter-image")
        assert image.evaluate("(img) => img.parentElement.tagName") == "PICTURE"
        assert image.get_attribute("srcset") and image.get_attribute("sizes")
        assert page.locator("picture source[type='image/webp']").get_attribute("srcset")
        current = image.evaluate("(img) => img.currentSrc")
        assert current.endswith(f"-{shown_width}w-q80-v1.webp")

        [response] = responses  # the rendition only: the PNG original is never fetched
        assert response.url == current and response.headers["content-type"] == "image/webp"
        assert "immutable" in response.headers["cache-control"]
        assert len(response.body()) < original_bytes / 15
        # (naturalWidth is the srcset's density-corrected width: the file itself says its size)
        assert PILImage.open(io.BytesIO(response.body())).size == (shown_width, shown_width)

        # the painter's map stays at the original's resolution, and image and canvas share a box
        canvas = page.locator("#painter-canvas")
        assert canvas.evaluate("(c) => [c.width, c.height]") == [512, 512]
        assert page.evaluate("() => [window.painter.width, window.painter.height]") == [512, 512]
        image_box, canvas_box = image.bounding_box(), canvas.bounding_box()
        for key in ("x", "y", "width", "height"):
            assert image_box[key] == pytest.approx(canvas_box[key], abs=0.01)
    finally:
        context.close()
