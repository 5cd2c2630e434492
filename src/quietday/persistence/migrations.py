"""Alembic, driven from code: `quietday db upgrade` and the tests call `upgrade(url)`."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

__all__ = ["alembic_config", "schema_behind", "upgrade"]

SCRIPTS = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision` (creating the schema on an empty one)."""
    command.upgrade(alembic_config(url), revision)


def schema_behind(url: str) -> str | None:
    """Why the database at `url` is not ready to serve (no schema, or an older one), in Chinese;
    None when it is at the latest revision. A SQLite file that is not there is not created."""
    address = sa.make_url(url)
    file = address.database if address.get_backend_name() == "sqlite" else None
    if file not in (None, "", ":memory:") and not Path(str(file)).exists():
        return f"数据库文件 {file} 不存在:请先运行 quietday db upgrade"
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    engine = sa.create_engine(address)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    except sa.exc.OperationalError as exc:
        return f"无法连接数据库 {address.render_as_string(hide_password=True)}: {exc.orig}"
    finally:
        engine.dispose()
    if current is None:
        return "数据库还没有建表:请先运行 quietday db upgrade"
    if current != head:
        return f"数据库版本 {current} 不是最新的 {head}:请先运行 quietday db upgrade"
    return None
