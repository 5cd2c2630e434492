"""The supervisor's run controls (on both databases): a preview hand-checked on a small world
(a plan newly placed, a published one moved, one unscheduled, a hidden one that leaves its
enterprise's feed alone, one skipped because it changed), publishing from the dashboard, the
runs pages and their forms, and feed letters issued in bulk."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from fastapi.testclient import TestClient

from flows import login, published, start, submit, token, wait
from quietday.persistence import Engine, session_scope
from quietday.persistence.audit import AuditRepository
from quietday.planning.keys import Actor
from quietday.planning.runs import RunRequest, create_run
from seed import AGENCIES, Seeded, uscc

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
A, B, C = (AGENCIES[k][0] for k in "ABC")


def plan_row(fc: TestClient, world: Seeded, pid: int) -> dict[str, Any]:
    r = fc.get(f"/api/v1/plans/{pid}", headers=world.auth())
    assert r.status_code == 200
    return dict(r.json())


def signed_in(fc: TestClient, world: Seeded) -> str:
    fc.follow_redirects = False
    assert login(fc, world.supervisor).status_code == 303
    found = CSRF.search(fc.get("/dashboard/runs").text)
    assert found is not None
    return found.group(1)


def test_the_preview_says_what_publishing_does(fc: TestClient, world: Seeded) -> None:
    ids = published(fc, world)
    e = world.enterprises
    wide = submit(fc, world, "B", 5, earliest="2026-07-21", latest="2026-07-31")
    first = wait(fc, world, start(fc, world)["id"])
    assert fc.post(f"/api/v1/runs/{first['id']}/publish", headers=world.auth()).status_code == 200
    alone, spread = plan_row(fc, world, ids["alone"]), plan_row(fc, world, wide)
    for n, row in ((3, alone), (5, spread)):  # days they may no longer be visited on
        r = fc.patch(f"/api/v1/enterprises/{e[n]}", json={"blackout": [row["published_date"]]},
                     headers=world.auth())  # fmt: skip
        assert r.status_code == 200, r.text
    hidden = submit(fc, world, "B", 2, kind="case", exempt_reason="投诉举报",
                    earliest="2026-07-23", latest="2026-07-23")  # fmt: skip
    new = submit(fc, world, "A", 4, earliest="2026-07-27", latest="2026-07-31")
    quiet = submit(fc, world, "C", 5, earliest="2026-08-03", latest="2026-08-14")
    changed = submit(fc, world, "C", 5, earliest="2026-09-21", latest="2026-09-30")
    token(fc, world, "enterprise", e[2])
    token(fc, world, "agency", B)
    run = wait(fc, world, start(fc, world)["id"])
    assert (run["status"], run["stage"], run["progress"]) == ("succeeded", "done", 1.0)
    r = fc.patch(f"/api/v1/plans/{changed}", json={"priority": 5}, headers=world.auth("C"))
    assert r.status_code == 200, r.text

    r = fc.get(f"/api/v1/runs/{run['id']}/preview", headers=world.auth())
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["refusal"] is None
    assert [(x["plan_id"], x["date_to"]) for x in p["placed"]] == [
        (hidden, "2026-07-23"),
        (new, p["placed"][1]["date_to"]),
    ]
    assert "2026-07-27" <= p["placed"][1]["date_to"] <= "2026-07-31"
    assert [x["announceable"] for x in p["placed"]] == [False, True]
    assert run["freed_plans"] == sorted([ids["alone"], wide])
    [moved] = p["moved"]
    assert (moved["plan_id"], moved["date_from"]) == (wide, spread["published_date"])
    assert moved["date_to"] not in (None, spread["published_date"])
    # The plan alone on 07-24 has no other day in its window: it leaves its visit, unscheduled.
    assert [(x["plan_id"], x["reason"], x["date_from"]) for x in p["unscheduled"]] == [
        (quiet, "no_allowed_day", None),
        (ids["alone"], "no_allowed_day", alone["published_date"]),
    ]
    assert p["unscheduled"][0]["reason_label"] == "窗口内无可用日期"
    [skipped] = p["skipped"]
    assert (skipped["plan_id"], skipped["reason"]) == (changed, "changed")
    assert p["staying"] == 7 - 2  # the published plans but the moved and the unscheduled
    assert [x["id"] for x in p["enterprises"]] == sorted([e[2], e[3], e[4], e[5]])
    assert {x["id"] for x in p["agencies"]} == {A, B, C}
    feeds = {(f["kind"], f["subject_id"]): f["subscriptions"] for f in p["feeds"]}
    # E2 gains only a case inspection: what it may see before the date does not change.
    assert feeds == {("enterprise", e[3]): 0, ("enterprise", e[4]): 0, ("enterprise", e[5]): 0,
                     ("agency", A): 0, ("agency", B): 1, ("agency", C): 0}  # fmt: skip
    assert p["totals"] == {"placed": 2, "moved": 1, "unscheduled": 2, "skipped": 1,
                           "enterprises": 4, "agencies": 3, "feeds": 6}  # fmt: skip
    paged = fc.get(f"/api/v1/runs/{run['id']}/preview", params={"offset": 1, "limit": 1},
                   headers=world.auth()).json()  # fmt: skip
    assert ([x["plan_id"] for x in paged["placed"]], paged["moved"]) == ([new], [])

    visits = {
        v["enterprise_id"]: v
        for v in fc.get("/api/v1/visits", params={"limit": 500}, headers=world.auth()).json()[
            "items"
        ]
        if v["date"] == "2026-07-23"
    }
    csrf = signed_in(fc, world)
    page = fc.get(f"/dashboard/runs/{run['id']}")
    assert page.status_code == 200
    assert "发布前预览" in page.text
    assert "窗口内无可用日期" in page.text
    assert (
        fc.post(f"/dashboard/runs/{run['id']}/publish", data={"csrf": "wrong"}).status_code == 403
    )
    r = fc.post(f"/dashboard/runs/{run['id']}/publish", data={"csrf": csrf})
    assert (r.status_code, r.headers["location"]) == (303, f"/dashboard/runs/{run['id']}")
    assert plan_row(fc, world, new)["published_date"] == p["placed"][1]["date_to"]
    assert plan_row(fc, world, hidden)["published_date"] == "2026-07-23"
    assert plan_row(fc, world, wide)["published_date"] == moved["date_to"]
    assert plan_row(fc, world, ids["alone"])["status"] == "unscheduled"
    assert plan_row(fc, world, quiet)["status"] == "unscheduled"
    assert plan_row(fc, world, changed)["status"] == "submitted"
    after = fc.get("/api/v1/visits", params={"limit": 500}, headers=world.auth()).json()["items"]
    e2 = next(v for v in after if v["id"] == visits[e[2]]["id"])
    assert e2["sequence"] > visits[e[2]]["sequence"]
    # Published now: a second publish is refused, in Chinese, on the page.
    again = fc.post(f"/dashboard/runs/{run['id']}/publish", data={"csrf": csrf})
    assert again.status_code == 409
    assert "只有已完成的运行可以发布" in again.text


def test_the_enterprise_feed_of_a_hidden_plan_stays_as_it_was(
    fc: TestClient, world: Seeded
) -> None:
    """The hidden plan's enterprise: its public side (sequence) is the same after publishing."""
    published(fc, world)
    feed = token(fc, world, "enterprise", world.enterprises[2])
    before = fc.get(f"/feeds/{feed['token']}.ics")
    assert before.status_code == 200
    submit(fc, world, "B", 2, kind="case", exempt_reason="投诉举报",
           earliest="2026-07-23", latest="2026-07-23")  # fmt: skip
    run = wait(fc, world, start(fc, world)["id"])
    p = fc.get(f"/api/v1/runs/{run['id']}/preview", headers=world.auth()).json()
    assert p["totals"]["placed"] == 1
    assert [f["kind"] for f in p["feeds"]] == ["agency", "agency"]
    assert fc.post(f"/api/v1/runs/{run['id']}/publish", headers=world.auth()).status_code == 200
    assert fc.get(f"/feeds/{feed['token']}.ics").content == before.content


