"""What the benchmarks share: child processes timed and their peak memory, a `quietday serve`
on a fresh or copied database, wrk's report read, and the figures printed as bars and written
to bench.json."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

from quietday.domain.model import Horizon, Instance
from quietday.generate import GeneratorConfig
from quietday.persistence import make_engine, session_scope, upgrade
from quietday.planning.keys import create_key
from quietday.planning.province import CLI, load_province

COUNTY = GeneratorConfig(
    enterprises=10_000, seed=1, horizon="quarter", year=2026, quarter=3, counties=1
)
Echo = Callable[[str], None]


def measured(cmd: list[str], env: dict[str, str] | None = None) -> tuple[int, float, float, str]:
    """(exit code, wall seconds, peak RSS in MiB, stderr) of one child process."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
    )
    assert proc.stderr is not None
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, time.perf_counter() - started, usage.ru_maxrss / 1024, stderr


def _tree_rss_mib(root: int) -> float:
    """Resident memory of a process and all its descendants now, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            statm = Path(entry.path, "statm").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
        rss[int(entry.name)] = int(statm.split()[1]) * page
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, ()))
    return total / 2**20


def measured_tree(cmd: list[str]) -> tuple[int, float, float, str]:
    """(exit code, wall seconds, peak RSS of the whole process tree in MiB, stderr), the tree
    sampled twice a second (a peak shorter than that can be missed)."""
    started = time.perf_counter()
    with subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stderr is not None
        lines: list[str] = []
        reader = ThreadPoolExecutor(1).submit(lambda: lines.extend(proc.stderr or ()))
        peak = 0.0
        while proc.poll() is None:
            peak = max(peak, _tree_rss_mib(proc.pid))
            time.sleep(0.5)
        reader.result()
    return proc.returncode, time.perf_counter() - started, peak, "".join(lines)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def peak_rss_mib(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of a live process, from /proc."""
    fields = dict(
        line.split(":", 1)
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if ":" in line
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


@contextmanager
def server(
    database_url: str, *, workers: int = 1, env: dict[str, str] | None = None
) -> Iterator[tuple[str, int]]:
    """`quietday serve` on a free port over `database_url`: (its base URL, its pid) once it
    answers /healthz."""
    port = _port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        **(env or {}),
        "QUIETDAY_DATABASE_URL": database_url,
        "QUIETDAY_PUBLIC_URL": base,
    }
    cmd = [
        sys.executable,
        "-m",
        "quietday",
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.2)
        yield base, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def fresh_database(out: Path, name: str, pg: bool) -> str:
    if pg:
        with psycopg.connect(
            "postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    else:
        path = out / f"{name}.db"
        for stale in (path, path.with_suffix(".db-wal"), path.with_suffix(".db-shm")):
            stale.unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    upgrade(url)
    return url


def copy_database(source: str, name: str) -> str:
    """A copy of database `source` (no connections to it may be open) as `name`."""
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def settle(name: str) -> None:
    """After bulk writes: statistics and dead rows done, dirty pages flushed, so that the
    measurement is of a server in its steady state, not of autovacuum and checkpoints."""
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}", autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")


def postgres_reachable() -> bool:
    try:
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def registry(url: str, instance: Instance, *, plans: bool) -> str:
    """Load the county (without plans unless asked); a supervisor key."""
    engine = make_engine(url)
    try:
        with session_scope(engine, actor=CLI) as session:
            shown = (
                instance
                if plans
                else Instance(
                    name=instance.name,
                    horizon=instance.horizon,
                    calendar=instance.calendar,
                    quiet_policies=instance.quiet_policies,
                    caps=instance.caps,
                    agencies=instance.agencies,
                    enterprises=instance.enterprises,
                    inspections=(),
                )
            )
            load_province(session, shown, counties=1)
            _, key = create_key(session, role="supervisor", label="bench")
        return key
    finally:
        engine.dispose()


def eve(horizon: Horizon) -> date:
    """The day before a horizon: the benchmarks plan as if on it (their quarters are fixed)."""
    return horizon.start - timedelta(days=1)


def wrk_field(pattern: str, text: str) -> str:
    """The first group of `pattern` in a wrk report, or "" when it is not there."""
    found = re.search(pattern, text)
    return found.group(1) if found else ""


def write_results(out: Path, results: dict[str, Any], echo: Echo) -> None:
    """Each bar passed or not (the scale runs' first), then every figure to out/bench.json."""
    for name, row in results.get("scale", {}).items():
        for bar, ok in row["bars"].items():
            echo(f"{'通过' if ok else '未通过'}  scale.{name}.{bar}")
    for section in (
        "county",
        "import",
        "api",
        "feeds",
        "feeds-ratio",
        "load",
        "distributed",
        "audit",
        "dashboard",
        "sampling",
    ):
        for name, ok in results.get(section, {}).get("bars", {}).items():
            echo(f"{'通过' if ok else '未通过'}  {section}.{name}")
    path = out / "bench.json"
    path.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    echo(f"结果已写入 {path}")
