"""The whole stack of compose.yaml run for real, as README.md's 生产部署 says, then broken.

A copy of the project (its tracked files) gets its secrets as README says; `docker compose up -d
--build --scale worker=2` builds the committed Dockerfiles; keys come from the CLI in a
container; 10,000 plans go through the proxy as a CSV; a run goes to the queue and the worker
solving it is killed; the other finishes it; it is published; an enterprise's feed answers 304
on its ETag through nginx; the `db` container is restarted; then `down -v`. No plan the API
acknowledged may be lost. Each step's seconds are printed.

Where no registry can be reached (CI here), the upstream images are stand-ins built from Debian's
packages (tests/standins/build.sh); `make deploy-test` (or .ci/run) installs Docker Engine and
Compose v2 first (tests/standins/engine.sh). Traffic stays on this machine: the proxy's port is
published on 127.0.0.1 only, and the containers talk on the project's own network.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from conftest import require
from quietday.planning.feeds import today_in_china
from quietday.planning.imports import COLUMNS

ROOT = Path(__file__).resolve().parents[2]
STANDINS = ROOT / "tests/standins/build.sh"
PROJECT = "quietday-stacktest"
PROJECT_LABEL = f"com.docker.compose.project={PROJECT}"
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text("utf-8"))
VOLUME = COMPOSE["volumes"]["pgdata"]["name"]
PLANS = 10_000
LOCK = Path("/var/tmp/quietday-stacktest.lock")
# The whole test, images built from nothing included, stays under about 10 minutes.
DEADLINE_SECONDS = 600


def _docker_ready() -> tuple[bool, str]:
    if shutil.which("docker") is None:
        return False, "docker is not installed (make deploy-test installs it, as root)"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, check=False)
    if info.returncode != 0:
        return False, f"no Docker engine answers: {info.stderr.strip()[:200]}"
    version = subprocess.run(
        ["docker", "compose", "version", "--short"], capture_output=True, text=True, check=False
    )
    if version.returncode != 0 or not version.stdout.strip().lstrip("v").startswith("2."):
        return False, "Docker Compose v2 (`docker compose`) is not installed"
    return True, ""


@dataclass
class Stack:
    """`docker compose` in the project's copy, with every step timed."""

    folder: Path
    port: int
    env: dict[str, str]
    started: float = field(default_factory=time.monotonic)
    times: list[tuple[str, float]] = field(default_factory=list)
    report: Callable[[str], None] = print

    def compose(self, *args: str, timeout: float = 300, check: bool = True) -> str:
        done = subprocess.run(
            ["docker", "compose", *args],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"docker compose {' '.join(args)}: exit {done.returncode}\n{done.stderr[-3000:]}"
            )
        return done.stdout

    def step(self, name: str, action: Callable[[], Any]) -> Any:
        assert time.monotonic() - self.started < DEADLINE_SECONDS, f"over time before {name}"
        began = time.monotonic()
        result = action()
        seconds = time.monotonic() - began
        self.times.append((name, seconds))
        self.report(f"[deploy] {name}: {seconds:.1f} s")
        return result

    def containers(self, service: str) -> list[dict[str, Any]]:
        out = self.compose("ps", "--all", "--format", "json", service)
        lines = [line for line in out.splitlines() if line.strip()]
        if len(lines) == 1 and lines[0].startswith("["):
            items: list[dict[str, Any]] = json.loads(lines[0])
            return items
        return [json.loads(line) for line in lines]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def wait_for(what: str, test: Callable[[], bool], *, timeout: float, every: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while not test():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(every)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _copy_project(to: Path) -> None:
    """The tracked files (and new ones not ignored), as a clone would have them."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (to / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, to / name)


def _create_secrets(folder: Path) -> None:
    """What README.md's 生产部署 says, in Python (`secrets.token_urlsafe`, mode 644)."""
    import secrets

    box = folder / "secrets"
    box.mkdir(mode=0o700)
    for name, size in (("db_password", 32), ("session_secret", 48)):
        (box / name).write_text(secrets.token_urlsafe(size) + "\n", "utf-8")
        (box / name).chmod(0o644)


def _clear_leftovers(empty: Path) -> None:
    """A volume of this test's project left by an interrupted run is removed; one of any other
    project (a real deployment's data) stops the test instead of being touched."""
    subprocess.run(
        ["docker", "compose", "-p", PROJECT, "down", "-v", "--remove-orphans", "-t", "10"],
        cwd=empty,
        capture_output=True,
        check=False,
        timeout=120,
    )
    found = subprocess.run(
        ["docker", "volume", "inspect", VOLUME], capture_output=True, text=True, check=False
    )
    if found.returncode == 0:
        labels = json.loads(found.stdout)[0].get("Labels") or {}
        owner = labels.get("com.docker.compose.project")
        assert owner == PROJECT, f"volume {VOLUME} belongs to {owner!r}: not touching it"
        subprocess.run(["docker", "volume", "rm", VOLUME], capture_output=True, check=True)


@pytest.fixture
def one_at_a_time() -> Iterator[None]:
    """compose.yaml names its volume (the same whatever the project): two runs of this test on
    one engine would share it, so a second waits for the first."""
    with LOCK.open("w") as lock:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                assert time.monotonic() < deadline, f"another run holds {LOCK}"
                time.sleep(2)
        yield


@pytest.fixture
def stack(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], one_at_a_time: None
) -> Iterator[Stack]:
    ready, reason = _docker_ready()
    require(ready, reason)

    def report(line: str) -> None:
        with capsys.disabled():
            print(line, flush=True)

    folder = tmp_path / "quietday"
    folder.mkdir()
    env = {
        **os.environ,
        "COMPOSE_PROJECT_NAME": PROJECT,
        "HTTP_ADDRESS": "127.0.0.1",
        "HTTP_PORT": str(_free_port()),
    }
    s = Stack(folder=folder, port=int(env["HTTP_PORT"]), env=env, report=report)
    s.step("stand-in images (tests/standins/build.sh)", lambda: _build_standins(report))
    _clear_leftovers(folder)
    _copy_project(folder)
    _create_secrets(folder)
    try:
        yield s
    finally:
        if "down -v" not in dict(s.times):
            logs = s.compose("logs", "--no-color", "--tail", "40", check=False, timeout=60)
            report(f"[deploy] the stack's logs as it was left:\n{logs[-12000:]}")
            # A worker still solving would hold `down` for its stop_grace_period (5 minutes).
            s.compose("down", "-v", "--remove-orphans", "-t", "10", check=False, timeout=180)
        # The images this test built before, replaced since: no disk kept for them.
        subprocess.run(
            ["docker", "image", "prune", "--force", "--filter", f"label={PROJECT_LABEL}"],
            capture_output=True,
            check=False,
            timeout=120,
        )


