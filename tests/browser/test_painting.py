"""The painter in a real headless Chromium, against a live server."""

import json
import os
import re

import numpy as np
import pytest
from playwright import sync_api as playwright_sync

from annotations.brush import render_strokes
from annotations.models import Annotation
from study.models import Participant

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
W, H = 160, 120  # the conftest images
ENTRY = "/s/test-study/?PROLIFIC_PID=abc&STUDY_ID=s1&SESSION_ID=x1"


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"no Chromium at {CHROMIUM}: ./scripts/test installs Debian's chromium")
    manager = playwright_sync.sync_playwright().start()
    try:
        browser = manager.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()
    finally:
        manager.stop()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def start(page, live_server, entry=ENTRY):
    page.goto(live_server.url + entry)
    page.click("#consent-accept")
    page.wait_for_selector("#painter-canvas, #instructions-continue")
    if page.locator("#instructions-continue").count():
        page.click("#instructions-continue")
    page.wait_for_selector("#painter-canvas")
    # (window.painter is the #painter element until the script has replaced it)
    page.wait_for_function("() => window.painter && window.painter.map instanceof Float32Array")


def to_screen(page, x: float, y: float) -> tuple[float, float]:
    """Image pixel coordinates -> page coordinates of the displayed canvas."""
    box = page.locator("#painter-canvas").bounding_box()
    return box["x"] + x * box["width"] / W, box["y"] + y * box["height"] / H


def stroke_count(page) -> int:
    return page.evaluate("window.painter.strokes.length")


def wait_for_strokes(page, count: int):
    """Input reaches the page's main thread asynchronously; wait until it is handled."""
    page.wait_for_function("(count) => window.painter.strokes.length === count", arg=count)


def mouse_stroke(page, points, steps=12):
    count = stroke_count(page)
    x, y = to_screen(page, *points[0])
    page.mouse.move(x, y)
    page.mouse.down()
    for point in points[1:]:
        x, y = to_screen(page, *point)
        page.mouse.move(x, y, steps=steps)
    page.mouse.up()
    wait_for_strokes(page, count + 1)


def page_map(page) -> np.ndarray:
    return np.array(page.evaluate("Array.from(window.painter.map)"), dtype=np.float32).reshape(H, W)


def submit_and_wait(page, expected_next):
    page.wait_for_function("() => !document.getElementById('submit').disabled")
    page.click("#submit")
    playwright_sync.expect(expected_next(page)).to_be_visible()


def second_image(page):
    return page.get_by_text("Image 2 of 2")


def finish_page(page):
    return page.locator("#completion-code")


def distance_to_segment(x0, y0, x1, y1) -> np.ndarray:
    ys, xs = np.mgrid[0:H, 0:W] + 0.5
    t = np.clip(((xs - x0) * (x1 - x0) + (ys - y0) * (y1 - y0)) / ((x1 - x0) ** 2 + (y1 - y0) ** 2), 0, 1)
    return np.hypot(xs - (x0 + t * (x1 - x0)), ys - (y0 + t * (y1 - y0)))


def assert_replays(annotation: Annotation):
    stored = annotation.map_array()
    replayed = render_strokes(annotation.strokes, annotation.width, annotation.height)
    assert np.abs(replayed - stored).max() <= 2 / 65535


