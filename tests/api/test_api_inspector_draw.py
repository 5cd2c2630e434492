"""随机选派 over HTTP on SQLite and PostgreSQL: conflicts (回避) declared and listed by the
agency's key and withdrawn by a supervisor's alone; certificates' validity set by a supervisor;
a 回避 or an earlier certificate end takes the inspector off coming teams; the draw of a month
picks only active inspectors certified on the day and not 回避, keeps what was assigned unless
redrawn, tells why a visit got no team, is the same when run again (and from its audit entry); an
assignment by hand refuses the same inspectors naming the field; other agencies get 404."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from flows import check_in, published
from quietday.domain.crew import CrewInspector, CrewVisit, draw_crews, draw_seed
from quietday.persistence import Engine, session_scope
from quietday.persistence.agency import inspectors_on
from quietday.persistence.audit import AuditRepository
from quietday.persistence.crew import InspectorConflictRepository
from quietday.persistence.registry import InspectorRepository
from quietday.persistence.visits import VisitRepository
from quietday.planning.registry import create_inspector
from seed import AGENCIES, Seeded

A = AGENCIES["A"][0]
B = AGENCIES["B"][0]


def crew_of_a(engine: Engine) -> dict[str, int]:
    """A's inspectors: a1-a3 certified without expiry, a4 until 07-21, a5 inactive."""
    with session_scope(engine, actor="cli") as s:
        ids = {}
        for n in range(1, 6):
            row = create_inspector(
                s,
                agency_id=A,
                name=f"执法员{n}",
                certificate_no=f"A-00{n}",
                certified_until=date(2026, 7, 21) if n == 4 else None,
            )
            if n == 5:
                row.active = False
                InspectorRepository(s).add(row)
            ids[f"a{n}"] = int(row.id or 0)
        create_inspector(s, agency_id=B, name="执法员B", certificate_no="B-001")
        return ids


def visits_of(fc: TestClient, world: Seeded) -> dict[str, int]:
    """A's visits of July by enterprise: E0 (07-21, joint), E1 (07-22), E3 (07-24)."""
    items = fc.get("/api/v1/visits", headers=world.auth("A")).json()["items"]
    names = {world.enterprises[k]: f"E{k}" for k in range(len(world.enterprises))}
    return {names[v["enterprise_id"]]: v["id"] for v in items}


def draw(fc: TestClient, world: Seeded, who: str = "A", **body: Any) -> Any:
    return fc.post(
        f"/api/v1/agencies/{A}/inspector-draws",
        json={"month": "2026-07", **body},
        headers=world.auth(who),
    )


