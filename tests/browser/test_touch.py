"""Touch on a phone, in a real headless Chromium, with real multi-touch input (CDP
Input.dispatchTouchEvent): two fingers zoom and pan without painting, one finger paints at the
right image pixel at any zoom, the page scrolls from outside the image, and Submit with the
coverage line is on screen for portrait and landscape images."""

import re

import numpy as np
import pytest
from playwright import sync_api as playwright_sync

from catalogue.models import ImageSet
from catalogue.services import image_create
from study.models import Study
from tests.browser.test_painting import browser, start  # noqa: F401 (browser is a fixture)
from tests.conftest import gradient_image

pytestmark = pytest.mark.browser

PHONE = {
    "viewport": {"width": 390, "height": 844},
    "has_touch": True,
    "is_mobile": True,
    "device_scale_factor": 3,
}
PHONE_SIDEWAYS = {**PHONE, "viewport": {"width": 844, "height": 390}}
PORTRAIT = (200, 300)  # the portrait study's images, width x height


@pytest.fixture
def portrait_study(transactional_db, default_model):
    image_set = ImageSet.objects.create(name="portrait set")
    for index in range(2):
        image_create(
            image_set=image_set,
            name=f"tall{index}",
            content=gradient_image(*PORTRAIT, seed=10 + index),
            filename=f"tall{index}.png",
            class_index=285,
            class_name="Egyptian cat",
        )
    study = Study.objects.create(
        slug="portrait-study", title="Portrait study", image_set=image_set, trials_per_participant=2
    )
    study.model_specs.add(default_model)
    return study


def phone_page(browser, device=PHONE):  # noqa: F811 (the fixture's value)
    context = browser.new_context(**device)
    page = context.new_page()
    page.set_default_timeout(30_000)  # a loaded 2-core machine starts the live server slowly
    return context, page


def touch(cdp, kind: str, *points):
    """One CDP touch event; `points` are the fingers down after it, finger i with id i."""
    cdp.send(
        "Input.dispatchTouchEvent",
        {"type": kind, "touchPoints": [{"x": x, "y": y, "id": i} for i, (x, y) in enumerate(points)]},
    )


def settle(page):
    """Input reaches the page's main thread asynchronously: wait for two frames after it."""
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")


def stage_box(page) -> dict:
    return page.locator("#painter").bounding_box()


def shown_scale(page) -> float:
    """How much larger the image is drawn than the stage that shows it (1 = the whole image)."""
    return page.locator("#painter-canvas").bounding_box()["width"] / stage_box(page)["width"]


def page_map(page) -> np.ndarray:
    width, height = page.evaluate("[window.painter.width, window.painter.height]")
    values = page.evaluate("Array.from(window.painter.map)")
    return np.array(values, dtype=np.float32).reshape(height, width)


def pinch(
    page, cdp, centre, start_gap: float, end_gap: float, steps: int = 8, first_alone=False, vertical=False
):
    """Two fingers either side of `centre` (horizontally, or vertically), from start_gap to
    end_gap apart. first_alone: the first finger lands and moves a little before the second."""
    cx, cy = centre

    def fingers(gap):
        if vertical:
            return (cx, cy - gap / 2), (cx, cy + gap / 2)
        return (cx - gap / 2, cy), (cx + gap / 2, cy)

    a, b = fingers(start_gap)
    if first_alone:
        total = "() => window.painter.map.reduce((sum, v) => sum + v, 0)"
        before = page.evaluate(total)
        touch(cdp, "touchStart", (a[0] + 30, a[1] + 25))
        for k in range(1, 6):
            touch(cdp, "touchMove", (a[0] + 30 - 6 * k, a[1] + 25 - 5 * k))
        settle(page)
        assert page.evaluate(total) > before, "the first finger alone paints"
    touch(cdp, "touchStart", a, b)
    for k in range(1, steps + 1):
        touch(cdp, "touchMove", *fingers(start_gap + (end_gap - start_gap) * k / steps))
    touch(cdp, "touchEnd", fingers(end_gap)[0])
    touch(cdp, "touchEnd")
    settle(page)