def test_participant_paints_and_finishes(live_server, transactional_db, study, page):
    start(page, live_server)
    # no time limit and no practice: neither the countdown nor the badge shows
    playwright_sync.expect(page.locator("#countdown")).to_be_hidden()
    playwright_sync.expect(page.locator("#practice-badge")).to_be_hidden()
    mouse_stroke(page, [(30, 60), (130, 60)])
    submit_and_wait(page, second_image)

    participant = Participant.objects.get(study=study)
    assert participant.prolific_pid == "abc"
    annotation = Annotation.objects.get(trial__participant=participant, trial__position=1)
    assert annotation.bit_depth == 16
    assert (annotation.width, annotation.height) == (W, H)
    values = annotation.map_array()
    assert values.shape == (H, W) and values.max() > 0.2
    size = annotation.strokes[0]["size"]
    assert size == 40
    near = distance_to_segment(30, 60, 130, 60) <= size / 2 + 2
    assert values[near].sum() >= 0.9 * values.sum()
    # the painted line covers the stroke from end to end
    assert values[60, 32] > 0.1 and values[60, 80] > 0.1 and values[60, 128] > 0.1
    assert_replays(annotation)
    assert annotation.time_on_task_ms > 0
    assert annotation.canvas_width > 0 and annotation.canvas_height > 0
    assert abs(annotation.canvas_width / annotation.canvas_height - W / H) < 0.02
    assert annotation.device_pixel_ratio == 1
    assert len(annotation.idempotency_key) >= 16

    mouse_stroke(page, [(20, 20), (60, 90), (140, 30)])
    submit_and_wait(page, finish_page)
    study.refresh_from_db()
    assert page.locator("#completion-code").inner_text().strip() == study.completion_code
    participant.refresh_from_db()
    assert participant.prolific_pid == "abc" and participant.finished_at is not None
    assert participant.trials.filter(status="done").count() == 2


def test_eraser_undo_redo(live_server, transactional_db, study, page):
    start(page, live_server)
    playwright_sync.expect(page.locator("#undo")).to_be_disabled()
    mouse_stroke(page, [(30, 60), (130, 60)])
    painted = page_map(page)
    assert painted[60, 80] > 0.2

    page.check("#tool-eraser")
    mouse_stroke(page, [(80, 50), (80, 70)])
    erased = page_map(page)
    assert erased[60, 80] < painted[60, 80]
    assert (erased <= painted).all()
    assert erased[60, 35] == painted[60, 35]  # far from the eraser
    strokes = page.evaluate("window.painter.strokes")
    assert [stroke["tool"] for stroke in strokes] == ["brush", "eraser"]
    # the browser and the Python renderer agree to the last float32 bit
    np.testing.assert_array_equal(render_strokes(strokes, W, H), erased)

    page.click("#undo")
    wait_for_strokes(page, 1)
    np.testing.assert_array_equal(page_map(page), painted)
    page.keyboard.press("Control+Shift+Z")
    wait_for_strokes(page, 2)
    np.testing.assert_array_equal(page_map(page), erased)
    page.keyboard.press("Control+Z")
    wait_for_strokes(page, 1)
    np.testing.assert_array_equal(page_map(page), painted)
    page.click("#redo")
    wait_for_strokes(page, 2)
    np.testing.assert_array_equal(page_map(page), erased)

    # clear is undoable too, and what is sent is what is in effect
    page.click("#clear")
    wait_for_strokes(page, 0)
    assert not page_map(page).any()
    playwright_sync.expect(page.locator("#submit")).to_be_disabled()
    page.keyboard.press("Control+Z")
    wait_for_strokes(page, 2)
    np.testing.assert_array_equal(page_map(page), erased)

    submit_and_wait(page, second_image)
    annotation = Annotation.objects.get(trial__position=1)
    expected = np.round(erased.astype(np.float64) * 65535) / 65535
    assert np.abs(annotation.map_array() - expected).max() < 1e-7
    assert [stroke["tool"] for stroke in annotation.strokes] == ["brush", "eraser"]
    assert_replays(annotation)


def test_touch_painting(live_server, transactional_db, study, browser):
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=3, has_touch=True, is_mobile=True
    )
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        start(page, live_server)
        cdp = context.new_cdp_session(page)
        x, y = to_screen(page, 40, 40)
        cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
        for step in range(1, 11):
            x, y = to_screen(page, 40 + 8 * step, 40 + 4 * step)
            cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        wait_for_strokes(page, 1)
        for count, point in enumerate([(30, 100), (130, 100)], start=2):
            page.touchscreen.tap(*to_screen(page, *point))
            wait_for_strokes(page, count)
        scroll = page.evaluate("window.scrollY")
        submit_and_wait(page, second_image)
        annotation = Annotation.objects.get(trial__position=1)
        values = annotation.map_array()
        assert values.max() > 0.1
        assert values[60, 80] > 0  # along the drag from (40, 40) to (120, 80)
        assert {stroke["pointer"] for stroke in annotation.strokes} == {"touch"}
        assert annotation.device_pixel_ratio == 3
        assert scroll == 0
        assert_replays(annotation)
    finally:
        context.close()