def test_the_draw_picks_only_eligible_inspectors_keeps_assignments_and_repeats(
    fc: TestClient, world: Seeded, engine: Engine
) -> None:
    published(fc, world)
    ids = crew_of_a(engine)
    visits = visits_of(fc, world)
    r = fc.post(
        f"/api/v1/agencies/{A}/inspector-conflicts",
        json={
            "inspector_id": ids["a1"],
            "enterprise_id": world.enterprises[1],
            "reason": "亲属关系",
        },
        headers=world.auth("A"),
    )
    assert r.status_code == 201, r.text
    conflict = r.json()
    assert conflict["declared_by"].startswith("agency:")
    listed = fc.get(f"/api/v1/agencies/{A}/inspector-conflicts", headers=world.auth("A")).json()
    assert [c["id"] for c in listed] == [conflict["id"]]
    again = fc.post(
        f"/api/v1/agencies/{A}/inspector-conflicts",
        json={"inspector_id": ids["a1"], "enterprise_id": world.enterprises[1], "reason": "曾任职"},
        headers=world.auth("A"),
    )
    assert again.status_code == 409

    r = draw(fc, world)
    assert r.status_code == 200, r.text
    first = r.json()
    teams = {t["visit_id"]: set(t["inspector_ids"]) for t in first["teams"]}
    assert set(teams) == set(visits.values())
    assert all(len(t) == 2 and ids["a5"] not in t for t in teams.values())
    assert ids["a1"] not in teams[visits["E1"]]
    assert ids["a4"] not in teams[visits["E1"]] | teams[visits["E3"]]
    assert teams[visits["E1"]] == {ids["a2"], ids["a3"]}
    assert first["unplaced"] == []
    assert first["kept"] == []
    with session_scope(engine) as s:
        seeds = [int(x) for (x,) in s.execute(sa.text("SELECT seed FROM run"))]
        entries = AuditRepository(s).page(
            after=0, limit=100, action_prefix="inspector.draw", subject=f"agency:{A}"
        )
        changes = [e.changes for e in entries]
    assert first["seed"] == draw_seed(run_seeds=seeds, agency_id=A, month="2026-07")
    assert len(changes) == 1
    logged = changes[0]
    assert logged["seed"] == first["seed"]
    assert logged["inputs_digest"] == first["inputs_digest"]
    assert logged["teams"] == {str(k): sorted(v) for k, v in teams.items()}
    # Anyone holding the logged inputs draws the same teams again.
    inputs = logged["inputs"]
    replayed = draw_crews(
        visits=[
            CrewVisit(v, e, date.fromisoformat(d), tuple(a), o)
            for v, e, d, a, o in inputs["visits"]
        ],
        inspectors=[
            CrewInspector(i, act, c, date.fromisoformat(u) if u else None)
            for i, act, c, u in inputs["inspectors"]
        ],
        conflicts=[(i, e) for i, e in inputs["conflicts"]],
        team_size=inputs["team_size"],
        seed=inputs["seed"],
        per_day=inputs["per_day"],
    )
    assert {k: set(v) for k, v in replayed.teams.items()} == teams

    # Drawn again: everything is kept; redrawn: the same inputs, the same teams.
    kept = draw(fc, world).json()
    assert kept["teams"] == []
    assert sorted(kept["kept"]) == sorted(teams)
    redrawn = draw(fc, world, redraw=True).json()
    assert redrawn["inputs_digest"] == first["inputs_digest"]
    assert {t["visit_id"]: set(t["inspector_ids"]) for t in redrawn["teams"]} == teams
    # A supervisor may draw for A too.
    assert draw(fc, world, "supervisor", redraw=True).json()["teams"] == redrawn["teams"]

    # Teams of four: only 07-21 has four eligible; the others say why and keep their team.
    four = draw(fc, world, team_size=4, redraw=True).json()
    assert [t["visit_id"] for t in four["teams"]] == [visits["E0"]]
    reasons = {u["visit_id"]: u["reason"] for u in four["unplaced"]}
    assert set(reasons) == {visits["E1"], visits["E3"]}
    assert reasons[visits["E1"]] == (
        "符合条件的执法人员只有 2 名,每次入企须 4 名"
        "(本部门 5 名执法人员中:已停用 1 名、执法证已过期 1 名、回避 1 名)"
    )

    # Once 07-22 has passed only 07-24 is open.
    fc.app.state.clock.now = datetime(2026, 7, 23, 1, 0, tzinfo=UTC)  # type: ignore[attr-defined]
    late = draw(fc, world, redraw=True).json()
    assert [t["visit_id"] for t in late["teams"]] == [visits["E3"]]
    # Checked in on 07-24, the visit is the record: its team stays, nothing is drawn.
    fc.app.state.clock.now = datetime(2026, 7, 24, 2, 0, tzinfo=UTC)  # type: ignore[attr-defined]
    check_in(fc, world, "A", 3, "2026-07-24T09:30:00+08:00")
    done = draw(fc, world, redraw=True).json()
    assert done["teams"] == []
    assert done["unplaced"] == []
    with session_scope(engine) as s:
        kept_team = inspectors_on(s, [visits["E3"]])[visits["E3"]]
    assert kept_team == sorted(late["teams"][0]["inspector_ids"])

    # Withdrawing the conflict is the supervisors' (司法行政 keeps the register): A may declare
    # a 回避 but not withdraw it, so it cannot steer a redraw away from inspectors and back.
    path = f"/api/v1/agencies/{A}/inspector-conflicts/{conflict['id']}"
    r = fc.delete(path, headers=world.auth("A"))
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    assert r.json()["detail"] == (
        "回避申报只能由监督(司法行政)密钥撤回;执法部门可以申报回避,不能撤回"
    )
    assert len(fc.get(f"/api/v1/agencies/{A}/inspector-conflicts", headers=world.auth()).json())
    assert fc.delete(path, headers=world.auth()).status_code == 204
    assert fc.get(f"/api/v1/agencies/{A}/inspector-conflicts", headers=world.auth("A")).json() == []
    assert fc.delete(path, headers=world.auth()).status_code == 404
    with session_scope(engine) as s:
        (withdrawn,) = AuditRepository(s).page(
            after=0, limit=10, action_prefix="inspector_conflict.remove", subject=None
        )
    assert withdrawn.actor.startswith("supervisor")


