"""Credit-risk classes through the API: an enterprise's class, date, 无感监管 and trade on every
path; SAMR's monthly reclassification imported from CSV (all or nothing, every bad row named,
an older classification never overwriting a newer one, audit-logged); the per-class policy."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient

from conftest import Clock
from quietday.errors import InputError
from quietday.persistence import Engine, session_scope
from quietday.persistence.audit import AuditRepository
from quietday.persistence.registry import EnterpriseRepository
from quietday.planning import risk_import
from quietday.planning.registry import create_enterprise, update_enterprise
from seed import Seeded, uscc

HEADER = "统一社会信用代码,风险分类,分类日期,无感监管\n"


def _upload(client: TestClient, world: Seeded, text: str, who: str = "supervisor") -> dict:
    r = client.post(
        "/api/v1/enterprises/risk-classes",
        files={"file": ("risk.csv", text.encode("utf-8"))},
        headers=world.auth(who),
    )
    return {"status": r.status_code, **r.json()}


def _audited(engine: Engine, action: str) -> list[dict]:
    with session_scope(engine) as s:
        rows = AuditRepository(s).page(after=0, limit=500, action_prefix=None, subject=None)
        return [r.changes for r in rows if r.action == action]


def test_an_enterprise_carries_its_class_on_create_read_and_update(
    client: TestClient, world: Seeded
) -> None:
    body = {
        "id": uscc("360102", 77),
        "name": "江西分类测试有限公司",
        "region_code": "360102",
        "quiet_policy_id": "jx-1-20",
        "risk_class": "A",
        "risk_classified_on": "2026-06-01",
        "low_risk": True,
        "industry": "食品",
    }
    r = client.post("/api/v1/enterprises", json=body, headers=world.auth())
    assert r.status_code == 201, r.text
    got = client.get(f"/api/v1/enterprises/{body['id']}", headers=world.auth()).json()
    assert (got["risk_class"], got["risk_classified_on"], got["low_risk"], got["industry"]) == (
        "A",
        "2026-06-01",
        True,
        "食品",
    )
    r = client.patch(
        f"/api/v1/enterprises/{body['id']}",
        json={"risk_class": None, "risk_classified_on": None, "low_risk": False},
        headers=world.auth(),
    )
    assert (r.json()["risk_class"], r.json()["low_risk"], r.json()["industry"]) == (
        None,
        False,
        "食品",
    )
    for bad in ({"risk_class": "E"}, {"risk_classified_on": "2026/06/01"}, {"industry": "x" * 65}):
        r = client.patch(f"/api/v1/enterprises/{body['id']}", json=bad, headers=world.auth())
        assert r.status_code == 422, bad


def test_the_registry_refuses_a_bad_class_naming_the_record_and_field(
    engine: Engine, world: Seeded
) -> None:
    eid = world.enterprises[0]
    with pytest.raises(InputError) as caught, session_scope(engine, actor="test") as s:
        update_enterprise(s, eid, {"risk_class": "E", "industry": "行" * 65})
    assert [(p.code, p.path, p.record) for p in caught.value.problems] == [
        ("bad_risk_class", "risk_class", eid),
        ("too_long", "industry", eid),
    ]
    assert "A、B、C、D" in caught.value.problems[0].message
    with pytest.raises(InputError) as caught, session_scope(engine, actor="test") as s:
        create_enterprise(
            s,
            enterprise_id=uscc("360102", 78),
            name="江西坏日期有限公司",
            region_code="360102",
            quiet_policy_id="jx-1-20",
            risk_class="B",
            risk_classified_on=date(1999, 12, 1),
        )
    assert caught.value.problems[0].path == "risk_classified_on"
    assert "超出" in caught.value.problems[0].message


def test_a_reclassification_updates_classes_but_never_with_an_older_date(
    client: TestClient, engine: Engine, world: Seeded, clock: Clock
) -> None:
    clock.now = datetime(2026, 7, 1, 1, 0, tzinfo=UTC)  # 09:00 on 07-01 in China
    a, b, c = world.enterprises[:3]
    first = _upload(
        client,
        world,
        HEADER + f"{a},A,2026-06-01,是\n{b},c类,2026/6/1,\n{c},D,2026年6月1日,否\n",
    )
    assert first["status"] == 200, first
    assert (first["rows"], first["updated"], first["skipped_older"], first["note"]) == (
        3,
        3,
        0,
        None,
    )
    # A late file of May: B's class of June stays; A is reclassified in July (blank 无感监管
    # keeps the flag); C again as it is.
    second = _upload(
        client, world, HEADER + f"{a},B,2026-07-01,\n{b},A,2026-05-01,是\n{c},D,2026-06-01,否\n"
    )
    assert (second["updated"], second["unchanged"], second["skipped_older"]) == (1, 1, 1)
    assert second["older"] == [
        {"row": 3, "enterprise_id": b, "classified_on": "2026-05-01", "stored_on": "2026-06-01"}
    ]
    assert "未覆盖" in second["note"]
    with session_scope(engine) as s:
        rows = {e.id: e for e in EnterpriseRepository(s).by_ids([a, b, c])}
        assert (rows[a].risk_class, rows[a].risk_classified_on, rows[a].low_risk) == (
            "B",
            date(2026, 7, 1),
            True,
        )
        assert (rows[b].risk_class, rows[b].low_risk) == ("C", False)
    logged = _audited(engine, "enterprise.risk_import")
    assert [(x["rows"], x["updated"]["count"], x["skipped_older"]) for x in logged] == [
        (3, 3, 0),
        (3, 1, 1),
    ]


def test_a_bad_reclassification_names_every_bad_row_and_keeps_nothing(
    client: TestClient, engine: Engine, world: Seeded
) -> None:
    a, b = world.enterprises[:2]
    unknown = uscc("360102", 555)
    text = HEADER + (
        f"{a},A,2026-06-01,是\n"
        f"{b},E,2026-06-31,也许\n"
        f"{unknown},B,2026-06-01,\n"
        f"{a},B,2026-06-01,\n"
        f",,,\n"
        f"{b},,2026-06-01,\n"
    )
    got = _upload(client, world, text)
    assert got["status"] == 422
    assert [(e["path"], e["code"]) for e in got["errors"]] == [
        ("rows[1].risk_class", "bad_cell"),
        ("rows[1].classified_on", "bad_cell"),
        ("rows[1].low_risk", "bad_cell"),
        ("rows[2].enterprise_id", "bad_cell"),
        ("rows[3].enterprise_id", "bad_cell"),
        ("rows[5].risk_class", "bad_cell"),
    ]
    messages = [e["message"] for e in got["errors"]]
    assert messages[0].startswith("第 3 行「风险分类」应为 A、B、C、D 之一")
    assert messages[3] == f"第 4 行「统一社会信用代码」企业 {unknown} 不在企业名录中"
    assert messages[4] == f"第 5 行「统一社会信用代码」{a} 与第 2 行重复"
    with session_scope(engine) as s:
        assert EnterpriseRepository(s).get_or_raise(a).risk_class is None
    assert _audited(engine, "enterprise.risk_import") == []
    missing = _upload(client, world, "统一社会信用代码,分类日期\n")
    assert [e["message"] for e in missing["errors"]] == ["缺少列「风险分类」"]


def test_a_classification_dated_after_today_is_refused_on_every_path(
    client: TestClient, engine: Engine, world: Seeded, clock: Clock
) -> None:
    """A future date would hold its class against every later one (an older date never
    overwrites): the CSV names the row and column, the API the field; today itself is taken."""
    clock.now = datetime(2026, 6, 30, 16, 30, tzinfo=UTC)  # 00:30 on 07-01 in China
    a, b = world.enterprises[:2]
    got = _upload(client, world, HEADER + f"{a},A,2099-12-31,\n{b},B,2026-07-02,\n")
    assert got["status"] == 422, got
    assert [(e["path"], e["message"]) for e in got["errors"]] == [
        (
            "rows[0].classified_on",
            "第 2 行「分类日期」2099-12-31 晚于今天 2026-07-01,不能导入尚未作出的分类",
        ),
        (
            "rows[1].classified_on",
            "第 3 行「分类日期」2026-07-02 晚于今天 2026-07-01,不能导入尚未作出的分类",
        ),
    ]
    with session_scope(engine) as s:
        assert EnterpriseRepository(s).get_or_raise(a).risk_classified_on is None
    assert _upload(client, world, HEADER + f"{a},A,2026-07-01,\n")["updated"] == 1
    # Through the API: the field is named, in Chinese.
    r = client.patch(
        f"/api/v1/enterprises/{b}",
        json={"risk_class": "A", "risk_classified_on": "2099-12-31"},
        headers=world.auth(),
    )
    assert r.status_code == 422, r.text
    assert [(e["path"], e["code"], e["message"]) for e in r.json()["errors"]] == [
        (
            "risk_classified_on",
            "future_date",
            "分类日期 2099-12-31 晚于今天 2026-07-01,不能登记尚未作出的分类",
        )
    ]
    body = {
        "id": uscc("360102", 79),
        "name": "江西未来分类有限公司",
        "region_code": "360102",
        "quiet_policy_id": "jx-1-20",
        "risk_class": "A",
        "risk_classified_on": "2026-07-02",
    }
    r = client.post("/api/v1/enterprises", json=body, headers=world.auth())
    assert (r.status_code, r.json()["errors"][0]["path"]) == (422, "risk_classified_on")
    r = client.post(
        "/api/v1/enterprises",
        json={**body, "risk_classified_on": "2026-07-01"},
        headers=world.auth(),
    )
    assert r.status_code == 201, r.text


def test_full_width_class_letters_are_read(
    client: TestClient, engine: Engine, world: Seeded
) -> None:
    a, b, c = world.enterprises[:3]
    got = _upload(
        client, world, HEADER + f"{a},Ａ,2026-06-01,\n{b},ｂ类,2026-06-01,\n{c},Ｃ类,2026-06-01,\n"
    )
    assert (got["status"], got.get("updated")) == (200, 3), got
    with session_scope(engine) as s:
        rows = {e.id: e.risk_class for e in EnterpriseRepository(s).by_ids([a, b, c])}
    assert rows == {a: "A", b: "B", c: "C"}


def test_the_row_limit_is_stated_as_it_is(
    client: TestClient, world: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The limit counts data rows (blank ones included), the header apart."""
    a, b, c = world.enterprises[:3]
    monkeypatch.setattr(risk_import, "MAX_RISK_ROWS", 3)
    three = HEADER + f"{a},A,2026-06-01,\n\n{b},B,2026-06-01,\n"
    assert _upload(client, world, three)["status"] == 200
    four = three + f"{c},C,2026-06-01,\n"
    got = _upload(client, world, four)
    assert (got["status"], [e["message"] for e in got["errors"]]) == (
        422,
        ["表格除表头外最多 3 行(空行也计入)"],
    )