def test_refusal_keeps_the_map_and_failures_are_retried(live_server, transactional_db, study, page):
    start(page, live_server)
    mouse_stroke(page, [(50, 30), (110, 90)])
    before = page_map(page)
    key = page.evaluate("window.painter.idempotencyKey")
    seen = []

    def refuse(route):
        seen.append(route.request.post_data_buffer)
        route.fulfill(status=400, content_type="application/json", body=json.dumps({"error": "Not today."}))

    page.route(re.compile(r".*/annotation$"), refuse)
    page.click("#submit")
    playwright_sync.expect(page.locator("#status")).to_have_text("Not today.")
    playwright_sync.expect(page.locator("#submit")).to_be_enabled()
    np.testing.assert_array_equal(page_map(page), before)
    page.unroute(re.compile(r".*/annotation$"))

    def fail_once(route):
        seen.append(route.request.post_data_buffer)
        if len(seen) == 2:
            route.fulfill(status=503, body="busy")
        else:
            route.continue_()

    page.route(re.compile(r".*/annotation$"), fail_once)
    page.click("#submit")
    playwright_sync.expect(page.locator("#status")).to_contain_text("retrying")
    playwright_sync.expect(second_image(page)).to_be_visible()
    assert len(seen) == 3
    assert all(key.encode() in body for body in seen)
    annotation = Annotation.objects.get(trial__position=1)
    assert annotation.idempotency_key == key
    assert Annotation.objects.count() == 1


def test_cursor_size_keys_and_remembered_settings(live_server, transactional_db, study, page):
    start(page, live_server)
    box = page.locator("#painter-canvas").bounding_box()
    page.mouse.move(*to_screen(page, 80, 60))
    cursor = page.locator("#brush-cursor")
    playwright_sync.expect(cursor).to_be_visible()
    scale = box["width"] / W
    assert cursor.bounding_box()["width"] == pytest.approx(40 * scale, abs=1)
    centre = cursor.bounding_box()
    assert centre["x"] + centre["width"] / 2 == pytest.approx(box["x"] + 80 * scale, abs=1)

    page.keyboard.press("]")
    bigger = page.evaluate("window.painter.brushSize")
    assert bigger > 40
    assert page.locator("#brush-size-value").inner_text() == str(bigger)
    assert cursor.bounding_box()["width"] == pytest.approx(bigger * scale, abs=1)
    page.keyboard.press("[")
    page.keyboard.press("[")
    assert page.evaluate("window.painter.brushSize") < 40
    page.locator("#brush-strength").fill("80")
    remembered = page.evaluate("window.painter.brushSize")

    page.uncheck("#show-image")
    assert page.locator("#painter-image").evaluate("img => getComputedStyle(img).visibility") == "hidden"

    page.reload()
    page.wait_for_function("() => window.painter && window.painter.map instanceof Float32Array")
    assert page.evaluate("window.painter.brushSize") == remembered
    assert page.locator("#brush-size").input_value() == str(remembered)
    assert page.locator("#brush-strength-value").inner_text() == "80"
    mouse_stroke(page, [(60, 60), (100, 60)])
    stroke = page.evaluate("window.painter.strokes")[0]
    assert stroke["size"] == remembered and stroke["strength"] == 0.8 and stroke["pointer"] == "mouse"


def covered_share(values: np.ndarray) -> float:
    return float((values >= 0.05).mean())