def test_an_assignment_by_hand_refuses_the_same_inspectors_naming_the_field(
    fc: TestClient, world: Seeded, engine: Engine
) -> None:
    published(fc, world)
    ids = crew_of_a(engine)
    visits = visits_of(fc, world)
    fc.post(
        f"/api/v1/agencies/{A}/inspector-conflicts",
        json={"inspector_id": ids["a1"], "enterprise_id": world.enterprises[1], "reason": "曾任职"},
        headers=world.auth("A"),
    )

    def put(visit: str, *who: str) -> Any:
        return fc.put(
            f"/api/v1/visits/{visits[visit]}/inspectors",
            json={"inspector_ids": [ids[w] for w in who]},
            headers=world.auth("A"),
        )

    r = put("E1", "a2", "a1")
    assert r.status_code == 422
    (problem,) = r.json()["errors"]
    assert "执法员1" in problem["message"]
    assert "inspector_conflict" in problem["message"]
    assert "曾任职" in problem["message"]
    r = put("E1", "a2", "a4")
    assert r.status_code == 422
    message = r.json()["errors"][0]["message"]
    assert "执法员4" in message
    assert "certified_until" in message
    assert "2026-07-21" in message
    r = put("E1", "a2", "a5")
    assert "active" in r.json()["errors"][0]["message"]
    # a4 still holds on 07-21.
    assert put("E0", "a2", "a4").status_code == 200
    # A supervisor ends a2's certificate before 07-24: no longer sent there.
    r = fc.put(
        f"/api/v1/agencies/{A}/inspectors/{ids['a2']}/certified-until",
        json={"certified_until": "2026-07-23"},
        headers=world.auth(),
    )
    assert r.status_code == 200, r.text
    assert r.json()["certified_until"] == "2026-07-23"
    assert put("E3", "a2", "a3").status_code == 422
    assert put("E3", "a1", "a3").status_code == 200
    r = fc.put(
        f"/api/v1/agencies/{A}/inspectors/{ids['a2']}/certified-until",
        json={"certified_until": None},
        headers=world.auth("A"),
    )
    assert r.status_code == 403


def sequences(engine: Engine, *visit_ids: int) -> list[int]:
    with session_scope(engine) as s:
        rows = {int(v.id or 0): v.sequence for v in VisitRepository(s).by_ids(visit_ids)}
    return [rows[v] for v in visit_ids]


def team(engine: Engine, visit_id: int) -> list[int]:
    with session_scope(engine) as s:
        return inspectors_on(s, [visit_id]).get(visit_id, [])