def centre_of(box: dict) -> tuple[float, float]:
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def test_pinch_zooms_and_never_paints(live_server, study, browser):  # noqa: F811
    context, page = phone_page(browser)
    try:
        start(page, live_server)
        cdp = context.new_cdp_session(page)
        # a stroke begun by one finger is taken back whole when the second lands
        pinch(page, cdp, centre_of(stage_box(page)), 40, 300, first_alone=True)
        assert not page_map(page).any()
        assert page.evaluate("window.painter.strokes.length") == 0
        scale = shown_scale(page)
        print(f"scale after a 40 -> 300 px pinch: {scale:.3f}")
        assert scale >= 4
        assert page.evaluate("window.painter.zoom") == pytest.approx(scale, rel=1e-3)
        assert page.evaluate("window.painter.coverage") == 0
        playwright_sync.expect(page.locator("#coverage")).to_have_text(
            re.compile(r"^Painted: 0 % of the image")
        )
        playwright_sync.expect(page.locator("#undo")).to_be_disabled()
        playwright_sync.expect(page.locator("#zoom-level")).to_have_text(f"Zoom {round(scale * 100)} %")
        # the image stays inside its frame: the stage does not grow, the page does not move
        assert page.evaluate("window.scrollX") == 0
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        # pinching in goes back to the whole image, never smaller
        pinch(page, cdp, centre_of(stage_box(page)), 300, 20)
        assert shown_scale(page) == pytest.approx(1, abs=1e-3)
        pinch(page, cdp, centre_of(stage_box(page)), 60, 150)
        assert shown_scale(page) > 2
        # Reset zoom is a real button: the keyboard reaches it
        reset = page.locator("#zoom-reset")
        playwright_sync.expect(reset).to_be_enabled()
        reset.focus()
        page.keyboard.press("Enter")
        assert shown_scale(page) == pytest.approx(1, abs=1e-3)
        playwright_sync.expect(reset).to_be_disabled()
        assert not page_map(page).any()
        # fingers that leave the image on the way still zoom exactly, and then one finger paints
        stage = stage_box(page)
        bottom = (stage["x"] + stage["width"] / 2, stage["y"] + stage["height"] - 30)
        pinch(page, cdp, bottom, 40, 160, vertical=True)  # the lower finger ends 50 px below it
        assert shown_scale(page) == pytest.approx(4, abs=0.01)
        assert not page_map(page).any()
        touch(cdp, "touchStart", centre_of(stage))
        touch(cdp, "touchEnd")
        page.wait_for_function("() => window.painter.strokes.length === 1")
    finally:
        context.close()


def test_two_fingers_pan_without_painting(live_server, study, browser):  # noqa: F811
    context, page = phone_page(browser)
    try:
        start(page, live_server)
        cdp = context.new_cdp_session(page)
        stage = stage_box(page)
        cx, cy = centre_of(stage)
        pinch(page, cdp, (cx, cy), 60, 180)  # 3x
        before = page.locator("#painter-canvas").bounding_box()
        a, b = (cx - 60, cy), (cx + 60, cy)
        touch(cdp, "touchStart", a, b)
        for k in range(1, 9):
            touch(cdp, "touchMove", (a[0] + 10 * k, a[1] + 6 * k), (b[0] + 10 * k, b[1] + 6 * k))
        touch(cdp, "touchEnd", (a[0] + 80, a[1] + 48))
        touch(cdp, "touchEnd")
        settle(page)
        after = page.locator("#painter-canvas").bounding_box()
        # the fingers moved the image by (80, 48) screen px at the same zoom
        assert after["width"] == pytest.approx(before["width"], abs=0.5)
        assert after["x"] - before["x"] == pytest.approx(80, abs=1)
        assert after["y"] - before["y"] == pytest.approx(48, abs=1)
        # and the image still covers the whole stage
        assert after["x"] <= stage["x"] + 0.5 and after["y"] <= stage["y"] + 0.5
        assert not page_map(page).any()
        assert page.evaluate("window.painter.strokes.length") == 0
    finally:
        context.close()


def painted_centroid(values: np.ndarray) -> tuple[float, float]:
    ys, xs = np.mgrid[0 : values.shape[0], 0 : values.shape[1]] + 0.5  # pixel centres
    total = values.sum()
    return float((xs * values).sum() / total), float((ys * values).sum() / total)


