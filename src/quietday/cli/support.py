"""What the commands need beside the planning layer: a run's documents as files, a key made
from the shell, a database URL fit to print."""

from __future__ import annotations

import gzip
from pathlib import Path

from quietday.persistence import Engine, make_engine, session_scope
from quietday.planning.keys import Role, create_key
from quietday.planning.province import CLI
from quietday.planning.runs import run_document

__all__ = ["create_key_now", "redact", "write_run_files"]


def write_run_files(engine: Engine, run_id: int, *, instance: Path, solution: Path) -> None:
    """Save a run's stored instance and solution as plain JSON files."""
    with session_scope(engine) as session:
        for which, path in (("instance", instance), ("solution", solution)):
            path.write_bytes(gzip.decompress(run_document(session, run_id, which)))


def create_key_now(
    database_url: str, *, agency: str | None, label: str, approver: bool = False
) -> str:
    """Create a key from the shell (`quietday keys create`): supervisor unless `agency`, whose
    head's approver key when `approver`."""
    engine = make_engine(database_url)
    try:
        with session_scope(engine, actor=CLI) as session:
            role: Role = ("approver" if approver else "agency") if agency else "supervisor"
            _, key = create_key(session, role=role, agency_id=agency, label=label)
        return key
    finally:
        engine.dispose()


def redact(url: str) -> str:
    """A database URL without its password, fit for a terminal or a log."""
    head, sep, tail = url.partition("@")
    if not sep or ":" not in head.split("//", 1)[-1]:
        return url
    scheme, _, credentials = head.partition("//")
    user = credentials.split(":", 1)[0]
    return f"{scheme}//{user}:***@{tail}"
