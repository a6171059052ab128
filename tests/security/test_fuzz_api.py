"""The JSON API fuzzed with schemathesis against its own OpenAPI schema (/api/schema/, fetched
through Django's WSGI app), with a staff token: no generated request may get a 5xx, and every
response to a valid request must match the schema (status codes, content types, bodies).

Budget: FUZZ_EXAMPLES valid and FUZZ_EXAMPLES invalid requests per operation (17 operations),
derandomised so that a failure in CI reproduces locally. The study slug is pinned to the
hand-made study of tests/study/conftest.py so that requests reach the code behind the 404
(ids and filters stay generated); a random slug only ever tests get_object_or_404."""

import io
import json

import numpy as np
import pytest
import schemathesis
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from PIL import Image as PILImage
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

from annotations.models import Annotation
from study.models import Participant, Trial
from study.services import participant_start
from tests.research.conftest import painted_study  # noqa: F401 (a fixture used below)
from tests.security.conftest import png_claiming

FUZZ_EXAMPLES = 12

# The served schema; the view is public and touches no database, so it loads at collection.
SCHEMA = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
# Invalid requests need a typed parameter to break: an id or a filter (a slug is any string,
# and the credentials are sent by the test).
UNTYPED = {"slug", "Authorization", "sessionid"}
WITH_PARAMETERS = [
    operation
    for operation in OPERATIONS
    if any(parameter.name not in UNTYPED for parameter in operation.iter_parameters())
]


@pytest.fixture
def staff_token(django_user_model) -> str:
    user = django_user_model.objects.create_user("fuzzer", password="fuzz-pass-123", is_staff=True)
    return Token.objects.create(user=user).key