def test_a_preview_of_a_run_published_or_missing(fc: TestClient, world: Seeded) -> None:
    run = wait(fc, world, start(fc, world)["id"])
    assert fc.post(f"/api/v1/runs/{run['id']}/publish", headers=world.auth()).status_code == 200
    p = fc.get(f"/api/v1/runs/{run['id']}/preview", headers=world.auth()).json()
    assert p["refusal_code"] == "run_not_publishable"
    assert "只有已完成的运行可以预览和发布" in p["refusal"]
    assert p["placed"] == []
    assert fc.get("/api/v1/runs/99999/preview", headers=world.auth()).status_code == 404
    assert fc.get(f"/api/v1/runs/{run['id']}/preview", headers=world.auth("A")).status_code == 403
    r = fc.get(f"/api/v1/runs/{run['id']}/preview", params={"limit": 0}, headers=world.auth())
    assert r.status_code == 422


def test_runs_page_starts_a_run_by_region_name(fc: TestClient, world: Seeded) -> None:
    fc.follow_redirects = False
    assert fc.get("/dashboard/runs").status_code == 303  # sign in first
    csrf = signed_in(fc, world)
    page = fc.get("/dashboard/runs").text
    assert '<option value="360102">南昌市 东湖区</option>' in page
    assert 'value="2026-07-01"' in page
    assert 'value="2026-09-30"' in page
    form = {"csrf": csrf, "scope": "360102", "horizon_start": "2026-07-01",
            "horizon_end": "2026-09-30", "time_limit": "5"}  # fmt: skip
    bad = fc.post("/dashboard/runs", data={**form, "horizon_start": "2026-06-01",
                                           "horizon_end": "七月", "scope": "999999"})  # fmt: skip
    assert bad.status_code == 422
    assert "结束日期应为日期" in bad.text
    bad = fc.post("/dashboard/runs", data={**form, "horizon_start": "2026-06-01", "scope": "99"})
    assert bad.status_code == 422
    assert "开始日期: 排期范围应从明天" in bad.text
    assert "行政区划 99 不存在" in bad.text
    assert fc.post("/dashboard/runs", data={**form, "csrf": "x"}).status_code == 403
    other = fc.post("/dashboard/runs", data=form, headers={"origin": "https://evil.example"})
    assert other.status_code == 403
    assert fc.get("/api/v1/runs", headers=world.auth()).json()["items"] == []
    r = fc.post("/dashboard/runs", data=form)
    assert r.status_code == 303
    run_id = int(r.headers["location"].rsplit("/", 1)[1])
    wait(fc, world, run_id)
    progress = fc.get(f"/dashboard/runs/{run_id}/progress").json()
    assert (progress["status"], progress["stage"], progress["percent"]) == (
        "succeeded", "done", 100)  # fmt: skip
    listing = fc.get("/dashboard/runs").text
    assert "南昌市 东湖区" in listing
    assert "已完成" in listing
    assert fc.get("/dashboard/runs/99999").status_code == 404
    assert fc.get("/dashboard/runs/99999/progress").status_code == 404
    assert fc.get("/dashboard/runs/0").status_code == 422
    fc.cookies.clear()
    assert fc.get(f"/dashboard/runs/{run_id}/progress").status_code == 401


