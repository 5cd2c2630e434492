"""The registry through the API: enterprises by valid 统一社会信用代码, whitelist and blackout,
agencies and their capacity by date, inspectors, policies, caps, keys."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from fastapi.testclient import TestClient

from conftest import url_of
from helpers import FIXTURES
from quietday.api import create_app
from quietday.config import Settings
from quietday.domain.model import Agency, AgencyId
from quietday.errors import InputError
from quietday.formats import parse_instance
from quietday.persistence import Engine, session_scope
from quietday.planning.keys import create_key
from quietday.planning.province import load_province
from quietday.planning.registry import create_agency, set_agency_capacity
from seed import AGENCIES, Seeded, uscc


def test_enterprise_codes_are_checked(client: TestClient, world: Seeded) -> None:
    good = uscc("360102", 99)
    body = {
        "id": good,
        "name": "江西新企业有限公司",
        "region_code": "360102",
        "quiet_policy_id": "jx-1-20",
    }
    r = client.post("/api/v1/enterprises", json=body, headers=world.auth())
    assert r.status_code == 201, r.text
    assert client.post("/api/v1/enterprises", json=body, headers=world.auth()).status_code == 409
    broken = good[:-1] + ("0" if good[-1] != "0" else "1")
    r = client.post("/api/v1/enterprises", json={**body, "id": broken}, headers=world.auth())
    assert r.status_code == 422
    assert r.json()["errors"][0]["code"] == "bad_uscc"
    assert "第 18 位" in r.json()["errors"][0]["message"]
    r = client.post(
        "/api/v1/enterprises",
        json={**body, "id": uscc("360102", 98), "quiet_policy_id": "nope"},
        headers=world.auth(),
    )
    assert r.json()["errors"][0]["code"] == "unknown_policy"
    assert client.post("/api/v1/enterprises", json=body, headers=world.auth("A")).status_code == 403


def test_whitelist_blackout_and_caps(client: TestClient, world: Seeded) -> None:
    eid = world.enterprises[0]
    r = client.patch(
        f"/api/v1/enterprises/{eid}",
        json={
            "whitelisted": True,
            "blackout": ["2026-07-27"],
            "cap_overrides": {"agency_enterprise_per_year": 1},
        },
        headers=world.auth(),
    )
    assert r.status_code == 200, r.text
    assert (r.json()["whitelisted"], r.json()["blackout"], r.json()["cap_overrides"]) == (
        True,
        ["2026-07-27"],
        {"agency_enterprise_per_year": 1},
    )
    caps = client.put(
        "/api/v1/caps",
        json={"agency_enterprise_per_year": 2, "min_gap_days": 7},
        headers=world.auth(),
    )
    assert caps.json()["min_gap_days"] == 7
    assert caps.json()["enterprise_per_month"] is None


def test_agency_capacity_by_date_and_inspectors(client: TestClient, world: Seeded) -> None:
    agency = AGENCIES["A"][0]
    r = client.put(
        f"/api/v1/agencies/{agency}/capacity/2026-07-24", json={"capacity": 0}, headers=world.auth()
    )
    assert r.json()["capacity_by_date"] == {"2026-07-24": 0}
    r = client.put(
        f"/api/v1/agencies/{agency}/capacity/2026-07-24",
        json={"capacity": None},
        headers=world.auth(),
    )
    assert r.json()["capacity_by_date"] == {}
    body = {"name": "张三", "certificate_no": "JX-ZF-360102-0001"}
    assert (
        client.post(
            f"/api/v1/agencies/{agency}/inspectors", json=body, headers=world.auth()
        ).status_code
        == 201
    )
    assert (
        client.post(
            f"/api/v1/agencies/{agency}/inspectors", json=body, headers=world.auth()
        ).status_code
        == 409
    )
    assert [
        i["name"]
        for i in client.get(f"/api/v1/agencies/{agency}/inspectors", headers=world.auth("A")).json()
    ] == ["张三"]
    assert (
        client.get(f"/api/v1/agencies/{agency}/inspectors", headers=world.auth("B")).status_code
        == 404
    )


def test_policies_and_regions(client: TestClient, world: Seeded) -> None:
    r = client.put(
        "/api/v1/quiet-policies/gz-1-25",
        json={"name": "赣州 1-25 日", "month_days": [[1, 25]]},
        headers=world.auth(),
    )
    assert r.status_code == 200
    ids = [p["id"] for p in client.get("/api/v1/quiet-policies", headers=world.auth("A")).json()]
    assert ids == ["gz-1-25", "jx-1-20", "none"]
    r = client.put(
        "/api/v1/quiet-policies/bad", json={"month_days": [[20, 1]]}, headers=world.auth()
    )
    assert r.status_code == 422
    assert [x["code"] for x in client.get("/api/v1/regions", headers=world.auth("A")).json()] == [
        "36",
        "3601",
        "360102",
        "360103",
    ]


def test_keys_are_shown_once_and_work(client: TestClient, world: Seeded) -> None:
    r = client.post(
        "/api/v1/keys",
        json={"role": "agency", "agency_id": AGENCIES["C"][0], "label": "县局系统"},
        headers=world.auth(),
    )
    assert r.status_code == 201
    key = r.json()["key"]
    assert key.startswith("qd_")
    assert (
        client.get("/api/v1/plans", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    )
    assert all("key" not in k for k in client.get("/api/v1/keys", headers=world.auth()).json())
    r = client.post("/api/v1/keys", json={"role": "agency"}, headers=world.auth())
    assert r.json()["errors"][0]["code"] == "missing_key"


UNADDRESSABLE = ["a/b", "部门", "a b", "..", ".", "-SCJG", "a?b", "a%2Fb", "x" * 65]


@pytest.mark.parametrize("agency_id", UNADDRESSABLE)
def test_an_agency_id_is_one_url_path_segment(
    client: TestClient, world: Seeded, agency_id: str
) -> None:
    """Every agency created can be addressed again at /api/v1/agencies/{id}: ids outside the one
    pattern are refused at creation, through the API and through the demo loader."""
    body = {"id": agency_id, "name": "新部门", "region_code": "360102", "daily_capacity": 3}
    r = client.post("/api/v1/agencies", json=body, headers=world.auth())
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["path"] == "id"
    with session_scope(client.app.state.engine, actor="cli") as s:  # type: ignore[attr-defined]
        with pytest.raises(InputError) as caught:
            create_agency(
                s, agency_id=agency_id, name="新部门", region_code="360102", daily_capacity=3
            )
        assert caught.value.problems[0].path == "id"
    instance = parse_instance((FIXTURES / "spec-example-valid.json").read_bytes())
    bad = Agency(AgencyId(agency_id), "新部门", "360102", 3)
    instance = replace(instance, agencies={**instance.agencies, bad.id: bad})
    with session_scope(client.app.state.engine, actor="cli") as s:  # type: ignore[attr-defined]
        with pytest.raises(InputError) as caught:
            load_province(s, instance)
        assert [(p.path, p.record) for p in caught.value.problems] == [("id", agency_id)]
    ids = [a["id"] for a in client.get("/api/v1/agencies", headers=world.auth()).json()]
    assert ids == sorted(a for a, _, _ in AGENCIES.values())


def test_every_valid_agency_id_is_addressable(client: TestClient, world: Seeded) -> None:
    for agency_id in ("360104-SCJG", "3601.GA_1", "a..b", "Z" * 64):
        body = {"id": agency_id, "name": "新部门", "region_code": "360102", "daily_capacity": 3}
        assert client.post("/api/v1/agencies", json=body, headers=world.auth()).status_code == 201
        r = client.get(f"/api/v1/agencies/{agency_id}", headers=world.auth())
        assert (r.status_code, r.json()["id"]) == (200, agency_id)


@pytest.mark.parametrize("day", ["1999-12-31", "2101-01-01", "0001-01-01", "9999-12-31"])
def test_capacity_dates_stay_within_2000_to_2100(
    client: TestClient, world: Seeded, day: str
) -> None:
    agency = AGENCIES["A"][0]
    r = client.put(
        f"/api/v1/agencies/{agency}/capacity/{day}", json={"capacity": 0}, headers=world.auth()
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["path"] == "day"
    with session_scope(client.app.state.engine, actor="cli") as s:  # type: ignore[attr-defined]
        with pytest.raises(InputError) as caught:
            set_agency_capacity(s, agency, date.fromisoformat(day), 0)
        assert caught.value.problems[0].path == "day"
    r = client.get(f"/api/v1/agencies/{agency}", headers=world.auth())
    assert r.json()["capacity_by_date"] == {}


def test_a_capacity_date_is_written_as_a_date(client: TestClient, world: Seeded) -> None:
    """A number in the path is not a date (pydantic alone reads 1798761600 as 2027-01-01)."""
    agency = AGENCIES["A"][0]
    for day in ("1798761600", "20270101"):
        r = client.put(
            f"/api/v1/agencies/{agency}/capacity/{day}", json={"capacity": 0}, headers=world.auth()
        )
        assert (r.status_code, r.json()["errors"][0]["path"]) == (422, "day"), r.text


def test_registry_values_of_the_wrong_json_type_are_refused(
    client: TestClient, world: Seeded
) -> None:
    agency, eid = AGENCIES["A"][0], world.enterprises[0]
    new = {"id": "360104-SCJG", "name": "新部门", "region_code": "360102", "daily_capacity": 3}
    for method, path, body, field in [
        ("post", "/api/v1/agencies", {**new, "daily_capacity": "3"}, "daily_capacity"),
        ("patch", f"/api/v1/agencies/{agency}", {"active": "false"}, "active"),
        ("patch", f"/api/v1/agencies/{agency}", {"daily_capacity": True}, "daily_capacity"),
        ("put", f"/api/v1/agencies/{agency}/capacity/2026-07-24", {"capacity": "0"}, "capacity"),
        ("put", "/api/v1/caps", {"enterprise_per_month": "2"}, "enterprise_per_month"),
        ("patch", f"/api/v1/enterprises/{eid}", {"whitelisted": 1}, "whitelisted"),
        (
            "patch",
            f"/api/v1/enterprises/{eid}",
            {"cap_overrides": {"enterprise_per_year": True}},
            "cap_overrides.enterprise_per_year",
        ),
        ("put", "/api/v1/quiet-policies/x", {"weekdays": ["1"]}, "weekdays[0]"),
    ]:
        r = client.request(method, path, json=body, headers=world.auth())
        assert r.status_code == 422, (path, body, r.text)
        assert [e["path"] for e in r.json()["errors"]] == [field]
    # Dates are JSON strings, and stay accepted.
    r = client.patch(
        f"/api/v1/enterprises/{eid}", json={"blackout": ["2026-07-24"]}, headers=world.auth()
    )
    assert (r.status_code, r.json()["blackout"]) == (200, ["2026-07-24"])
    assert client.get(f"/api/v1/agencies/{agency}", headers=world.auth()).json()["active"] is True


def test_a_fresh_database_is_filled_through_the_api(engine: Engine) -> None:
    """Only a supervisor key exists: regions (province, city, county, each after its parent),
    a policy, an agency and an enterprise are created over HTTP, and the agency's key after."""
    with session_scope(engine, actor="cli") as s:
        _, key = create_key(s, role="supervisor")
    auth = {"Authorization": f"Bearer {key}"}
    app = create_app(Settings(database_url=url_of(engine), runner="thread"), engine=engine)
    with TestClient(app) as c:
        r = c.put("/api/v1/regions/360102", json={"name": "东湖区"}, headers=auth)
        assert (r.status_code, r.json()["errors"][0]["code"]) == (422, "unknown_region")
        for code, name in (("36", "江西省"), ("3601", "南昌市"), ("360102", "东湖区")):
            r = c.put(f"/api/v1/regions/{code}", json={"name": name}, headers=auth)
            assert r.status_code == 200, r.text
        assert r.json() == {"code": "360102", "name": "东湖区", "parent_code": "3601",
                            "level": "county", "filing_lead_days": None}  # fmt: skip
        assert c.put("/api/v1/regions/3601", json={"name": "南昌"}, headers=auth).status_code == 200
        assert {g["code"]: g["name"] for g in c.get("/api/v1/regions", headers=auth).json()} == {
            "36": "江西省", "3601": "南昌", "360102": "东湖区"
        }  # fmt: skip
        assert c.put("/api/v1/regions/361", json={"name": "x"}, headers=auth).status_code == 422
        r = c.put("/api/v1/quiet-policies/jx-1-20", json={"month_days": [[1, 20]]}, headers=auth)
        assert r.status_code == 200, r.text
        agency = {"id": "360102-SCJG", "name": "东湖区市场监督管理局", "region_code": "360102",
                  "daily_capacity": 3}  # fmt: skip
        assert c.post("/api/v1/agencies", json=agency, headers=auth).status_code == 201
        firm = {"id": uscc("360102", 1), "name": "江西新企业有限公司", "region_code": "360102",
                "quiet_policy_id": "jx-1-20"}  # fmt: skip
        assert c.post("/api/v1/enterprises", json=firm, headers=auth).status_code == 201
    with session_scope(engine, actor="cli") as s:
        create_key(s, role="agency", agency_id="360102-SCJG")