def test_one_finger_paints_where_it_touches_at_4x(live_server, study, browser):  # noqa: F811
    context, page = phone_page(browser)
    try:
        start(page, live_server)
        cdp = context.new_cdp_session(page)
        width, height = page.evaluate("[window.painter.width, window.painter.height]")
        # one finger drags: a stroke
        stage = stage_box(page)
        left, right = stage["x"] + stage["width"] * 0.2, stage["x"] + stage["width"] * 0.8
        y = stage["y"] + stage["height"] * 0.5
        touch(cdp, "touchStart", (left, y))
        for k in range(1, 11):
            touch(cdp, "touchMove", (left + (right - left) * k / 10, y))
        touch(cdp, "touchEnd")
        page.wait_for_function("() => window.painter.strokes.length === 1")
        assert page_map(page)[height // 2, width // 2] > 0
        page.click("#undo")  # the keyboard/mouse controls still work between touches
        page.wait_for_function("() => window.painter.strokes.length === 0")
        page.evaluate("window.scrollTo(0, 0)")  # (the click may have scrolled #undo clear of the submit bar)

        # zoom 4x about the stage's centre: fingers 50 px apart end 200 px apart there
        stage = stage_box(page)
        centre = centre_of(stage)
        pinch(page, cdp, centre, 50, 200)
        assert shown_scale(page) == pytest.approx(4, abs=0.01)
        # What is under the fingers' midpoint stays there: the image's centre. A screen offset
        # (dx, dy) from it is then (dx, dy) / (4 * stage px per image px) image pixels away.
        per_pixel = 4 * stage["width"] / width
        dx, dy = 100, 60
        expected = (width / 2 + dx / per_pixel, height / 2 + dy / per_pixel)
        touch(cdp, "touchStart", (centre[0] + dx, centre[1] + dy))
        touch(cdp, "touchEnd")
        page.wait_for_function("() => window.painter.strokes.length === 1")
        stroke = page.evaluate("window.painter.strokes[0]")
        assert stroke["pointer"] == "touch" and stroke["size"] == 40
        point = stroke["points"][0]
        assert point[0] == pytest.approx(expected[0], abs=0.15) and point[1] == pytest.approx(
            expected[1], abs=0.15
        )
        centroid = painted_centroid(page_map(page))
        print("expected ({:.2f}, {:.2f}), painted centroid ({:.2f}, {:.2f})".format(*expected, *centroid))
        assert centroid == pytest.approx(expected, abs=1.0)
        assert shown_scale(page) == pytest.approx(4, abs=0.01)  # painting does not move the view
        # a stroke begun over that paint is taken back to the last bit when a second finger lands
        before = page_map(page)
        pinch(page, cdp, centre, 120, 120, first_alone=True)  # the fingers hold still: no zoom
        np.testing.assert_array_equal(page_map(page), before)
        assert page.evaluate("window.painter.strokes.length") == 1
        assert shown_scale(page) == pytest.approx(4, abs=0.01)
    finally:
        context.close()


def test_swipe_outside_the_image_scrolls_the_page(live_server, study, browser):  # noqa: F811
    context, page = phone_page(browser)
    try:
        start(page, live_server)
        cdp = context.new_cdp_session(page)
        assert page.evaluate("document.documentElement.scrollHeight") > 844
        # a swipe on the image paints and leaves the page where it is
        stage = stage_box(page)
        x, y = stage["x"] + stage["width"] / 2, stage["y"] + stage["height"] * 0.8
        touch(cdp, "touchStart", (x, y))
        for k in range(1, 11):
            touch(cdp, "touchMove", (x, y - 15 * k))
        touch(cdp, "touchEnd")
        page.wait_for_function("() => window.painter.strokes.length === 1")
        settle(page)
        assert page.evaluate("window.scrollY") == 0
        # a swipe up from the text under the image scrolls it
        hint = page.locator(".zoom-bar .zoom-level").bounding_box()
        x, y = centre_of(hint)
        touch(cdp, "touchStart", (x, y))
        for k in range(1, 16):
            touch(cdp, "touchMove", (x, y - 20 * k))
        touch(cdp, "touchEnd")
        page.wait_for_function("() => window.scrollY > 50")
        assert page.evaluate("window.painter.strokes.length") == 1
    finally:
        context.close()


@pytest.mark.parametrize(
    "shape, device",
    [("portrait", PHONE), ("landscape", PHONE), ("portrait", PHONE_SIDEWAYS), ("landscape", PHONE_SIDEWAYS)],
    ids=["portrait-390x844", "landscape-390x844", "portrait-844x390", "landscape-844x390"],
)
def test_submit_and_coverage_are_on_screen(live_server, study, portrait_study, browser, shape, device):  # noqa: F811
    context, page = phone_page(browser, device)
    viewport = device["viewport"]
    try:
        entry = (
            "/s/portrait-study/?PROLIFIC_PID=tall&STUDY_ID=s1&SESSION_ID=x1" if shape == "portrait" else None
        )
        if entry:
            start(page, live_server, entry)
        else:
            start(page, live_server)
        width, height = page.evaluate("[window.painter.width, window.painter.height]")
        assert (width > height) == (shape == "landscape")
        assert page.evaluate("window.scrollY") == 0
        for selector in ("#submit", "#coverage", "#painter", "#zoom-reset"):
            box = page.locator(selector).bounding_box()
            assert box is not None and box["width"] > 0 and box["height"] > 0, selector
            assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], selector
            assert box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"], selector
        playwright_sync.expect(page.locator("#coverage")).to_have_text(
            re.compile(r"^Painted: 0 % of the image")
        )
        # nothing covers the image: the submit bar starts below it
        bar_top = page.locator("#submit").bounding_box()["y"]
        stage = stage_box(page)
        assert stage["y"] + stage["height"] <= bar_top
        for selector in ("#submit", "#coverage"):  # and nothing covers Submit or the coverage line
            point = centre_of(page.locator(selector).bounding_box())
            assert (
                page.evaluate("([x, y]) => document.elementFromPoint(x, y).id", list(point)) == selector[1:]
            )
        # the image is as large as the room allows: at least 60 % of the width or the height
        assert stage["width"] >= 0.6 * viewport["width"] or stage["height"] >= 0.45 * viewport["height"]
    finally:
        context.close()


