"""The supervisors' dashboard on SQLite and PostgreSQL: figures on a small hand-built published
schedule against hand-computed numbers, and sign-in, session cookie and CSRF over HTTP."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import url_of
from flows import CSRF, HYPOTHETICAL_2027, login
from quietday.api import create_app
from quietday.config import Settings
from quietday.persistence import Engine, session_scope
from quietday.persistence.tables import HistoryRow, PlanRow, VisitRow
from quietday.planning import dashboard as figures
from quietday.planning.calendar import import_notice
from quietday.planning.keys import list_keys, revoke_key
from quietday.planning.registry import update_enterprise
from seed import AGENCIES, Seeded

JULY = date(2026, 7, 1)


@dataclass
class Insp:
    agency: str
    kind: str = "routine"
    reason: str | None = None


def put_visit(
    engine: Engine,
    enterprise: str,
    day: date,
    inspections: list[Insp],
    *,
    status: str = "published",
) -> int:
    """A visit written as publishing leaves it: the visit row and its plans pointing at it."""
    with session_scope(engine, actor="cli") as s:
        visit = VisitRow(
            enterprise_id=enterprise,
            day=day,
            lead_agency_id=AGENCIES[inspections[0].agency][0],
            status=status,
        )
        s.add(visit)
        s.flush()
        for i in inspections:
            s.add(
                PlanRow(
                    agency_id=AGENCIES[i.agency][0],
                    enterprise_id=enterprise,
                    kind=i.kind,
                    items=["X"],
                    earliest=day,
                    latest=day,
                    exempt_reason=i.reason,
                    status="published" if status == "published" else "cancelled",
                    published_date=day,
                    visit_id=visit.id,
                )
            )
        return int(visit.id or 0)


def put_history(engine: Engine, enterprise: str, agency: str, day: date, kind: str) -> None:
    with session_scope(engine, actor="cli") as s:
        s.add(
            HistoryRow(enterprise_id=enterprise, agency_id=AGENCIES[agency][0], day=day, kind=kind)
        )


@pytest.fixture
def schedule(engine: Engine, world: Seeded) -> list[str]:
    """Six enterprises (quiet days 1-20 of each month, agency-enterprise cap 2 a year):

    E0  07-21 A routine + B routine (joint), 07-22 A special, 08-21 A routine  -> A-E0 3/2 over
    E1  07-23 A routine + B special + C case (joint); 07-24 a cancelled visit
    E2  07-10 A case, exempt                                          -> quiet-day exception
    E3  07-15 B routine, no reason (cap override null: no cap)        -> quiet-day exception
    E4  07-27 C routine, exempt, on its blackout date; history C routine 06-01 (and 2025)
                                                                      -> exception; C-E4 2/2 at
    E5  07-24 B special; history B routine 03-02; cap override 3      -> B-E5 2/3 below
    """
    e = world.enterprises
    with session_scope(engine, actor="cli") as s:
        update_enterprise(s, e[3], {"cap_overrides": {"agency_enterprise_per_year": None}})
        update_enterprise(s, e[4], {"blackout": [date(2026, 7, 27)]})
        update_enterprise(s, e[5], {"cap_overrides": {"agency_enterprise_per_year": 3}})
    put_visit(engine, e[0], date(2026, 7, 21), [Insp("A"), Insp("B")])
    put_visit(engine, e[0], date(2026, 7, 22), [Insp("A", "special")])
    put_visit(engine, e[0], date(2026, 8, 21), [Insp("A")])
    put_visit(engine, e[1], date(2026, 7, 23), [Insp("A"), Insp("B", "special"), Insp("C", "case")])
    put_visit(engine, e[1], date(2026, 7, 24), [Insp("A")], status="cancelled")
    put_visit(engine, e[2], date(2026, 7, 10), [Insp("A", "case", "投诉举报核查")])
    put_visit(engine, e[3], date(2026, 7, 15), [Insp("B")])
    put_visit(engine, e[4], date(2026, 7, 27), [Insp("C", reason="安全隐患复查")])
    put_visit(engine, e[5], date(2026, 7, 24), [Insp("B", "special")])
    put_history(engine, e[0], "A", date(2026, 7, 21), "routine")  # the same date: adds nothing
    put_history(engine, e[1], "A", date(2026, 5, 6), "case")  # not a capped kind
    put_history(engine, e[4], "C", date(2026, 6, 1), "routine")
    put_history(engine, e[4], "C", date(2025, 12, 1), "routine")  # another year
    put_history(engine, e[5], "B", date(2026, 3, 2), "routine")
    return e


def test_month_figures_equal_hand_computed_numbers(engine: Engine, schedule: list[str]) -> None:
    with session_scope(engine, actor="cli") as s:
        summary = figures.month_summary(s, JULY)
        per_day = {c.key: c.value for c in figures.visits_per_day(s, JULY) if c.value}
        kinds = {c.key: c.value for c in figures.inspections_by_kind(s, JULY)}
        agencies = {c.key: c.value for c in figures.visits_per_agency(s, JULY)}
        top = figures.most_visited(s, date(2026, 7, 1), date(2026, 7, 31), limit=1)
        days = figures.visits_per_day(s, JULY)
    assert (summary.visits, summary.inspections) == (7, 10)
    assert (summary.joint_visits, summary.joint_inspections) == (2, 5)
    assert summary.joint_rate == pytest.approx(2 / 7)
    assert summary.joint_inspection_share == pytest.approx(5 / 10)
    assert summary.saved_door_openings == 3  # (2 - 1) + (3 - 1)
    assert len(days) == 31
    assert per_day == {f"2026-07-{d}": 1 for d in ("10", "15", "21", "22", "23", "24", "27")}
    assert kinds == {"routine": 5, "special": 3, "case": 2}
    a, b, c = (AGENCIES[x][0] for x in "ABC")
    assert agencies == {a: 4, b: 4, c: 2}
    assert [(t.key, t.value) for t in top] == [(schedule[0], 2)]


def test_quiet_day_exceptions_with_their_reasons(engine: Engine, schedule: list[str]) -> None:
    with session_scope(engine, actor="cli") as s:
        found = figures.quiet_day_exceptions(s, JULY)
        august = figures.quiet_day_exceptions(s, date(2026, 8, 1))
    got = [(x.day.isoformat(), x.enterprise_id, x.kind, x.reason, x.blackout) for x in found]
    assert got == [
        ("2026-07-10", schedule[2], "case", "投诉举报核查", False),
        ("2026-07-15", schedule[3], "routine", None, False),
        ("2026-07-27", schedule[4], "routine", "安全隐患复查", True),
    ]
    assert august == []


def test_pairs_near_their_yearly_cap(engine: Engine, schedule: list[str]) -> None:
    a, b, c = (AGENCIES[x][0] for x in "ABC")
    e = schedule
    with session_scope(engine, actor="cli") as s:
        caps = figures.near_cap_pairs(s, 2026)
        only_b = figures.near_cap_pairs(s, 2026, agency_id=b)
        first_two = figures.near_cap_pairs(s, 2026, limit=2)
        last_year = figures.near_cap_pairs(s, 2025)
    assert (caps.over, caps.at, caps.below) == (1, 1, 4)
    got = {(n.agency_id, n.enterprise_id): (n.used, n.cap) for n in caps.pairs}
    assert got == {
        (a, e[0]): (3, 2),
        (c, e[4]): (2, 2),
        (b, e[0]): (1, 2),
        (a, e[1]): (1, 2),
        (b, e[1]): (1, 2),
        (b, e[5]): (2, 3),
    }
    assert [(n.agency_id, n.enterprise_id) for n in caps.pairs[:2]] == [(a, e[0]), (c, e[4])]
    assert caps.pairs[0].over
    assert caps.pairs[1].at_cap
    assert {n.enterprise_id for n in only_b.pairs} == {e[0], e[1], e[5]}
    assert len(first_two.pairs) == 2
    assert first_two.total == 6
    assert (last_year.over, last_year.at, last_year.below) == (0, 0, 1)  # C-E4 1/2 in 2025


def test_pairs_near_their_yearly_cap_follow_the_credit_risk_class(
    engine: Engine, schedule: list[str]
) -> None:
    """A class A firm's cap is its class's (1), a class D firm has none, and a firm's own
    override still wins over its class."""
    a, b = AGENCIES["A"][0], AGENCIES["B"][0]
    e = schedule
    with session_scope(engine, actor="cli") as s:
        update_enterprise(s, e[0], {"risk_class": "D"})
        update_enterprise(s, e[1], {"risk_class": "A"})
        update_enterprise(s, e[5], {"risk_class": "A"})
        caps = figures.near_cap_pairs(s, 2026)
    got = {(n.agency_id, n.enterprise_id): (n.used, n.cap) for n in caps.pairs}
    assert (a, e[0]) not in got
    assert (got[(a, e[1])], got[(b, e[1])], got[(b, e[5])]) == ((1, 1), (1, 1), (2, 3))


def test_agency_and_enterprise_figures(engine: Engine, schedule: list[str]) -> None:
    a = AGENCIES["A"][0]
    with session_scope(engine, actor="cli") as s:
        months = figures.agency_capacity(s, a, 2026)
        listing, lines = figures.enterprise_visits(s, schedule[0], 2026)
        found = figures.enterprise_listing(s, "测试1号")
        agencies = {r.agency.id: r.visits for r in figures.agency_listing(s, 2026)}
        mine = figures.most_visited(s, date(2026, 1, 1), date(2026, 12, 31), agency_id=a)
    july, august = months[6], months[7]
    assert (july.visits, july.capacity, july.full_days) == (4, 23 * 3, 0)  # 23 working days
    assert (august.visits, august.capacity) == (1, 21 * 3)
    assert sum(m.visits for m in months) == 5
    assert listing.policy == "每月1-20日"
    assert [(v.day.isoformat(), [x for x, _ in v.agencies]) for v in lines] == [
        ("2026-07-21", [a, AGENCIES["B"][0]]),
        ("2026-07-22", [a]),
        ("2026-08-21", [a]),
    ]
    assert [f.enterprise.id for f in found] == [schedule[0]]
    assert agencies[a] == 5
    assert agencies[AGENCIES["C"][0]] == 2
    assert mine[0].key == schedule[0]
    assert mine[0].value == 3


def test_default_month_is_the_current_one_else_the_latest_published(
    engine: Engine, schedule: list[str]
) -> None:
    with session_scope(engine, actor="cli") as s:
        assert figures.default_month(s, date(2026, 7, 30)) == JULY
        assert figures.default_month(s, date(2026, 10, 2)) == date(2026, 8, 1)
    # 2026-07-31 23:30 UTC is already 1 August in Shanghai.
    assert figures.local_today(datetime(2026, 7, 31, 23, 30, tzinfo=UTC)) == date(2026, 8, 1)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 7, 25, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def dashboard_app(engine: Engine, clock: Clock, **settings: object) -> TestClient:
    app = create_app(
        Settings(database_url=url_of(engine), runner="thread", **settings),
        engine=engine,
        clock=clock,
    )
    return TestClient(app, follow_redirects=False)


@pytest.fixture
def dc(engine: Engine, world: Seeded, clock: Clock) -> Iterator[TestClient]:
    with dashboard_app(engine, clock) as c:
        yield c


def present(client: TestClient, cookie: str) -> None:
    """The client holds only this session cookie."""
    client.cookies.clear()
    client.cookies.set("qd_dashboard", cookie, path="/dashboard")


def test_pages_redirect_to_sign_in(dc: TestClient, world: Seeded) -> None:
    for path in ("/dashboard", "/dashboard/enterprises", "/dashboard/agencies/x"):
        r = dc.get(path)
        assert r.status_code == 303
        assert r.headers["location"] == "/dashboard/login"
    assert dc.get("/dashboard/caps").status_code == 401


def test_sign_in_sets_a_strict_http_only_cookie(dc: TestClient, world: Seeded) -> None:
    r = login(dc, world.supervisor)
    assert r.status_code == 303
    assert r.headers["location"] == "/dashboard"
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("qd_dashboard="))
    flags = {f.strip().lower() for f in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/dashboard"} <= flags
    assert "secure" not in flags  # plain http: a Secure cookie would never come back
    page = dc.get("/dashboard")
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text  # no inline script: the CSP allows none
    assert "综合查一次率" in page.text


def test_cookie_is_secure_over_https(engine: Engine, world: Seeded, clock: Clock) -> None:
    app = create_app(
        Settings(database_url=url_of(engine), runner="thread"), engine=engine, clock=clock
    )
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as c:
        r = login(c, world.supervisor)
        cookie = next(x for x in r.headers.get_list("set-cookie") if x.startswith("qd_dashboard"))
        assert "secure" in cookie.lower()


def test_agency_and_invalid_keys_are_refused(dc: TestClient, world: Seeded) -> None:
    r = login(dc, world.keys["A"])
    assert r.status_code == 403
    assert "部门密钥不能登录监督看板" in r.text
    assert "qd_dashboard" not in dc.cookies
    r = login(dc, "qd_" + "x" * 40)
    assert r.status_code == 401
    assert "密钥无效" in r.text
    assert dc.get("/dashboard").status_code == 303


def test_login_without_its_csrf_token_or_from_elsewhere_is_refused(
    dc: TestClient, world: Seeded
) -> None:
    dc.get("/dashboard/login")
    r = dc.post("/dashboard/login", data={"key": world.supervisor, "csrf": "forged"})
    assert r.status_code == 403
    # Non-ASCII in the form or the cookie is no match either (it was a 500).
    assert dc.post("/dashboard/login", data={"key": "x", "csrf": "中"}).status_code == 403
    held = dc.cookies["qd_login_csrf"]
    dc.cookies.clear()
    cookie = {"Cookie": "qd_login_csrf=中".encode()}
    r = dc.post("/dashboard/login", data={"key": "x", "csrf": held}, headers=cookie)  # type: ignore[arg-type]
    assert r.status_code == 403
    r = login(dc, world.supervisor, origin="https://evil.example")
    assert r.status_code == 403
    assert dc.get("/dashboard").status_code == 303


def test_logout_needs_the_session_csrf_token(dc: TestClient, world: Seeded) -> None:
    login(dc, world.supervisor)
    page = dc.get("/dashboard")
    token = CSRF.search(page.text)
    assert token is not None
    assert dc.post("/dashboard/logout", data={"csrf": "forged"}).status_code == 403
    assert dc.post("/dashboard/logout", data={"csrf": "中"}).status_code == 403
    assert dc.get("/dashboard").status_code == 200
    r = dc.post("/dashboard/logout", data={"csrf": token.group(1)})
    assert r.status_code == 303
    assert r.headers["location"] == "/dashboard/login"
    assert dc.get("/dashboard").status_code == 303


def test_logout_ends_the_session_on_the_server(
    engine: Engine, dc: TestClient, world: Seeded, clock: Clock
) -> None:
    """A copy of the cookie taken before logout (another browser, a stolen one) stops working
    at logout, in every process; another sign-in of the same key keeps its own session."""
    login(dc, world.supervisor)
    copied = dc.cookies["qd_dashboard"]
    with dashboard_app(engine, clock) as elsewhere:
        login(elsewhere, world.supervisor)
        assert elsewhere.get("/dashboard").status_code == 200
        token = CSRF.search(dc.get("/dashboard").text)
        assert token is not None
        assert dc.post("/dashboard/logout", data={"csrf": token.group(1)}).status_code == 303
        present(dc, copied)
        assert dc.get("/dashboard").status_code == 303
        assert dc.get("/dashboard/caps").status_code == 401
        assert dc.get("/dashboard/exports/frequency.csv?period=2026").status_code == 303
        assert elsewhere.get("/dashboard").status_code == 200
        with dashboard_app(engine, clock) as other_process:
            present(other_process, copied)
            assert other_process.get("/dashboard").status_code == 303
    # Logging out twice, or with the ended cookie, is harmless.
    assert dc.post("/dashboard/logout", data={"csrf": token.group(1)}).status_code == 303


def test_revoked_key_tampered_or_expired_cookie_ends_the_session(
    engine: Engine, dc: TestClient, world: Seeded, clock: Clock
) -> None:
    login(dc, world.supervisor)
    assert dc.get("/dashboard").status_code == 200
    value = dc.cookies["qd_dashboard"]
    payload, signature = value.split(".")
    present(dc, payload + "." + signature[::-1])
    assert dc.get("/dashboard").status_code == 303
    present(dc, value)
    clock.now += timedelta(hours=8, minutes=1)
    assert dc.get("/dashboard").status_code == 303
    clock.now -= timedelta(hours=8, minutes=1)
    assert dc.get("/dashboard").status_code == 200
    with session_scope(engine, actor="cli") as s:
        supervisor = next(k for k in list_keys(s) if k.role == "supervisor")
        revoke_key(s, int(supervisor.id or 0))
    assert dc.get("/dashboard").status_code == 303


def test_processes_share_the_stored_secret(
    engine: Engine, dc: TestClient, world: Seeded, clock: Clock
) -> None:
    login(dc, world.supervisor)
    with dashboard_app(engine, clock) as other:
        present(other, dc.cookies["qd_dashboard"])
        assert other.get("/dashboard").status_code == 200
    with dashboard_app(engine, clock, session_secret="another secret") as configured:
        present(configured, dc.cookies["qd_dashboard"])
        assert configured.get("/dashboard").status_code == 303


def test_pages_show_the_figures(dc: TestClient, world: Seeded, schedule: list[str]) -> None:
    login(dc, world.supervisor)
    page = dc.get("/dashboard")  # the clock says 25 July 2026 in Shanghai
    assert "2026 年 7 月" in page.text
    assert re.search(r'data-kpi="visits">7<', page.text)
    assert re.search(r'data-kpi="joint-rate">28.6%<', page.text)
    assert re.search(r'data-kpi="saved">3<', page.text)
    assert re.search(r'data-kpi="exceptions">3<', page.text)
    assert "投诉举报核查" in page.text
    assert "无豁免事由" in page.text
    assert "无事由 1 项" in page.text
    assert "/dashboard/exports/frequency.csv?by=agency&amp;period=2026-07" in page.text
    assert "/dashboard/exports/frequency.xlsx?by=county&amp;period=2026" in page.text
    data = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', page.text)
    assert data is not None
    assert '"perDay"' in data.group(1)
    assert 'data-caps="/dashboard/caps?year=2026"' in page.text
    caps = dc.get("/dashboard/caps?year=2026").json()
    assert (caps["over"], caps["at"], caps["below"]) == (1, 1, 4)
    assert caps["pairs"][0] == {
        "agency_id": AGENCIES["A"][0],
        "agency_name": AGENCIES["A"][1],
        "enterprise_id": schedule[0],
        "enterprise_name": "江西测试1号有限公司",
        "used": 3,
        "cap": 2,
    }
    august = dc.get("/dashboard?month=2026-08")
    assert re.search(r'data-kpi="visits">1<', august.text)
    assert dc.get("/dashboard?month=2026-13").status_code == 422
    ent = dc.get(f"/dashboard/enterprises/{schedule[0]}")
    assert ent.status_code == 200
    assert "每月1-20日" in ent.text
    assert '"heatmap"' in ent.text
    assert dc.get("/dashboard/enterprises/nope").status_code == 404
    assert "测试1号" in dc.get("/dashboard/enterprises?q=测试1号").text
    agency = dc.get(f"/dashboard/agencies/{AGENCIES['A'][0]}")
    assert agency.status_code == 200
    assert '"perMonth"' in agency.text
    assert AGENCIES["C"][1] in dc.get("/dashboard/agencies").text
    assert dc.get("/dashboard/agencies/nope").status_code == 404


def test_assets_are_served_and_a_missing_echarts_is_said(
    engine: Engine, world: Seeded, clock: Clock, tmp_path: Path
) -> None:
    with dashboard_app(engine, clock) as c:
        for name in ("echarts.min.js", "dashboard.js", "dashboard.css"):
            r = c.get(f"/dashboard/static/{name}")
            assert r.status_code == 200, name
            assert len(r.content) > 1000, name
        assert c.get("/dashboard/static/secret.py").status_code == 404
    with dashboard_app(engine, clock, echarts_path=tmp_path / "absent.js") as c:
        assert c.get("/dashboard/static/echarts.min.js").status_code == 404
        login(c, world.supervisor)
        page = c.get("/dashboard")
        assert "ECharts 未安装" in page.text
        assert "echarts.min.js" not in page.text


def _row(page: str, year: int) -> str:
    found = re.search(rf'<tr data-year="{year}">(.*?)</tr>', page, re.S)
    assert found is not None, year
    return found.group(1)


def test_calendar_page_shows_years_provisional_runs_and_disturbed_visits(
    dc: TestClient, engine: Engine, world: Seeded
) -> None:
    assert dc.get("/dashboard/calendar").headers["location"] == "/dashboard/login"
    login(dc, world.supervisor)
    put_visit(engine, world.enterprises[1], date(2027, 2, 11), [Insp("A", "case", "投诉")])
    page = dc.get("/dashboard/calendar").text  # the clock says 25 July 2026
    assert 'href="/dashboard/calendar" aria-current="page"' in page
    assert "2027 年尚无国务院节假日安排" in page
    assert "暂定" in _row(page, 2027)
    assert "正式" in _row(page, 2026)
    assert "holidays-" in _row(page, 2026)
    assert "2027 年放假与调休" in page  # the year without a notice, shown by default
    assert '2027-02-09</td><td class="nowrap">周二</td><td>休</td><td>春节（补假）' in page
    assert "没有已发布的入企落在 2027 年的非工作日" in page

    with session_scope(engine, actor="cli") as s:
        import_notice(s, year=2027, data=HYPOTHETICAL_2027.encode())
    page = dc.get("/dashboard/calendar").text
    assert "尚无国务院节假日安排" not in page
    assert "csv" in _row(page, 2027)
    assert "正式" in _row(page, 2027)
    assert re.search(r'class="num bad">1<', _row(page, 2027))
    disturbed = re.search(r"<table data-disturbed>(.*?)</table>", page, re.S)
    assert disturbed is not None
    assert "2027-02-11" in disturbed.group(1)
    assert "春节" in disturbed.group(1)
    assert "江西测试2号有限公司" in disturbed.group(1)
    assert f"/dashboard/enterprises/{world.enterprises[1]}" in disturbed.group(1)
    assert "2026 年放假与调休" in dc.get("/dashboard/calendar?year=2026").text
    assert dc.get("/dashboard/calendar?year=1999").status_code == 422
