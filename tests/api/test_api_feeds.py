"""Calendar feeds over HTTP on SQLite and PostgreSQL: what each subscriber sees, validators,
tokens, change semantics, the subscribe page, and tokens kept out of logs."""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from conftest import Clock, url_of
from feedcheck import event_count, own_problems, parse_everywhere
from flows import published, start, submit, token, wait
from quietday.api import RedactFeedTokens, create_app
from quietday.config import LOCAL_URL, Settings
from quietday.persistence import Engine
from seed import AGENCIES, Seeded


def get(fc: TestClient, t: dict[str, Any], **headers: str) -> Any:
    return fc.get(f"/feeds/{t['token']}.ics", headers=headers)


def summaries(body: bytes) -> list[str]:
    return sorted(e["summary"] for e in parse_everywhere(body).icaljs["events"])


def test_each_subscriber_sees_what_it_may(fc: TestClient, world: Seeded) -> None:
    published(fc, world)
    feeds = {
        "E0": token(fc, world, "enterprise", world.enterprises[0]),
        "E1": token(fc, world, "enterprise", world.enterprises[1]),
        "E2": token(fc, world, "enterprise", world.enterprises[2]),
        "A": token(fc, world, "agency", AGENCIES["A"][0], who="A"),
    }
    bodies = {k: get(fc, t).content for k, t in feeds.items()}
    for body in bodies.values():
        assert own_problems(body) == []
    assert summaries(bodies["E0"]) == ["联合检查:市场监督管理局、消防救援大队"]
    assert summaries(bodies["E1"]) == []  # a complaint case is never announced in advance
    assert summaries(bodies["E2"]) == [
        "入企检查:市场监督管理局"
    ]  # C's part only, B's is unannounced
    agency = summaries(bodies["A"])
    assert len(agency) == 3
    assert any("联合检查" in s for s in agency)
    description = parse_everywhere(bodies["E0"]).icaljs["events"][0]["description"]
    assert "牵头部门" in description
    assert "SCJG-0101" in description


