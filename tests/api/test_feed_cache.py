"""Each API process keeps what its feed polls answered, and answers them again without the
database exactly while nothing they depend on changed: on SQLite and PostgreSQL, a change by
another connection (as another process would make it) is seen at once or within a second, the
day turning in China renews every answer, and a PostgreSQL listener that lost its connection
keeps nothing until it listens again."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import sqlalchemy as sa
from fastapi.testclient import TestClient
from test_api_feeds import get, summaries

from conftest import Clock
from flows import published, token
from quietday.persistence import Engine, session_scope
from quietday.persistence.feeds import FeedChanges
from quietday.planning.feeds import FeedCache
from seed import AGENCIES, Seeded

EVERY, BOUND = 0.05, 1.0


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The statements `engine` runs inside the block."""
    seen: list[str] = []

    def count(_c: Any, _cur: Any, sql: str, *_: Any) -> None:
        seen.append(sql)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def _headers(answer: Any) -> dict[str, str]:
    return {k: v for k, v in answer.headers.items() if k not in ("date", "server")}


def _until(condition: Any) -> float:
    """Seconds until `condition()` holds, looked at every 50 ms (at most 3 s)."""
    started = time.monotonic()
    while not condition() and time.monotonic() - started < 3 * BOUND:
        time.sleep(EVERY)
    return time.monotonic() - started


def _elsewhere(engine: Engine, sql: str) -> None:
    """`sql` committed on a connection of its own, outside the app's engine (another process)."""
    if engine.dialect.name == "sqlite":
        with sqlite3.connect(str(engine.url.database)) as conn:
            conn.execute(sql)
        return
    dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def test_a_repeated_poll_is_answered_without_the_database(fc: TestClient, world: Seeded) -> None:
    published(fc, world)
    t = token(fc, world, "enterprise", world.enterprises[0])
    first = get(fc, t)  # rendered and stored (on SQLite the store itself is a change)
    assert get(fc, t).content == first.content  # read and kept
    reader = fc.app.state.reader  # type: ignore[attr-defined]
    with statements(reader) as seen:
        again = get(fc, t)
        held = get(fc, t, **{"If-None-Match": first.headers["etag"]})
        weak = get(fc, t, **{"If-None-Match": f'"x", W/{first.headers["etag"]}'})
        since = get(fc, t, **{"If-Modified-Since": first.headers["last-modified"]})
        head = fc.head(f"/feeds/{t['token']}.ics")
    assert seen == []
    assert (again.status_code, again.content, _headers(again)) == (
        200,
        first.content,
        _headers(first),
    )
    assert [a.status_code for a in (held, weak, since)] == [304, 304, 304]
    assert held.content == b""
    assert "content-length" not in held.headers
    assert {k: held.headers[k] for k in ("etag", "last-modified", "cache-control")} == {
        k: first.headers[k] for k in ("etag", "last-modified", "cache-control")
    }
    assert (head.status_code, _headers(head), head.content) == (200, _headers(first), b"")


def test_a_revocation_by_another_connection_is_seen_within_a_second(
    engine: Engine, fc: TestClient, world: Seeded
) -> None:
    published(fc, world)
    t = token(fc, world, "agency", AGENCIES["A"][0])
    assert get(fc, t).status_code == get(fc, t).status_code == 200
    _elsewhere(engine, f"UPDATE feed_token SET revoked_at = CURRENT_TIMESTAMP WHERE id = {t['id']}")
    assert _until(lambda: get(fc, t).status_code == 404) < BOUND


def test_a_visit_changed_by_another_connection_renews_the_feed(
    engine: Engine, fc: TestClient, world: Seeded
) -> None:
    published(fc, world)
    t = token(fc, world, "agency", AGENCIES["A"][0])  # sees each visit whole, its SEQUENCE too
    first = get(fc, t)
    assert get(fc, t).headers["etag"] == first.headers["etag"]
    _elsewhere(engine, "UPDATE visit SET sequence = sequence + 1")
    assert _until(lambda: get(fc, t).headers["etag"] != first.headers["etag"]) < BOUND


