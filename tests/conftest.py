"""Fixtures shared by the tests.

A test that needs something outside the project (the shared data sets, the PostgreSQL server)
skips with a clear reason on a developer's machine, and fails under CI (CI=true), where a skip
would hide that the thing was never tested.

The tests sit in folders by the layer they exercise: domain (with formats, ics, the official
calendar and the generator: pure code), solver, persistence, planning, api (over HTTP in the
process) and system (real processes, browsers, the CLI, the deployment). Beside this file:
seed, db, helpers (tiny instances), flows (the API flows tests share) and feedcheck; no test
module imports another. The folders are not packages: every test file's name is unique.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import fastapi.dependencies.models
import httpx
import pytest
from fastapi.testclient import TestClient

from db import (
    create_postgres_database,
    drop_postgres_database,
    empty,
    migrated,
    postgres_available,
    sqlite_url,
)
from helpers import SHARED
from quietday.api import create_app
from quietday.config import Settings
from quietday.persistence import Engine, session_scope
from quietday.planning.registry import create_inspector
from seed import AGENCIES, Seeded, seed


def require(available: bool, reason: str) -> None:
    if available:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must not skip: {reason}")
    pytest.skip(reason)


def wait_serving(base: str, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    """Until the `quietday serve` process `proc` answers `base`/healthz; raises the transport
    error when `proc` has ended or `seconds` have passed first."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise
        time.sleep(0.2)


# FastAPI keeps each endpoint and dependency it has classified in module-level caches of 4,096
# entries, and with them the app that defined it: one production process builds one app, but
# the suite builds hundreds, about 39,000 objects each. Kept alive, they were millions of
# objects for every full garbage collection to scan (5 s here at 6 M objects), a pause that
# stopped a solving run's threads for seconds in CI.
_FASTAPI_CACHES = [
    f for f in vars(fastapi.dependencies.models).values() if hasattr(f, "cache_clear")
]


def let_apps_go() -> None:
    """FastAPI's caches forget the apps built so far."""
    for cache in _FASTAPI_CACHES:
        cache.cache_clear()


@pytest.fixture(autouse=True)
def _apps_let_go() -> Iterator[None]:
    yield
    let_apps_go()


@pytest.fixture
def shared() -> Path:
    require((SHARED / "data").is_dir(), f"../shared/data not found at {SHARED}")
    return SHARED


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """Each database test runs on a SQLite file and on the real PostgreSQL server."""
    if request.param == "sqlite":
        yield from migrated(sqlite_url(tmp_path_factory.mktemp("sqlite")))
        return
    require(postgres_available(), "PostgreSQL is not reachable at 127.0.0.1:5432")
    name = f"quietday_test_{os.getpid()}"
    url = create_postgres_database(name)
    try:
        yield from migrated(url)
    finally:
        drop_postgres_database(name)


# For tests that need PostgreSQL itself (its queue, its locks): its database only.
on_postgresql = pytest.mark.parametrize("database", ["postgresql"], indirect=True)


@pytest.fixture
def engine(database: Engine) -> Engine:
    empty(database)
    return database


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture
def world(engine: Engine) -> Seeded:
    """A small registry: two counties, three agencies, enterprises, policies, caps and keys."""
    return seed(engine)


# The eve of the seeded world's quarter (2026-07-01 to 09-30), in China: runs over it may start.
EVE = datetime(2026, 6, 30, 1, 0, tzinfo=UTC)


class Clock:
    """A settable clock for the app (plans, runs, feeds and check-ins read the time from it)."""

    def __init__(self, now: datetime = EVE) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(engine: Engine, world: Seeded, clock: Clock) -> Iterator[TestClient]:
    """A client of the app on the eve of the world's quarter (`clock`, which tests may set)."""
    app = create_app(
        Settings(database_url=url_of(engine), runner="thread"), engine=engine, clock=clock
    )
    with TestClient(app) as c:
        yield c


@pytest.fixture
def fc(engine: Engine, world: Seeded, clock: Clock) -> Iterator[TestClient]:
    """A client of an app whose clock the test sets."""
    app = create_app(
        Settings(database_url=url_of(engine), runner="thread", feed_uid_domain="feeds.test"),
        engine=engine,
        clock=clock,
    )
    with TestClient(app) as c:
        yield c


CERTS = {"A": ["A-001", "A-002"], "B": ["B-001", "B-002"]}


@pytest.fixture
def inspectors(engine: Engine, world: Seeded, clock: Clock) -> None:
    """Certified inspectors of A and B (`CERTS`); the clock after July, when the check-ins of
    the tests take place."""
    clock.now = datetime(2026, 8, 1, 1, 0, tzinfo=UTC)
    with session_scope(engine, actor="cli") as s:
        for letter, numbers in CERTS.items():
            for n in numbers:
                create_inspector(
                    s, agency_id=AGENCIES[letter][0], name=f"执法员{n}", certificate_no=n
                )
