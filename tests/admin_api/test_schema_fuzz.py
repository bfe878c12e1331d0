"""Schemathesis over the OpenAPI schema: generated requests to every API operation, as an
admin (who reaches the deepest code), on SQLite and PostgreSQL; no answer may be a 5xx.

The operations come from the schema, so a new endpoint is fuzzed without a change here.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings

from admin_api.app import create_app
from tests.admin_api.conftest import World

EXAMPLES = 12


def test_no_operation_answers_with_a_server_error(world: World) -> None:
    app = create_app(world.settings, world.db, "fuzz", clock=world.clock)
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    headers = world.headers("admin")
    failures: list[str] = []
    answered: dict[int, int] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    # Revoking tokens last: a generated id may well be the admin's own token.
    operations.sort(key=lambda op: op.method.upper() == "DELETE")
    assert len(operations) >= 25
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            response = case.call(headers=headers)
            answered[response.status_code] = answered.get(response.status_code, 0) + 1
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.status_code}")

        run()
    assert failures == []
    # Generated requests got through to the handlers, not only to validation.
    assert sum(answered.values()) >= len(operations) * 2
    assert answered.get(200, 0) + answered.get(201, 0) >= len(operations) // 2, answered
