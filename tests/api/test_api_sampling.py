"""Sampling (双随机、一公开): a round's seed committed before the draw and revealed at it, tasks
drawn together into plans of every agency with their references, the draw re-run from its
record (and a tampered record caught), results recorded by the plan's agency only and public
only once the task's window has ended (an unannounced task's too), hostile input refused."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from conftest import Clock
from flows import CSRF, login, start, wait
from quietday.domain.sampling import Coordination, Request, draw
from quietday.persistence import Engine, session_scope
from quietday.persistence.tables import EnterpriseRow
from quietday.planning import sampling
from quietday.planning.registry import create_enterprise
from quietday.planning.sampling import verify_document
from seed import AGENCIES, SEEDER, Seeded, uscc

A, B, C = AGENCIES["A"][0], AGENCIES["B"][0], AGENCIES["C"][0]
CLASSES = ["A", "B", "C", "D", None]
# 09:00 in China on the eve of the quarter; the draw is announced for 10:00.
DRAW_AT = "2026-06-30T10:00:00+08:00"
AT_DRAW = datetime(2026, 6, 30, 2, 0, tzinfo=UTC)


@pytest.fixture
def registry(engine: Engine, world: Seeded) -> list[str]:
    """Thirty more enterprises of 东湖区 with credit-risk classes (A-D, some none) and trades."""
    made = []
    with session_scope(engine, actor=SEEDER) as s:
        for n in range(30):
            eid = uscc("360102", 100 + n)
            create_enterprise(
                s,
                enterprise_id=eid,
                name=f"东湖抽查{n}号有限公司",
                region_code="360102",
                quiet_policy_id="none",
            )
            row = s.get(EnterpriseRow, eid)
            assert row is not None
            row.risk_class = CLASSES[n % 5]
            row.industry = "食品" if n % 2 else "餐饮"
            s.add(row)
            made.append(eid)
    return made


def _round(client: TestClient, world: Seeded, **changes: Any) -> dict[str, Any]:
    body = {"name": "2026年第三季度 东湖区", "draw_at": DRAW_AT, **changes}
    r = client.post("/api/v1/sampling-rounds", json=body, headers=world.auth())
    assert r.status_code == 201, r.text
    return dict(r.json())


def _task(
    client: TestClient, world: Seeded, round_id: int, who: str = "supervisor", **changes: Any
) -> Any:
    body = {
        "name": "食品经营 双随机抽查",
        "region_prefix": "360102",
        "classes": ["A", "B", "C", "D", "U"],
        "ratios": {"A": 0.2, "B": 0.3, "C": 0.5, "D": 1.0, "U": 0.25},
        "items": ["SCJG-0101"],
        "earliest": "2026-07-01",
        "latest": "2026-07-31",
        **changes,
    }
    return client.post(
        f"/api/v1/sampling-rounds/{round_id}/tasks", json=body, headers=world.auth(who)
    )


def _refs(client: TestClient, world: Seeded, who: str) -> dict[str, dict[str, Any]]:
    page = client.get("/api/v1/plans", params={"limit": 500}, headers=world.auth(who)).json()
    return {p["external_ref"]: p for p in page["items"] if p["external_ref"]}


def _drawn(client: TestClient, world: Seeded, clock: Clock) -> dict[str, Any]:
    """A round of two tasks: A's own (July), and B with A jointly, unannounced (July-August);
    drawn at the announced time."""
    made = _round(client, world)
    own = _task(client, world, made["id"], who="A")
    assert own.status_code == 201, own.text
    joint = _task(
        client,
        world,
        made["id"],
        name="联合抽查 不预先告知",
        agencies=[B, A],
        industries=["食品"],
        latest="2026-08-31",
        unannounced=True,
    )
    assert joint.status_code == 201, joint.text
    clock.now = AT_DRAW
    r = client.post(f"/api/v1/sampling-rounds/{made['id']}/draw", headers=world.auth())
    assert r.status_code == 200, r.text
    return {"round": made, "own": own.json(), "joint": joint.json(), "draw": r.json()}


def test_the_commitment_shown_before_the_draw_matches_the_seed_revealed_and_the_draw_reruns(
    client: TestClient, world: Seeded, registry: list[str], clock: Clock, engine: Engine
) -> None:
    made = _round(client, world)
    assert made["seed"] is None
    assert len(made["commitment"]) == 64
    page = client.get("/public/sampling")
    assert made["commitment"] in page.text
    assert "抽取时公开" in page.text
    assert _task(client, world, made["id"], who="A").status_code == 201
    # Before the announced time nobody draws; an agency key never does.
    r = client.post(f"/api/v1/sampling-rounds/{made['id']}/draw", headers=world.auth())
    assert (r.status_code, r.json()["code"]) == (409, "draw_not_due")
    clock.now = AT_DRAW
    r = client.post(f"/api/v1/sampling-rounds/{made['id']}/draw", headers=world.auth("A"))
    assert r.status_code == 403
    drawn = client.post(f"/api/v1/sampling-rounds/{made['id']}/draw", headers=world.auth())
    assert drawn.status_code == 200, drawn.text
    seed = drawn.json()["seed"]
    assert (
        hashlib.sha256(f"quietday-draw-v1|seed|{seed}".encode()).hexdigest() == made["commitment"]
    )
    again = client.post(f"/api/v1/sampling-rounds/{made['id']}/draw", headers=world.auth())
    assert (again.status_code, again.json()["code"]) == (409, "already_drawn")
    # The seed is public now (no unannounced task); the record re-runs to the same sample.
    assert (
        client.get(f"/api/v1/sampling-rounds/{made['id']}", headers=world.auth("B")).json()["seed"]
        == seed
    )
    document = client.get(f"/public/sampling/{made['id']}/draw.json").json()
    assert document["round"]["seed"] == seed
    population = document["snapshot"]["tasks"][0]["population"]
    # The thirty classified ones and the world's four of 东湖区, not yet classified.
    dong = [e for e in world.enterprises if e[2:8] == "360102"]
    assert sorted(population) == sorted(registry + dong)
    assert {population[e] for e in dong} == {"U"}
    assert population[registry[4]] == "U"
    task = document["snapshot"]["tasks"][0]
    again_drawn = draw(
        Request(agency=A, population=population, ratios=task["ratios"]),
        seed=seed,
        coordination=Coordination.COORDINATED,
    )
    # By class: A 6*0.2, B 6*0.3, C 3 of 6, D all 6, unclassified 10*0.25 (floor or +1).
    assert 1 + 1 + 3 + 6 + 2 <= len(again_drawn) <= 2 + 2 + 3 + 6 + 3
    assert document["drawn"][str(task["id"])] == {A: again_drawn}
    assert verify_document(document).equal
    r = client.post(f"/api/v1/sampling-rounds/{made['id']}/verify", headers=world.auth("A"))
    assert r.json()["equal"] is True
    assert r.json()["stored"] == len(again_drawn)
    # Each drawn enterprise has A's plan, named by the task.
    refs = _refs(client, world, "A")
    assert {f"SJ-{task['id']}-{e}" for e in again_drawn} == set(refs)
    assert all(p["kind"] == "routine" and p["items"] == ["SCJG-0101"] for p in refs.values())
    # Tampering with the stored sample is found.
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE sampling_draw SET enterprise_id = :e WHERE id = 1"),
            {"e": next(e for e in registry if e not in again_drawn)},
        )
    r = client.post(f"/api/v1/sampling-rounds/{made['id']}/verify", headers=world.auth())
    assert (r.json()["equal"], r.json()["same_sample"], r.json()["commitment_ok"]) == (
        False,
        False,
        True,
    )
    assert len(r.json()["differences"]) == 2
    log = client.get("/api/v1/audit/log", params={"subject": f"sampling_round:{made['id']}"},
                     headers=world.auth()).json()["items"]  # fmt: skip
    entry = next(e for e in log if e["action"] == "sampling_round.draw")
    assert entry["changes"]["seed"] == seed
    assert entry["changes"]["population_digest"] == document["round"]["population_digest"]
    assert sum(entry["changes"]["counts"][A].values()) == len(again_drawn)


def test_a_joint_unannounced_task_files_plans_for_each_agency_and_hides_its_seed_until_it_ends(
    client: TestClient, world: Seeded, registry: list[str], clock: Clock
) -> None:
    done = _drawn(client, world, clock)
    round_id, joint = done["round"]["id"], done["joint"]["id"]
    refs = {}
    for who in ("A", "B"):
        plans = _refs(client, world, who)
        refs[who] = {r for r in plans if r.startswith(f"SJ-{joint}-")}
        assert all(plans[r]["unannounced"] and plans[r]["kind"] == "routine" for r in refs[who])
    # B takes part only in the joint task: every one of its plans is of it, and A has the same.
    assert len(refs["B"]) == sum(done["draw"]["counts"][B].values()) > 0
    assert refs["A"] == refs["B"]
    # Until the unannounced task's window ends: no seed, no export, no scope.
    page = client.get(f"/public/sampling/{round_id}")
    assert done["draw"]["seed"] not in page.text
    assert "其检查期结束后公开" in page.text
    assert "2026-09-01" not in page.text  # not even when the unannounced window ends
    assert "联合抽查 不预先告知" not in page.text
    assert "不预先告知的抽查任务" in page.text
    assert client.get(f"/public/sampling/{round_id}/draw.json").status_code == 404
    got = client.get(f"/api/v1/sampling-rounds/{round_id}", headers=world.auth()).json()
    assert got["seed"] is None
    clock.now = datetime(2026, 9, 1, 1, 0, tzinfo=UTC)
    document = client.get(f"/public/sampling/{round_id}/draw.json").json()
    assert document["round"]["seed"] == done["draw"]["seed"]
    assert verify_document(document).equal
    assert "联合抽查 不预先告知" in client.get(f"/public/sampling/{round_id}").text
    lines = list(csv.reader(io.StringIO(
        client.get(f"/public/sampling/{round_id}/population.csv").content.decode("utf-8-sig")
    )))  # fmt: skip
    assert lines[0] == ["task", "enterprise_id", "class", "number", "drawn_by"]
    joint_rows = [row for row in lines[1:] if row[0] == str(joint)]
    assert len(joint_rows) == done["draw"]["population"][str(joint)]
    assert {row[4] for row in joint_rows} == {"", f"{A};{B}"}
    assert sum(row[4] != "" for row in joint_rows) == len(refs["B"])


def test_results_are_recorded_by_the_plans_agency_and_public_only_after_the_window(
    client: TestClient, world: Seeded, registry: list[str], clock: Clock
) -> None:
    done = _drawn(client, world, clock)
    round_id, own, joint = done["round"]["id"], done["own"]["id"], done["joint"]["id"]
    run = wait(client, world, start(client, world)["id"])
    assert run["status"] == "succeeded", run
    assert client.post(f"/api/v1/runs/{run['id']}/publish", headers=world.auth()).status_code == 200
    a_plans = _refs(client, world, "A")
    mine = sorted(
        (p for r, p in a_plans.items() if r.startswith(f"SJ-{own}-") and p["published_date"]),
        key=lambda p: p["published_date"],
    )
    first, second = mine[0], mine[1]
    b_joint = next(
        p for r, p in _refs(client, world, "B").items()
        if r.startswith(f"SJ-{joint}-") and p["published_date"]
    )  # fmt: skip
    clock.now = datetime(2026, 7, 30, 4, 0, tzinfo=UTC)
    body = {"outcome": "corrected", "day": first["published_date"], "note": "已当场整改"}
    url = f"/api/v1/plans/{first['id']}/result"
    r = client.post(url, json=body, headers=world.auth("B"))
    assert r.status_code == 404, r.text
    assert client.get(url, headers=world.auth("B")).status_code == 404
    assert client.post(url, json=body, headers=world.auth()).status_code == 403
    future = client.post(url, json={**body, "day": "2026-07-31"}, headers=world.auth("A"))
    assert (future.status_code, future.json()["errors"][0]["path"]) == (422, "day")
    early = client.post(url, json={**body, "day": "2026-07-01"}, headers=world.auth("A"))
    assert early.json()["errors"][0]["code"] == "day_before_visit"
    bad = client.post(url, json={**body, "outcome": "fine"}, headers=world.auth("A"))
    assert (bad.status_code, bad.json()["errors"][0]["path"]) == (422, "outcome")
    r = client.post(url, json=body, headers=world.auth("A"))
    assert (r.status_code, r.json()["outcome_label"]) == (201, "发现问题,已责令改正")
    r = client.post(url, json={**body, "outcome": "no_problem"}, headers=world.auth("A"))
    assert (r.status_code, r.json()["outcome"]) == (200, "no_problem")
    # The window of A's task has not ended: nothing public yet.
    page = client.get(f"/public/sampling/{round_id}")
    assert "未发现问题" not in page.text
    assert "检查期结束后在此公开" in page.text
    assert (
        client.get(f"/public/sampling/{round_id}/results.csv")
        .content.decode("utf-8-sig")
        .count("\n")
        == 1
    )
    # 1 August: A's task is public, each drawn plan with its outcome or 未录入; the joint
    # unannounced task (until 31 August) is not, though B has recorded a result.
    clock.now = datetime(2026, 8, 1, 1, 0, tzinfo=UTC)
    page = client.get(f"/public/sampling/{round_id}")
    assert "未发现问题" in page.text
    assert "未录入" in page.text
    assert "不配合检查" not in page.text
    rows = list(csv.reader(io.StringIO(
        client.get(f"/public/sampling/{round_id}/results.csv").content.decode("utf-8-sig")
    )))  # fmt: skip
    assert rows[0] == [
        "抽查任务",
        "企业名称",
        "统一社会信用代码",
        "检查部门",
        "检查结果",
        "检查日期",
    ]
    assert len(rows) - 1 == sum(1 for r in a_plans if r.startswith(f"SJ-{own}-"))
    by_code = {row[2]: row for row in rows[1:]}
    assert by_code[first["enterprise_id"]][4:] == ["未发现问题", first["published_date"]]
    assert by_code[second["enterprise_id"]][4:] == ["未录入", ""]
    book = load_workbook(
        io.BytesIO(client.get(f"/public/sampling/{round_id}/results.xlsx").content)
    )
    sheet = book.active
    assert sheet is not None
    assert sheet.max_row == len(rows)
    # The record: no change once public.
    late = client.post(url, json={**body, "outcome": "case_filed"}, headers=world.auth("A"))
    assert (late.status_code, late.json()["code"]) == (409, "result_public")
    # The joint unannounced task: B records on its last day, public the day after.
    clock.now = datetime(2026, 8, 31, 4, 0, tzinfo=UTC)
    joint_result = {"outcome": "refused", "day": b_joint["published_date"]}
    r = client.post(f"/api/v1/plans/{b_joint['id']}/result", json=joint_result,
                    headers=world.auth("B"))  # fmt: skip
    assert r.status_code == 201, r.text
    assert "不配合检查" not in client.get(f"/public/sampling/{round_id}").text
    clock.now = datetime(2026, 9, 1, 1, 0, tzinfo=UTC)
    assert "不配合检查" in client.get(f"/public/sampling/{round_id}").text


def test_a_task_without_ratios_takes_the_class_policys(
    client: TestClient, world: Seeded, registry: list[str]
) -> None:
    made = _round(client, world)
    policy = {"classes": [dict(c, sampling_ratio=0.5) if c["risk_class"] == "B" else c
                          for c in client.get("/api/v1/risk-policy", headers=world.auth()).json()["classes"]]}  # fmt: skip
    assert client.put("/api/v1/risk-policy", json=policy, headers=world.auth()).status_code == 200
    r = _task(client, world, made["id"], agencies=[A], classes=["A", "B"], ratios={"A": 0.2})
    assert r.status_code == 201, r.text
    assert r.json()["ratios"] == {"A": 0.2, "B": 0.5}


def test_a_drawn_plan_cannot_be_cancelled_or_moved_by_its_agency(
    client: TestClient, world: Seeded, registry: list[str], clock: Clock
) -> None:
    _drawn(client, world, clock)
    plan = next(p for ref, p in _refs(client, world, "A").items() if ref.startswith("SJ-"))
    where, auth = f"/api/v1/plans/{plan['id']}", world.auth("A")
    cancel = client.post(f"{where}/cancel", headers=auth)
    assert (cancel.status_code, cancel.json()["code"]) == (409, "drawn_plan")
    assert "双随机" in cancel.json()["detail"]
    moved = client.patch(where, json={"latest": "2026-07-25"}, headers=auth)
    assert (moved.status_code, moved.json()["code"]) == (409, "drawn_plan")
    assert "latest" in moved.json()["detail"]
    items = client.patch(where, json={"items": ["SCJG-0102"]}, headers=auth)
    assert items.status_code == 200, items.text
    assert client.get(where, headers=auth).json()["status"] != "cancelled"


def test_no_one_but_the_draw_files_a_drawn_plans_reference(
    client: TestClient, world: Seeded, registry: list[str], clock: Clock
) -> None:
    """An agency squatting the references a draw will file would block the round for good."""
    made = _round(client, world)
    task = _task(client, world, made["id"], who="A").json()
    squat = [
        {"enterprise_id": e, "kind": "routine", "earliest": "2026-07-21", "latest": "2026-07-31",
         "external_ref": f"{prefix}-{task['id']}-{e}"}
        for e, prefix in zip(registry[:2], ("SJ", "sj"), strict=True)
    ]  # fmt: skip
    r = client.post("/api/v1/plans/batch", json=squat, headers=world.auth("A"))
    assert r.status_code == 422, r.text
    found = {(e["path"], e["code"]) for e in r.json()["errors"]}
    assert found == {(f"plans[{k}].external_ref", "reserved_external_ref") for k in (0, 1)}
    clock.now = AT_DRAW
    drawn = client.post(f"/api/v1/sampling-rounds/{made['id']}/draw", headers=world.auth())
    assert drawn.status_code == 200, drawn.text


def test_an_unannounced_task_is_shown_only_to_its_agencies_until_its_window_ends(
    client: TestClient, world: Seeded, registry: list[str], clock: Clock
) -> None:
    drawn = _drawn(client, world, clock)
    hidden = drawn["joint"]["name"]

    def names(who: str) -> set[str]:
        got = client.get("/api/v1/sampling-rounds", headers=world.auth(who)).json()
        return {t["name"] for r in got for t in r["tasks"]}

    assert hidden in names("supervisor")
    assert hidden in names("A")
    assert hidden not in names("C")
    page = client.get(f"/public/sampling/{drawn['round']['id']}").text
    assert hidden not in page
    assert "不预先告知的抽查任务" in page
    own = [r for r in _refs(client, world, "A") if r.startswith(f"SJ-{drawn['own']['id']}-")]
    listed = client.get("/public/sampling").text
    assert f"抽中 {len(own)} 家次" in listed  # A's own task only, not the joint one
    clock.now = datetime(2026, 9, 1, 1, 0, tzinfo=UTC)
    assert hidden in names("C")
    assert hidden in client.get(f"/public/sampling/{drawn['round']['id']}").text


def test_look_alike_drawn_references_are_reserved_too(
    client: TestClient, world: Seeded, registry: list[str]
) -> None:
    looks = [" SJ-9-x", "ＳＪ-9-x", "\u200bSJ-9-x", "sJ-9-x"]
    squat = [
        {"enterprise_id": registry[0], "kind": "routine", "earliest": "2026-07-21",
         "latest": "2026-07-31", "external_ref": ref}
        for ref in looks
    ]  # fmt: skip
    r = client.post("/api/v1/plans/batch", json=squat, headers=world.auth("A"))
    assert r.status_code == 422, r.text
    codes = [e["code"] for e in r.json()["errors"] if e["path"].endswith("external_ref")]
    assert codes == ["reserved_external_ref"] * len(looks)


def test_a_task_is_judged_from_the_draw_and_can_be_taken_out_before_it(
    client: TestClient, world: Seeded, registry: list[str], clock: Clock
) -> None:
    """Its plans are filed at the draw: a window over by then is refused when the task is
    added, not at the draw (which would fail for every task of the round)."""
    late = _round(client, world, draw_at="2026-07-25T10:00:00+08:00")
    r = _task(client, world, late["id"], who="A", earliest="2026-07-21", latest="2026-07-24")
    assert r.status_code == 422, r.text
    assert "latest" in {e["path"] for e in r.json()["errors"]}
    made = _round(client, world)
    own = _task(client, world, made["id"], who="A").json()
    joint = _task(client, world, made["id"], agencies=[A, B]).json()
    where = f"/api/v1/sampling-rounds/{made['id']}/tasks"
    assert client.delete(f"{where}/{own['id']}", headers=world.auth("B")).status_code == 404
    assert client.delete(f"{where}/{joint['id']}", headers=world.auth("A")).status_code == 403
    assert client.delete(f"{where}/{own['id']}", headers=world.auth("A")).status_code == 204
    names = {t["name"] for t in client.get(f"/api/v1/sampling-rounds/{made['id']}",
                                            headers=world.auth()).json()["tasks"]}  # fmt: skip
    assert names == {joint["name"]}
    clock.now = AT_DRAW
    drawn = client.post(f"/api/v1/sampling-rounds/{made['id']}/draw", headers=world.auth())
    assert drawn.status_code == 200, drawn.text
    gone = client.delete(f"{where}/{joint['id']}", headers=world.auth())
    assert (gone.status_code, gone.json()["code"]) == (409, "already_drawn")


def test_a_late_draw_names_the_task_whose_window_has_passed(
    client: TestClient, world: Seeded, registry: list[str], clock: Clock
) -> None:
    made = _round(client, world)
    task = _task(client, world, made["id"], who="A", latest="2026-07-22").json()
    clock.now = datetime(2026, 7, 23, 2, 0, tzinfo=UTC)
    r = client.post(f"/api/v1/sampling-rounds/{made['id']}/draw", headers=world.auth())
    assert r.status_code == 422, r.text
    errors = r.json()["errors"]
    assert {e["path"] for e in errors} == {f"tasks.{task['id']}.latest"}
    assert errors[0]["record"] == task["name"]


def test_hostile_tasks_and_rounds_are_refused_with_the_record_and_field(
    client: TestClient, world: Seeded, registry: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    made = _round(client, world)
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"ratios": {"A": 1.5, "B": 0.3, "C": 0.5, "D": 1.0, "U": 0.25}}, "ratios.A", "bad_ratio"),
        ({"ratios": {"A": -0.1, "B": 0.3, "C": 0.5, "D": 1.0, "U": 0.25}}, "ratios.A", "bad_ratio"),
        ({"classes": ["E"], "ratios": {"E": 0.1}}, "classes[0]", "unknown_class"),
        ({"classes": ["U"], "ratios": {}}, "ratios.U", "missing_ratio"),
        (
            {"classes": ["A"], "ratios": {"A": 0.1, "B": 0.2}},
            "ratios.B",
            "ratio_outside_population",
        ),
        ({"agencies": [C]}, "agencies[0]", "outside_jurisdiction"),
        ({"agencies": ["NOPE"]}, "agencies[0]", "unknown_agency"),
        ({"region_prefix": "369999"}, "region_prefix", "unknown_region"),
        ({"latest": "2026-06-01"}, "latest", "window_inverted"),
    ]
    for changes, path, code in cases:
        r = _task(client, world, made["id"], **{"agencies": [A], **changes})
        assert r.status_code == 422, (changes, r.text)
        found = {(e["path"], e["code"]) for e in r.json()["errors"]}
        assert (path, code) in found, (changes, found)
        assert all(
            e["record"] == "食品经营 双随机抽查" for e in r.json()["errors"] if e["path"] == path
        )
    own = _task(client, world, made["id"], who="A", agencies=[B])
    assert own.json()["errors"][0]["code"] == "foreign_agency"
    monkeypatch.setattr(sampling, "MAX_POPULATION", 10)
    big = _task(client, world, made["id"], agencies=[A])
    assert big.status_code == 422
    (error,) = big.json()["errors"]
    assert (error["path"], error["code"], error["record"]) == (
        "region_prefix",
        "population_too_large",
        "食品经营 双随机抽查",
    )
    past = client.post("/api/v1/sampling-rounds", json={"name": "x", "draw_at": "2026-06-29T10:00:00+08:00"},
                       headers=world.auth())  # fmt: skip
    assert (past.status_code, past.json()["errors"][0]["path"]) == (422, "draw_at")
    start_bad = client.post(
        "/api/v1/sampling-rounds",
        json={"name": "x", "draw_at": DRAW_AT, "window_start": 1.0},
        headers=world.auth(),
    )
    assert start_bad.status_code == 422
    by_agency = client.post("/api/v1/sampling-rounds", json={"name": "x", "draw_at": DRAW_AT},
                            headers=world.auth("A"))  # fmt: skip
    assert by_agency.status_code == 403
    assert client.post("/api/v1/sampling-rounds/999/draw", headers=world.auth()).status_code == 404


def test_the_dashboard_pages_refuse_a_foreign_form_and_bad_shares(
    client: TestClient, world: Seeded, registry: list[str]
) -> None:
    assert login(client, world.supervisor).url.path == "/dashboard"
    page = client.get("/dashboard/sampling")
    token = CSRF.search(page.text)
    assert token is not None
    form = {"name": "东湖区 第三季度", "draw_at": "2026-06-30T10:00", "csrf": token.group(1)}
    refused = client.post("/dashboard/sampling", data={**form, "csrf": "nope"})
    assert refused.status_code == 403
    opened = client.post("/dashboard/sampling", data=form, follow_redirects=False)
    assert opened.status_code == 303
    where = opened.headers["location"]
    task = {
        "name": "全部企业",
        "agency": A,
        "region_prefix": "360102",
        "earliest": "2026-07-01",
        "latest": "2026-07-31",
        "csrf": token.group(1),
    }
    for share in ("150", "1e2", "-5", "٥"):
        bad = client.post(f"{where}/tasks", data={**task, "ratio_a": share})
        assert bad.status_code == 422, share
        assert "抽查比例" in bad.text
    none = client.post(f"{where}/tasks", data=task)
    assert none.status_code == 422
    assert "至少选择一个信用风险类别" in none.text
    added = client.post(f"{where}/tasks", data={**task, "ratio_d": "100", "ratio_u": "2.5"})
    assert added.status_code == 200
    assert "已添加任务「全部企业」" in added.text
    got = client.get(f"/api/v1/sampling-rounds/{where.rsplit('/', 1)[1]}", headers=world.auth())
    assert got.json()["tasks"][0]["ratios"] == {"D": 1.0, "U": 0.025}
    early = client.post(f"{where}/draw", data={"csrf": token.group(1)})
    assert early.status_code == 409
    assert "未到公布的抽取时间" in early.text