def test_http_semantics(fc: TestClient, world: Seeded) -> None:
    published(fc, world)
    t = token(fc, world, "enterprise", world.enterprises[0])
    r = get(fc, t, **{"User-Agent": "Google-Calendar-Importer"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/calendar; charset=utf-8"
    assert r.headers["etag"] == '"' + hashlib.sha256(r.content).hexdigest() + '"'
    assert "private" in r.headers["cache-control"]
    assert "content-encoding" not in r.headers
    etag, modified = r.headers["etag"], r.headers["last-modified"]
    for inm in (etag, f'"nope", {etag}', "*", f"W/{etag}"):
        again = get(fc, t, **{"If-None-Match": inm})
        assert (again.status_code, again.content) == (304, b"")
        assert again.headers["etag"] == etag
    stale = get(fc, t, **{"If-None-Match": '"stale"', "If-Modified-Since": modified})
    assert (stale.status_code, stale.content) == (200, r.content)
    assert get(fc, t, **{"If-Modified-Since": modified}).status_code == 304
    assert get(fc, t, **{"If-Modified-Since": "yesterday-ish"}).status_code == 200
    head = fc.head(f"/feeds/{t['token']}.ics")
    assert head.status_code == 200
    assert (head.content, head.headers["etag"], int(head.headers["content-length"])) == (
        b"",
        etag,
        len(r.content),
    )


def test_unknown_rotated_and_revoked_tokens_are_the_same_404(fc: TestClient, world: Seeded) -> None:
    published(fc, world)
    first = token(fc, world, "enterprise", world.enterprises[0])
    rotated = fc.post(f"/api/v1/feed-tokens/{first['id']}/rotate", headers=world.auth()).json()
    other = token(fc, world, "agency", AGENCIES["B"][0])
    assert (
        fc.post(f"/api/v1/feed-tokens/{other['id']}/revoke", headers=world.auth()).status_code
        == 200
    )
    answers = [
        get(fc, first),
        get(fc, other),
        fc.get("/feeds/icsf_" + "x" * 43 + ".ics"),
        fc.get("/feeds/whatever.ics"),
    ]
    assert {a.status_code for a in answers} == {404}
    assert len({a.content.replace(a.url.path.encode(), b"") for a in answers}) == 1
    assert get(fc, rotated).status_code == 200
    listed = fc.get("/api/v1/feed-tokens", headers=world.auth()).json()
    assert all("token" not in row for row in listed)


def test_change_semantics(fc: TestClient, world: Seeded, clock: Clock) -> None:
    ids = published(fc, world)
    t = token(fc, world, "agency", AGENCIES["A"][0])
    before = get(fc, t)
    # Unrelated edits: another agency's plan elsewhere, and a field the feed does not show.
    submit(fc, world, "C", 4, earliest="2026-08-21", latest="2026-08-21")
    assert (
        fc.patch(
            f"/api/v1/plans/{ids['alone']}", json={"priority": 9}, headers=world.auth("A")
        ).status_code
        == 200
    )
    same = get(fc, t)
    assert same.content == before.content
    assert get(fc, t, **{"If-None-Match": before.headers["etag"]}).status_code == 304
    # Cancelling: the visit stays, cancelled, with a higher sequence, until its date passes.
    fc.post(f"/api/v1/plans/{ids['alone']}/cancel", headers=world.auth("A"))
    after = get(fc, t)
    assert after.headers["etag"] != before.headers["etag"]
    events = {e["start"]: e for e in parse_everywhere(after.content).icaljs["events"]}
    old = {e["start"]: e for e in parse_everywhere(before.content).icaljs["events"]}
    cancelled = events["2026-07-24"]
    assert cancelled["status"] == "CANCELLED"
    assert cancelled["summary"].startswith("【已取消】")
    assert cancelled["sequence"] > old["2026-07-24"]["sequence"]
    assert cancelled["uid"] == old["2026-07-24"]["uid"]
    # Moving: the plan leaves its visit (cancelled there) and a later run publishes it anew.
    assert (
        fc.patch(
            f"/api/v1/plans/{ids['joint_a']}",
            json={"earliest": "2026-08-21", "latest": "2026-08-31"},
            headers=world.auth("A"),
        ).status_code
        == 200
    )
    run = wait(fc, world, start(fc, world)["id"])
    fc.post(f"/api/v1/runs/{run['id']}/publish", headers=world.auth())
    moved = parse_everywhere(get(fc, t).content).icaljs["events"]
    assert any(e["start"] >= "2026-08-21" for e in moved)
    clock.now += timedelta(days=30)
    later = get(fc, t)
    assert "2026-07-24" not in {
        e["start"] for e in parse_everywhere(later.content).icaljs["events"]
    }
    # Once its date has passed, a published plan is the record: it neither moves nor goes.
    past = fc.patch(
        f"/api/v1/plans/{ids['joint_b']}",
        json={"earliest": "2026-08-21", "latest": "2026-08-31"},
        headers=world.auth("B"),
    )
    assert (past.status_code, past.json()["code"]) == (409, "plan_in_record")
    gone = fc.post(f"/api/v1/plans/{ids['joint_b']}/cancel", headers=world.auth("B"))
    assert (gone.status_code, gone.json()["code"]) == (409, "plan_in_record")


def test_inspector_feed_and_agency_tokens(fc: TestClient, world: Seeded) -> None:
    published(fc, world)
    agency = AGENCIES["A"][0]
    inspector = fc.post(
        f"/api/v1/agencies/{agency}/inspectors",
        json={"name": "李四", "certificate_no": "ZF-0001"},
        headers=world.auth(),
    ).json()
    visit = next(
        v
        for v in fc.get("/api/v1/visits", headers=world.auth("A")).json()["items"]
        if v["date"] == "2026-07-24"
    )
    r = fc.put(
        f"/api/v1/visits/{visit['id']}/inspectors",
        json={"inspector_ids": [inspector["id"]]},
        headers=world.auth("A"),
    )
    assert r.json() == [inspector["id"]]
    t = token(fc, world, "inspector", str(inspector["id"]), who="A")
    body = get(fc, t).content
    assert own_problems(body) == []
    assert event_count(body) == 1
    assert (
        fc.post(
            "/api/v1/feed-tokens",
            json={"kind": "enterprise", "subject_id": world.enterprises[0]},
            headers=world.auth("A"),
        ).status_code
        == 403
    )
    assert (
        fc.post(
            "/api/v1/feed-tokens",
            json={"kind": "agency", "subject_id": AGENCIES["B"][0]},
            headers=world.auth("A"),
        ).status_code
        == 404
    )
    other = fc.put(
        f"/api/v1/visits/{visit['id']}/inspectors",
        json={"inspector_ids": [inspector["id"]]},
        headers=world.auth("B"),
    )
    assert other.status_code == 404


def test_subscribe_page(fc: TestClient, world: Seeded) -> None:
    published(fc, world)
    t = token(fc, world, "enterprise", world.enterprises[0])
    page = fc.get(f"/feeds/{t['token']}")
    assert page.status_code == 200
    html = page.text
    assert f"webcal://127.0.0.1:8000/feeds/{t['token']}.ics" in html
    assert f"http://127.0.0.1:8000/feeds/{t['token']}.ics" in html
    assert "<svg" in html
    assert "2026-07-21" in html
    assert "东湖区消防救援大队" in html
    # Its forms cannot be framed by another site, and no script runs in it.
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    policy = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    assert "default-src 'self'" in policy
    assert "script-src" not in policy
    assert fc.get("/feeds/icsf_unknown").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/feeds/icsf_SECRET123.ics?x=1",
        "/feeds/icsf_SECRET123",
        "//feeds/icsf_SECRET123.ics",
        "/FEEDS/icsf_SECRET123.ics",
        "/x?t=icsf_SECRET123&y=1",
        "/api/v1/feed-tokens?after=ICSF_SECRET123",
    ],
)
def test_feed_tokens_never_reach_the_access_log(path: str) -> None:
    """However the path is spelt, and wherever a token stands in it."""
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", path, "1.1", 200), None,
    )  # fmt: skip
    assert RedactFeedTokens().filter(record)
    assert "SECRET123" not in record.getMessage()
    assert "***" in record.getMessage()