def test_a_conflict_or_an_earlier_certificate_end_takes_the_inspector_off_coming_visits(
    fc: TestClient, world: Seeded, engine: Engine
) -> None:
    """A drawn team does not outlive what made it: a 回避 declared takes its inspector off the
    enterprise's coming visits, a certificate ended earlier takes its holder off the visits
    after it; each visit's sequence grows, the audit entry names them, the answer says which
    need a team, and a draw of the month (without redraw) gives them one. Visits passed or
    checked in are the record and stay."""
    published(fc, world)
    ids = crew_of_a(engine)
    visits = visits_of(fc, world)
    teams = {t["visit_id"]: t["inspector_ids"] for t in draw(fc, world).json()["teams"]}
    e1, e3 = visits["E1"], visits["E3"]
    gone, stays = teams[e1]
    before = sequences(engine, e1, e3)
    r = fc.post(
        f"/api/v1/agencies/{A}/inspector-conflicts",
        json={"inspector_id": gone, "enterprise_id": world.enterprises[1], "reason": "亲属关系"},
        headers=world.auth("A"),
    )
    assert r.status_code == 201, r.text
    assert r.json()["released"] == [
        {
            "visit_id": e1,
            "day": "2026-07-22",
            "enterprise_id": world.enterprises[1],
            "inspector_ids": [stays],
            "needs_team": True,
        }
    ]
    assert team(engine, e1) == [stays]
    assert sequences(engine, e1, e3) == [before[0] + 1, before[1]]
    with session_scope(engine) as s:
        (entry,) = AuditRepository(s).page(
            after=0, limit=10, action_prefix="inspector_conflict.declare", subject=None
        )
    assert entry.changes["released"] == [
        {"visit_id": e1, "day": "2026-07-22", "enterprise_id": world.enterprises[1],
         "left": [stays]}
    ]  # fmt: skip
    # The month drawn again, without redraw: the short team is drawn anew, the others kept.
    again = draw(fc, world).json()
    assert [t["visit_id"] for t in again["teams"]] == [e1]
    assert gone not in again["teams"][0]["inspector_ids"]
    assert sorted(again["kept"]) == sorted(k for k in teams if k != e1)

    # A supervisor ends a certificate on 07-23: its holder leaves 07-24, not 07-21.
    on_e0 = team(engine, visits["E0"])
    holder = next((i for i in team(engine, e3) if i in on_e0), team(engine, e3)[0])
    before = sequences(engine, visits["E0"], e3)
    r = fc.put(
        f"/api/v1/agencies/{A}/inspectors/{holder}/certified-until",
        json={"certified_until": "2026-07-23"},
        headers=world.auth(),
    )
    assert r.status_code == 200, r.text
    assert r.json()["certified_until"] == "2026-07-23"
    assert [(x["visit_id"], x["needs_team"]) for x in r.json()["released"]] == [(e3, True)]
    assert holder not in team(engine, e3)
    assert team(engine, visits["E0"]) == on_e0
    assert sequences(engine, visits["E0"], e3) == [before[0], before[1] + 1]
    with session_scope(engine) as s:
        (entry,) = AuditRepository(s).page(
            after=0, limit=10, action_prefix="inspector.certified_until", subject=None
        )
    assert [x["visit_id"] for x in entry.changes["released"]] == [e3]

    # From 07-22, checked in at E1: visits passed (07-21) or checked in are the record.
    fc.app.state.clock.now = datetime(2026, 7, 22, 1, 0, tzinfo=UTC)  # type: ignore[attr-defined]
    check_in(fc, world, "A", 1, "2026-07-22T09:00:00+08:00")
    on_e0, on_e1 = team(engine, visits["E0"]), team(engine, e1)
    member = next(i for i in on_e1 if i in ids.values())
    r = fc.post(
        f"/api/v1/agencies/{A}/inspector-conflicts",
        json={"inspector_id": member, "enterprise_id": world.enterprises[1], "reason": "曾任职"},
        headers=world.auth("A"),
    )
    assert r.json()["released"] == []
    r = fc.put(
        f"/api/v1/agencies/{A}/inspectors/{on_e0[0]}/certified-until",
        json={"certified_until": "2026-07-20"},
        headers=world.auth(),
    )
    assert all(x["visit_id"] != visits["E0"] for x in r.json()["released"])
    assert (team(engine, visits["E0"]), team(engine, e1)) == (on_e0, on_e1)