def test_cancel_from_the_page(fc: TestClient, world: Seeded, engine: Engine) -> None:
    """A queued run (recorded, never handed to a runner) cancelled from its page."""
    csrf = signed_in(fc, world)
    with session_scope(engine, actor="test") as s:
        actor = Actor(key_id=1, role="supervisor", agency_id=None)
        request = RunRequest(date(2026, 7, 1), date(2026, 9, 30), time_limit=5)
        run_id = int(
            create_run(s, actor, request, today=date(2026, 6, 30), max_time_limit=60,
                       max_workers=2).id or 0
        )  # fmt: skip
    page = fc.get(f"/dashboard/runs/{run_id}")
    assert "取消运行" in page.text
    assert 'src="/dashboard/static/runs.js"' in page.text
    assert fc.post(f"/dashboard/runs/{run_id}/cancel", data={"csrf": "x"}).status_code == 403
    r = fc.post(f"/dashboard/runs/{run_id}/cancel", data={"csrf": csrf})
    assert r.status_code == 303
    done = fc.get(f"/dashboard/runs/{run_id}/progress").json()
    assert (done["status"], done["stage"], done["finished"]) == ("cancelled", "done", True)
    assert "取消运行" not in fc.get(f"/dashboard/runs/{run_id}").text
    assert fc.post("/dashboard/runs/4242/cancel", data={"csrf": csrf}).status_code == 404


