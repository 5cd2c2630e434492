"""Schemathesis against the OpenAPI schema, on SQLite and PostgreSQL: no request produces a
server error, and every answer matches the documented status codes, content types and schemas."""

from __future__ import annotations

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from conftest import url_of
from quietday.api import create_app
from quietday.config import Settings
from quietday.persistence import Engine, Session
from seed import Seeded

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]


class _Queue:
    """Runs are accepted but not solved here: this test is about the HTTP contract."""

    def __init__(self) -> None:
        self.submitted: list[int] = []

    def submit(self, session: Session, run_id: int) -> None:
        self.submitted.append(run_id)

    def recover(self) -> None:
        return None

    def shutdown(self) -> None:
        return None


@pytest.fixture
def api(engine: Engine, world: Seeded) -> FastAPI:
    return create_app(Settings(database_url=url_of(engine)), engine=engine, runner=_Queue())


def test_no_server_error_and_schema_conformance(api: FastAPI, world: Seeded) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", api)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def exercise(case: schemathesis.Case) -> None:
            response = case.call(headers=world.auth())
            case.validate_response(response, checks=CHECKS)

        exercise()
