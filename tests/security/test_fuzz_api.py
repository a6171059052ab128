"""The JSON API fuzzed with schemathesis against its own OpenAPI schema (/api/schema/, fetched
through Django's WSGI app), with a staff token: no generated request may get a 5xx, and every
response to a valid request must match the schema (status codes, content types, bodies).

Budget: FUZZ_EXAMPLES valid and FUZZ_EXAMPLES invalid requests per operation (10 operations),
derandomised so that a failure in CI reproduces locally. The study slug is pinned to the
hand-made study of tests/study/conftest.py so that requests reach the code behind the 404
(ids and filters stay generated); a random slug only ever tests get_object_or_404."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

from tests.study.conftest import painted_study  # noqa: F401 (a fixture used below)

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
    """The schema the fuzzer reads documents all ten data endpoints."""
    assert len(OPERATIONS) == 10
    assert {operation.method for operation in OPERATIONS} == {"get"}
    assert len(WITH_PARAMETERS) == 6  # five with the filters, the map download with its id
