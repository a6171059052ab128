"""Accessibility of every participant page, in a real headless Chromium (issue 13, point 9).

axe-core (bundled by axe-playwright-python) runs on each page a participant can see in the
demo study (call_command("demo"): practice, attention check and main trials), at desktop
1440x900 and phone 390x844: consent, declined, instructions, the practice, attention-check
and main trial pages, a trial with a countdown (the same study with a time limit), the
stale-tab trial page, the "already took part" page and the finish pages. No violation of
impact "serious" or "critical" may remain.

axe's own script goes in through page.evaluate (CDP Runtime.evaluate), which the pages'
Content-Security-Policy (script-src 'self') does not govern, so no bypass_csp is needed;
test_axe_runs_under_the_pages_csp checks that the policy is on and axe ran anyway.

Beyond axe: the controls are at least 24x24 CSS px at the phone size (WCAG 2.2 target size,
measured with bounding boxes), the focused primary button has an outline of 2 px or more,
every tool is reached with Tab and works with Enter/Space, and the pages say that painting
needs a mouse, pen or touch screen.
"""

import json
import os
from collections import Counter
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.core.management import call_command

from annotations.models import Annotation
from catalogue.demo_data import DEMO_SLUG
from study.models import Participant, Study, Trial
from tests.browser.test_journey import paint_and_submit, wait_for_next_page
from tests.browser.test_painting import browser  # noqa: F401 (the fixture)

pytestmark = pytest.mark.browser

DEVICES = {
    "desktop": {"viewport": {"width": 1440, "height": 900}},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "has_touch": True,
        "is_mobile": True,
    },
}
BLOCKING = {"serious", "critical"}
MIN_TARGET_PX = 24  # WCAG 2.2 SC 2.5.8 (AA)
POINTER_NOTE = "needs a mouse, a pen or a touch screen"
AXE = Axe()
# axe's defaults plus WCAG 2.2's target size (off by default in axe 4.12).
AXE_OPTIONS = {"resultTypes": ["violations"], "rules": {"target-size": {"enabled": True}}}


@pytest.fixture
def demo_study(transactional_db):
    call_command("demo", trials=3, stdout=open(os.devnull, "w"))
    return Study.objects.get(slug=DEMO_SLUG)