def test_other_agencies_get_404_and_bad_input_4xx(
    fc: TestClient, world: Seeded, engine: Engine
) -> None:
    published(fc, world)
    ids = crew_of_a(engine)
    r = fc.post(
        f"/api/v1/agencies/{A}/inspector-conflicts",
        json={
            "inspector_id": ids["a1"],
            "enterprise_id": world.enterprises[1],
            "reason": "亲属关系",
        },
        headers=world.auth("A"),
    )
    conflict = r.json()["id"]
    for method, path, body in [
        ("POST", f"/api/v1/agencies/{A}/inspector-draws", {"month": "2026-07"}),
        ("GET", f"/api/v1/agencies/{A}/inspector-conflicts", None),
        (
            "POST",
            f"/api/v1/agencies/{A}/inspector-conflicts",
            {"inspector_id": ids["a2"], "enterprise_id": world.enterprises[1], "reason": "x"},
        ),
        # Under its own path, B reaches not A's inspector.
        (
            "POST",
            f"/api/v1/agencies/{B}/inspector-conflicts",
            {"inspector_id": ids["a2"], "enterprise_id": world.enterprises[1], "reason": "x"},
        ),
    ]:
        r = fc.request(method, path, json=body, headers=world.auth("B"))
        assert r.status_code == 404, (method, path, r.text)
    # No agency key withdraws a 回避, its own or another's: the same 403 whatever it names.
    for agency in (A, B):
        r = fc.delete(
            f"/api/v1/agencies/{agency}/inspector-conflicts/{conflict}", headers=world.auth("B")
        )
        assert r.status_code == 403, r.text
    # A supervisor withdraws under the conflict's own agency only.
    r = fc.delete(f"/api/v1/agencies/{B}/inspector-conflicts/{conflict}", headers=world.auth())
    assert r.status_code == 404
    assert (
        len(fc.get(f"/api/v1/agencies/{A}/inspector-conflicts", headers=world.auth("A")).json())
        == 1
    )
    for body in (
        {"month": "2026-13"},
        {"month": "2026-07", "team_size": 1},
        {"month": "2026-07", "team_size": 11},
        {"month": "2026-07", "per_day": 0},
        {"month": "2026-07", "extra": 1},
    ):
        assert draw(fc, world, **body).status_code == 422
    r = fc.post(
        f"/api/v1/agencies/{A}/inspector-conflicts",
        json={
            "inspector_id": ids["a2"],
            "enterprise_id": "91360102MA0000000X",
            "reason": "亲属关系",
        },
        headers=world.auth("A"),
    )
    assert r.status_code == 422
    assert (
        fc.post(
            "/api/v1/agencies/NOPE/inspector-draws", json={"month": "2026-07"}, headers=world.auth()
        ).status_code
        == 404
    )


CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def sign_in(fc: TestClient, key: str) -> str:
    form = fc.get("/agency/login")
    token = CSRF.search(form.text)
    assert token is not None
    r = fc.post("/agency/login", data={"key": key, "csrf": token.group(1)})
    assert r.url.path == "/agency/plans"
    found = CSRF.search(r.text)
    assert found is not None
    return found.group(1)