def _build_standins(report: Callable[[str], None]) -> None:
    done = subprocess.run([str(STANDINS)], capture_output=True, text=True, check=False, timeout=400)
    for line in done.stdout.splitlines():
        report(f"[deploy]   {line}")
    assert done.returncode == 0, done.stderr[-3000:]


def _quarter_after(today: date) -> tuple[date, date]:
    first = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    start = (first + timedelta(days=95)).replace(day=1)
    end = (start + timedelta(days=95)).replace(day=1) - timedelta(days=1)
    return start, end


def _plans_csv(
    registry: tuple[list[str], list[str]], quarter: tuple[date, date], refs: range
) -> bytes:
    """A plan import sheet (README.md, Plans): one row per number in `refs`, windows of three
    weeks spread over the quarter, agencies and enterprises taken in turn."""
    agencies, enterprises = registry
    start, end = quarter
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([header for header, _, _ in COLUMNS])
    span = (end - start).days
    for k in refs:
        earliest = start + timedelta(days=(k * 7) % max(span - 20, 1))
        values = {
            "外部编号": f"STACK-{k:05d}",
            "部门编码": agencies[k % len(agencies)],
            "统一社会信用代码": enterprises[(k * 7919) % len(enterprises)],
            "检查类型": "日常检查" if k % 3 else "专项检查",
            "检查事项": "",
            "最早日期": earliest.isoformat(),
            "最晚日期": min(earliest + timedelta(days=20), end).isoformat(),
            "优先级": str(1 + k % 5),
            "豁免事由": "",
            "不提前告知": "否",
            "触发事由": "",
            "检查方式": "现场",
        }
        writer.writerow([values[header] for header, _, _ in COLUMNS])
    return out.getvalue().encode("utf-8")


def _healthy(stack: Stack) -> bool:
    def states(service: str) -> list[tuple[str, str]]:
        return [(c["State"], c.get("Health", "")) for c in stack.containers(service)]

    migrate = stack.containers("migrate")
    return (
        states("db") == [("running", "healthy")]
        and states("api") == [("running", "healthy")] * 2
        and states("worker") == [("running", "")] * 2
        and states("proxy") == [("running", "")]
        and len(migrate) == 1
        and migrate[0]["State"] == "exited"
        and migrate[0]["ExitCode"] == 0
    )


