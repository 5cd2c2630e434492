"""The deployment files (compose.yaml, api/ and solver/ container builds and settings) agree
with the code: no Docker engine runs here, so what can break without one is checked instead:
settings that exist, commands and options the CLI has, the start-up order, files the builds
copy, secrets kept out of the repository."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from quietday.cli import app
from quietday.config import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
SERVICES: dict[str, Any] = COMPOSE["services"]
DOCKERFILES = [ROOT / "api/Dockerfile", ROOT / "solver/Dockerfile"]


def settings_named(text: str) -> set[str]:
    return set(re.findall(r"\bQUIETDAY_([A-Z_]+?)(?==|\b)", text))


def test_every_setting_named_is_a_setting() -> None:
    fields = {name.upper() for name in Settings.model_fields}
    texts = [(ROOT / "compose.yaml").read_text(encoding="utf-8")]
    texts += [(ROOT / d / "settings.env").read_text(encoding="utf-8") for d in ("api", "solver")]
    texts += [f.read_text(encoding="utf-8") for f in DOCKERFILES]
    named = set().union(*(settings_named(t) for t in texts))
    assert named >= {"RUNNER", "DATABASE_URL", "SESSION_SECRET", "PART_SIZE", "ECHARTS_PATH"}
    assert named <= fields, named - fields


def assert_cli_accepts(argv: list[str]) -> None:
    """`argv` (from `quietday`) names a real command and only options its help lists."""
    assert argv[0] == "quietday", argv
    words = argv[1:]
    path = words[: next((k for k, w in enumerate(words) if w.startswith("-")), len(words))]
    shown = CliRunner().invoke(app, [*path, "--help"], terminal_width=200)
    assert shown.exit_code == 0, (argv, shown.output)
    assert "Commands" not in shown.output, f"{argv}: {path} is a group, not a command"
    for option in (w for w in words if w.startswith("--")):
        assert re.search(rf"{option}\b", shown.output), (argv, option)


def dockerfile_cmd(path: Path) -> list[str]:
    line = next(x for x in path.read_text(encoding="utf-8").splitlines() if x.startswith("CMD "))
    cmd: list[str] = json.loads(line.removeprefix("CMD "))
    return cmd


@pytest.mark.parametrize(
    "argv",
    [SERVICES["migrate"]["command"], *(dockerfile_cmd(f) for f in DOCKERFILES)],
    ids=["migrate", "api", "worker"],
)
def test_the_processes_run_real_commands(argv: list[str]) -> None:
    assert_cli_accepts(argv)


def test_the_checker_of_commands_can_fail() -> None:
    with pytest.raises(AssertionError):
        assert_cli_accepts(["quietday", "serve", "--replicas", "2"])
    with pytest.raises(AssertionError):
        assert_cli_accepts(["quietday", "db", "migrate"])


def test_start_up_order_waits_for_the_database_and_the_migration() -> None:
    assert SERVICES["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert SERVICES["migrate"]["restart"] == "no"
    for name in ("api", "worker"):
        assert SERVICES[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"}
        }
    assert "pg_isready" in SERVICES["db"]["healthcheck"]["test"]
    assert "pgdata:/var/lib/postgresql/data" in SERVICES["db"]["volumes"]


def test_workers_scale_and_the_api_has_replicas() -> None:
    worker = SERVICES["worker"]
    assert "container_name" not in worker
    assert "ports" not in worker
    api = SERVICES["api"]
    replicas = api["deploy"]["replicas"]
    assert replicas >= 2
    # One published host port per replica.
    first, last = (int(p) for p in api["ports"][0].split(":")[0].split("-"))
    assert last - first + 1 == replicas
    # The API takes runs onto the queue, which the workers solve.
    env = (ROOT / "api/settings.env").read_text(encoding="utf-8")
    assert "QUIETDAY_RUNNER=queue" in env.splitlines()


def test_the_builds_copy_files_that_exist_and_serve_the_dashboards_charts() -> None:
    for path in DOCKERFILES:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("COPY ") and "--from=" not in line:
                sources = line.split()[1:-1]
                for source in sources:
                    assert (ROOT / source).exists(), (path.name, source)
    api = (ROOT / "api/Dockerfile").read_text(encoding="utf-8")
    assert "web/package-lock.json" in api
    assert "QUIETDAY_ECHARTS_PATH=/app/web/echarts.min.js" in api
    for name in ("api", "migrate", "worker"):
        assert SERVICES[name]["build"]["dockerfile"] in ("api/Dockerfile", "solver/Dockerfile")


def test_secrets_come_from_files_kept_out_of_the_repository() -> None:
    for secret in COMPOSE["secrets"].values():
        assert secret["file"].startswith("./secrets/")
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "secrets/database_url"], cwd=ROOT, check=False
    )
    assert ignored.returncode == 0
    assert "database_url" in SERVICES["worker"]["secrets"]
    assert set(SERVICES["api"]["secrets"]) == {"database_url", "session_secret"}
    assert SERVICES["db"]["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/db_password"
    for text in (ROOT / "compose.yaml", ROOT / "api/settings.env", ROOT / "solver/settings.env"):
        assert "postgresql+psycopg://" not in text.read_text(encoding="utf-8")
