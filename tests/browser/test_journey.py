"""A Prolific participant's whole journey in a real headless Chromium."""

import os

import pytest
from playwright import sync_api as playwright_sync

from annotations.models import Annotation
from catalogue.services import image_create, image_set_target_box
from study.models import Participant, Trial
from tests.conftest import gradient_image

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TARGET_BOX = (100, 60, 150, 110)  # the attention image's target region, in image pixels


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"no Chromium at {CHROMIUM}: ./scripts/test installs Debian's chromium")
    manager = playwright_sync.sync_playwright().start()
    browser = manager.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
    yield browser
    browser.close()
    manager.stop()


@pytest.fixture
def journey_study(transactional_db, study):
    image_set = study.image_set
    practice = image_create(
        image_set=image_set,
        name="practice",
        content=gradient_image(seed=10),
        filename="p.png",
        class_name="cat",
    )
    practice.is_practice = True
    practice.save()
    check = image_create(
        image_set=image_set,
        name="check",
        content=gradient_image(seed=11),
        filename="c.png",
        class_name="red square",
    )
    check.is_attention_check = True
    check.save()
    image_set_target_box(image=check, box=TARGET_BOX)
    study.practice_trials, study.attention_checks = 1, 1
    study.save()
    return study


def paint_and_submit(page, box=(20, 40, 140, 80)):
    """Drag across ``box`` (image pixels) on the canvas, then submit and wait for the next page."""
    canvas = page.locator("#painter-canvas")
    bounds = canvas.bounding_box()
    width, height = (int(canvas.get_attribute("width")), int(canvas.get_attribute("height")))

    def screen(x, y):
        return bounds["x"] + x * bounds["width"] / width, bounds["y"] + y * bounds["height"] / height

    left, top, right, bottom = box
    page.mouse.move(*screen(left, top))
    page.mouse.down()
    for y in range(top, bottom + 1, max(1, (bottom - top) // 4)):
        page.mouse.move(*screen(left, y), steps=3)
        page.mouse.move(*screen(right, y), steps=8)
    page.mouse.up()
    page.wait_for_function("() => !document.querySelector('#submit').disabled")
    trial_id = page.evaluate("JSON.parse(document.getElementById('trial-config').textContent).trialId")
    page.click("#submit")
    wait_for_next_page(page, trial_id)


def wait_for_next_page(page, trial_id: int) -> None:
    """Every trial has the same URL: wait until the page shows another trial, or none."""
    page.wait_for_function(
        "(id) => { const c = document.getElementById('trial-config');"
        " return document.readyState === 'complete' && (!c || JSON.parse(c.textContent).trialId !== id); }",
        arg=trial_id,
    )


def current_trial(participant) -> Trial:
    return participant.trials.filter(status=Trial.Status.PENDING).order_by("position").first()


def test_a_prolific_participant_goes_from_link_to_completion(live_server, browser, journey_study):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/s/test-study/?PROLIFIC_PID=pp1&STUDY_ID=st1&SESSION_ID=se1")
    page.click("#consent-accept")
    page.click("#instructions-continue")
    participant = Participant.objects.get(prolific_pid="pp1")
    assert (participant.prolific_study_id, participant.prolific_session_id) == ("st1", "se1")

    while (trial := current_trial(participant)) is not None:
        page.wait_for_selector("#painter-canvas")
        assert f"Image {trial.position} of 4" in page.content()
        if trial.position == 2:  # reloading resumes on the same trial
            page.reload()
            page.wait_for_selector("#painter-canvas")
            assert current_trial(participant).pk == trial.pk
        inside = (TARGET_BOX[0] + 8, TARGET_BOX[1] + 8, TARGET_BOX[2] - 8, TARGET_BOX[3] - 8)
        paint_and_submit(page, inside if trial.kind == Trial.Kind.ATTENTION else (20, 40, 140, 80))

    page.wait_for_selector("#completion-code")
    assert page.inner_text("#completion-code") == journey_study.completion_code
    link = page.get_attribute("#completion-link", "href")
    assert link == f"https://app.prolific.com/submissions/complete?cc={journey_study.completion_code}"
    participant.refresh_from_db()
    assert participant.finished_at is not None and not participant.flagged
    assert Annotation.objects.filter(trial__participant=participant).count() == 4
    attention = participant.trials.get(kind=Trial.Kind.ATTENTION)
    assert attention.attention_passed is True
    page.close()


def test_a_failed_attention_check_is_recorded(live_server, browser, journey_study):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/s/test-study/?PROLIFIC_PID=pp2")
    page.click("#consent-accept")
    page.click("#instructions-continue")
    participant = Participant.objects.get(prolific_pid="pp2")
    while current_trial(participant) is not None:
        page.wait_for_selector("#painter-canvas")
        paint_and_submit(page, (5, 5, 60, 40))  # the attention image too: far from its target
    attention = participant.trials.get(kind=Trial.Kind.ATTENTION)
    participant.refresh_from_db()
    assert attention.attention_passed is False and participant.flagged
    page.close()


def test_a_double_click_on_submit_stores_one_annotation(live_server, browser, journey_study):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/s/test-study/")
    page.click("#consent-accept")
    page.click("#instructions-continue")
    page.wait_for_selector("#painter-canvas")
    participant = Participant.objects.get()
    first = current_trial(participant)
    canvas = page.locator("#painter-canvas").bounding_box()
    page.mouse.move(canvas["x"] + 20, canvas["y"] + 40)
    page.mouse.down()
    page.mouse.move(canvas["x"] + canvas["width"] - 20, canvas["y"] + 60, steps=15)
    page.mouse.up()
    page.wait_for_function("() => !document.querySelector('#submit').disabled")
    page.dblclick("#submit")
    wait_for_next_page(page, first.pk)
    page.wait_for_timeout(500)  # a second request, had one been sent, would have landed by now
    assert Annotation.objects.filter(trial=first).count() == 1
    assert Annotation.objects.filter(trial__participant=participant).count() == 1
    page.close()


def test_two_participants_side_by_side_get_balanced_images(live_server, browser, journey_study):
    pages = [browser.new_context().new_page() for _ in range(2)]
    for index, page in enumerate(pages):
        page.goto(f"{live_server.url}/s/test-study/?PROLIFIC_PID=twin{index}")
    for page in pages:
        page.click("#consent-accept")
    main = [
        set(
            Participant.objects.get(prolific_pid=f"twin{i}")
            .trials.filter(kind=Trial.Kind.MAIN)
            .values_list("image_id", flat=True)
        )
        for i in range(2)
    ]
    # 4 main images, 2 per participant: together they cover all four, none twice.
    assert len(main[0] | main[1]) == 4
    for page in pages:
        page.context.close()