def test_minimum_coverage_gates_submit(live_server, transactional_db, study, page):
    study.min_coverage = 0.1
    study.save()
    start(page, live_server)
    submit = page.locator("#submit")
    coverage = page.locator("#coverage")
    playwright_sync.expect(coverage).to_have_text("Painted: 0 % of the image (at least 10 % needed)")
    playwright_sync.expect(submit).to_be_disabled()

    def check_counter():
        """The incremental count equals a full scan of the map."""
        assert page.evaluate("window.painter.coverage") == covered_share(page_map(page))

    page.locator("#brush-size").fill("12")
    mouse_stroke(page, [(20, 20), (50, 20)])
    check_counter()
    small = page.evaluate("window.painter.coverage")
    assert 0 < small < 0.1
    playwright_sync.expect(submit).to_be_disabled()
    playwright_sync.expect(coverage).to_contain_text("(at least 10 % needed)")

    page.locator("#brush-size").fill("40")
    mouse_stroke(page, [(20, 60), (140, 60)])
    mouse_stroke(page, [(20, 95), (140, 95)])
    check_counter()
    enough = page.evaluate("window.painter.coverage")
    assert enough >= 0.1
    playwright_sync.expect(submit).to_be_enabled()
    playwright_sync.expect(coverage).to_have_text(
        re.compile(r"Painted: \d+(\.\d)? % of the image \(at least 10 % needed\)")
    )

    # undo, redo, the eraser, clear and undoing the clear keep the count exact
    page.click("#undo")
    page.click("#undo")
    wait_for_strokes(page, 1)
    check_counter()
    playwright_sync.expect(submit).to_be_disabled()
    page.click("#redo")
    page.click("#redo")
    wait_for_strokes(page, 3)
    check_counter()
    playwright_sync.expect(submit).to_be_enabled()
    page.check("#tool-eraser")
    page.locator("#brush-strength").fill("100")
    mouse_stroke(page, [(20, 60), (140, 60)])
    check_counter()
    assert page.evaluate("window.painter.coverage") < enough
    page.click("#clear")
    wait_for_strokes(page, 0)
    assert page.evaluate("window.painter.coverage") == 0
    playwright_sync.expect(submit).to_be_disabled()
    page.keyboard.press("Control+Z")
    wait_for_strokes(page, 4)
    check_counter()

    page.check("#tool-brush")
    page.locator("#brush-strength").fill("35")
    while page.evaluate("window.painter.coverage") < 0.1:
        mouse_stroke(page, [(20, 40), (140, 40)])
    check_counter()
    submit_and_wait(page, second_image)
    annotation = Annotation.objects.get(trial__position=1)
    assert covered_share(annotation.map_array()) >= 0.1
    assert annotation.coverage >= 0.1 and not annotation.timed_out


def test_countdown_submits_when_time_is_up(live_server, transactional_db, study, page):
    study.time_limit_s = 3
    study.min_coverage = 0.5  # not reachable in time: the painting is sent anyway
    study.save()
    seen = []

    def refuse(route):  # the first timed-out submission is refused, so that the page stays
        seen.append(route.request.post_data_buffer)
        route.fulfill(status=400, content_type="application/json", body=json.dumps({"error": "Not now."}))

    page.route(re.compile(r".*/annotation$"), refuse)
    start(page, live_server)
    countdown = page.locator("#countdown")
    playwright_sync.expect(countdown).to_be_visible()
    playwright_sync.expect(countdown).to_have_text(re.compile(r"^0:0[0-3]$"))
    playwright_sync.expect(countdown).to_have_class(re.compile(r"\burgent\b"))  # the last 10 s
    mouse_stroke(page, [(30, 60), (130, 60)])
    painted = page_map(page)
    playwright_sync.expect(page.locator("#submit")).to_be_disabled()  # below the minimum coverage

    playwright_sync.expect(page.locator("#status")).to_have_text("Not now.", timeout=8_000)
    assert len(seen) == 1
    assert b'name="timed_out"\r\n\r\n1\r\n' in seen[0]
    playwright_sync.expect(countdown).to_have_text("0:00")
    assert page.evaluate("window.painter.timedOut")
    # painting has stopped, and Submit sends the timed-out map again
    x, y = to_screen(page, 80, 20)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 40, y, steps=5)
    page.mouse.up()
    assert page.evaluate("window.painter.strokes.length") == 1
    np.testing.assert_array_equal(page_map(page), painted)
    page.unroute(re.compile(r".*/annotation$"))
    submit_and_wait(page, second_image)
    annotation = Annotation.objects.get(trial__position=1)
    assert annotation.timed_out
    assert annotation.map_array().max() > 0.2
    assert_replays(annotation)

    # nothing painted at all: the empty map is sent when the time is up
    playwright_sync.expect(finish_page(page)).to_be_visible(timeout=8_000)
    empty = Annotation.objects.get(trial__position=2)
    assert empty.timed_out and not empty.map_array().any() and empty.strokes == []