def test_feed_letters_name_each_bad_line_then_issue_and_print(
    fc: TestClient, world: Seeded, engine: Engine
) -> None:
    csrf = signed_in(fc, world)
    unknown = uscc("360102", 99)
    bad = fc.post("/dashboard/feed-letters", data={
        "csrf": csrf, "codes": f"{world.enterprises[0]}\n\n91360102MA0000010X\nabc\n"})  # fmt: skip
    assert bad.status_code == 422
    assert "第 3 行 91360102MA0000010X" in bad.text
    assert "第 4 行 ABC" in bad.text
    missing = fc.post("/dashboard/feed-letters", data={"csrf": csrf, "codes": unknown})
    assert missing.status_code == 422
    assert f"{unknown}: 没有这家企业" in missing.text
    assert fc.post("/dashboard/feed-letters", data={"csrf": "x", "codes": ""}).status_code == 403
    empty = fc.post("/dashboard/feed-letters", data={"csrf": csrf, "codes": " \n"})
    assert empty.status_code == 422
    assert "至少填写一个" in empty.text
    with session_scope(engine) as s:
        before, _ = AuditRepository(s).head()
    codes = f"{world.enterprises[1].lower()}\n{world.enterprises[2]}\n{world.enterprises[1]}\n"
    r = fc.post("/dashboard/feed-letters", data={"csrf": csrf, "codes": codes})
    assert r.status_code == 200, r.text
    assert (r.headers["cache-control"], r.headers["referrer-policy"]) == ("no-store", "no-referrer")
    assert r.text.count('<article class="letter"') == 2
    assert "江西测试2号有限公司" in r.text
    assert "添加已订阅的日历" in r.text
    tokens = re.findall(r"/feeds/(icsf_[A-Za-z0-9_-]+)\.ics", r.text)
    assert len(set(tokens)) == 2
    sub = fc.get(f"/feeds/{tokens[0]}")
    assert sub.status_code == 200
    assert "江西测试2号有限公司" in sub.text
    with session_scope(engine) as s:
        entries = AuditRepository(s).page(after=before, limit=10, action_prefix=None, subject=None)
        assert [(x.action, x.actor) for x in entries] == [
            ("feed_token.issue_batch", entries[0].actor)
        ]
        assert entries[0].actor.startswith("supervisor:")


def test_the_run_form_takes_only_dates_the_api_takes(fc: TestClient, world: Seeded) -> None:
    """A horizon in year 9999 once started a run that failed with OverflowError; 20260701 and
    2026-W27-3 were read as dates. The form takes YYYY-MM-DD within the API's years, or 422."""
    csrf = signed_in(fc, world)
    form = {"csrf": csrf, "scope": "", "horizon_start": "2026-07-01",
            "horizon_end": "2026-09-30", "time_limit": "5"}  # fmt: skip
    for start_day, end_day in (
        ("9999-12-31", "9999-12-31"),
        ("2101-01-01", "2101-03-31"),
        ("20260701", "2026-09-30"),
        ("2026-W27-3", "2026-09-30"),
    ):
        r = fc.post("/dashboard/runs", data={**form, "horizon_start": start_day,
                                             "horizon_end": end_day})  # fmt: skip
        assert r.status_code == 422, (start_day, r.status_code)
        assert "开始日期应为日期" in r.text
    assert fc.get("/api/v1/runs", headers=world.auth()).json()["items"] == []
    # Seconds in ASCII digits only: 1_0 and other scripts' digits are no time limit.
    for limit in ("1_0", "٥", "nan", "-5", "1e3", "0", ""):
        r = fc.post("/dashboard/runs", data={**form, "time_limit": limit})
        assert r.status_code == 422, (limit, r.status_code)
        assert "求解时限应为秒数" in r.text
    assert fc.get("/api/v1/runs", headers=world.auth()).json()["items"] == []