def test_the_agency_pages_declare_conflicts_and_draw_the_month(
    fc: TestClient, world: Seeded, engine: Engine
) -> None:
    published(fc, world)
    ids = crew_of_a(engine)
    visits = visits_of(fc, world)
    csrf = sign_in(fc, world.keys["A"])
    page = fc.get("/agency/month", params={"month": "2026-07"})
    assert "<title>2026年7月入企 · 企业安静日</title>" in page.text
    assert "随机选派本月" in page.text
    assert "没有回避申报" in page.text
    assert "2026-07-21" in page.text  # a4's certificate
    form = {"csrf": csrf, "month": "2026-07", "inspector": ids["a1"], "reason": "亲属关系"}
    r = fc.post("/agency/conflicts", data={**form, "enterprise": world.enterprises[1].lower()})
    assert r.status_code == 200, r.text
    assert "已登记回避" in r.text
    assert "亲属关系" in r.text
    r = fc.post("/agency/conflicts", data={**form, "enterprise": world.enterprises[1]})
    assert r.status_code == 422
    assert "已申报回避" in r.text
    r = fc.post("/agency/conflicts", data={**form, "csrf": "x", "enterprise": world.enterprises[3]})
    assert r.status_code == 403
    # B's inspector cannot be declared by A.
    with session_scope(engine) as s:
        b = next(i for i in InspectorRepository(s).list() if i.agency_id == B)
    r = fc.post(
        "/agency/conflicts", data={**form, "inspector": b.id, "enterprise": world.enterprises[3]}
    )
    assert r.status_code == 422
    assert "不存在" in r.text
    # The visit page shows who may not go, and why.
    visit = fc.get(f"/agency/visits/{visits['E1']}").text
    assert visit.count("不可指派") == 2  # a1 (回避) and a4 (expired)
    assert "亲属关系" in visit

    assert fc.post("/agency/month/draw", data={"csrf": "x", "month": "2026-07"}).status_code == 403
    r = fc.post("/agency/month/draw", data={"csrf": csrf, "month": "2026-07"})
    assert r.status_code == 200, r.text
    assert "为 3 次入企抽取了执法人员" in r.text
    assert "输入摘要" in r.text
    crew = re.findall(r'<span class="crew">([^<]+)</span>', r.text)
    assert len(crew) == 3
    assert "未指派" not in crew
    e1 = fc.get(f"/agency/visits/{visits['E1']}").text
    assert re.search(r"<dt>已指派</dt><dd>执法员[23]、执法员[23]</dd>", e1)
    assert audited_draws(engine) == 1
    r = fc.post("/agency/month/draw", data={"csrf": csrf, "month": "2026-07", "redraw": "1"})
    assert "为 3 次入企抽取了执法人员" in r.text
    assert fc.post("/agency/month/draw", data={"csrf": csrf, "month": "2026-7"}).status_code == 422
    # A 回避 declared for one of E3's team: the page names the visit that now needs a team.
    member = team(engine, visits["E3"])[0]
    r = fc.post(
        "/agency/conflicts",
        data={**form, "inspector": member, "enterprise": world.enterprises[3]},
    )
    assert r.status_code == 200, r.text
    assert "已从入企中撤出" in r.text
    assert re.search(rf'<li data-visit="{visits["E3"]}">.*?须重新选派', r.text, re.S)
    assert member not in team(engine, visits["E3"])

    # The clerk declares but does not withdraw: no button, a note, and no such form to post.
    assert "撤回" not in re.sub(r"不能撤回|须撤回", "", r.text)
    assert "本部门可以申报,不能撤回" in r.text
    with session_scope(engine) as s:
        (first, *_) = InspectorConflictRepository(s).of_agency(A)
    r = fc.post(f"/agency/conflicts/{first.id}/remove", data={"csrf": csrf, "month": "2026-07"})
    assert r.status_code == 404
    with session_scope(engine) as s:
        assert InspectorConflictRepository(s).get(int(first.id or 0)) is not None


def audited_draws(engine: Engine) -> int:
    with session_scope(engine) as s:
        rows = AuditRepository(s).page(
            after=0, limit=100, action_prefix="inspector.draw", subject=f"agency:{A}"
        )
        return sum(1 for r in rows if r.actor.endswith("agency-pages"))
