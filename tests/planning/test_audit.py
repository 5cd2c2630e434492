"""The audit log on SQLite and PostgreSQL: real API calls append the expected entries with their
actors, `verify` passes on an untouched chain and finds every kind of tampering (done here with
raw SQL, around the PostgreSQL trigger), rolled-back work leaves no gap, appenders never fork."""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from db import without_sqlite_triggers
from flows import as_csv, plan, row, start, submit, wait
from quietday.cli import app
from quietday.persistence import Engine, session_scope
from quietday.persistence.plans import PlanRepository
from quietday.persistence.tables import AuditRow
from quietday.planning.audit import (
    ActorMissingError,
    AuditReport,
    canonical,
    entry_hash,
    head,
    record,
    verify,
)
from seed import AGENCIES, SEEDER, Seeded


def _head(engine: Engine) -> tuple[int, str]:
    with session_scope(engine) as session:
        return head(session)


def _verify(engine: Engine, anchor: tuple[int, str] | None = None) -> AuditReport:
    with session_scope(engine) as session:
        return verify(session, anchor)


def _found(report: AuditReport) -> list[tuple[str, int]]:
    return [(p.code, p.seq) for p in report.problems]


def _log(client: TestClient, world: Seeded, **params: Any) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    after = params.pop("after", 0)
    while True:
        r = client.get("/api/v1/audit/log", params={"after": after, **params}, headers=world.auth())
        assert r.status_code == 200, r.text
        entries += r.json()["items"]
        after = r.json()["next_cursor"]
        if after is None:
            return entries


