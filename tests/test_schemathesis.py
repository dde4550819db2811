"""Property-based API testing with schemathesis against the OpenAPI document, in process.

Every operation gets positive and negative examples with an admin's fresh token. Checks: no
5xx, every status documented, every response matches its schema, negative data rejected.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.helpers import GENEROUS_TEST_LIMITS, ApiClient

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
# Examples per operation: `make test` tries a few of each kind; `make soak` (CI too) many.
EXAMPLES_PER_OPERATION = {"few": 5, "many": 30}
# The interactive docs page is HTML for people, not part of the JSON API.
SKIPPED_PATHS = {"/api/docs", "/api/docs/oauth2-redirect"}


@pytest.fixture
def fuzz_app(make_app):
    # The fuzzer sends hundreds of 401/404/422s from 127.0.0.1: keep it off the block list.
    app = make_app(
        ip_allowlist=("127.0.0.1",),
        login_ip_threshold=1_000_000,
        password_reset_cooldown_seconds=0,
        # Thousands of requests a minute from one address, the fresh logins among them.
        rate_limit_overrides={
            **GENEROUS_TEST_LIMITS,
            "RATE_LIMIT_API_REQUESTS_PER_IP_PER_MINUTE": "100000/60",
        },
    )
    with app.app_context():
        yield app


@pytest.mark.parametrize("examples", ["few", pytest.param("many", marks=pytest.mark.soak)])
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_keeps_its_contract_under_generated_input(fuzz_app, mode, examples):
    client = ApiClient(fuzz_app.test_client())
    admin = client.create_admin(fuzz_app)
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", fuzz_app)
    failures = []
    tested = 0

    def fresh_headers() -> dict[str, str]:
        # Each case gets its own login: a generated logout must not end the next case's session.
        token = client.login(admin.email, admin.password).get_json()["access_token"]
        return {"Authorization": f"Bearer {token}"}

    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in SKIPPED_PATHS:
            continue

        @hypothesis_settings(
            max_examples=EXAMPLES_PER_OPERATION[examples],
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case):
            # A negative case whose headers were made invalid (Authorization dropped or
            # mangled) must reach the API as generated: a fresh token would make it valid.
            header = case.meta.components.get(ParameterLocation.HEADER) if case.meta else None
            headers_broken = header is not None and header.mode == GenerationMode.NEGATIVE
            case.call_and_validate(headers={} if headers_broken else fresh_headers(), checks=CHECKS)

        tested += 1
        try:
            run()
        except Unsatisfiable:  # nothing to make negative (no parameters, no body)
            continue
        except (
            Exception,
            BaseExceptionGroup,
        ) as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:3000]}")
    assert tested >= 30, f"only {tested} operations in the OpenAPI document?"
    assert not failures, "\n\n".join(failures)
