"""Fault tests with a real API process.

A private PostgreSQL is stopped for a few seconds while clients submit plans: nothing the API
acknowledged is lost, the outage answers are retryable 503 problems, and the API serves again
once PostgreSQL is back, without a restart. The shared server at 127.0.0.1:5432 is never stopped:
that test starts its own cluster.

The API is killed (or stopped) in the middle of a 10,000-row CSV import on the shared server:
the import is all there or not there at all, and the client's retry with its Idempotency-Key
stores it exactly once."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from conftest import on_postgresql, require, url_of, wait_serving
from quietday.persistence import Engine, make_engine, upgrade
from quietday.planning.audit import verify_database
from quietday.planning.feeds import today_in_china
from quietday.planning.imports import next_quarter
from seed import Seeded, seed

PG_BIN = Path("/usr/lib/postgresql/15/bin")
CLIENTS = 4
TIMEOUT = 15.0  # client timeout: an answer slower than this counts as a hang
# The servers here run on the wall clock: their plans are for the quarter after today (a window
# already past is refused).
EARLIEST, LATEST = (d.isoformat() for d in next_quarter(today_in_china(datetime.now(UTC))))


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    """A private PostgreSQL cluster run by the `postgres` OS user."""

    directory: Path
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(self.directory),
             "-l", str(self.log), *args],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} -c fsync=off"
        self._ctl("-w", "-o", options, "start")

    def stop(self) -> None:
        self._ctl("-w", "-m", "immediate", "stop")


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    require(os.geteuid() == 0, "the private PostgreSQL is started as the postgres user: needs root")
    require((PG_BIN / "initdb").is_file(), f"PostgreSQL binaries not found in {PG_BIN}")
    require(shutil.which("runuser") is not None, "runuser not found")
    root = Path(tempfile.mkdtemp(prefix="quietday-faults-"))
    shutil.chown(root, user="postgres")
    data = root / "data"
    subprocess.run(
        ["runuser", "-u", "postgres", "--", str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust",
         "-U", "postgres", "--no-sync"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    pg = Cluster(directory=data, port=_port(), log=root / "postgres.log")
    pg.start()
    try:
        yield pg
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            pg.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def world_on(cluster: Cluster) -> Seeded:
    upgrade(cluster.url)
    engine = make_engine(cluster.url)
    try:
        return seed(engine)
    finally:
        engine.dispose()


class Api:
    """A real `quietday serve` process on `url`; `stop` sends it `sig` and waits for it."""

    def __init__(self, url: str, log: Path) -> None:
        self.port = _port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "QUIETDAY_DATABASE_URL": url, "QUIETDAY_RUNNER": "thread",
               "QUIETDAY_PUBLIC_URL": self.base}  # fmt: skip
        self._log = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "quietday", "serve", "--port", str(self.port)],
            env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_serving(self.base, self.proc)
        except httpx.TransportError:
            self.stop(signal.SIGKILL)
            raise

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self._log.close()


@pytest.fixture
def api(cluster: Cluster, world_on: Seeded, tmp_path: Path) -> Iterator[str]:
    server = Api(cluster.url, tmp_path / "api.log")
    try:
        yield server.base
    finally:
        server.stop()


@dataclass
class Answer:
    ref: str
    body: dict[str, Any]
    sent: float
    took: float
    status: int | None  # None: no answer (transport error or client timeout)
    headers: dict[str, str] = field(default_factory=dict)
    json: dict[str, Any] | None = None
    error: str | None = None


def _submit(
    base: str, world: Seeded, client_no: int, stop: threading.Event, out: list[Answer]
) -> None:
    with httpx.Client(base_url=base, headers=world.auth("A"), timeout=TIMEOUT) as http:
        n = 0
        while not stop.is_set():
            ref = f"fault-{client_no}-{n}"
            body = {
                "enterprise_id": world.enterprises[n % len(world.enterprises)],
                "kind": "routine",
                "earliest": EARLIEST,
                "latest": LATEST,
                "items": ["SCJG-0101"],
                "priority": 1 + (n % 100),
                "external_ref": ref,
            }
            t0 = time.monotonic()
            try:
                r = http.post("/api/v1/plans", json=body)
            except httpx.HTTPError as exc:
                out.append(Answer(ref, body, t0, time.monotonic() - t0, None, error=repr(exc)))
            else:
                js = r.json() if r.headers.get("content-type", "").endswith("json") else None
                out.append(
                    Answer(ref, body, t0, time.monotonic() - t0, r.status_code, dict(r.headers), js)
                )
                if r.status_code == 503:
                    time.sleep(0.1)  # a real client would honour Retry-After; keep the test short
            n += 1


def _has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_plans_acknowledged_during_a_postgres_outage_are_kept(
    cluster: Cluster, world_on: Seeded, api: str
) -> None:
    answers: list[list[Answer]] = [[] for _ in range(CLIENTS)]
    stop = threading.Event()
    threads = [
        threading.Thread(target=_submit, args=(api, world_on, i, stop, answers[i]), daemon=True)
        for i in range(CLIENTS)
    ]
    for t in threads:
        t.start()
    time.sleep(2)
    down = time.monotonic()
    cluster.stop()
    time.sleep(3)
    cluster.start()
    up = time.monotonic()
    time.sleep(3)
    stop.set()
    for t in threads:
        t.join(timeout=TIMEOUT + 5)
    assert not any(t.is_alive() for t in threads), "a client thread hung"
    every = [a for per in answers for a in per]

    ok = [a for a in every if a.status is not None and 200 <= a.status < 300]
    failed = [a for a in every if not (a.status is not None and 200 <= a.status < 300)]
    summary = {
        "total": len(every),
        "ok": len(ok),
        "503": sum(a.status == 503 for a in every),
        "outage_s": round(up - down, 2),
        "ok_before": sum(a.sent + a.took < down for a in ok),
        "ok_after": sum(a.sent > up for a in ok),
        "slowest_s": round(max(a.took for a in every), 2),
    }
    print("fault summary:", summary)

    assert summary["ok_before"] > 0, summary
    assert summary["ok_after"] > 0, "the API did not serve again after PostgreSQL came back"
    for a in failed:
        assert a.status == 503, (a.ref, a.status, a.error, a.json)
        assert a.headers.get("content-type") == "application/problem+json", a.headers
        assert a.headers.get("retry-after") == "5", a.headers
        assert a.json is not None, a.headers
        assert a.json["code"] == "database_unavailable", a.json
        assert _has_chinese(a.json["detail"]), a.json
        assert a.sent + a.took >= down, f"{a.ref} failed before the outage: {a.json}"

    with psycopg.connect(cluster.url.replace("+psycopg", "")) as conn:
        rows = conn.execute(
            "SELECT external_ref, enterprise_id, kind, earliest, latest, items, priority, status"
            " FROM plan WHERE external_ref LIKE 'fault-%'"
        ).fetchall()
    stored = {r[0]: r for r in rows}
    for a in ok:
        assert a.ref in stored, f"{a.ref} was acknowledged ({a.status}) but is not stored"
        _, enterprise, kind, earliest, latest, items, priority, status = stored[a.ref]
        assert (enterprise, kind, str(earliest), str(latest), priority) == (
            a.body["enterprise_id"], a.body["kind"], a.body["earliest"], a.body["latest"],
            a.body["priority"],
        )  # fmt: skip
        assert items == a.body["items"]
        assert status == "submitted"
    # A 503 may still have committed (the commit reached the server, its answer did not): such
    # a plan is stored with the content sent, and a retry with the same external_ref returns it.
    committed_anyway = [a.ref for a in failed if a.ref in stored]
    print("answered 503 but stored:", committed_anyway)
    for ref in committed_anyway:
        a = next(x for x in failed if x.ref == ref)
        assert stored[ref][1] == a.body["enterprise_id"]
    # Every ref appears at most once (the unique constraint) and nothing unknown was stored.
    sent = {a.ref for a in every}
    assert set(stored) <= sent

    # Retrying what was refused, as Retry-After asks, converges: each plan is stored once, a
    # plan that did commit despite its 503 is answered 200 (same external_ref, same content).
    with httpx.Client(base_url=api, headers=world_on.auth("A"), timeout=TIMEOUT) as http:
        retried = {a.ref: http.post("/api/v1/plans", json=a.body).status_code for a in failed}
        listed = http.get("/api/v1/plans", params={"limit": 500}).status_code
    assert listed == 200
    expected = {a.ref: 200 if a.ref in stored else 201 for a in failed}
    assert retried == expected
    with psycopg.connect(cluster.url.replace("+psycopg", "")) as conn:
        counted = conn.execute(
            "SELECT count(*), count(DISTINCT external_ref) FROM plan"
            " WHERE external_ref LIKE 'fault-%'"
        ).fetchone()
    assert counted == (len(sent), len(sent))


# --- The API restarted in the middle of a CSV import (the shared PostgreSQL, a fresh database) ---

IMPORT_ROWS = 10_000  # the most one import takes: the transaction stays open for seconds
IMPORT_INTO = 1.0  # seconds after its first row is written that the API is restarted


def _import_csv(world: Seeded, rows: int) -> bytes:
    lines = ["外部编号,统一社会信用代码,检查类型,检查事项,最早日期,最晚日期,优先级"]
    for n in range(rows):
        eid = world.enterprises[n % len(world.enterprises)]
        lines.append(f"imp-{n},{eid},日常检查,SCJG-0101,{EARLIEST},{LATEST},{1 + n % 100}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def _writing_plans(conn: psycopg.Connection[Any]) -> list[int]:
    """Backends of other sessions holding a write lock on `plan`: inserted, not yet committed."""
    rows = conn.execute(
        "SELECT l.pid FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
        " WHERE c.relname = 'plan' AND l.mode = 'RowExclusiveLock' AND l.pid <> pg_backend_pid()"
    ).fetchall()
    return [r[0] for r in rows]


def _post_import(base: str, world: Seeded, body: bytes, key: str) -> httpx.Response:
    return httpx.post(
        f"{base}/api/v1/plans/import",
        files={"file": ("plans.csv", body, "text/csv")},
        headers={**world.auth("A"), "Idempotency-Key": key},
        timeout=120,
    )


@on_postgresql
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["killed", "stopped"])
def test_an_api_restart_in_the_middle_of_an_import_leaves_all_or_nothing(
    engine: Engine, tmp_path: Path, sig: signal.Signals, request: pytest.FixtureRequest
) -> None:
    url = url_of(engine)
    world = seed(engine)
    raw_url = url.replace("+psycopg", "")
    body = _import_csv(world, IMPORT_ROWS)
    server = Api(url, tmp_path / "api.log")
    request.addfinalizer(lambda: server.stop(signal.SIGKILL))
    before = httpx.post(
        f"{server.base}/api/v1/plans",
        headers=world.auth("A"),
        json={"enterprise_id": world.enterprises[0], "kind": "routine", "earliest": EARLIEST,
              "latest": LATEST, "items": ["SCJG-0101"], "external_ref": "kept"},
    )  # fmt: skip
    assert before.status_code == 201, before.text
    answer: list[httpx.Response | Exception] = []
    upload = threading.Thread(
        target=lambda: answer.append(_attempt(server.base, world, body)), daemon=True
    )
    with psycopg.connect(raw_url, autocommit=True) as watch:
        upload.start()
        started = time.monotonic()
        deadline = time.monotonic() + 60
        while not (writers := _writing_plans(watch)):
            assert upload.is_alive(), f"the upload ended before it wrote: {answer}"
            assert time.monotonic() < deadline, "the import never wrote"
            time.sleep(0.01)
        # Well into the import: several chunks of 500 rows written (it takes about 10 s).
        time.sleep(IMPORT_INTO)
        assert upload.is_alive(), "the import ended before the restart: make it longer"
        server.stop(sig)
        upload.join(timeout=130)
        took = time.monotonic() - started
        # The server's backend goes once PostgreSQL sees its connection close (killed) or the
        # transaction end (stopped); either way nothing stays open on `plan`.
        deadline = time.monotonic() + 30
        while _writing_plans(watch):
            assert time.monotonic() < deadline, f"backends {writers} still hold plan rows"
            time.sleep(0.05)
        stored = watch.execute(
            "SELECT count(*), count(DISTINCT external_ref) FROM plan WHERE external_ref LIKE 'imp-%'"
        ).fetchone()
        imports_logged = watch.execute(
            "SELECT count(*) FROM audit_log WHERE action = 'plan.import'"
        ).fetchone()
        remembered = watch.execute("SELECT count(*) FROM idempotency").fetchone()
        kept = watch.execute("SELECT count(*) FROM plan WHERE external_ref = 'kept'").fetchone()
    assert kept == (1,)
    (got,) = answer
    print("first attempt:", sig.name, got, "stored:", stored, "took", round(took, 2))
    if isinstance(got, httpx.Response):
        # A graceful stop lets the request in flight finish: all of it is stored and said so.
        assert sig == signal.SIGTERM
        assert got.status_code == 201, got.text
        assert got.json() == {"rows": IMPORT_ROWS, "created": IMPORT_ROWS, "unchanged": 0}
        assert stored == (IMPORT_ROWS, IMPORT_ROWS)
        assert imports_logged == (1,)
        assert remembered == (1,)
    else:
        # The client saw the connection drop (no answer): nothing of the import is stored.
        assert isinstance(got, httpx.TransportError), repr(got)
        assert stored == (0, 0)
        assert imports_logged == (0,)
        assert remembered == (0,)

    again = Api(url, tmp_path / "api.log")
    try:
        retried = _post_import(again.base, world, body, "import-1")
        replayed = _post_import(again.base, world, body, "import-1")
    finally:
        again.stop()
    assert retried.status_code == 201, retried.text
    assert replayed.status_code == 201, replayed.text
    assert replayed.json() == retried.json()
    if isinstance(got, httpx.Response):
        assert retried.headers.get("idempotent-replayed") == "true"
        assert retried.json() == got.json()
    else:
        assert "idempotent-replayed" not in retried.headers
        assert retried.json() == {"rows": IMPORT_ROWS, "created": IMPORT_ROWS, "unchanged": 0}
    assert replayed.headers.get("idempotent-replayed") == "true"
    with psycopg.connect(raw_url) as conn:
        assert conn.execute(
            "SELECT count(*), count(DISTINCT external_ref) FROM plan WHERE external_ref LIKE 'imp-%'"
        ).fetchone() == (IMPORT_ROWS, IMPORT_ROWS)
        assert conn.execute(
            "SELECT count(*) FROM audit_log WHERE action = 'plan.import'"
        ).fetchone() == (1,)
    report = verify_database(url)
    assert report.ok, report.problems


def _attempt(base: str, world: Seeded, body: bytes) -> httpx.Response | Exception:
    try:
        return _post_import(base, world, body, "import-1")
    except httpx.HTTPError as exc:
        return exc
