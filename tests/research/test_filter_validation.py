"""Every bad filter value is a 400 that names the parameter and the values it takes: on the
results and review pages (a page), the downloads and pictures (plain text) and the JSON API
(DRF's {parameter: [message]}). Good spellings of yes and no are taken alike everywhere."""

import pytest
from rest_framework.authtoken.models import Token

BAD_VALUES = {
    "exclude_flagged": ["maybe", "2", "tru", "yes please"],
    "include_flagged_maps": ["maybe", "-1", "nope"],
    "min_annotations": ["x", "-1", "1.5", "3e2", "many"],
}
# What each message must say the parameter takes.
ALLOWED = {
    "exclude_flagged": "1, true, yes, on",
    "include_flagged_maps": "1, true, yes, on",
    "hierarchical": "1, true, yes, on",
    "min_annotations": "a whole number, 0 or more",
}
BAD = [(name, value) for name, values in BAD_VALUES.items() for value in values]
# The results page also takes the hierarchical CIs switch.
PAGE_BAD = [*BAD, ("hierarchical", "sometimes")]

DOWNLOADS = [
    "agreement.csv",
    "images.csv",
    "export.zip",
    "dataset.zip",
    "images/{image}/human.png",
    "images/{image}/human-top10.png",
]


@pytest.fixture
def staff(client, researcher):
    client.force_login(researcher)
    return client


@pytest.fixture
def image_id(study) -> int:
    return study.image_set.images.order_by("pk").first().pk


@pytest.fixture
def api(client, researcher):
    key = Token.objects.create(user=researcher).key
    return lambda path: client.get(path, HTTP_AUTHORIZATION=f"Token {key}")


def _query(name: str, value: str) -> str:
    from urllib.parse import urlencode

    return urlencode({name: value})


@pytest.mark.parametrize(("name", "value"), PAGE_BAD)
def test_the_results_page_answers_a_bad_filter_with_a_400_page_naming_it(staff, study, name, value):
    response = staff.get(f"/research/test-study/?{_query(name, value)}")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert 'id="parameter-errors"' in page
    errors = page.split('id="parameter-errors"')[1].split("</ul>")[0]
    assert f"{name}: " in errors and ALLOWED[name] in errors
    assert 'id="filters"' in page  # the form, to correct it
    assert 'id="summary"' not in page  # no numbers computed with filters that were not asked for


@pytest.mark.parametrize("download", DOWNLOADS)
@pytest.mark.parametrize(("name", "value"), BAD)
def test_downloads_and_pictures_answer_a_bad_filter_with_a_plain_400_naming_it(
    staff, study, image_id, download, name, value
):
    url = f"/research/test-study/{download.format(image=image_id)}?{_query(name, value)}"
    response = staff.get(url)
    assert response.status_code == 400
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    text = response.content.decode()
    assert f"{name}: " in text and ALLOWED[name] in text and repr(value) in text


def _api_paths_with_filters(client) -> list[str]:
    """Every API path whose schema declares the filters: read from the schema, so that an
    endpoint added later is checked too."""
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    return sorted(
        path
        for path, operations in schema["paths"].items()
        if any(
            parameter["name"] == "min_annotations"
            for operation in operations.values()
            for parameter in operation.get("parameters", [])
        )
    )


def _api_url(path: str, image_id: int, annotation_id: int | None) -> str:
    return (
        path.replace("{slug}", "test-study")
        .replace("{image_id}", str(image_id))
        .replace("{annotation_id}", str(annotation_id or 1))
    )


def test_the_api_declares_the_filters_on_the_endpoints_that_use_human_maps(client, db):
    paths = _api_paths_with_filters(client)
    for expected in (
        "/api/studies/{slug}/agreement/",
        "/api/studies/{slug}/image-stats/",
        "/api/studies/{slug}/images/",
        "/api/studies/{slug}/images/{image_id}/human-mean.npy",
        "/api/studies/{slug}/export.zip",
    ):
        assert expected in paths


def test_every_api_endpoint_with_filters_answers_a_bad_one_with_a_400_naming_it(client, api, painted_study):
    from annotations.models import Annotation

    image_id = painted_study.study.image_set.images.order_by("pk").first().pk
    annotation_id = Annotation.objects.order_by("pk").first().pk
    paths = _api_paths_with_filters(client)
    assert paths
    for path in paths:
        for name, value in BAD:
            response = api(f"{_api_url(path, image_id, annotation_id)}?{_query(name, value)}")
            assert response.status_code == 400, (path, name, value)
            body = response.json()
            assert list(body) == [name], path
            (message,) = body[name]
            assert ALLOWED[name] in message and repr(value) in message


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "yes", "on", " On "])
def test_every_spelling_of_yes_sets_the_filter(api, study, value):
    body = api(f"/api/studies/test-study/agreement/?{_query('exclude_flagged', value)}").json()
    assert body["analysis_params"]["filters"]["exclude_flagged"] is True


@pytest.mark.parametrize("value", ["", "0", "false", "False", "no", "off"])
def test_every_spelling_of_no_leaves_it_unset(api, study, value):
    body = api(f"/api/studies/test-study/agreement/?{_query('include_flagged_maps', value)}").json()
    assert body["analysis_params"]["filters"]["include_flagged_maps"] is False


def test_a_no_renders_the_checkbox_unchecked_and_a_yes_checked(staff, study):
    # "0" is unchecked on the page too (a non-empty string is "checked" to Django's widget)
    unchecked = staff.get("/research/test-study/?exclude_flagged=0").content.decode()
    checked = staff.get("/research/test-study/?exclude_flagged=yes").content.decode()
    box = '<input type="checkbox" name="exclude_flagged"'
    assert "checked" not in unchecked.split(box)[1].split(">")[0]
    assert "checked" in checked.split(box)[1].split(">")[0]


def test_the_review_page_answers_an_unknown_show_with_a_400_page_naming_it(staff, study):
    response = staff.get("/research/test-study/review/?show=everything")
    assert response.status_code == 400
    page = response.content.decode()
    assert "show: &#x27;everything&#x27; is not one of all, flagged" in page
    assert 'id="filters"' not in page  # show is not one of the results page's filters


def test_the_api_index_lists_every_endpoint_and_the_schema(client, db):
    from research.api.urls import urlpatterns

    response = client.get("/api/")
    assert response.status_code == 200
    body = response.json()
    assert body["schema"] == "http://testserver/api/schema/"
    assert body["docs"] == "http://testserver/api/docs/"
    assert body["redoc"] == "http://testserver/api/redoc/"
    listed = {endpoint["name"]: endpoint["url"] for endpoint in body["endpoints"]}
    assert listed["studies"] == "/api/studies/"
    assert listed["agreement"] == "/api/studies/<slug:slug>/agreement/"
    documented = {pattern.name for pattern in urlpatterns} - {"index", "schema", "docs", "redoc"}
    assert set(listed) == documented
    # every listed address answers (with a token) or asks for one; none is a 404
    assert client.get(listed["studies"]).status_code == 401