def test_only_supervisors_import_and_the_size_is_limited_before_parsing(
    client: TestClient, world: Seeded
) -> None:
    assert _upload(client, world, HEADER, who="A")["status"] == 403
    huge = b"x" * (client.app.state.settings.max_upload_bytes + 1)  # type: ignore[attr-defined]
    r = client.post(
        "/api/v1/enterprises/risk-classes",
        files={"file": ("risk.csv", huge)},
        headers=world.auth(),
    )
    assert r.status_code == 413


def test_the_policy_is_read_and_replaced_by_supervisors_and_audit_logged(
    client: TestClient, engine: Engine, world: Seeded
) -> None:
    got = client.get("/api/v1/risk-policy", headers=world.auth())
    assert got.status_code == 200
    assert [
        (c["risk_class"], c["sampling_ratio"], c["agency_enterprise_per_year"], c["remote_routine"])
        for c in got.json()["classes"]
    ] == [
        ("A", 0.03, 1, True),
        ("B", 0.05, 2, False),
        ("C", 0.10, 2, False),
        ("D", 0.20, None, False),
    ]
    assert "本地配置" in got.json()["note"]
    assert client.get("/api/v1/risk-policy", headers=world.auth("A")).status_code == 403
    classes = got.json()["classes"]
    classes[3] = {**classes[3], "agency_enterprise_per_year": 4, "sampling_ratio": 0.25}
    r = client.put("/api/v1/risk-policy", json={"classes": classes}, headers=world.auth())
    assert r.status_code == 200, r.text
    assert r.json()["classes"][3]["agency_enterprise_per_year"] == 4
    logged = _audited(engine, "risk_policy.put")
    assert logged == [
        {
            "before": {"D.agency_enterprise_per_year": None, "D.sampling_ratio": 0.2},
            "after": {"D.agency_enterprise_per_year": 4, "D.sampling_ratio": 0.25},
        }
    ]
    twice = [classes[0], classes[0], classes[1], classes[2]]
    r = client.put("/api/v1/risk-policy", json={"classes": twice}, headers=world.auth())
    assert r.status_code == 422
    assert {e["record"] for e in r.json()["errors"]} == {"A", "D"}
    bad = [{**classes[0], "sampling_ratio": 1.5}, *classes[1:]]
    r = client.put("/api/v1/risk-policy", json={"classes": bad}, headers=world.auth())
    assert r.status_code == 422
