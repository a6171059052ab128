"""A shared computer, a second tab, Back: in a real headless Chromium (issue 13)."""

import json
import os

import pytest
from playwright import sync_api as playwright_sync

from study.models import Participant, Trial
from tests.browser.test_journey import paint_and_submit, wait_for_next_page

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
def context(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    yield context
    context.close()


@pytest.fixture
def live_study(transactional_db, study):
    return study


def start(page, url: str) -> None:
    page.goto(url)
    page.click("#consent-accept")
    page.click("#instructions-continue")
    page.wait_for_selector("#painter-canvas")


def trial_id(page) -> int:
    page.wait_for_selector("#trial-config", state="attached")
    return json.loads(page.locator("#trial-config").text_content())["trialId"]


def current_trial(participant) -> Trial:
    return participant.trials.filter(status=Trial.Status.PENDING).order_by("position").first()


@pytest.mark.parametrize(
    "first, second",
    [
        ("PROLIFIC_PID=pp1&STUDY_ID=st&SESSION_ID=se1", "PROLIFIC_PID=pp2&STUDY_ID=st&SESSION_ID=se2"),
        ("workerId=W1&assignmentId=A1&hitId=H", "workerId=W2&assignmentId=A2&hitId=H"),
    ],
    ids=["prolific", "mturk"],
)
def test_the_next_person_on_a_shared_computer_starts_afresh(live_server, context, live_study, first, second):
    page = context.new_page()
    start(page, f"{live_server.url}/s/test-study/?{first}")
    previous = Participant.objects.get()
    previous.trials.update(status=Trial.Status.DONE)  # they finished and left the browser open

    page.goto(f"{live_server.url}/s/test-study/?{second}")
    page.wait_for_selector("#consent-accept")
    assert page.locator("#completion-code").count() == 0
    assert live_study.completion_code not in page.content()
    page.click("#consent-accept")
    page.click("#instructions-continue")
    page.wait_for_selector("#painter-canvas")
    newcomer = Participant.objects.exclude(pk=previous.pk).get()
    assert newcomer.prolific_pid == "pp2" or newcomer.mturk_worker_id == "W2"
    assert trial_id(page) == current_trial(newcomer).pk
    # Back through the history never reaches the previous person's code
    for _ in range(4):
        page.go_back(wait_until="load")
        assert page.locator("#completion-code").count() == 0, page.url


def test_a_second_tab_on_a_submitted_trial_goes_on_to_the_current_one(live_server, context, live_study):
    first_tab = context.new_page()
    start(first_tab, f"{live_server.url}/s/test-study/?PROLIFIC_PID=pp1&SESSION_ID=se1")
    participant = Participant.objects.get()
    second_tab = context.new_page()
    second_tab.goto(f"{live_server.url}/p/{participant.code}/")
    second_tab.wait_for_selector("#painter-canvas")
    first, second = participant.trials.order_by("position")
    assert trial_id(first_tab) == trial_id(second_tab) == first.pk

    paint_and_submit(first_tab)
    assert trial_id(first_tab) == second.pk

    paint_and_submit(second_tab)  # the stale tab: the server answers 409 with the current trial
    assert trial_id(second_tab) == second.pk
    assert second_tab.locator("#already-submitted").is_visible()
    assert second_tab.locator("#submit").is_disabled()  # a fresh, unpainted trial
    assert "already_submitted" not in second_tab.url  # a reload does not show the message again
    assert participant.trials.get(pk=first.pk).annotation.idempotency_key  # stored once, by the first tab


def test_back_after_submitting_shows_where_the_participant_is(live_server, context, live_study):
    page = context.new_page()
    start(page, f"{live_server.url}/s/test-study/?PROLIFIC_PID=pp1&SESSION_ID=se1")
    participant = Participant.objects.get()
    first, second = participant.trials.order_by("position")
    paint_and_submit(page)
    assert trial_id(page) == second.pk

    page.go_back(wait_until="load")  # the first trial's page: asked for again, it is the second
    wait_for_next_page(page, first.pk)
    assert trial_id(page) == second.pk
    page.go_back(wait_until="load")  # the instructions: read already, so the current trial
    page.wait_for_selector("#painter-canvas")
    assert page.locator("#instructions-continue").count() == 0
    assert trial_id(page) == second.pk
