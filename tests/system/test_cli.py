"""The command line: generate, solve, check, and clear errors on bad input."""

from __future__ import annotations

import gzip
import json
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from pydantic import ValidationError
from typer.testing import CliRunner

from conftest import wait_serving
from flows import HYPOTHETICAL_2027
from helpers import FIXTURES, assert_flags_agree_with_check, doc, insp
from language import english_run, foreign
from quietday.api.app import from_environment
from quietday.cli import app
from quietday.persistence import make_engine, upgrade
from quietday.planning.feeds import today_in_china
from seed import seed

runner = CliRunner()


def test_generate_solve_check(tmp_path: Path) -> None:
    inst, sol = tmp_path / "i.json", tmp_path / "s.json"
    r = runner.invoke(
        app,
        ["generate", "--enterprises", "150", "--counties", "1", "--seed", "4", "--out", str(inst)],
    )
    assert r.exit_code == 0, r.output
    assert "检查计划" in r.stdout
    r = runner.invoke(
        app, ["solve", str(inst), "--out", str(sol), "--time-limit", "1", "--deterministic"]
    )
    assert r.exit_code == 0, r.output
    assert "综合查一次率" in r.stdout
    assert "入企次数下界" in r.stdout
    r = runner.invoke(app, ["check", str(inst), str(sol)])
    assert r.exit_code == 0, r.output
    assert "未发现违规" in r.stdout


def test_check_reports_violations_and_exits_1(tmp_path: Path) -> None:
    inst = tmp_path / "i.json"
    inst.write_text(json.dumps(doc(inspections=[insp("P-1")]), ensure_ascii=False), "utf-8")
    sol = tmp_path / "s.json"
    bad = {
        "format": "quietday.solution/1",
        "instance": "tiny",
        "visits": [
            {"enterprise": "E1", "date": "2026-07-10", "inspections": ["P-1"], "lead_agency": "A"}
        ],
        "unscheduled": [],
    }
    sol.write_text(json.dumps(bad), "utf-8")
    r = runner.invoke(app, ["check", str(inst), str(sol)])
    assert r.exit_code == 1
    assert "[quiet_day]" in r.stdout
    assert "安静日" in r.stdout


def test_bad_instance_is_refused_with_every_problem(tmp_path: Path) -> None:
    inst = tmp_path / "bad.json"
    d = doc(
        inspections=[
            insp("P-1", agency="NOPE"),
            insp("P-2", earliest="2026-08-05", latest="2026-08-01"),
        ]
    )
    inst.write_text(json.dumps(d, ensure_ascii=False), "utf-8")
    out = tmp_path / "s.json"
    r = runner.invoke(app, ["solve", str(inst), "--out", str(out)])
    assert r.exit_code == 2
    assert "inspections[0] (P-1)" in r.stderr
    assert "[unknown_agency]" in r.stderr
    assert "inspections[1] (P-2): latest 2026-08-01 早于 earliest 2026-08-05" in r.stderr
    assert not out.exists()


def test_spec_example_pin_is_refused(tmp_path: Path) -> None:
    r = runner.invoke(
        app, ["solve", str(FIXTURES / "spec-example.json"), "--out", str(tmp_path / "s.json")]
    )
    assert r.exit_code == 2
    assert "pinned[0] (P-000001)" in r.stderr