def test_zoomed_image_loads_a_sharper_rendition(live_server, transactional_db, default_model, browser):  # noqa: F811
    """The displayed image is a rendition (srcset) sized for the unzoomed stage; zoomed in, the
    page asks for the one the zoomed size needs, and shows it."""
    image_set = ImageSet.objects.create(name="large set")
    image_create(
        image_set=image_set,
        name="large",
        content=gradient_image(1000, 750, seed=3),
        filename="large.png",
        class_index=285,
        class_name="Egyptian cat",
    )
    study = Study.objects.create(
        slug="large-study", title="Large", image_set=image_set, trials_per_participant=1
    )
    study.model_specs.add(default_model)
    context, page = phone_page(browser, {**PHONE, "device_scale_factor": 1})
    try:
        start(page, live_server, "/s/large-study/?PROLIFIC_PID=big&STUDY_ID=s1&SESSION_ID=x1")
        shown = "() => document.getElementById('painter-image').currentSrc"
        page.wait_for_function(f"() => ({shown})().includes('-480w-')")  # 370 CSS px at 1x
        pinch(
            page,
            cdp=context.new_cdp_session(page),
            centre=centre_of(stage_box(page)),
            start_gap=50,
            end_gap=200,
        )
        page.wait_for_function(f"() => ({shown})().includes('-1000w-')")  # 4 x 370 = 1480 CSS px: the largest
        page.wait_for_function("() => document.getElementById('painter-image').complete")
        # (a srcset image's natural width is its `sizes`: the zoomed stage, 4 x 370 CSS px)
        assert page.evaluate("document.getElementById('painter-image').naturalWidth") == 1480
        assert not page_map(page).any()
    finally:
        context.close()


def test_ctrl_wheel_zooms_at_the_pointer_on_a_computer(live_server, study, browser):  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        start(page, live_server)
        stage = stage_box(page)
        x, y = stage["x"] + stage["width"] * 0.25, stage["y"] + stage["height"] * 0.75
        page.mouse.move(x, y)
        page.mouse.wheel(0, -100)  # a plain wheel scrolls the page (already at its top): no zoom
        settle(page)
        assert shown_scale(page) == pytest.approx(1, abs=1e-3)
        page.keyboard.down("Control")
        for _ in range(3):
            page.mouse.wheel(0, -100)
        page.keyboard.up("Control")
        expected = float(np.exp(3 * 100 / 200))  # e^(-deltaY / 200) per wheel event
        page.wait_for_function("(expected) => Math.abs(window.painter.zoom - expected) < 1e-3", arg=expected)
        assert shown_scale(page) == pytest.approx(expected, rel=1e-3)
        # the point under the pointer (a quarter across, three quarters down) stayed there
        canvas = page.locator("#painter-canvas").bounding_box()
        assert (x - canvas["x"]) / canvas["width"] == pytest.approx(0.25, abs=0.002)
        assert (y - canvas["y"]) / canvas["height"] == pytest.approx(0.75, abs=0.002)
        assert not page_map(page).any()
        page.click("#zoom-reset")
        assert shown_scale(page) == pytest.approx(1, abs=1e-3)
    finally:
        context.close()
