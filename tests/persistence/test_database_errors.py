"""Which database failures the API answers 503 (retry later), 409 (lost race) or 500 (a bug):
only connection-level failures are "database unavailable"."""

from __future__ import annotations

import socket
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import psycopg.errors
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from quietday import __version__
from quietday.api import errors
from quietday.persistence import make_engine
from quietday.persistence.database import CONNECT_TIMEOUT
from quietday.persistence.errors import is_lost_race, is_unavailable

PROBLEM = "application/problem+json"


def wrapped(
    orig: BaseException, cls: type[sa.exc.DBAPIError] = sa.exc.OperationalError
) -> Exception:
    return cls("SELECT 1", None, orig)


def refused() -> Exception:
    """A real failure to connect: nothing listens on port 1."""
    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/postgres")
    try:
        with engine.connect():
            pass
    except sa.exc.DBAPIError as exc:
        return exc
    finally:
        engine.dispose()
    raise AssertionError("connected to port 1")


def no_such_table(tmp_path: Path) -> Exception:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT * FROM nowhere"))
    except sa.exc.DBAPIError as exc:
        return exc
    finally:
        engine.dispose()
    raise AssertionError("selected from a missing table")


UNAVAILABLE: list[Callable[[], Exception]] = [
    refused,
    lambda: wrapped(psycopg.OperationalError("server closed the connection unexpectedly")),
    lambda: wrapped(psycopg.errors.AdminShutdown("terminating connection due to shutdown")),
    lambda: wrapped(psycopg.errors.CannotConnectNow("the database system is starting up")),
    lambda: wrapped(psycopg.errors.ConnectionFailure("connection failure")),
    lambda: sa.exc.DBAPIError("SELECT 1", None, Exception("gone"), connection_invalidated=True),
    lambda: wrapped(sqlite3.OperationalError("database is locked")),
    lambda: sa.exc.TimeoutError("QueuePool limit of size 5 overflow 10 reached"),
]
AVAILABLE: list[Callable[[], Exception]] = [
    lambda: wrapped(psycopg.errors.QueryCanceled("canceling statement due to statement timeout")),
    lambda: wrapped(psycopg.errors.DeadlockDetected("deadlock detected")),
    lambda: wrapped(
        psycopg.errors.UndefinedTable("relation does not exist"), sa.exc.ProgrammingError
    ),
    lambda: wrapped(sqlite3.OperationalError("no such table: nowhere")),
    lambda: ValueError("not a database error"),
]


@pytest.mark.parametrize("make", UNAVAILABLE)
def test_connection_level_failures_are_unavailable(make: Callable[[], Exception]) -> None:
    assert is_unavailable(make())


@pytest.mark.parametrize("make", AVAILABLE)
def test_other_database_errors_are_not(make: Callable[[], Exception]) -> None:
    assert not is_unavailable(make())


def test_real_sqlite_error_is_not_unavailable(tmp_path: Path) -> None:
    assert not is_unavailable(no_such_table(tmp_path))


def test_deadlocks_and_constraints_are_lost_races() -> None:
    assert is_lost_race(wrapped(psycopg.errors.DeadlockDetected("deadlock detected")))
    assert is_lost_race(wrapped(psycopg.errors.UniqueViolation("dup"), sa.exc.IntegrityError))
    assert not is_lost_race(refused())


def app_raising(exc: Exception) -> TestClient:
    app = FastAPI()
    errors.install(app)

    @app.get("/boom")
    def boom() -> None:
        raise exc

    return TestClient(app, raise_server_exceptions=False)


def test_unavailable_is_503_problem_with_retry_after() -> None:
    r = app_raising(refused()).get("/boom")
    assert r.status_code == 503
    assert r.headers["content-type"] == PROBLEM
    assert r.headers["retry-after"] == "5"
    body = r.json()
    assert body["code"] == "database_unavailable"
    assert body["detail"] == "数据库暂时不可用,请稍后重试"
    assert body["title"] == "服务暂不可用"


def test_deadlock_is_409_and_other_database_errors_are_500(tmp_path: Path) -> None:
    r = app_raising(wrapped(psycopg.errors.DeadlockDetected("deadlock detected"))).get("/boom")
    assert (r.status_code, r.json()["code"]) == (409, "concurrent_change")
    r = app_raising(no_such_table(tmp_path)).get("/boom")
    assert (r.status_code, r.json()["code"]) == (500, "internal_error")
    assert "retry-after" not in r.headers


def test_a_server_that_never_answers_fails_within_the_connect_timeout() -> None:
    """A port that accepts the TCP connection and then stays silent (a hung server, a half-open
    network path): connecting gives up after `CONNECT_TIMEOUT` instead of hanging the request."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres")
        t0 = time.monotonic()
        try:
            with pytest.raises(sa.exc.OperationalError) as caught, engine.connect():
                pass
        finally:
            engine.dispose()
        took = time.monotonic() - t0
    assert is_unavailable(caught.value)
    assert CONNECT_TIMEOUT - 1 <= took < 2 * CONNECT_TIMEOUT + 1


def test_readiness_answers_only_while_the_database_does(tmp_path: Path) -> None:
    from quietday.api import create_app
    from quietday.config import Settings
    from quietday.persistence import upgrade

    url = f"sqlite:///{tmp_path / 'ready.db'}"
    upgrade(url)
    with TestClient(create_app(Settings(database_url=url))) as live:
        assert live.get("/readyz").json() == {"status": "ready", "version": __version__}
    # No lifespan (it would recover runs from the database): the app as it is when PostgreSQL
    # goes away under a running process. Liveness still answers; readiness does not.
    gone = create_app(Settings(database_url="postgresql+psycopg://postgres@127.0.0.1:1/postgres"))
    client = TestClient(gone, raise_server_exceptions=False)
    assert client.get("/healthz").status_code == 200
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.headers["content-type"] == PROBLEM
    assert r.headers["retry-after"] == "5"
    assert r.json()["code"] == "database_unavailable"


def test_openapi_documents_503_on_every_route_that_touches_the_database(tmp_path: Path) -> None:
    from quietday.api import create_app
    from quietday.config import Settings

    spec = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}")).openapi()
    operations = {
        (method.upper(), path): op
        for path, item in spec["paths"].items()
        for method, op in item.items()
    }
    assert len(operations) > 40
    for (method, path), op in operations.items():
        if path == "/healthz":
            assert "503" not in op["responses"]
            continue
        assert "503" in op["responses"], (method, path)
        content = op["responses"]["503"]["content"]
        assert content[PROBLEM] == {"schema": {"$ref": "#/components/schemas/ProblemDetail"}}