@contextmanager
def tampering(engine: Engine) -> Iterator[sa.Connection]:
    """Raw SQL past the application. The triggers are in the way: on PostgreSQL the test
    superuser disables the row trigger for this transaction only (DDL is transactional there);
    on SQLite they are dropped and created again."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            with without_sqlite_triggers(conn):
                yield conn
            return
        conn.execute(sa.text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
        yield conn
        conn.execute(sa.text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"))


LOG = AuditRow.__table__
FIELDS = ("at", "actor", "action", "subject", "changes", "prev_hash", "hash")


def _entry(conn: sa.Connection, seq: int) -> Any:
    return conn.execute(sa.select(LOG).where(LOG.c.seq == seq)).one()


def _rehash(conn: sa.Connection, seq: int) -> None:
    """Recompute and store the hash of entry `seq` (a careful forger's move)."""
    e = _entry(conn, seq)
    digest = entry_hash(
        seq=seq,
        at=e.at,
        actor=e.actor,
        action=e.action,
        subject=e.subject,
        changes=e.changes,
        prev_hash=e.prev_hash,
    )
    conn.execute(LOG.update().where(LOG.c.seq == seq).values(hash=digest))


def test_api_changes_are_appended_with_their_actors(
    client: TestClient, world: Seeded, engine: Engine
) -> None:
    seeded = _log(client, world)
    assert [e["actor"] for e in seeded] == [SEEDER] * len(seeded)
    assert seeded[0]["prev_hash"] == "0" * 64
    after = seeded[-1]["seq"]
    agency_a = AGENCIES["A"][0]

    r = client.post("/api/v1/plans", json=plan(world, 0), headers=world.auth("A"))
    plan_id = r.json()["id"]
    client.patch(f"/api/v1/plans/{plan_id}", json={"priority": 7}, headers=world.auth("A"))
    client.post(f"/api/v1/plans/{plan_id}/cancel", headers=world.auth("A"))
    client.post(f"/api/v1/plans/{plan_id}/cancel", headers=world.auth("A"))  # no change: no entry
    batch = [plan(world, n, agency_id=AGENCIES["B"][0]) for n in (1, 2)]
    r = client.post("/api/v1/plans/batch", json=batch, headers=world.auth())
    batch_ids = [p["id"] for p in r.json()["items"]]
    files = {"file": ("p.csv", as_csv([row(world, 3), row(world, 4)]), "text/csv")}
    assert client.post("/api/v1/plans/import", files=files, headers=world.auth("A")).is_success
    caps = client.get("/api/v1/caps", headers=world.auth()).json()
    client.put("/api/v1/caps", json={**caps, "enterprise_per_year": 4}, headers=world.auth())
    key = client.post("/api/v1/keys", json={"role": "supervisor"}, headers=world.auth()).json()
    client.post(f"/api/v1/keys/{key['id']}/revoke", headers=world.auth())
    body = {"kind": "enterprise", "subject_id": world.enterprises[0]}
    issued = client.post("/api/v1/feed-tokens", json=body, headers=world.auth()).json()
    rotated = client.post(f"/api/v1/feed-tokens/{issued['id']}/rotate", headers=world.auth()).json()
    client.post(f"/api/v1/feed-tokens/{rotated['id']}/revoke", headers=world.auth())

    entries = _log(client, world, after=after)
    assert [(e["action"], e["subject"]) for e in entries] == [
        ("plan.create", f"plan:{plan_id}"),
        ("plan.update", f"plan:{plan_id}"),
        ("plan.cancel", f"plan:{plan_id}"),
        ("plan.batch", "plans"),
        ("plan.import", "plans"),
        ("caps.set", "caps"),
        ("key.create", f"key:{key['id']}"),
        ("key.revoke", f"key:{key['id']}"),
        ("feed_token.issue", f"feed_token:{issued['id']}"),
        ("feed_token.rotate", f"feed_token:{issued['id']}"),
        ("feed_token.revoke", f"feed_token:{rotated['id']}"),
    ]
    supervisor = entries[3]["actor"]
    assert supervisor.startswith("supervisor:key ")
    assert [e["actor"].startswith(f"agency:{agency_a} key ") for e in entries[:5]] == [
        True, True, True, False, True,
    ]  # fmt: skip
    assert {e["actor"] for e in entries[5:]} == {supervisor}
    assert [e["seq"] for e in entries] == list(range(after + 1, after + 12))
    assert all(e["prev_hash"] == p["hash"] for p, e in itertools.pairwise(entries))

    assert entries[1]["changes"] == {
        "before": {"priority": 3, "version": 1},
        "after": {"priority": 7, "version": 2},
    }
    assert entries[2]["changes"]["after"] == {"status": "cancelled", "version": 3}
    assert entries[5]["changes"] == {
        "before": {"enterprise_per_year": None},
        "after": {"enterprise_per_year": 4},
    }
    summary = entries[3]["changes"]
    assert (summary["count"], summary["first_id"], summary["last_id"]) == (2, *batch_ids)
    assert (entries[4]["changes"]["count"], entries[4]["changes"]["rows"]) == (2, 2)
    with session_scope(engine) as session:
        rows = PlanRepository(session).by_ids(batch_ids)
        created = [rows[i].model_dump() for i in batch_ids]
    pinned = hashlib.sha256(canonical(created).encode()).hexdigest()
    assert summary["sha256"] == pinned

    # Secrets never enter the log: neither keys nor feed tokens, nor their hashes.
    text = json.dumps(entries, ensure_ascii=False)
    for secret in (key["key"], key["prefix"], issued["token"], rotated["token"]):
        assert secret not in text
        assert hashlib.sha256(secret.encode()).hexdigest() not in text

    page = client.get(
        "/api/v1/audit/log", params={"after": after, "limit": 4}, headers=world.auth()
    ).json()
    assert [e["seq"] for e in page["items"]] == list(range(after + 1, after + 5))
    assert page["next_cursor"] == after + 4
    tokens = _log(client, world, action="feed_token.")
    assert [e["action"] for e in tokens] == ["feed_token.issue", "feed_token.rotate", "feed_token.revoke"]  # fmt: skip
    assert [e["action"] for e in _log(client, world, subject=f"plan:{plan_id}")] == [
        "plan.create", "plan.update", "plan.cancel",
    ]  # fmt: skip
    assert _log(client, world, action="plan_") == []  # `_` is a character, not a wildcard
    r = client.get("/api/v1/audit/log", headers=world.auth("A"))
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/problem+json"
    assert client.get("/api/v1/audit/log").status_code == 401

    report = _verify(engine)
    assert report.ok, report.problems
    assert report.head_seq == entries[-1]["seq"]
    assert report.head_hash == entries[-1]["hash"]


def test_runs_are_logged_by_who_acted(client: TestClient, world: Seeded, engine: Engine) -> None:
    submit(client, world, "A", 0)
    after = _log(client, world)[-1]["seq"]
    run = wait(client, world, start(client, world)["id"])
    assert run["status"] == "succeeded", run
    assert client.post(f"/api/v1/runs/{run['id']}/publish", headers=world.auth()).is_success
    entries = _log(client, world, after=after, action="run.")
    assert [(e["action"], e["actor"].split(":")[0]) for e in entries] == [
        ("run.create", "supervisor"),
        ("run.start", "runner"),
        ("run.finish", "runner"),
        ("run.publish", "supervisor"),
    ]
    finished = entries[2]["changes"]
    assert finished["status"] == "succeeded"
    solution = client.get(f"/api/v1/runs/{run['id']}/solution", headers=world.auth()).content
    assert finished["solution"] == hashlib.sha256(solution).hexdigest()
    published = entries[3]["changes"]
    assert published["published"] + published["unscheduled"] == 1
    assert published["plans"]["count"] == 1
    assert _verify(engine).ok


def test_an_untouched_log_verifies(engine: Engine, world: Seeded) -> None:
    report = _verify(engine)
    assert report.ok
    assert report.entries == report.head_seq > 10


def test_an_altered_entry_is_found(engine: Engine, world: Seeded) -> None:
    with tampering(engine) as conn:
        conn.execute(sa.text("UPDATE audit_log SET actor = 'cli' WHERE seq = 5"))
    assert _found(_verify(engine)) == [("altered", 5)]


def test_an_altered_entry_with_a_recomputed_hash_breaks_the_next_link(
    engine: Engine, world: Seeded
) -> None:
    with tampering(engine) as conn:
        conn.execute(sa.text("UPDATE audit_log SET subject = 'region:99' WHERE seq = 3"))
        _rehash(conn, 3)
    assert _found(_verify(engine)) == [("altered", 3)]


def test_a_removed_entry_is_found(engine: Engine, world: Seeded) -> None:
    with tampering(engine) as conn:
        conn.execute(sa.text("DELETE FROM audit_log WHERE seq IN (7, 8)"))
    report = _verify(engine)
    assert _found(report) == [("removed", 7)]
    assert "第 7 至 8 条" in report.problems[0].message


def test_swapped_entries_are_found_as_reordered(engine: Engine, world: Seeded) -> None:
    with tampering(engine) as conn:
        eight, nine = _entry(conn, 8), _entry(conn, 9)
        for seq, other in ((8, nine), (9, eight)):
            values = {c: getattr(other, c) for c in FIELDS}
            conn.execute(LOG.update().where(LOG.c.seq == seq).values(**values))
    assert _found(_verify(engine)) == [("reordered", 8), ("reordered", 9)]


def test_a_cut_tail_with_a_rewritten_head_is_found_only_by_an_anchor(
    engine: Engine, world: Seeded
) -> None:
    anchor = _head(engine)
    last = anchor[0]
    with tampering(engine) as conn:
        kept = conn.execute(
            sa.text("SELECT hash FROM audit_log WHERE seq = :s"), {"s": last - 2}
        ).scalar_one()
        conn.execute(sa.text("DELETE FROM audit_log WHERE seq > :s"), {"s": last - 2})
        conn.execute(
            sa.text("UPDATE audit_head SET seq = :s, hash = :h"), {"s": last - 2, "h": kept}
        )
    assert _verify(engine).ok  # the chain alone cannot tell
    report = _verify(engine, anchor)
    assert _found(report) == [("anchor_mismatch", last)]
    assert "截断" in report.problems[0].message


def test_a_cut_tail_under_the_old_head_and_a_wrong_head_are_found(
    engine: Engine, world: Seeded
) -> None:
    last, _ = _head(engine)
    with tampering(engine) as conn:
        conn.execute(sa.text("DELETE FROM audit_log WHERE seq = :s"), {"s": last})
    assert _found(_verify(engine)) == [("removed", last)]
    with tampering(engine) as conn:
        conn.execute(
            sa.text("UPDATE audit_head SET seq = :s, hash = :h"), {"s": last - 1, "h": "f" * 64}
        )
    assert _found(_verify(engine)) == [("head_mismatch", last - 1)]
    assert _found(_verify(engine, (3, "e" * 64))) == [("anchor_mismatch", 3), ("head_mismatch", last - 1)]  # fmt: skip


def test_the_database_refuses_update_and_delete(engine: Engine, world: Seeded) -> None:
    statements = ["UPDATE audit_log SET actor = 'x' WHERE seq = 1", "DELETE FROM audit_log"]
    if engine.dialect.name == "postgresql":
        statements.append("TRUNCATE audit_log")
    for statement in statements:
        with pytest.raises(sa.exc.DBAPIError, match="审计日志只能追加"), engine.begin() as conn:
            conn.execute(sa.text(statement))
    assert _verify(engine).ok
    with tampering(engine) as conn:  # the test helper puts the triggers back afterwards
        conn.execute(sa.text("UPDATE audit_log SET actor = 'x' WHERE seq = 1"))
    with pytest.raises(sa.exc.DBAPIError, match="审计日志只能追加"), engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_log WHERE seq = 2"))
    assert _found(_verify(engine)) == [("altered", 1)]


def test_a_rolled_back_change_leaves_no_gap(engine: Engine, world: Seeded) -> None:
    from quietday.planning.keys import create_key

    before, _ = _head(engine)

    def fail_after_recording() -> None:
        with session_scope(engine, actor="cli") as s:
            create_key(s, role="supervisor")
            raise RuntimeError("the command failed after the key was recorded")

    with pytest.raises(RuntimeError, match="after"):
        fail_after_recording()
    assert _head(engine)[0] == before
    with session_scope(engine, actor="cli") as s:
        create_key(s, role="supervisor")
    report = _verify(engine)
    assert report.ok
    assert report.head_seq == before + 1


def test_recording_without_an_actor_is_a_programming_error(engine: Engine) -> None:
    with pytest.raises(ActorMissingError), session_scope(engine) as session:
        record(session, "test.nothing", "nothing", {})
    assert _head(engine)[0] == 0


def test_concurrent_appenders_keep_one_chain(engine: Engine, world: Seeded) -> None:
    before, _ = _head(engine)
    threads, per_thread = 6, 10
    failures: list[BaseException] = []
    go = threading.Barrier(threads)

    def append(k: int) -> None:
        try:
            go.wait()
            for n in range(per_thread):
                with session_scope(engine, actor=f"test:thread {k}") as session:
                    record(session, "test.append", f"thread:{k}", {"n": n})
        except BaseException as exc:
            failures.append(exc)

    workers = [threading.Thread(target=append, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert failures == []
    report = _verify(engine)
    assert report.ok, report.problems
    assert report.head_seq == report.entries == before + threads * per_thread


def test_cli_verify_and_head(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    cli = CliRunner()
    db = tmp_path / "q.db"
    monkeypatch.setenv("QUIETDAY_DATABASE_URL", f"sqlite:///{db}")
    assert cli.invoke(app, ["db", "upgrade"]).exit_code == 0
    for _ in range(3):
        assert cli.invoke(app, ["keys", "create", "--supervisor"]).exit_code == 0
    r = cli.invoke(app, ["audit", "head"])
    assert r.exit_code == 0, r.output
    anchor = r.stdout.strip()
    assert anchor.startswith("3:")
    r = cli.invoke(app, ["audit", "verify", "--anchor", anchor])
    assert r.exit_code == 0, r.output
    assert "审计日志完好" in r.stdout
    assert "共 3 条" in r.stdout
    assert cli.invoke(app, ["audit", "verify", "--anchor", "3:xyz"]).exit_code == 2
    conn = sqlite3.connect(db)
    with pytest.raises(sqlite3.IntegrityError, match="审计日志只能追加"), conn:
        conn.execute("UPDATE audit_log SET actor = 'runner' WHERE seq = 2")
    with conn:  # someone holding the file can drop the trigger: the chain still tells
        conn.execute("DROP TRIGGER audit_log_no_update")
        conn.execute("UPDATE audit_log SET actor = 'runner' WHERE seq = 2")
    conn.close()
    r = cli.invoke(app, ["audit", "verify", "--anchor", anchor])
    assert r.exit_code == 1
    assert "[altered] 第 2 条" in r.stdout
    assert "被改动" in r.stdout
