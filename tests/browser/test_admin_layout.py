"""The admin's image-set pages in a real headless Chromium at 1440x900: the change page was
1783 px wide (the images' inline table: a file input and wide text boxes per image) and the
"Upload images" box sat beside the change form's floated column instead of below it."""

import os

import pytest
from django.contrib.auth import get_user_model

from tests.browser.test_painting import browser  # noqa: F401 (the fixture)

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 1440, "height": 900}
PASSWORD = "layout-pass-123"


@pytest.fixture
def admin_page(browser, live_server, image_set):  # noqa: F811
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    get_user_model().objects.create_superuser("layout", password=PASSWORD)
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "layout")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    yield page
    context.close()


def _page_width(page) -> int:
    return page.evaluate("() => document.documentElement.scrollWidth")


def test_the_image_set_change_page_fits_1440_px_with_a_wide_upload_box(admin_page, live_server, image_set):
    admin_page.goto(f"{live_server.url}/admin/catalogue/imageset/{image_set.pk}/change/")
    box = admin_page.locator("#image-upload-form").bounding_box()
    assert _page_width(admin_page) <= VIEWPORT["width"]
    assert box["width"] > 400
    # below the change form, not beside it
    form = admin_page.locator("#imageset_form").bounding_box()
    assert box["y"] >= form["y"] + form["height"]
    # the file input and its label share a line, not a word per line
    field = admin_page.locator("#image-upload-form input[type=file]").first.bounding_box()
    assert field["height"] < 60


def test_the_add_image_set_page_has_the_upload_and_fits(admin_page, live_server):
    admin_page.goto(f"{live_server.url}/admin/catalogue/imageset/add/")
    assert admin_page.locator("input[type=file][name=files]").count() == 1
    assert _page_width(admin_page) <= VIEWPORT["width"]


def test_the_image_set_list_fits(admin_page, live_server, image_set):
    admin_page.goto(f"{live_server.url}/admin/catalogue/imageset/")
    assert _page_width(admin_page) <= VIEWPORT["width"]
    assert admin_page.locator("td.field-image_count").first.inner_text().strip() == "4"
