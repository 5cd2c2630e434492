"""The container deployment (compose.yaml, api/, solver/, .dockerignore) checked without an engine:
settings, commands, start-up order, secrets, scaling, health checks and image builds."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import typer
import uvicorn
import yaml
from sqlalchemy.engine import make_url

from quietday import config
from quietday.api import create_app
from quietday.api.routers import docs
from quietday.cli import app as cli
from quietday.config import Settings
from quietday.planning.runner import QueueRunner

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text("utf-8"))
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
# Our images run quietday; the others (postgres, nginx) are pulled.
OURS = sorted(name for name, s in SERVICES.items() if "build" in s)
# Variables the processes read that are not quietday's: uvicorn's proxy trust, libpq's password,
# the image's own.
FOREIGN_VARIABLES = {"FORWARDED_ALLOW_IPS", "PGPASSWORD", "PATH", "PYTHONUNBUFFERED"}
SETTINGS = {f"QUIETDAY_{name.upper()}": name for name in Settings.model_fields}


def env_file(path: Path) -> dict[str, str]:
    """A compose env file: KEY=VALUE lines, # comments."""
    values: dict[str, str] = {}
    for line in path.read_text("utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not KEY=VALUE: {line!r}"
        values[key.strip()] = value.strip()
    return values


def environment(service: str) -> dict[str, str]:
    """What the service's container gets: its env files, then its `environment`."""
    s = SERVICES[service]
    values: dict[str, str] = {}
    files = s.get("env_file", [])
    for name in [files] if isinstance(files, str) else files:
        values |= env_file(ROOT / name)
    own = s.get("environment", {})
    if isinstance(own, list):
        own = dict(item.split("=", 1) for item in own)
    return values | {k: str(v) for k, v in own.items()}


class Dockerfile:
    """The instructions of a Dockerfile, continuation lines joined, comments dropped."""

    def __init__(self, path: Path) -> None:
        self.path = path
        text = re.sub(r"\\\n", " ", path.read_text("utf-8"))
        self.instructions = [
            (word.upper(), rest.strip())
            for word, _, rest in (
                line.strip().partition(" ")
                for line in text.splitlines()
                if line.strip() and not line.lstrip().startswith("#")
            )
        ]

    def all(self, instruction: str) -> list[str]:
        return [rest for word, rest in self.instructions if word == instruction]

    def stages(self) -> list[str]:
        return [m.group(1) for f in self.all("FROM") if (m := re.search(r" AS (\S+)$", f, re.I))]

    def copies(self) -> list[tuple[dict[str, str], list[str], str]]:
        """Each COPY as (flags, sources, destination)."""
        result = []
        for rest in self.all("COPY"):
            words = shlex.split(rest)
            flags = dict(w[2:].partition("=")[::2] for w in words if w.startswith("--"))
            paths = [w for w in words if not w.startswith("--")]
            result.append((flags, paths[:-1], paths[-1]))
        return result

    def env(self) -> dict[str, str]:
        """The final stage's ENV: what the container starts with."""
        last = max(i for i, (word, _) in enumerate(self.instructions) if word == "FROM")
        values: dict[str, str] = {}
        for rest in (r for word, r in self.instructions[last:] if word == "ENV"):
            for word in shlex.split(rest):
                key, _, value = word.partition("=")
                values[key] = value
        return values

    def exec_form(self, instruction: str) -> list[str]:
        (last,) = self.all(instruction)[-1:]
        argv: list[str] = json.loads(last)
        return argv


def dockerfile(service: str) -> Dockerfile:
    build = SERVICES[service]["build"]
    return Dockerfile(ROOT / build.get("context", ".") / build["dockerfile"])


def entrypoint(service: str) -> Path:
    """The script the service's image starts with (COPYed from the build context)."""
    image = dockerfile(service)
    (target,) = image.exec_form("ENTRYPOINT")
    sources = [src for flags, srcs, dest in image.copies() if dest.endswith(target) for src in srcs]
    assert len(sources) == 1, f"{image.path}: ENTRYPOINT {target} is no COPY destination"
    return ROOT / sources[0]


def parse_command(argv: list[str]) -> dict[str, Any]:
    """The parameters the real CLI reads from `argv` (parsed and converted, not run)."""
    assert argv[0] == "quietday", argv
    command: Any = typer.main.get_command(cli)
    args, path = list(argv[1:]), ["quietday"]
    while hasattr(command, "commands"):
        assert args, f"{' '.join(path)}: no command in {argv}"
        assert args[0] in command.commands, f"{' '.join(path)}: no command {args[0]}"
        path.append(args.pop(0))
        command = command.commands[path[-1]]
    params: dict[str, Any] = command.make_context(" ".join(path), args).params
    return params


def ignored_by_docker(path: str, patterns: list[str]) -> bool:
    """.dockerignore: the last pattern matching the path or a parent folder decides; `*` stays
    within a folder, `**` crosses them."""

    def regex(pattern: str) -> re.Pattern[str]:
        out = re.escape(pattern.strip("/"))
        out = out.replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
        return re.compile(out.replace(r"\?", "[^/]") + "$")

    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        if any(regex(pattern.removeprefix("!")).match(p) for p in prefixes):
            excluded = not negate
    return excluded


def dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text("utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def tracked(path: str) -> list[str]:
    done = subprocess.run(
        ["git", "ls-files", "--", path], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return done.stdout.split()


def test_the_layout_has_its_services() -> None:
    assert OURS == ["api", "migrate", "worker"]
    assert {"db", "proxy"} <= SERVICES.keys()


def test_every_quietday_variable_named_is_a_setting() -> None:
    """A misspelt name is silently ignored by the settings (extra="ignore"): check them all,
    in the deployment's files and in the READMEs that tell operators what to set."""
    files = [
        "compose.yaml",
        "api/settings.env",
        "solver/settings.env",
        "api/Dockerfile",
        "solver/Dockerfile",
        "api/entrypoint.sh",
        "solver/entrypoint.sh",
        "README.md",
        "ARCHITECTURE.md",
    ]
    unknown = {
        (name, variable)
        for name in files
        for variable in re.findall(r"QUIETDAY_[A-Z0-9_]*[A-Z0-9]", (ROOT / name).read_text("utf-8"))
        if variable not in SETTINGS
    }
    assert not unknown


def test_each_container_environment_is_valid_settings() -> None:
    for service in OURS:
        values = dockerfile(service).env() | environment(service)  # compose's win
        assert set(values) <= SETTINGS.keys() | FOREIGN_VARIABLES, service
        fields = {SETTINGS[k]: v for k, v in values.items() if k in SETTINGS}
        Settings(_env_file=None, **fields)  # raises on a value the settings refuse


def test_one_postgresql_database_for_every_process() -> None:
    db = SERVICES["db"]
    urls = {service: environment(service)["QUIETDAY_DATABASE_URL"] for service in OURS}
    assert len(set(urls.values())) == 1, urls
    url = make_url(next(iter(urls.values())))
    assert url.drivername == "postgresql+psycopg"
    assert url.host == "db"
    assert db["image"].startswith("postgres:")
    assert url.username == db["environment"]["POSTGRES_USER"]
    assert url.database == db["environment"]["POSTGRES_DB"]
    assert url.password is None, "the password is a secret, not in a committed file"
    # Workers take runs only from the job queue: the API must defer them there.
    assert environment("api")["QUIETDAY_RUNNER"] == "queue"


@pytest.mark.parametrize("service", OURS)
def test_services_run_real_commands(service: str) -> None:
    parse_command(SERVICES[service]["command"])
    parse_command(dockerfile(service).exec_form("CMD"))


def test_a_misspelt_command_is_refused() -> None:
    """parse_command itself can fail: a wrong option or subcommand is an error."""
    with pytest.raises(Exception, match="--hots"):
        parse_command(["quietday", "serve", "--hots", "0.0.0.0"])
    with pytest.raises(AssertionError):
        parse_command(["quietday", "db", "migrate"])


def test_the_migration_runs_once_before_api_and_workers() -> None:
    migrate = SERVICES["migrate"]
    assert migrate["command"] == ["quietday", "db", "upgrade"]
    assert migrate["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert migrate["restart"] == "no"
    for service in OURS:
        if service != "migrate":
            depends = SERVICES[service]["depends_on"]
            assert depends["migrate"] == {"condition": "service_completed_successfully"}, service


def test_what_is_waited_on_has_a_health_check() -> None:
    for name, service in SERVICES.items():
        for target, how in service.get("depends_on", {}).items():
            assert target in SERVICES, f"{name} waits on an unknown service {target}"
            if how["condition"] == "service_healthy":
                assert SERVICES[target]["healthcheck"]["test"][0] == "CMD", target


def test_postgres_health_check_asks_over_tcp_for_the_service_database() -> None:
    db = SERVICES["db"]
    test = db["healthcheck"]["test"]
    assert test[:2] == ["CMD", "pg_isready"]
    args = dict(zip(test[2::2], test[3::2], strict=True))
    assert args["-U"] == db["environment"]["POSTGRES_USER"]
    assert args["-d"] == db["environment"]["POSTGRES_DB"]
    assert args["-h"] == "127.0.0.1"  # the init-time server listens on the socket only


def test_workers_scale() -> None:
    """`docker compose up --scale worker=4`: nothing in the service may be one of a kind."""
    worker = SERVICES["worker"]
    for key in ("container_name", "ports", "hostname"):
        assert key not in worker, key
    assert parse_command(worker["command"]) == parse_command(["quietday", "worker"])


def test_api_replicas_are_reached_through_the_proxy() -> None:
    api = SERVICES["api"]
    assert api["deploy"]["replicas"] >= 2
    assert "container_name" not in api
    assert "ports" not in api, "a fixed host port would let only one replica start"
    port = parse_command(api["command"])["port"]
    assert str(port) in [str(p) for p in api["expose"]]
    proxy = SERVICES["proxy"]
    (mount,) = proxy["volumes"]
    source, target, _ = mount.split(":")
    assert target == "/etc/nginx/conf.d/default.conf"
    nginx = (ROOT / source).read_text("utf-8")
    assert re.findall(r"http://([\w-]+):(\d+)", nginx) == [("api", str(port))]
    assert "proxy_set_header Host $http_host" in nginx
    assert "proxy_set_header X-Forwarded-Proto" in nginx
    (published,) = proxy["ports"]
    # Plain HTTP on the loopback only, for the machine's HTTPS front, unless asked otherwise.
    assert published.startswith("${HTTP_ADDRESS:-127.0.0.1}:"), published


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def healthz_server(tmp_path: Path) -> Iterator[int]:
    """The real app on a free port (the queue runner touches no database at start)."""
    port = _free_port()
    settings = Settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'q.db'}")
    app = create_app(settings, runner=QueueRunner())
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started
    yield port
    srv.should_exit = True
    thread.join(timeout=30)


def test_api_health_check_passes_on_a_live_api_and_fails_without_one(healthz_server: int) -> None:
    api = SERVICES["api"]
    test = api["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    port = parse_command(api["command"])["port"]
    assert f"http://127.0.0.1:{port}/healthz" in test[3]
    check = [sys.executable, "-c", test[3].replace(f":{port}/", f":{healthz_server}/")]
    assert subprocess.run(check, check=False, capture_output=True, timeout=30).returncode == 0
    closed = [sys.executable, "-c", test[3].replace(f":{port}/", f":{_free_port()}/")]
    assert subprocess.run(closed, check=False, capture_output=True, timeout=30).returncode != 0


def test_secrets_stay_out_of_git_and_reach_the_processes(tmp_path: Path) -> None:
    declared = COMPOSE["secrets"]
    for name, secret in declared.items():
        path = secret["file"]
        assert path.startswith("./secrets/"), name
        assert (
            subprocess.run(["git", "check-ignore", "-q", path], check=False, cwd=ROOT).returncode
            == 0
        )
    db = SERVICES["db"]
    assert db["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/db_password"
    for service in [*OURS, "db"]:
        assert set(SERVICES[service].get("secrets", [])) <= declared.keys(), service
    # Every process that connects to the database gets its password from the secret.
    for service in OURS:
        assert "db_password" in SERVICES[service]["secrets"], service
        exported = _run_entrypoint(entrypoint(service), tmp_path / service, SERVICES[service])
        assert exported["PGPASSWORD"] == "pw-db_password", service
    assert _run_entrypoint(entrypoint("api"), tmp_path / "api2", SERVICES["api"])[
        "QUIETDAY_SESSION_SECRET"
    ] == ("pw-session_secret")


def _run_entrypoint(script: Path, secrets_dir: Path, service: dict[str, Any]) -> dict[str, str]:
    """The environment a process started by `script` sees, the service's secrets mounted
    (as files ending in a newline, as `echo` writes them)."""
    secrets_dir.mkdir()
    for name in service["secrets"]:
        (secrets_dir / name).write_text(f"pw-{name}\n", "utf-8")
    text = script.read_text("utf-8")
    assert text.count("/run/secrets/") >= 2
    local = secrets_dir / "entrypoint.sh"
    local.write_text(text.replace("/run/secrets/", f"{secrets_dir}/"), "utf-8")
    done = subprocess.run(
        ["sh", str(local), "env", "-0"],
        capture_output=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    return dict(e.split("=", 1) for e in done.stdout.decode().split("\0") if "=" in e)


def test_entrypoints_pass_the_command_and_its_exit_status(tmp_path: Path) -> None:
    for service in OURS:
        script = entrypoint(service)
        assert script.stat().st_mode & 0o111, f"{script} is not executable"
        done = subprocess.run(
            ["sh", str(script), "sh", "-c", "exit 3"], check=False, capture_output=True
        )
        assert done.returncode == 3
        # exec: the command takes the script's process, so that SIGTERM (docker stop, through
        # init) reaches it, and a worker finishes its run.
        proc = subprocess.Popen(["sh", str(script), "sh", "-c", "echo $$"], stdout=subprocess.PIPE)
        out, _ = proc.communicate(timeout=30)
        assert out.decode().strip() == str(proc.pid), f"{script} does not exec the command"
        # Without mounted secrets (here: none under /run/secrets) nothing is exported.
        if not Path("/run/secrets").exists():
            env = subprocess.run(
                ["sh", str(script), "env"], check=False, capture_output=True, text=True
            )
            assert "PGPASSWORD=" not in env.stdout


def test_an_unreadable_secret_stops_the_entrypoint_with_what_to_do() -> None:
    """Compose mounts a secret file with the host file's mode: left at 600 (umask 077), the
    quietday user (uid 10001) cannot read it. Seen for real: `migrate` then failed with
    PostgreSQL's "fe_sendauth: no password supplied". The entrypoint must stop and say why."""
    as_root = os.geteuid() == 0
    for service in OURS:
        script = entrypoint(service).read_text("utf-8")
        box = Path(tempfile.mkdtemp(prefix="secrets-", dir="/tmp"))
        try:
            box.chmod(0o755)
            secret = box / "db_password"
            secret.write_text("pw\n", "utf-8")
            secret.chmod(0o600 if as_root else 0o000)
            local = script.replace("/run/secrets/", f"{box}/")
            # As root, the user of the image (uid 10001) runs it; else this user, mode 000.
            drop = ["setpriv", "--reuid=10001", "--regid=10001", "--clear-groups"]
            done = subprocess.run(
                [*(drop if as_root else []), "sh", "-s", "echo", "started"],
                input=local,
                capture_output=True,
                text=True,
                check=False,
                env={"PATH": "/usr/bin:/bin"},
            )
        finally:
            shutil.rmtree(box)
        assert done.returncode != 0, service
        assert "started" not in done.stdout, service
        assert str(secret) in done.stderr, done.stderr
        assert "chmod 644 secrets/*" in done.stderr, done.stderr


def test_images_build_with_the_engines_own_dockerfile_frontend() -> None:
    """`# syntax=docker/dockerfile:1` makes BuildKit fetch its frontend from Docker Hub: with no
    registry reachable (CI here; a network that blocks Docker Hub) the real build failed before
    its first step. The engine's built-in frontend reads these files."""
    for service in OURS:
        text = dockerfile(service).path.read_text("utf-8")
        assert not re.search(r"^#\s*syntax\s*=", text, re.I | re.M), service


def test_images_are_pinned() -> None:
    images = [s["image"] for s in SERVICES.values() if "build" not in s]
    for service in OURS:
        stages = dockerfile(service).stages()
        images += [
            f.split()[0] for f in dockerfile(service).all("FROM") if f.split()[0] not in stages
        ]
    for image in images:
        tag = image.partition(":")[2]
        assert tag not in {"", "latest", "stable", "mainline"}, image
    assert "python:3.11-slim-bookworm" in images
    assert "postgres:15-bookworm" in images


@pytest.mark.parametrize("service", OURS)
def test_dockerfile_copies_what_the_context_holds(service: str) -> None:
    build = SERVICES[service]["build"]
    assert build["context"] == "."
    image = dockerfile(service)
    patterns = dockerignore()
    stages = image.stages()
    for flags, sources, _ in image.copies():
        if "from" in flags:
            assert flags["from"] in stages, f"COPY --from={flags['from']}: no such stage"
            continue
        for source in sources:
            assert (ROOT / source).exists(), f"{image.path.name}: COPY {source}: missing"
            files = tracked(source)
            assert files, f"COPY {source}: nothing tracked by git"
            left_out = [f for f in files if ignored_by_docker(f, patterns)]
            assert not left_out, f"COPY {source}: .dockerignore leaves out {left_out[:5]}"


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    patterns = dockerignore()
    for path in ("secrets/db_password", ".venv/bin/python", "out/demo/quietday.db", ".git/HEAD"):
        assert ignored_by_docker(path, patterns), path
    for path in ("web/node_modules/echarts/package.json", "src/quietday/__pycache__/cli.pyc"):
        assert ignored_by_docker(path, patterns), path
    assert not ignored_by_docker("src/quietday/cli.py", patterns)


def test_the_api_image_serves_its_echarts_build() -> None:
    """The dashboard reads ECharts at QUIETDAY_ECHARTS_PATH: the image must copy it there from
    the npm stage, at the path web/'s lockfile installs (the one config.py uses out of a checkout)."""
    image = dockerfile("api")
    target = image.env()["QUIETDAY_ECHARTS_PATH"]
    (copy,) = [(f, s, d) for f, s, d in image.copies() if d == target]
    flags, (source,), _ = copy
    stage = flags["from"]
    start = image.instructions.index(
        ("FROM", next(f for f in image.all("FROM") if f.endswith(f" AS {stage}")))
    )
    workdir = next(rest for word, rest in image.instructions[start:] if word == "WORKDIR")
    relative = config._ECHARTS.relative_to(ROOT / "web")
    assert source == f"{workdir}/{relative}"


def test_the_api_image_serves_the_docs_assets() -> None:
    """/docs and /redoc read their builds under QUIETDAY_DOCS_ASSETS_PATH: the image copies
    each from the npm stage to the same place under it as web/node_modules holds it."""
    image = dockerfile("api")
    target = image.env()["QUIETDAY_DOCS_ASSETS_PATH"]
    copies = {d: s for f, s, d in image.copies() if f.get("from") == "web"}
    for relative, _ in docs.ASSETS.values():
        assert copies[f"{target}/{relative}"] == [f"/web/node_modules/{relative}"]
    assert config._DOCS_ASSETS == ROOT / "web/node_modules"
    assert "web/.npmrc" in image.all("COPY")[0]


def _packaged(relative: str, glob: str) -> bool:
    """Whether setuptools' package-data `glob` takes the file: its `*` stays within one folder
    (fnmatch's would cross into subfolders, and once passed a folder the image lacked)."""
    path, pattern = PurePosixPath(relative), PurePosixPath(glob)
    return len(path.parts) == len(pattern.parts) and path.match(glob)


def test_plain_install_carries_every_file_the_package_needs() -> None:
    """The images install the package (not editable): templates, static files and migrations
    reach it only through package-data."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    globs = pyproject["tool"]["setuptools"]["package-data"]["quietday"]
    package = ROOT / "src/quietday"
    missing = []
    for name in tracked("src/quietday"):
        path = ROOT / name
        relative = path.relative_to(package).as_posix()
        in_package = path.suffix == ".py" and (path.parent / "__init__.py").exists()
        if not in_package and not any(_packaged(relative, g) for g in globs):
            missing.append(relative)
    assert not missing


def _compose_cli() -> list[str] | None:
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run(
            [docker, "compose", "version"], check=False, capture_output=True
        ).returncode
        == 0
    ):
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_docker_compose_accepts_the_file() -> None:
    """`docker compose config` validates the file against the Compose schema without an engine."""
    command = _compose_cli()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    done = subprocess.run(
        [*command, "-f", "compose.yaml", "config"],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert set(yaml.safe_load(done.stdout)["services"]) == set(SERVICES)
