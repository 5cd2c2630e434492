"""A revoked feed token stops answering in every API process within a second, though each
process keeps the answers of its polls in memory: two real `quietday serve` processes on one
database (a SQLite file, then PostgreSQL), the token revoked through one and polled through the
other every 50 ms (a bound on correctness, not a speed figure)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from conftest import url_of, wait_serving
from quietday.persistence import Engine
from seed import Seeded

BOUND = 1.0  # seconds from the revocation's answer to the other process's first 404
EVERY = 0.05


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _serve(url: str, log: Path) -> Iterator[str]:
    """A `quietday serve` process on `url`: its base URL once it answers."""
    port = _port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "QUIETDAY_DATABASE_URL": url, "QUIETDAY_RUNNER": "thread",
           "QUIETDAY_PUBLIC_URL": base}  # fmt: skip
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "quietday", "serve", "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_serving(base, proc)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _gone_after(http: httpx.Client, path: str) -> float:
    """Seconds until `path` first answers 404 (polled every `EVERY`), or `BOUND` * 3."""
    started = time.monotonic()
    while time.monotonic() - started < 3 * BOUND:
        if http.get(path).status_code == 404:
            return time.monotonic() - started
        time.sleep(EVERY)
    return 3 * BOUND


def test_a_revoked_or_rotated_token_stops_answering_in_another_process_within_a_second(
    engine: Engine, world: Seeded, tmp_path: Path
) -> None:
    url = url_of(engine)
    with ExitStack() as stack:
        one = stack.enter_context(_serve(url, tmp_path / "one.log"))
        other = stack.enter_context(_serve(url, tmp_path / "other.log"))
        first = stack.enter_context(httpx.Client(base_url=one, headers=world.auth(), timeout=10))
        second = stack.enter_context(httpx.Client(base_url=other, timeout=10))
        for change in ("revoke", "rotate"):
            issued = first.post(
                "/api/v1/feed-tokens",
                json={"kind": "enterprise", "subject_id": world.enterprises[0]},
            ).json()
            path = f"/feeds/{issued['token']}.ics"
            for _ in range(3):  # rendered, stored, then answered from the process's memory
                polled = second.get(path)
                assert polled.status_code == 200
            held = second.get(path, headers={"If-None-Match": polled.headers["etag"]})
            assert held.status_code == 304
            assert first.post(f"/api/v1/feed-tokens/{issued['id']}/{change}").is_success
            assert _gone_after(second, path) < BOUND, change
            assert (
                second.get(path, headers={"If-None-Match": polled.headers["etag"]}).status_code
                == 404
            )
