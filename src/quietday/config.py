"""Settings from the environment (prefix `QUIETDAY_`), one object passed to whoever needs it."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from quietday.solver import DEFAULT_PART_SIZE

__all__ = ["LOCAL_URL", "Settings"]

# Where links point in development, when no public address is set (`quietday serve`: its own).
LOCAL_URL = "http://127.0.0.1:8000"
# `web/package.json` pins ECharts; `make` installs it beside the sources (an editable install).
_ECHARTS = Path(__file__).resolve().parents[2] / "web/node_modules/echarts/dist/echarts.min.js"
# Swagger UI and ReDoc for /docs and /redoc, pinned in `web/package.json` as well.
_DOCS_ASSETS = Path(__file__).resolve().parents[2] / "web/node_modules"


class Settings(BaseSettings):
    """`QUIETDAY_DATABASE_URL` picks the database: a SQLite file by default, PostgreSQL in
    production (`postgresql+psycopg://user@host/db`)."""

    model_config = SettingsConfigDict(env_prefix="QUIETDAY_", extra="ignore")

    database_url: str = "sqlite:///quietday.db"
    # Where solve runs execute: a child process per run (default), a thread (tests, tools), or
    # the PostgreSQL job queue that `quietday worker` processes take them from (`queue`).
    runner: Literal["process", "thread", "queue"] = "process"
    # A worker's heartbeat interval, and how long without one before its jobs are retried.
    worker_heartbeat_seconds: float = 10.0
    worker_stalled_seconds: float = 30.0
    # Solving is batch work: a worker lowers its CPU priority by this much (nice), so that API
    # processes on the same machine answer first (feed p99 under load: 718 ms at 10, 416 at 19).
    worker_nice: int = 19
    # Runs with more inspections (or longer than a quarter) are solved in parts of at most this
    # many, side by side: on the queue, each part is a job any worker may take.
    part_size: int = Field(default=DEFAULT_PART_SIZE, ge=1)
    # The public address of the API, for links in pages and API answers (subscribe URLs); they
    # never follow a request's Host header. Required in production (on PostgreSQL); unset in
    # development, links point at LOCAL_URL (`quietday serve` at its own host and port).
    public_url: str | None = Field(default=None, pattern=r"^https?://[^/\s?#]+(/[^\s?#]*)?$")
    # The domain part of calendar event UIDs (visit-<id>@<domain>): stable for the deployment.
    feed_uid_domain: str = "quietday.local"
    # Upper limits a run request may ask for.
    max_time_limit: float = 3600.0
    max_workers: int = 8
    # Signs dashboard session cookies; when unset, a secret generated once and kept in the
    # database (the `setting` table) is shared by every API process.
    session_secret: str | None = None
    # The Ed25519 key that signs inspection codes (检查码) and enterprise codes (监督码), as PKCS#8
    # PEM text or a file holding it (a secret file); the public keys of retired keys whose codes
    # are still honoured, as PEM text (one after another). When no key is set, one is generated
    # once and kept in the database (`quietday codes rotate-key` replaces it, keeping the old
    # public key trusted).
    code_signing_key: str | None = None
    code_signing_key_file: Path | None = None
    code_retired_public_keys: str = ""
    # The largest request body (bytes) on every route, and on the spreadsheet upload: refused
    # with 413 before it is parsed. A batch of 10,000 plans is about 2.5 MB of JSON, its CSV
    # about 1.5 MB, its XLSX under 1 MB.
    max_body_bytes: int = Field(default=4 << 20, ge=1024)
    max_upload_bytes: int = Field(default=8 << 20, ge=1024)
    # The ECharts build the dashboard serves itself (no CDN), installed from npm by `make`.
    echarts_path: Path = _ECHARTS
    # Where the npm packages swagger-ui-dist and redoc are (the docs pages serve their builds).
    docs_assets_path: Path = _DOCS_ASSETS
    # Webhooks: the waits before each retry of a failed delivery, in seconds (then it has
    # failed: about 22 h in all), a random ±20 % added to each; the timeout of one POST; how long
    # a deliverer holds a delivery it took (no other takes it meanwhile). `webhooks_local`
    # allows http receivers on localhost and loopback addresses (development and tests): without
    # it an endpoint is https and never a private, loopback or link-local address.
    webhook_retry_seconds: list[float] = Field(
        default=[5, 30, 120, 600, 3600, 3 * 3600, 6 * 3600, 12 * 3600], min_length=1
    )
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_lease_seconds: float = Field(default=120.0, gt=0)
    webhooks_local: bool = False

    def code_key_pem(self) -> str | None:
        """The configured signing key's PEM text (from the setting or its file), if any."""
        if self.code_signing_key:
            return self.code_signing_key
        if self.code_signing_key_file is not None:
            return self.code_signing_key_file.read_text(encoding="ascii")
        return None

    def base_url(self, local: str = LOCAL_URL) -> str:
        """Where links point: the public address, else (development) the local server."""
        return (self.public_url or local).rstrip("/")

    def serving_problem(self) -> str | None:
        """Why a server with these settings must not start, if it must not."""
        if self.public_url is None and not self.database_url.startswith("sqlite"):
            return (
                "生产环境(PostgreSQL 数据库)必须设置 QUIETDAY_PUBLIC_URL(对外的 https 地址,"
                "如 https://quietday.example.gov.cn):订阅链接不能取自请求的 Host 头"
            )
        return None