def test_renaming_an_agency_renews_stored_feeds(fc: TestClient, world: Seeded) -> None:
    published(fc, world)
    t = token(fc, world, "enterprise", world.enterprises[0])
    before = get(fc, t)
    r = fc.patch(
        f"/api/v1/agencies/{AGENCIES['B'][0]}",
        json={"name": "东湖区消防救援站"},
        headers=world.auth(),
    )
    assert r.status_code == 200
    after = get(fc, t, **{"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    assert summaries(after.content) == ["联合检查:市场监督管理局、消防救援站"]


def test_a_second_process_serves_the_stored_rendering(
    engine: Engine, world: Seeded, fc: TestClient, clock: Clock
) -> None:
    published(fc, world)
    t = token(fc, world, "enterprise", world.enterprises[0])
    first = get(fc, t)
    other = create_app(
        Settings(database_url=url_of(engine), runner="thread", feed_uid_domain="feeds.test"),
        engine=engine,
        clock=clock,
    )
    with TestClient(other) as second:
        again = second.get(f"/feeds/{t['token']}.ics")
        assert (again.content, again.headers["etag"]) == (first.content, first.headers["etag"])
        assert (
            second.get(
                f"/feeds/{t['token']}.ics", headers={"If-None-Match": first.headers["etag"]}
            ).status_code
            == 304
        )


def test_polls_survive_connections_the_server_dropped(
    engine: Engine, world: Seeded, fc: TestClient
) -> None:
    """Polls read on their own pool without a ping on checkout: when PostgreSQL drops those
    connections (a restart, a failover), the next poll reconnects instead of failing. (The
    second token's poll is not one the process holds: it reads.)"""
    published(fc, world)
    t = token(fc, world, "enterprise", world.enterprises[0])
    unpolled = token(fc, world, "enterprise", world.enterprises[0])
    first = get(fc, t)
    reader = fc.app.state.reader  # type: ignore[attr-defined]
    if engine.dialect.name == "sqlite":
        assert reader is engine  # one file, no round trips to save
        return
    assert reader is not engine
    with engine.connect() as conn:
        dropped = conn.execute(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND application_name = ''"
            )
        ).scalar_one()
    assert dropped >= 1
    again = get(fc, unpolled, **{"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304


def test_another_agencys_token_answers_as_a_missing_one(fc: TestClient, world: Seeded) -> None:
    """An agency key revoking or rotating a token it does not manage learns nothing: the same
    404 text whether the token is another agency's, an enterprise's or no token at all."""
    others = [
        token(fc, world, "agency", AGENCIES["B"][0])["id"],
        token(fc, world, "enterprise", world.enterprises[0])["id"],
        10_000,
    ]
    for action in ("revoke", "rotate"):
        answers = [
            fc.post(f"/api/v1/feed-tokens/{n}/{action}", headers=world.auth("A")) for n in others
        ]
        assert [a.status_code for a in answers] == [404, 404, 404]
        details = [a.json()["detail"] for a in answers]
        assert details == [f"订阅 {n} 不存在" for n in others], action


@pytest.mark.parametrize("public_url", [None, "https://quietday.example.gov.cn"])
def test_feed_links_never_follow_the_host_header(
    engine: Engine, world: Seeded, public_url: str | None
) -> None:
    """Subscribe links in API answers and on the subscribe page are the configured public
    address, else (development) the fixed local one, whatever Host a request forges."""
    base = public_url or LOCAL_URL
    settings = Settings(database_url=url_of(engine), runner="thread", public_url=public_url)
    forged = {"Host": "evil.test", "X-Forwarded-Host": "evil.test"}
    with TestClient(create_app(settings, engine=engine)) as c:
        r = c.post(
            "/api/v1/feed-tokens",
            json={"kind": "enterprise", "subject_id": world.enterprises[0]},
            headers={**world.auth(), **forged},
        )
        assert r.status_code == 201, r.text
        t = r.json()["token"]
        assert (r.json()["feed_url"], r.json()["page_url"]) == (
            f"{base}/feeds/{t}.ics",
            f"{base}/feeds/{t}",
        )
        rotated = c.post(f"/api/v1/feed-tokens/{r.json()['id']}/rotate", headers={
            **world.auth(), **forged})  # fmt: skip
        assert rotated.json()["feed_url"].startswith(f"{base}/feeds/")
        t = rotated.json()["token"]
        page = c.get(f"/feeds/{t}", headers=forged)
        assert page.status_code == 200
        assert "evil.test" not in page.text
        assert f"{base}/feeds/{t}.ics" in page.text
        assert f"webcal://{base.split('://')[1]}/feeds/{t}.ics" in page.text


def test_feed_tokens_never_reach_the_error_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A feed request that fails (the database unreachable: 503; a broken database: 500) is
    logged with its path as /feeds/***, as the access log has it."""
    secret = "icsf_" + "S3CRET" * 8
    broken = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}"))
    gone = create_app(Settings(database_url="postgresql+psycopg://postgres@127.0.0.1:1/x"))
    with caplog.at_level(logging.INFO):
        for app, status in ((broken, 500), (gone, 503)):
            c = TestClient(app, raise_server_exceptions=False)  # no lifespan: no startup query
            for r in (
                c.get(f"/feeds/{secret}.ics"),
                c.get(f"/feeds/{secret}"),
                c.post(f"/feeds/{secret}/rate", data={"check_in_id": 1, "score": 3}),
            ):
                assert r.status_code == status, r.text
    # The server's records (the test client's own, httpx's, name the URL it asked for).
    logged = [r for r in caplog.records if r.name.startswith(("quietday", "uvicorn"))]
    assert len(logged) == 6
    text = "\n".join(logging.Formatter().format(r) for r in logged)
    assert text.count("/feeds/***") == 6
    assert "S3CRET" not in text