def test_the_answers_turn_over_when_the_day_turns_in_china(
    fc: TestClient, world: Seeded, clock: Clock
) -> None:
    """E2's visit on 07-23 is joint with B's unannounced plan: the enterprise sees C's part
    up to that day, and B's too once it has passed."""
    published(fc, world)
    t = token(fc, world, "enterprise", world.enterprises[2])
    clock.now = datetime(2026, 7, 23, 15, 59, 59, tzinfo=UTC)  # 23:59:59 in China
    assert summaries(get(fc, t).content) == ["入企检查:市场监督管理局"]
    assert summaries(get(fc, t).content) == ["入企检查:市场监督管理局"]
    with statements(fc.app.state.reader) as seen:  # type: ignore[attr-defined]
        assert summaries(get(fc, t).content) == ["入企检查:市场监督管理局"]
    assert seen == []  # kept until midnight
    clock.now += timedelta(seconds=1)
    assert summaries(get(fc, t).content) == ["联合检查:消防救援大队、市场监督管理局"]


def test_nothing_is_kept_while_the_listener_is_down(
    engine: Engine, fc: TestClient, world: Seeded
) -> None:
    """PostgreSQL: a revocation committed while the listening connection is gone is not lost."""
    if engine.dialect.name == "sqlite":
        return
    published(fc, world)
    t = token(fc, world, "enterprise", world.enterprises[0])
    assert get(fc, t).status_code == get(fc, t).status_code == 200
    _elsewhere(
        engine,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE application_name = 'quietday-feed-changes' AND datname = current_database()",
    )
    _elsewhere(engine, f"UPDATE feed_token SET revoked_at = CURRENT_TIMESTAMP WHERE id = {t['id']}")
    assert _until(lambda: get(fc, t).status_code == 404) < BOUND
    cache = fc.app.state.feed_cache  # type: ignore[attr-defined]
    assert _until(lambda: cache.mark() is not None) < 3 * BOUND  # listening again


def test_what_was_read_before_a_change_is_not_kept(engine: Engine, world: Seeded) -> None:
    cache: FeedCache[str] = FeedCache(FeedChanges(engine), max_bytes=100)
    cache.start()
    try:
        now = datetime(2026, 7, 1, 4, 0, tzinfo=UTC)
        today = now.date()
        _until(lambda: cache.mark() is not None)  # PostgreSQL: once it listens
        before = cache.mark()
        assert before is not None
        with session_scope(engine, actor="cli") as s:  # a change between the read and `put`
            s.execute(sa.text("UPDATE enterprise SET name = name || '公司'"))
        _until(lambda: cache.mark() != before)
        cache.put("a", "stale", mark=before, today=today, size=10)
        assert cache.get("a", now) is None
        mark = cache.mark()
        cache.put("a", "kept", mark=mark, today=today, size=60)
        cache.put("b", "kept too", mark=mark, today=today, size=40)
        assert (cache.get("a", now), cache.get("b", now)) == ("kept", "kept too")
        cache.put("c", "newest", mark=mark, today=today, size=30)  # over 100 bytes: "a" goes
        assert [cache.get(k, now) for k in "abc"] == [None, "kept too", "newest"]
        assert cache.get("c", datetime(2026, 7, 1, 16, 0, tzinfo=UTC)) is None  # the next day
    finally:
        cache.stop()
    assert cache.mark() is None


def test_each_change_a_feed_depends_on_moves_the_mark(
    engine: Engine, fc: TestClient, world: Seeded
) -> None:
    """Changes committed elsewhere (PostgreSQL: by migration 0027's triggers) move the mark;
    on PostgreSQL, a plan changed in a way no feed reads does not."""
    published(fc, world)
    t = token(fc, world, "enterprise", world.enterprises[0])
    cache = fc.app.state.feed_cache  # type: ignore[attr-defined]
    changes = [
        "UPDATE visit SET sequence = sequence + 1",
        "UPDATE plan SET cancelled_visit_id = visit_id, visit_id = NULL"
        " WHERE id = (SELECT min(id) FROM plan WHERE visit_id IS NOT NULL)",
        f"UPDATE feed_token SET revoked_at = CURRENT_TIMESTAMP WHERE id = {t['id']}",
        "INSERT INTO setting (key, value) VALUES ('feed_generation', '7')"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    ]
    for sql in changes:
        before = cache.mark()
        assert before is not None
        _elsewhere(engine, sql)
        assert _until(lambda b=before: cache.mark() != b) < BOUND, sql
    if engine.dialect.name == "postgresql":
        before = cache.mark()
        _elsewhere(engine, "UPDATE plan SET priority = priority + 1")
        time.sleep(0.3)
        assert cache.mark() == before