def test_db_upgrade_and_keys_create(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'q.db'}"
    monkeypatch.setenv("QUIETDAY_DATABASE_URL", url)
    # Before `db upgrade`: a clear word and exit 2, and no empty database file left behind.
    for command in (["keys", "create", "--supervisor"], ["serve"], ["calendar", "list"],
                    ["audit", "head"]):  # fmt: skip
        r = runner.invoke(app, command)
        assert r.exit_code == 2, (command, r.output)
        assert "quietday db upgrade" in r.stderr
        assert "Traceback" not in r.output
    assert not (tmp_path / "q.db").exists()
    r = runner.invoke(app, ["db", "upgrade"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["keys", "create", "--supervisor", "--label", "shell"])
    assert r.exit_code == 0, r.output
    assert r.stdout.strip().startswith("qd_")
    r = runner.invoke(app, ["keys", "create", "--agency", "NOPE"])
    assert r.exit_code == 2
    assert "[unknown_agency]" in r.stderr
    r = runner.invoke(app, ["keys", "create"])
    assert r.exit_code == 2


def test_db_load_registry_loads_a_generated_province_without_its_plans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new deployment's registry (regions, policies, caps, agencies, enterprises) has no API
    for regions: `db load-registry` loads an instance's, and plans then come through the API."""
    url = f"sqlite:///{tmp_path / 'q.db'}"
    monkeypatch.setenv("QUIETDAY_DATABASE_URL", url)
    inst = tmp_path / "i.json"
    args = [
        "generate",
        "--enterprises",
        "40",
        "--counties",
        "1",
        "--year",
        "2027",
        "--quarter",
        "1",
    ]
    assert runner.invoke(app, [*args, "--out", str(inst)]).exit_code == 0
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    r = runner.invoke(app, ["db", "load-registry", str(inst)])
    assert r.exit_code == 0, r.output
    assert "企业 40 家" in r.stdout
    with sqlite3.connect(tmp_path / "q.db") as db:
        counts = {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    assert counts["enterprise"] == 40
    assert min(counts["agency"], counts["region"], counts["quiet_policy"]) > 0
    assert counts["plan"] == counts["history"] == 0
    r = runner.invoke(app, ["db", "load-registry", str(inst)])
    assert r.exit_code == 2
    assert "[registry_not_empty]" in r.stderr
    with sqlite3.connect(tmp_path / "q.db") as db:
        again = {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    assert again == counts


TABLES = ("region", "quiet_policy", "agency", "enterprise", "plan", "history")


def test_calendar_commands_import_list_and_refuse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared: Path
) -> None:
    monkeypatch.setenv("QUIETDAY_DATABASE_URL", f"sqlite:///{tmp_path / 'q.db'}")
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    r = runner.invoke(app, ["calendar", "list"])
    assert r.exit_code == 0, r.output
    assert "2026 正式 来源 holidays-" in r.stdout
    assert f"{today_in_china(datetime.now(UTC)).year + 1} 暂定" in r.stdout
    notices = shared / "data" / "cn_holidays"
    r = runner.invoke(app, ["calendar", "import", "2027", str(notices / "2027.json")])
    assert r.exit_code == 2
    assert "[no_holidays]" in r.stderr
    assert "未做任何处理" in r.stderr
    r = runner.invoke(app, ["calendar", "import", "2026", str(notices / "2026.json")])
    assert r.exit_code == 0, r.output
    assert "来源 holiday-cn" in r.stdout
    assert "工作日有变" not in r.stdout  # the notice agrees with the package day by day
    csv_file = tmp_path / "2027.csv"
    csv_file.write_text(HYPOTHETICAL_2027, "utf-8")
    r = runner.invoke(app, ["calendar", "import", "2027", str(csv_file)])
    assert r.exit_code == 0, r.output
    assert "放假 26 天, 调休上班 2 天" in r.stdout
    assert "落在非工作日的已发布入企 0 次" in r.stdout
    r = runner.invoke(app, ["calendar", "show", "2027"])
    assert "2027-02-20 周六 班 春节" in r.stdout
    assert "2027 正式 来源 csv" in runner.invoke(app, ["calendar", "list"]).stdout
    r = runner.invoke(app, ["audit", "verify"])
    assert r.exit_code == 0, r.output


def test_demo_builds_a_published_schedule_without_serving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = runner.invoke(
        app,
        ["demo", "--out", str(tmp_path), "--enterprises", "300", "--time-limit", "3", "--no-serve",
         "--today", "2026-11-28"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    # This quarter (its first two months past, checked into), and the next one, planned now
    # while 2027 has no State Council notice: provisionally.
    assert "2026-10-01 至 2026-12-31, 正式日历" in r.stdout
    assert "2027-01-01 至 2027-03-31, 暂定日历(2027 年尚无国务院节假日安排)" in r.stdout
    assert "quietday calendar import 2027" in r.stdout
    assert r.stdout.count("已发布: ") == 2
    assert r.stdout.count("未发现违规") == 2
    assert "监督密钥" in r.stdout
    assert "/docs" in r.stdout
    assert "http://127.0.0.1:8000/dashboard" in r.stdout
    assert (tmp_path / "quietday.db").exists()
    for prefix in ("current-", ""):
        r = runner.invoke(
            app,
            ["check", str(tmp_path / f"{prefix}instance.json"),
             str(tmp_path / f"{prefix}solution.json")],
        )  # fmt: skip
        assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "instance.json").read_text("utf-8"))["horizon"] == {
        "start": "2027-01-01", "end": "2027-03-31",
    }  # fmt: skip
    monkeypatch.setenv("QUIETDAY_DATABASE_URL", f"sqlite:///{tmp_path / 'quietday.db'}")
    # The bar of the calendar item: the 2027 notice imported lists every visit it disturbs.
    csv_file = tmp_path / "2027.csv"
    csv_file.write_text(HYPOTHETICAL_2027, "utf-8")
    r = runner.invoke(app, ["calendar", "import", "2027", str(csv_file)])
    assert r.exit_code == 0, r.output
    with sqlite3.connect(tmp_path / "quietday.db") as db:
        (on_new_days_off,) = db.execute(
            "SELECT count(*) FROM visit WHERE status = 'published' "
            "AND day IN ('2027-02-11', '2027-02-12')"
        ).fetchone()
    assert f"落在非工作日的已发布入企 {on_new_days_off} 次" in r.stdout
    assert r.stdout.count("  入企 ") == on_new_days_off
    r = runner.invoke(app, ["audit", "verify"])
    assert r.exit_code == 0, r.output
    assert "审计日志完好" in r.stdout
    # The year's check-ins, judged by `quietday check`, break exactly what their flags say.
    r = runner.invoke(app, ["audit", "actuals", "--year", "2026", "--out", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
    judged = runner.invoke(
        app,
        ["check", str(tmp_path / "a" / "actuals-2026-instance.json"),
         str(tmp_path / "a" / "actuals-2026-solution.json")],
    )  # fmt: skip
    engine = make_engine(f"sqlite:///{tmp_path / 'quietday.db'}")
    breaches = assert_flags_agree_with_check(engine, 2026, tmp_path)
    engine.dispose()
    assert judged.exit_code == (1 if breaches else 0)
    assert judged.stdout.count("违规 [") == breaches


def test_worker_default_name_tells_hosts_apart() -> None:
    """Replicas of one worker image have the same process ids: the host's name tells them apart."""
    worker = typer.main.get_command(app).commands["worker"]
    (default,) = [p.default for p in worker.params if p.name == "name"]
    assert default == f"worker-{socket.gethostname()}-{os.getpid()}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_production_server_will_not_start_without_its_public_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On PostgreSQL (production), `quietday serve` and the uvicorn factory refuse to start
    until QUIETDAY_PUBLIC_URL says where links point."""
    monkeypatch.delenv("QUIETDAY_PUBLIC_URL", raising=False)
    monkeypatch.setenv("QUIETDAY_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:1/x")
    r = subprocess.run(
        [sys.executable, "-m", "quietday", "serve", "--port", str(_free_port())],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert "QUIETDAY_PUBLIC_URL" in r.stderr
    with pytest.raises(ValueError, match="QUIETDAY_PUBLIC_URL"):
        from_environment()
    # An address, not a host name alone (links would be relative).
    monkeypatch.setenv("QUIETDAY_PUBLIC_URL", "quietday.example.gov.cn")
    with pytest.raises(ValidationError, match="public_url"):
        from_environment()


def test_a_development_server_links_to_itself(tmp_path: Path) -> None:
    """On SQLite with no public address, `quietday serve` links to its own host and port,
    whatever Host a request forges."""
    url = f"sqlite:///{tmp_path / 'dev.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        world = seed(engine)
    finally:
        engine.dispose()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "QUIETDAY_PUBLIC_URL"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "quietday", "serve", "--port", str(port)],
        env={**env, "QUIETDAY_DATABASE_URL": url, "QUIETDAY_RUNNER": "thread"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_serving(base, proc)
        r = httpx.post(
            f"{base}/api/v1/feed-tokens",
            json={"kind": "enterprise", "subject_id": world.enterprises[0]},
            headers={**world.auth(), "Host": "evil.test"},
        )
        assert r.status_code == 201, r.text
        assert r.json()["feed_url"] == f"{base}/feeds/{r.json()['token']}.ics"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_solve_and_check_read_gzipped_files(tmp_path: Path) -> None:
    """A run's documents saved as downloaded with gzip (.json.gz, or gzip bytes under .json)
    are read as the JSON they hold; a broken gzip is bad input, not a crash."""
    inst = tmp_path / "instance.json.gz"
    inst.write_bytes(gzip.compress((FIXTURES / "spec-example-valid.json").read_bytes()))
    plain = tmp_path / "solution.json"
    r = runner.invoke(app, ["solve", str(inst), "--out", str(plain), "--time-limit", "2"])
    assert r.exit_code == 0, r.output
    sol = tmp_path / "solution.json.gz"
    sol.write_bytes(gzip.compress(plain.read_bytes()))
    misnamed = tmp_path / "gzip-bytes.json"
    misnamed.write_bytes(sol.read_bytes())
    for pair in ((inst, sol), (inst, plain), (FIXTURES / "spec-example-valid.json", misnamed)):
        r = runner.invoke(app, ["check", *map(str, pair)])
        assert r.exit_code == 0, r.output
        assert "未发现违规" in r.stdout
    broken = tmp_path / "broken.json.gz"
    broken.write_bytes(sol.read_bytes()[:40])
    r = runner.invoke(app, ["check", str(inst), str(broken)])
    assert r.exit_code == 2, r.output
    assert "gzip" in r.stderr


def test_unwritable_out_is_refused_before_solving(tmp_path: Path) -> None:
    instance = str(FIXTURES / "spec-example-valid.json")
    for out in (tmp_path / "missing" / "s.json", tmp_path):
        r = runner.invoke(app, ["solve", instance, "--out", str(out)])
        assert r.exit_code == 2
        assert "无法写入" in r.output
    assert list(tmp_path.iterdir()) == []


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _commands(sub, (*path, name))


def test_every_command_helps_in_chinese() -> None:
    root = typer.main.get_command(app)
    commands = list(_commands(root))
    assert len(commands) >= 20
    problems = []
    for path, command in commands:
        texts = [("help", command.help or "")] + [
            (p.name, p.help) for p in command.params if getattr(p, "help", None)
        ]
        for name, text in texts:
            if foreign(text):
                problems.append(f"{' '.join(path)} {name}: {text!r} ({foreign(text)})")
        shown = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert shown.exit_code == 0, shown.output
        # The usage line is syntax (`Usage: root db upgrade [OPTIONS]`), not prose.
        text = "\n".join(line for line in shown.output.splitlines() if "Usage:" not in line)
        run = english_run(text)
        if run or foreign(text):
            problems.append(f"quietday {' '.join(path)} --help: {run!r}")
    assert not problems, "\n".join(problems)
