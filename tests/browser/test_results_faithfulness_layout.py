"""The results page's Faithfulness section in a real headless Chromium, logged in as staff, on
the painted study diagnosed for real (tests/research/test_faithfulness.py's ``diagnosed``): it is
visible with its charts and table at 1440x900 and on a 390x844 phone, and the page is never wider
than the viewport (the table scrolls inside its .table-scroll box). Screenshots of the section go
to docs/screenshots/ (desktop-results-faithfulness.png, phone-results-faithfulness.png)."""

import os
from pathlib import Path

import pytest

from tests.browser.test_painting import browser  # noqa: F401 (the fixture)
from tests.research.conftest import painted_study  # noqa: F401 (the fixture)
from tests.research.test_faithfulness import diagnosed  # noqa: F401 (the fixture)

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
VIEWPORTS = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.mark.parametrize("device", list(VIEWPORTS))
def test_the_faithfulness_section_fits_and_shows(
    transactional_db,
    live_server,
    browser,  # noqa: F811
    researcher,
    diagnosed,  # noqa: F811
    device,
):
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    study, _ = diagnosed
    context = browser.new_context(viewport=VIEWPORTS[device], device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(120_000)
    try:
        page.goto(f"{live_server.url}/admin/login/?next=/research/")
        page.fill("#id_username", "researcher")
        page.fill("#id_password", "research-pass-123")
        page.click("input[type=submit]")
        page.wait_for_url(f"{live_server.url}/research/")
        page.goto(f"{live_server.url}/research/{study.slug}/")
        for _ in range(10):  # the scoring page reloads itself until the numbers are ready
            if page.locator("#faithfulness-section").count():
                break
            page.wait_for_timeout(2000)
            page.reload()
        section = page.locator("#faithfulness-section")
        section.scroll_into_view_if_needed()
        assert section.is_visible()
        for chart in ("#sic-chart svg", "#randomisation-chart svg", "#faithfulness-table"):
            assert page.locator(chart).is_visible(), chart
        assert page.locator("#faithfulness-table tr[data-subject='human_mean']").is_visible()
        width = VIEWPORTS[device]["width"]
        assert page.evaluate("() => document.documentElement.scrollWidth") <= width
        assert section.bounding_box()["width"] <= width
        for chart in ("#sic-chart", "#randomisation-chart"):
            box = page.locator(chart).bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= width, chart
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        section.screenshot(path=str(SCREENSHOTS / f"{device}-results-faithfulness.png"))
    finally:
        context.close()