@pytest.fixture
def new_context(browser):  # noqa: F811
    contexts = []

    def make(device: str):
        context = browser.new_context(**DEVICES[device])
        context.set_default_timeout(20_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


def contrast_ratio(foreground: tuple, background: tuple) -> float:
    """WCAG 2.x contrast ratio of two sRGB colours (0-255)."""

    def luminance(rgb):
        channels = [c / 255 for c in rgb[:3]]
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


# The text's colour and the first opaque background behind it among its ancestors (None when
# an ancestor has a background image first): for text that axe leaves undecided.
TEXT_COLOURS = """(selector) => {
  const el = document.querySelector(selector);
  const rgb = (text) => (text.match(/[\\d.]+/g) || []).map(Number);
  const style = getComputedStyle(el);
  for (let node = el; node; node = node.parentElement) {
    const s = getComputedStyle(node);
    if (s.backgroundImage !== "none") return null;
    const bg = rgb(s.backgroundColor);
    if (bg.length === 3 || (bg.length === 4 && bg[3] === 1)) {
      return {color: rgb(style.color), background: bg, size: parseFloat(style.fontSize),
              weight: parseInt(style.fontWeight, 10)};
    }
  }
  return {color: rgb(style.color), background: [255, 255, 255], size: parseFloat(style.fontSize),
          weight: parseInt(style.fontWeight, 10)};
}"""


def undecided_contrast_failures(page, incomplete: list[dict]) -> list[dict]:
    """axe leaves contrast undecided where text overlaps other elements (the Submit bar fixed
    at the foot of a phone's screen): measure those against the ancestors' background."""
    failures = []
    for violation in incomplete:
        if violation["id"] != "color-contrast":
            continue
        for node in violation["nodes"]:
            selector = node["target"][0]
            colours = page.evaluate(TEXT_COLOURS, selector)
            if colours is None:
                failures.append({"id": "color-contrast (over an image)", "target": selector})
                continue
            large = colours["size"] >= 24 or (colours["size"] >= 18.66 and colours["weight"] >= 700)
            ratio = contrast_ratio(colours["color"], colours["background"])
            if ratio < (3.0 if large else 4.5):
                failures.append({"id": f"color-contrast {ratio:.2f}", "target": selector})
    return failures


def axe_check(page) -> list[dict]:
    """axe's violations, plus what it left undecided ("incomplete") at impact serious or
    critical: an aria-label on an element whose role does not allow one is reported that way.
    Undecided contrast is measured here instead (undecided_contrast_failures)."""
    page.wait_for_load_state("load")
    response = AXE.run(page, options=AXE_OPTIONS).response
    undecided = [
        {**v, "id": f"{v['id']} (incomplete)"}
        for v in response["incomplete"]
        if v["impact"] in BLOCKING and v["id"] != "color-contrast"
    ]
    contrast = [
        {
            "id": f["id"],
            "impact": "serious",
            "help": "measured here",
            "nodes": [{"target": [f["target"]], "failureSummary": ""}],
        }
        for f in undecided_contrast_failures(page, response["incomplete"])
    ]
    return response["violations"] + undecided + contrast


def describe(violations: list[dict]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"  {violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"]:
            lines.append(f"      {', '.join(map(str, node['target']))}: {node['failureSummary']!r}"[:400])
    return "\n".join(lines)


def trial_kind(page, participant) -> str:
    config = json.loads(page.locator("#trial-config").text_content())
    return participant.trials.get(pk=config["trialId"]).kind


def wait_for_painter(page):
    page.wait_for_function("() => window.painter && window.painter.map instanceof Float32Array")
    page.wait_for_function("() => document.getElementById('painter-image').complete")


def paint_stroke(page):
    box = page.locator("#painter-canvas").bounding_box()
    count = page.evaluate("() => window.painter.strokes.length")
    page.mouse.move(box["x"] + 0.3 * box["width"], box["y"] + 0.5 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + 0.7 * box["width"], box["y"] + 0.5 * box["height"], steps=12)
    page.mouse.up()
    page.wait_for_function("(n) => window.painter.strokes.length === n", arg=count + 1)


def visit_every_page(live_server, new_context, study, device: str) -> dict[str, list[dict]]:
    """Walk the demo study as one participant (and a few who leave or come back), running axe
    on each page: {page name: violations}."""
    found = {}
    url = f"{live_server.url}/s/{study.slug}/"

    declining = new_context(device).new_page()
    declining.goto(url)
    declining.click("#consent-decline")
    declining.wait_for_selector("text=You chose not to take part")
    found["declined"] = axe_check(declining)

    page = new_context(device).new_page()
    page.goto(f"{url}?PROLIFIC_PID=a11y-{device}&STUDY_ID=s&SESSION_ID=one")
    found["consent"] = axe_check(page)
    page.click("#consent-accept")
    page.wait_for_selector("#instructions-continue")
    page.locator(".worked-example img").evaluate("(img) => img.decode()")
    found["instructions"] = axe_check(page)
    page.click("#instructions-continue")
    participant = Participant.objects.get(prolific_pid=f"a11y-{device}")

    while participant.trials.filter(status=Trial.Status.PENDING).exists():
        wait_for_painter(page)
        kind = trial_kind(page, participant)
        if f"trial-{kind}" not in found:
            found[f"trial-{kind}"] = axe_check(page)
            if kind == Trial.Kind.MAIN:
                paint_stroke(page)  # Undo, Clear and Submit enabled, the coverage line green
                found["trial-painted"] = axe_check(page)
                # the same page in a study with a time limit: the countdown shows
                Study.objects.filter(pk=study.pk).update(time_limit_s=90)
                page.reload()
                wait_for_painter(page)
                page.wait_for_selector("#countdown:not([hidden])")
                found["trial-timed"] = axe_check(page)
                Study.objects.filter(pk=study.pk).update(time_limit_s=0)
                # a stale tab's landing: the current trial with the message
                page.goto(f"{live_server.url}/p/{participant.code}/?already_submitted")
                wait_for_painter(page)
                found["trial-stale"] = axe_check(page)
        paint_and_submit(page)
    page.wait_for_selector("#completion-code")
    found["finish"] = axe_check(page)
    page.goto(f"{live_server.url}/p/{participant.code}/done?already_submitted")
    page.wait_for_selector("#already-submitted")
    found["finish-stale"] = axe_check(page)

    # the same recruiter id in another browser, without its session: "already took part"
    other = new_context(device).new_page()
    other.goto(f"{url}?PROLIFIC_PID=a11y-{device}&STUDY_ID=s&SESSION_ID=two")
    other.wait_for_selector("#already-took-part")
    found["already"] = axe_check(other)
    return found


@pytest.mark.parametrize("device", DEVICES)
def test_no_serious_or_critical_axe_violations_on_any_participant_page(
    live_server, new_context, demo_study, device
):
    found = visit_every_page(live_server, new_context, demo_study, device)
    expected = {"declined", "consent", "instructions", "finish", "finish-stale", "already"}
    expected |= {
        "trial-practice",
        "trial-attention",
        "trial-main",
        "trial-painted",
        "trial-timed",
        "trial-stale",
    }
    assert set(found) == expected
    counts = {name: dict(Counter(v["impact"] for v in violations)) for name, violations in found.items()}
    print(f"\naxe findings by impact, {device}: {counts}")
    report = "\n".join(f"{name}:\n{describe(violations)}" for name, violations in found.items() if violations)
    blocking = {name: [v["id"] for v in vs if v["impact"] in BLOCKING] for name, vs in found.items()}
    blocking = {name: ids for name, ids in blocking.items() if ids}
    assert not blocking, f"serious or critical axe findings on {device}: {blocking}\n{report}"


def test_axe_runs_under_the_pages_csp(live_server, new_context, study):
    page = new_context("desktop").new_page()
    response = page.goto(f"{live_server.url}/s/{study.slug}/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "unsafe-eval" not in policy
    results = AXE.run(page, options={"rules": {"target-size": {"enabled": True}}}).response
    assert results["testEngine"]["name"] == "axe-core"
    assert {"color-contrast", "button-name", "target-size"} <= {rule["id"] for rule in results["passes"]}


def start_trial(live_server, new_context, study, device: str, pid: str):
    page = new_context(device).new_page()
    page.add_init_script("window.localStorage.clear()")  # the tools' defaults
    page.goto(f"{live_server.url}/s/{study.slug}/?PROLIFIC_PID={pid}")
    page.click("#consent-accept")
    page.click("#instructions-continue")
    wait_for_painter(page)
    return page


TRIAL_CONTROLS = ["#tool-brush", "#tool-eraser", "#brush-size", "#brush-strength", "#overlay-opacity"]
TRIAL_CONTROLS += ["#show-image", "#undo", "#redo", "#clear", "#submit", ".help summary"]


# Every visible control on the page, its size in CSS px, and whether it is a button or the label
# of a radio button or checkbox (what a finger aims at).
CONTROL_SIZES = """() => Array.from(document.querySelectorAll(
    'button, .button, input:not([type=hidden]), select, textarea, summary, a[href], label'))
  .filter((el) => el.tagName !== 'LABEL' || el.querySelector('input[type=radio], input[type=checkbox]'))
  .filter((el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden')
  .map((el) => { const r = el.getBoundingClientRect();
    return {name: el.id || el.tagName.toLowerCase() + ':' + el.textContent.trim().slice(0, 20),
            width: r.width, height: r.height,
            tap: el.tagName === 'BUTTON' || el.tagName === 'LABEL' || el.classList.contains('button')}; })"""


def test_every_control_is_at_least_24_px_and_buttons_44_px_on_a_phone(live_server, new_context, study):
    page = start_trial(live_server, new_context, study, "phone", "small-screen")
    paint_stroke(page)
    controls = page.evaluate(CONTROL_SIZES)
    print(
        "\nphone target sizes (CSS px):",
        {c["name"]: (round(c["width"]), round(c["height"])) for c in controls},
    )
    names = {c["name"] for c in controls}
    assert {selector.lstrip("#") for selector in TRIAL_CONTROLS if selector.startswith("#")} <= names
    small = [c for c in controls if min(c["width"], c["height"]) < MIN_TARGET_PX]
    assert not small, f"controls under {MIN_TARGET_PX}x{MIN_TARGET_PX} CSS px: {small}"
    short = [c for c in controls if c["tap"] and c["height"] < 44]
    assert not short, f"buttons and tool labels under 44 px tall on a phone: {short}"


def outline_of(page) -> dict:
    return page.evaluate(
        """() => { const el = document.activeElement; const s = getComputedStyle(el);
        return {id: el.id || el.tagName.toLowerCase(), width: parseFloat(s.outlineWidth),
                style: s.outlineStyle, color: s.outlineColor}; }"""
    )


def tab_to(page, selector: str, limit: int = 40) -> dict:
    """Press Tab until ``selector`` has the focus: the focused element's outline."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(sel) => document.activeElement.matches(sel)", selector):
            return outline_of(page)
    raise AssertionError(f"{selector} never got the focus with Tab")


def test_the_focused_primary_button_has_a_ring_of_2_px_or_more(live_server, new_context, study):
    page = new_context("desktop").new_page()
    page.goto(f"{live_server.url}/s/{study.slug}/")
    ring = tab_to(page, "#consent-accept")
    assert ring["style"] != "none" and ring["width"] >= 2, ring
    colour = [float(c) for c in ring["color"][ring["color"].index("(") + 1 : -1].split(",")]
    page_background = (246, 247, 249)  # --bg
    assert contrast_ratio(colour, page_background) >= 3, ring  # WCAG 1.4.11 non-text contrast


@pytest.mark.parametrize("device", DEVICES)
def test_every_tool_works_from_the_keyboard(live_server, new_context, study, device):
    page = start_trial(live_server, new_context, study, device, f"keys-{device}")
    paint_stroke(page)  # painting itself needs a pointer; everything else the keyboard
    first_trial = json.loads(page.locator("#trial-config").text_content())["trialId"]

    rings = {}
    for selector in ["#tool-brush", "#brush-size", "#brush-strength", "#overlay-opacity", "#show-image"]:
        rings[selector] = tab_to(page, selector)
        if selector == "#tool-brush":  # the arrow keys choose the eraser, and back
            page.keyboard.press("ArrowRight")
            assert page.locator("#tool-eraser").is_checked()
            page.keyboard.press("ArrowLeft")
            assert page.locator("#tool-brush").is_checked()
        if selector == "#brush-size":
            page.keyboard.press("ArrowRight")
            assert page.locator("#brush-size-value").inner_text() == "41"
            assert page.evaluate("() => window.painter.brushSize") == 41
        if selector == "#show-image":
            page.keyboard.press("Space")
            assert page.locator("#painter-image").evaluate("(img) => img.style.visibility") == "hidden"
            page.keyboard.press("Space")
    rings["#undo"] = tab_to(page, "#undo")
    page.keyboard.press("Enter")
    page.wait_for_function("() => window.painter.strokes.length === 0")
    assert page.locator("#submit").is_disabled()
    rings["#redo"] = tab_to(page, "#redo")
    page.keyboard.press("Space")
    page.wait_for_function("() => window.painter.strokes.length === 1")
    rings["#clear"] = tab_to(page, "#clear")
    rings["#submit"] = tab_to(page, "#submit")
    rings["summary"] = tab_to(page, ".help summary")
    page.keyboard.press("Enter")
    assert page.locator(".help").evaluate("(details) => details.open")

    thin = {
        selector: ring for selector, ring in rings.items() if ring["style"] == "none" or ring["width"] < 2
    }
    assert not thin, f"focus rings under 2 px: {thin}"
    tab_to(page, "#submit")
    page.keyboard.press("Enter")
    wait_for_next_page(page, first_trial)
    assert Annotation.objects.filter(trial_id=first_trial).count() == 1


def test_the_painting_area_and_image_are_named_and_the_pointer_need_is_stated(
    live_server, new_context, study
):
    page = new_context("phone").new_page()
    page.goto(f"{live_server.url}/s/{study.slug}/?PROLIFIC_PID=named")
    assert POINTER_NOTE in page.locator("#pointer-note").inner_text()
    page.click("#consent-accept")
    note = page.locator("#pointer-note")
    assert POINTER_NOTE in note.inner_text() and "returning the study on Prolific" in note.inner_text()
    page.click("#instructions-continue")
    wait_for_painter(page)
    participant = Participant.objects.get(prolific_pid="named")
    trial = participant.trials.order_by("position").first()
    total = participant.trials.count()

    surface = page.locator("#painter")
    assert surface.get_attribute("role") == "img"
    label = surface.get_attribute("aria-label")
    assert label == f"Painting area over image 1 of {total}: paint where you see Egyptian cat"
    alt = page.locator("#painter-image").get_attribute("alt")
    assert alt == f"Image 1 of {total}, in which to show where you see: Egyptian cat"
    described = surface.get_attribute("aria-describedby").split()
    assert [page.locator(f"#{i}").count() for i in described] == [1] * len(described)
    assert study.instructions in page.locator("#task-instructions").text_content()
    # The accessibility tree as a screen reader gets it: the area's name and description.
    snapshot = page.locator("#painter").aria_snapshot()
    assert label in snapshot, snapshot
    note = page.locator("#pointer-note")
    assert POINTER_NOTE in note.inner_text() and "returning the study on Prolific" in note.inner_text()
    note.scroll_into_view_if_needed()
    assert note.is_visible()
    assert trial.image.class_name == "Egyptian cat"


def test_phone_screenshots(live_server, new_context, demo_study, tmp_path):
    """The trial page on a phone after one stroke: phone-a11y-top.png (the top of the page, the
    Brush radio button focused; the pointer note under the image) and phone-a11y-tools.png
    (Undo focused), in A11Y_SCREENSHOTS (docs/screenshots/ for the docs), else in a temporary
    folder."""
    out = Path(os.environ.get("A11Y_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    page = start_trial(live_server, new_context, demo_study, "phone", "screenshots")
    paint_stroke(page)
    page.mouse.move(1, 1)
    tab_to(page, "#tool-brush")
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=str(out / "phone-a11y-top.png"))
    tab_to(page, "#undo")
    page.screenshot(path=str(out / "phone-a11y-tools.png"))
    assert sorted(p.name for p in out.glob("phone-a11y-*.png")) == [
        "phone-a11y-tools.png",
        "phone-a11y-top.png",
    ]