def _answers(client: httpx.Client, path: str) -> bool:
    try:
        return client.get(path).status_code == 200
    except httpx.TransportError:
        return False


def _all_plans(client: httpx.Client) -> dict[str, str]:
    """external_ref -> status of every plan, through the proxy, a page at a time."""
    plans: dict[str, str] = {}
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 500} | ({"cursor": cursor} if cursor else {})
        r = client.get("/api/v1/plans", params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        plans |= {p["external_ref"]: p["status"] for p in page["items"]}
        cursor = page["next_cursor"]
        if cursor is None:
            return plans


def _start_run(client: httpx.Client, quarter: tuple[date, date], *, time_limit: float) -> int:
    start, end = quarter
    r = client.post(
        "/api/v1/runs",
        json={"horizon_start": str(start), "horizon_end": str(end), "time_limit": time_limit},
    )
    assert r.status_code == 202, r.text
    run_id: int = r.json()["id"]
    return run_id


def _status(client: httpx.Client, run_id: int) -> str:
    run = client.get(f"/api/v1/runs/{run_id}").json()
    assert run["status"] in ("queued", "running", "succeeded"), run
    status: str = run["status"]
    return status


def _solving(stack: Stack, client: httpx.Client, run_id: int) -> str:
    """The worker container solving the run, once its solver has started."""
    found: list[str] = []

    def solving() -> bool:
        run = client.get(f"/api/v1/runs/{run_id}").json()
        assert run["status"] in ("queued", "running"), run
        if run["status"] != "running" or run["progress"] <= 0:
            return False
        found[:] = [n for n, log in _worker_logs(stack).items() if f"run_id={run_id}" in log]
        return len(found) == 1

    wait_for(f"a worker solving run {run_id}", solving, timeout=120, every=0.5)
    return found[0]


def _logs(container: str) -> str:
    done = subprocess.run(["docker", "logs", container], capture_output=True, text=True, check=True)
    return done.stdout + done.stderr


def _worker_logs(stack: Stack) -> dict[str, str]:
    """Each worker container's name -> its log."""
    return {c["Name"]: _logs(c["Name"]) for c in stack.containers("worker")}


def test_the_stack_serves_survives_a_killed_worker_and_a_restarted_database(
    stack: Stack,
) -> None:
    s = stack
    s.step("up -d --build --scale worker=2", lambda: s.compose(
        "up", "-d", "--build", "--scale", "worker=2", timeout=420
    ))  # fmt: skip
    s.step("healthy: db, migrate done, 2 api, 2 workers, proxy", lambda: wait_for(
        "the stack healthy", lambda: _healthy(s), timeout=180, every=2
    ))  # fmt: skip
    with httpx.Client(base_url=s.url(""), timeout=60) as client:
        assert client.get("/healthz").status_code == 200
        _exercise(s, client)


def _exercise(s: Stack, client: httpx.Client) -> None:

    def registry_and_key() -> str:
        start, _ = quarter
        s.compose(
            "run", "--rm", "-T", "api", "sh", "-c",
            f"quietday generate --enterprises 3000 --counties 1 --year {start.year}"
            f" --quarter {(start.month + 2) // 3} --out /tmp/province.json"
            " && quietday db load-registry /tmp/province.json",
        )  # fmt: skip
        out = s.compose("run", "--rm", "-T", "api", "quietday", "keys", "create", "--supervisor")
        return out.strip().splitlines()[-1]

    quarter = _quarter_after(today_in_china(datetime.now(UTC)))
    key = s.step("registry and a supervisor key (CLI in a container)", registry_and_key)
    assert key.startswith("qd_"), key
    client.headers["Authorization"] = f"Bearer {key}"

    def registry() -> tuple[list[str], list[str]]:
        agencies = [a["id"] for a in client.get("/api/v1/agencies").json()]
        enterprises: list[str] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 500} | ({"cursor": cursor} if cursor else {})
            page = client.get("/api/v1/enterprises", params=params).json()
            enterprises += [e["id"] for e in page["items"]]
            if (cursor := page["next_cursor"]) is None:
                return agencies, enterprises

    def import_plans(refs: range) -> None:
        sheet = _plans_csv(known, quarter, refs)
        r = client.post("/api/v1/plans/import", files={"file": ("plans.csv", sheet)})
        assert r.status_code == 201, r.text[:2000]
        assert r.json() == {"rows": len(refs), "created": len(refs), "unchanged": 0}

    known = registry()
    s.step(f"import {PLANS:,} plans as CSV through the proxy", lambda: import_plans(range(PLANS)))
    acknowledged = _all_plans(client)
    assert len(acknowledged) == PLANS
    # nginx spreads requests over both replicas (uvicorn logs the proxy's as HTTP/1.0; the
    # health checks' come as HTTP/1.1).
    for replica in s.containers("api"):
        assert "GET /api/v1/plans?" in _logs(replica["Name"]), replica["Name"]

    def run_and_kill() -> tuple[int, str]:
        run_id = _start_run(client, quarter, time_limit=45)
        victim = _solving(s, client, run_id)
        subprocess.run(["docker", "kill", victim], capture_output=True, check=True)
        return run_id, victim

    run_id, victim = s.step("queue a run; docker kill the worker solving it", run_and_kill)
    s.step("the other worker finishes the run", lambda: wait_for(
        "the run to succeed on the other worker",
        lambda: _status(client, run_id) == "succeeded",
        timeout=240,
        every=2,
    ))  # fmt: skip
    finishers = [
        n for n, log in _worker_logs(s).items() if n != victim and f"run_id={run_id}" in log
    ]
    assert finishers, "no other worker took the run"

    def publish() -> int:
        r = client.post(f"/api/v1/runs/{run_id}/publish")
        assert r.status_code == 200, r.text
        published: int = r.json()["published"]
        return published

    published = s.step("publish", publish)
    assert published > 0
    after_kill = _all_plans(client)
    assert after_kill.keys() == acknowledged.keys()

    def feed_304() -> None:
        page = client.get("/api/v1/plans", params={"status": "published", "limit": 1}).json()
        enterprise = page["items"][0]["enterprise_id"]
        r = client.post(
            "/api/v1/feed-tokens", json={"kind": "enterprise", "subject_id": enterprise}
        )
        assert r.status_code == 201, r.text
        path = f"/feeds/{r.json()['token']}.ics"
        feed = httpx.get(s.url(path), timeout=30)
        assert feed.status_code == 200, feed.text
        assert feed.headers["content-type"].startswith("text/calendar")
        assert "BEGIN:VEVENT" in feed.text
        etag = feed.headers["etag"]
        again = httpx.get(s.url(path), headers={"If-None-Match": etag}, timeout=30)
        assert again.status_code == 304, again.text
        assert again.headers["etag"] == etag

    s.step("enterprise feed through nginx, then 304 on its ETag", feed_304)

    def restart_db() -> None:
        s.compose("restart", "db")
        wait_for(
            "db healthy again",
            lambda: [c.get("Health") for c in s.containers("db")] == ["healthy"],
            timeout=120,
        )
        wait_for("the API on the database again", lambda: _answers(client, "/readyz"), timeout=60)

    s.step("restart the db container", restart_db)
    after_restart = _all_plans(client)
    assert after_restart == after_kill
    assert sum(status == "published" for status in after_restart.values()) == published

    more = range(PLANS, PLANS + 2_000)
    s.step(f"import {len(more):,} more plans after the restart", lambda: import_plans(more))

    def stop_while_solving() -> None:
        """SIGTERM (through init) lets the worker finish its run within stop_grace_period."""
        run_id = _start_run(client, quarter, time_limit=20)
        worker = _solving(s, client, run_id)
        stopping = datetime.now(UTC)
        s.compose("stop", "worker", timeout=360)
        run = client.get(f"/api/v1/runs/{run_id}").json()
        assert run["status"] == "succeeded", run
        finished = datetime.fromisoformat(run["finished_at"])
        assert finished.replace(tzinfo=finished.tzinfo or UTC) > stopping, "done before the stop"
        (stopped,) = [c for c in s.containers("worker") if c["Name"] == worker]
        assert stopped["ExitCode"] == 0, stopped  # stopped by its signal, not killed (137)

    s.step("a run over them; `stop worker` while it solves", stop_while_solving)
    final = _all_plans(client)
    assert final.keys() == after_restart.keys() | {f"STACK-{k:05d}" for k in more}

    s.step("down -v", lambda: s.compose("down", "-v", timeout=180))
    gone = subprocess.run(["docker", "volume", "inspect", VOLUME], capture_output=True, check=False)
    assert gone.returncode != 0, f"{VOLUME} is still there after down -v"
    total = sum(seconds for _, seconds in s.times)
    s.report(f"[deploy] all steps: {total:.1f} s")