@pytest.fixture
def wsgi_requests_keep_the_test_database(painted_study):  # noqa: F811
    """A request's start and end must not close the test's database connection (Django's
    test client detaches the same handlers, and reattaches them after each of its requests:
    hence this runs after painted_study)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _fuzz(operation, mode: GenerationMode, check, **overrides) -> None:
    @given(case=operation.as_strategy(generation_mode=mode, **overrides))
    @hypothesis_settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        check(case)

    run()


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda operation: operation.label)
def test_valid_requests_get_answers_that_match_the_schema(
    operation,
    staff_token,
    painted_study,  # noqa: F811
    wsgi_requests_keep_the_test_database,
):
    headers = {"Authorization": f"Token {staff_token}"}
    pinned = {"path_parameters": {"slug": painted_study.study.slug}} if "{slug}" in operation.path else {}
    _fuzz(operation, GenerationMode.POSITIVE, lambda case: case.call_and_validate(headers=headers), **pinned)


@pytest.mark.parametrize("operation", WITH_PARAMETERS, ids=lambda operation: operation.label)
def test_invalid_requests_never_get_a_server_error(
    operation,
    staff_token,
    painted_study,  # noqa: F811
    wsgi_requests_keep_the_test_database,
):
    headers = {"Authorization": f"Token {staff_token}"}
    # the slug is generated too: odd ones must be a 404, never a crash
    _fuzz(
        operation,
        GenerationMode.NEGATIVE,
        lambda case: case.call_and_validate(headers=headers, checks=[not_a_server_error]),
    )


def test_the_fuzzer_sees_every_api_endpoint():
    """The schema the fuzzer reads documents the index and all sixteen data endpoints."""
    assert len(OPERATIONS) == 17
    assert {operation.method for operation in OPERATIONS} == {"get"}
    # eight with the filters (two with an id too), three map downloads by id alone, diagnostics
    # with curves
    assert len(WITH_PARAMETERS) == 12


# ------------------------------------------------------- the participants' annotation endpoint
# Not in the OpenAPI schema (a multipart form posted by the painter): fuzzed with hypothesis
# directly. Any answer but a 5xx is fine; a refused submission must leave nothing behind.

ANNOTATION_EXAMPLES = 60
PNG_MODES = ["L", "I;16", "RGB", "RGBA", "P", "1", "LA"]


@st.composite
def map_files(draw) -> bytes:
    kind = draw(st.sampled_from(["png", "png", "png", "bytes", "claimed"]))
    if kind == "bytes":
        return draw(st.binary(max_size=2048))
    if kind == "claimed":  # a header declaring any size over a few bytes of data
        width, height = draw(st.integers(1, 2**31 - 1)), draw(st.integers(1, 2**31 - 1))
        return png_claiming(width, height, bit_depth=draw(st.sampled_from([8, 16])))
    width = draw(st.sampled_from([160, 160, 1, 159, 161, 320]))
    height = draw(st.sampled_from([120, 120, 1, 119, 121, 240]))
    mode = draw(st.sampled_from(PNG_MODES))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = rng.integers(0, np.iinfo(np.uint16).max, (height, width)).astype(np.uint16)
    picture = (
        PILImage.fromarray(values) if mode == "I;16" else PILImage.fromarray((values >> 8).astype(np.uint8))
    )
    buffer = io.BytesIO()
    (picture if mode in ("I;16", "L") else picture.convert(mode)).save(buffer, format="PNG")
    data = buffer.getvalue()
    if draw(st.booleans()):  # cut anywhere
        data = data[: draw(st.integers(0, len(data)))]
    return data


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)
stroke_logs = st.one_of(
    st.text(max_size=64),
    json_values.map(lambda value: json.dumps(value)),  # NaN and Infinity included
    st.lists(
        st.fixed_dictionaries(
            {"tool": st.sampled_from(["brush", "eraser", "spray"]), "points": json_values},
            optional={"size": json_values},
        ),
        max_size=3,
    ).map(json.dumps),
)
numbers = st.one_of(
    st.none(),
    st.sampled_from(["nan", "inf", "-inf", "1e309", "", "-1", "0", "12.5"]),
    st.integers().map(str),
    st.floats().map(repr),
    st.text(max_size=12),
)
metadata = st.fixed_dictionaries(
    {},
    optional={
        "strokes": stroke_logs,
        "focus_events": stroke_logs,
        "time_on_task_ms": numbers,
        "canvas_width": numbers,
        "canvas_height": numbers,
        "device_pixel_ratio": numbers,
        "timed_out": st.sampled_from(["", "1", "true", "no", "\x00"]),
        "idempotency_key": st.text(max_size=80),
    },
)


@pytest.fixture
def participant_trial(study, settings):
    settings.RATE_LIMIT_SUBMISSIONS_PER_MINUTE = 0  # a fuzzer sends far more than a person
    return participant_start(study=study, recruiter_ids={}).trials.order_by("position").first()


def test_the_annotation_endpoint_survives_anything_and_stores_nothing_it_refuses(participant_trial):
    trial = participant_trial
    client = Client()
    url = f"/p/{trial.participant.code}/trials/{trial.pk}/annotation"

    @given(content=map_files(), fields=metadata)
    @hypothesis_settings(
        max_examples=ANNOTATION_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(content, fields):
        data = {key: value for key, value in fields.items() if value is not None}
        data["map"] = SimpleUploadedFile("map.png", content, content_type="image/png")
        response = client.post(url, data)
        assert response.status_code < 500
        trial.refresh_from_db()
        if response.status_code == 200:
            # accepted: exactly one annotation; undo it so that the next example starts afresh
            assert trial.status == Trial.Status.DONE and Annotation.objects.filter(trial=trial).count() == 1
            Annotation.objects.filter(trial=trial).delete()
            Trial.objects.filter(pk=trial.pk).update(status=Trial.Status.PENDING, completed_at=None)
            Participant.objects.filter(pk=trial.participant_id).update(finished_at=None)
        else:
            assert "error" in response.json()
            assert trial.status == Trial.Status.PENDING and not Annotation.objects.exists()

    run()