def test_focus_and_visibility_events_are_sent(live_server, transactional_db, study, page):
    start(page, live_server)
    before = len(page.evaluate("window.painter.focusEvents"))
    page.evaluate("""() => {
        window.dispatchEvent(new Event("blur"));
        window.dispatchEvent(new Event("focus"));
        Object.defineProperty(document, "visibilityState", {value: "hidden", configurable: true});
        document.dispatchEvent(new Event("visibilitychange"));
        Object.defineProperty(document, "visibilityState", {value: "visible", configurable: true});
        document.dispatchEvent(new Event("visibilitychange"));
    }""")
    mouse_stroke(page, [(30, 60), (130, 60)])
    submit_and_wait(page, second_image)
    annotation = Annotation.objects.get(trial__position=1)
    events = annotation.focus_events[before:]
    assert [name for name, _ in events] == ["blur", "focus", "hidden", "visible"]
    times = [ms for _, ms in events]
    assert all(isinstance(ms, int) for ms in times)
    assert 0 < times[0] <= times[1] <= times[2] <= times[3] <= annotation.time_on_task_ms
    assert not annotation.timed_out


def canvas_rgba(page) -> np.ndarray:
    data = page.evaluate(
        """() => {
            const canvas = document.getElementById("painter-canvas");
            return Array.from(canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data);
        }"""
    )
    return np.array(data, dtype=np.int32).reshape(H, W, 4)


def next_frames(page):
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")


def check_agreement(page, opacity=0.7):
    """The map is the replay of the strokes in effect, the counter and "has paint" follow the
    map, and the canvas shows the map in the painter's colours (analysis.render's twin)."""
    from analysis.render import painter_overlay_rgba

    values = page_map(page)
    strokes = page.evaluate("window.painter.strokes")
    np.testing.assert_array_equal(values, render_strokes(strokes, W, H))
    assert page.evaluate("window.painter.coverage") == covered_share(values)
    percent = covered_share(values) * 100
    text = page.locator("#coverage").inner_text()
    if percent == 0:
        assert text.startswith("Painted: 0 %")
    else:
        assert not text.startswith("Painted: 0 %")
    has_paint = bool((values.astype(np.float64) >= 0.5 / 65535).any())
    assert page.locator("#clear").is_disabled() == (not has_paint)
    next_frames(page)
    drawn = canvas_rgba(page)
    expected = painter_overlay_rgba(values, opacity).astype(np.int32)
    np.testing.assert_array_equal(drawn[..., 3], expected[..., 3])
    # the canvas keeps premultiplied colours: a faint pixel's colour reads back rounded
    visible = expected[..., 3] > 0
    tolerance = np.ceil(255 / np.maximum(expected[..., 3], 1))[..., None]
    assert (np.abs(drawn[..., :3] - expected[..., :3]) <= tolerance)[visible].all()
    assert not drawn[~visible].any()
    return values


