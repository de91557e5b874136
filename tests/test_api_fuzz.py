"""An OpenAPI-driven fuzz of /v1 in the test suite (schemathesis against the real ASGI app): no 5xx, and
every response matches its documented status, content type and schema. The long run (thousands of cases
against `videoident serve`) is in docs/api.md under "Fuzzing the API"."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from api.app import create_app
from api.deps import open_bank
from videoident.masking_policy import Profile
from videoident.ratelimit import TokenBucketLimiter
from videoident.settings import Settings
from videoident.tenants import provision_tenant

#: Cases per operation in CI: 8 operations x 25 keeps this test under a minute on the loaded 2-core machine.
EXAMPLES_PER_OPERATION = 25


@pytest.fixture(scope="module")
def bank_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[object, str]]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("fuzz"))
    app = create_app(settings)
    state = open_bank(settings, limiter=TokenBucketLimiter(rate_per_s=1e6, burst=1_000_000))
    app.state.bank = state
    with state.sessions() as db:
        tenant = provision_tenant(state.service, db, state.box, "fuzz-bank", "Fuzz Bank", Profile.GWG_DE)
    yield app, tenant.credentials.api_key
    state.engine.dispose()


CHECKS = [schemathesis.checks.not_a_server_error, schemathesis.checks.status_code_conformance,
          schemathesis.checks.content_type_conformance, schemathesis.checks.response_schema_conformance]


def test_no_server_errors_and_responses_match_the_schema(bank_app: tuple[object, str]) -> None:
    app, key = bank_app
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(path_regex="^/v1")
    tested = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case: schemathesis.Case) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {key}"}
            case.call_and_validate(checks=CHECKS)

        fuzz()
        tested.append(operation.label)
    assert len(tested) >= 7, tested