def test_canvas_map_and_counter_agree_through_brush_eraser_undo_redo(
    live_server, transactional_db, study, page
):
    start(page, live_server)
    check_agreement(page)
    mouse_stroke(page, [(20, 40), (140, 40)])
    mouse_stroke(page, [(20, 70), (140, 80)])
    check_agreement(page)
    page.check("#tool-eraser")
    mouse_stroke(page, [(60, 20), (60, 100)])  # the default strength, 35 %
    check_agreement(page)
    page.locator("#brush-strength").fill("100")
    mouse_stroke(page, [(100, 20), (100, 100)])
    values = check_agreement(page)
    ys, xs = np.mgrid[0:H, 0:W] + 0.5
    assert not values[(np.abs(xs - 100) <= 10) & (ys >= 25) & (ys <= 95)].any()  # the core: exactly 0
    page.click("#undo")
    wait_for_strokes(page, 3)
    check_agreement(page)
    page.keyboard.press("Control+Shift+Z")
    wait_for_strokes(page, 4)
    check_agreement(page)
    page.check("#tool-brush")
    page.locator("#brush-strength").fill("60")
    mouse_stroke(page, [(90, 10), (110, 110)])
    check_agreement(page)
    page.click("#undo")
    page.click("#undo")
    wait_for_strokes(page, 3)
    check_agreement(page)
    page.click("#redo")
    wait_for_strokes(page, 4)
    check_agreement(page)
    page.locator("#overlay-opacity").fill("40")
    check_agreement(page, opacity=0.4)
    page.locator("#overlay-opacity").fill("70")
    # the full-strength eraser over everything: nothing left, anywhere, and the page says so
    page.check("#tool-eraser")
    page.locator("#brush-strength").fill("100")
    page.locator("#brush-size").fill("60")
    rows = [0.5, 20, 40, 60, 80, 100, H - 0.5]  # the cores (d <= 15) overlap
    before_sweep = page_map(page)
    count = stroke_count(page)
    for y in rows:
        mouse_stroke(page, [(0.5, y), (W - 0.5, y)])
    values = check_agreement(page)
    assert not values.any() and before_sweep.any()
    playwright_sync.expect(page.locator("#coverage")).to_have_text(re.compile(r"^Painted: 0 %"))
    playwright_sync.expect(page.locator("#submit")).to_be_disabled()
    for _ in rows:
        page.keyboard.press("Control+Z")
    wait_for_strokes(page, count)
    np.testing.assert_array_equal(check_agreement(page), before_sweep)


def test_eraser_passes_in_the_browser(live_server, transactional_db, study, page):
    """Paint left in the eraser's core (|y - 60| < r/2 = 10, 40 <= x <= 120) after 1 and 3
    passes at the default strength (35 %) and at 100 %, as the browser computes it."""
    start(page, live_server)
    page.locator("#brush-strength").fill("100")
    for _ in range(4):
        for y in (45, 60, 75):
            mouse_stroke(page, [(20, y), (140, y)])
    painted = page_map(page)
    ys, xs = np.mgrid[0:H, 0:W] + 0.5
    core = (np.abs(ys - 60) < 10) & (xs >= 40) & (xs <= 120)
    assert painted[core].min() > 0.8
    page.check("#tool-eraser")
    left = {}
    for strength in (35, 100):
        page.locator("#brush-strength").fill(str(strength))
        for passes in (1, 2, 3):
            mouse_stroke(page, [(0, 60), (W, 60)])
            if passes in (1, 3):
                left[(strength, passes)] = float(page_map(page)[core].sum() / painted[core].sum())
        for _ in range(3):
            page.click("#undo")
        wait_for_strokes(page, 12)
        np.testing.assert_array_equal(page_map(page), painted)
    print("paint left in the core:", {key: f"{value:.1%}" for key, value in left.items()})
    assert left[(100, 1)] == 0 and left[(100, 3)] == 0
    assert 0.05 < left[(35, 1)] < 0.35 and left[(35, 3)] < 0.02
