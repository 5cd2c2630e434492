"""Plans through the API on SQLite and PostgreSQL: roles, idempotency, all-or-nothing batches."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from flows import count, plan
from seed import AGENCIES, Seeded

PROBLEM = "application/problem+json"


def test_missing_wrong_and_revoked_keys_are_401(client: TestClient, world: Seeded) -> None:
    r = client.get("/api/v1/plans")
    assert r.status_code == 401
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["code"] == "unauthenticated"
    assert (
        client.get(
            "/api/v1/plans", headers={"Authorization": "Bearer qd_not-a-real-key-at-all"}
        ).status_code
        == 401
    )
    assert client.get("/api/v1/plans", headers={"X-API-Key": world.keys["A"]}).status_code == 200
    keys = client.get("/api/v1/keys", headers=world.auth()).json()
    a_key = next(k for k in keys if k["agency_id"] == AGENCIES["A"][0])
    assert "key" not in a_key
    assert (
        client.post(f"/api/v1/keys/{a_key['id']}/revoke", headers=world.auth()).status_code == 200
    )
    assert client.get("/api/v1/plans", headers=world.auth("A")).status_code == 401


def test_agency_key_cannot_do_supervisor_work(client: TestClient, world: Seeded) -> None:
    r = client.post(
        "/api/v1/runs",
        json={"horizon_start": "2026-07-01", "horizon_end": "2026-09-30"},
        headers=world.auth("A"),
    )
    assert r.status_code == 403
    assert r.json()["code"] == "forbidden"


def test_create_read_and_another_agencys_plan_is_404(client: TestClient, world: Seeded) -> None:
    r = client.post("/api/v1/plans", json=plan(world), headers=world.auth("A"))
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["agency_id"] == AGENCIES["A"][0]
    assert created["status"] == "submitted"
    pid = created["id"]
    assert client.get(f"/api/v1/plans/{pid}", headers=world.auth("A")).json() == created
    for call in (
        lambda: client.get(f"/api/v1/plans/{pid}", headers=world.auth("B")),
        lambda: client.patch(f"/api/v1/plans/{pid}", json={"priority": 9}, headers=world.auth("B")),
        lambda: client.post(f"/api/v1/plans/{pid}/cancel", headers=world.auth("B")),
    ):
        r = call()
        assert r.status_code == 404
        assert r.json()["code"] == "not_found"
    assert client.get("/api/v1/plans/999999", headers=world.auth("B")).json()[
        "detail"
    ] == client.get(f"/api/v1/plans/{pid}", headers=world.auth("B")).json()["detail"].replace(
        str(pid), "999999"
    )
    assert client.get("/api/v1/plans", headers=world.auth("B")).json()["items"] == []
    assert client.get(f"/api/v1/plans/{pid}", headers=world.auth()).status_code == 200


def test_external_ref_makes_resubmission_harmless(client: TestClient, world: Seeded) -> None:
    body = plan(world, external_ref="JX-0001")
    first = client.post("/api/v1/plans", json=body, headers=world.auth("A"))
    again = client.post("/api/v1/plans", json=body, headers=world.auth("A"))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    clash = client.post("/api/v1/plans", json={**body, "priority": 9}, headers=world.auth("A"))
    assert clash.status_code == 422
    assert clash.json()["errors"][0]["code"] == "external_ref_conflict"
    other_agency = client.post("/api/v1/plans", json=body, headers=world.auth("B"))
    assert other_agency.status_code == 201
    assert count(client, world) == 2


def test_idempotency_key_replays_the_first_answer(client: TestClient, world: Seeded) -> None:
    headers = {**world.auth("A"), "Idempotency-Key": "req-42"}
    first = client.post("/api/v1/plans", json=plan(world), headers=headers)
    second = client.post("/api/v1/plans", json=plan(world), headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers.get("idempotent-replayed") == "true"
    reused = client.post("/api/v1/plans", json=plan(world, priority=7), headers=headers)
    assert reused.status_code == 409
    assert reused.json()["code"] == "idempotency_key_reused"
    assert count(client, world) == 1


def test_supervisor_must_name_the_agency_and_agency_cannot_name_another(
    client: TestClient, world: Seeded
) -> None:
    r = client.post("/api/v1/plans", json=plan(world), headers=world.auth())
    assert r.status_code == 422
    assert r.json()["errors"][0]["path"] == "agency_id"
    r = client.post(
        "/api/v1/plans", json=plan(world, agency_id=AGENCIES["B"][0]), headers=world.auth("A")
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["code"] == "foreign_agency"
    assert (
        client.post(
            "/api/v1/plans", json=plan(world, agency_id=AGENCIES["B"][0]), headers=world.auth()
        ).status_code
        == 201
    )


def test_field_errors_name_the_field(client: TestClient, world: Seeded) -> None:
    r = client.post(
        "/api/v1/plans", json=plan(world, priority=0, kind="surprise"), headers=world.auth("A")
    )
    assert r.status_code == 422
    body = r.json()
    assert r.headers["content-type"] == PROBLEM
    assert {e["path"] for e in body["errors"]} == {"priority", "kind"}
    assert body["code"] == "invalid_request"
    r = client.post("/api/v1/plans", json=plan(world, latest="2026-06-01"), headers=world.auth("A"))
    assert r.json()["errors"][0] == {
        "path": "latest",
        "code": "window_inverted",
        "message": "latest 2026-06-01 早于 earliest 2026-07-01",
    }
    r = client.post(
        "/api/v1/plans",
        json=plan(world, enterprise_id="91360102MA0000009X"),
        headers=world.auth("A"),
    )
    assert r.json()["errors"][0]["code"] == "unknown_enterprise"


def test_batch_of_500_with_one_bad_row_keeps_nothing(client: TestClient, world: Seeded) -> None:
    rows = [plan(world, k, external_ref=f"B-{k}") for k in range(500)]
    rows[317]["earliest"] = "2026-10-05"
    rows[317]["latest"] = "2026-10-01"
    rows[42]["enterprise_id"] = "91360102MA0000009X"
    r = client.post("/api/v1/plans/batch", json=rows, headers=world.auth("A"))
    assert r.status_code == 422
    assert [(e["path"], e["code"]) for e in r.json()["errors"]] == [
        ("plans[317].latest", "window_inverted"),
        ("plans[42].enterprise_id", "unknown_enterprise"),
    ]
    assert count(client, world) == 0
    rows[317]["earliest"], rows[317]["latest"] = "2026-07-01", "2026-09-30"
    rows[42]["enterprise_id"] = world.enterprises[0]
    r = client.post("/api/v1/plans/batch", json=rows, headers=world.auth("A"))
    assert r.status_code == 201
    assert (r.json()["created"], r.json()["unchanged"]) == (500, 0)
    r = client.post("/api/v1/plans/batch", json=rows, headers=world.auth("A"))
    assert (r.json()["created"], r.json()["unchanged"]) == (0, 500)
    assert count(client, world) == 500


def test_list_filters_and_cursor(client: TestClient, world: Seeded) -> None:
    for k in range(7):
        case = {"kind": "case", "trigger": "complaint"} if k % 3 == 0 else {}
        body = plan(
            world, k, earliest=f"2026-0{7 + k % 3}-01", latest=f"2026-0{7 + k % 3}-28", **case
        )
        assert client.post("/api/v1/plans", json=body, headers=world.auth("A")).status_code == 201
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/plans", params=params, headers=world.auth("A")).json()
        seen += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen)
    assert len(seen) == 7
    assert count(client, world, kind="case") == 3
    assert count(client, world, window_from="2026-09-01") == 2
    assert count(client, world, window_to="2026-07-31") == 3
    assert count(client, world, enterprise_id=world.enterprises[0]) == 2
    bad = client.get("/api/v1/plans", params={"cursor": "garbage!"}, headers=world.auth("A"))
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["code"] == "bad_cursor"


def test_update_and_cancel(client: TestClient, world: Seeded) -> None:
    pid = client.post("/api/v1/plans", json=plan(world), headers=world.auth("A")).json()["id"]
    r = client.patch(
        f"/api/v1/plans/{pid}",
        json={"priority": 9, "items": ["X-1", "X-2"]},
        headers=world.auth("A"),
    )
    assert r.status_code == 200
    assert (r.json()["priority"], r.json()["items"], r.json()["version"]) == (9, ["X-1", "X-2"], 2)
    r = client.patch(f"/api/v1/plans/{pid}", json={"earliest": None}, headers=world.auth("A"))
    assert r.status_code == 422
    assert r.json()["errors"][0]["code"] == "null_value"
    r = client.post(f"/api/v1/plans/{pid}/cancel", headers=world.auth("A"))
    assert (r.json()["status"], r.json()["version"]) == ("cancelled", 3)
    assert (
        client.post(f"/api/v1/plans/{pid}/cancel", headers=world.auth("A")).json()["version"] == 3
    )
    r = client.patch(f"/api/v1/plans/{pid}", json={"priority": 2}, headers=world.auth("A"))
    assert r.status_code == 409
    assert r.json()["code"] == "plan_cancelled"


PAST = "2026-06-29 已经过去(今天是 2026-06-30),检查窗口已结束,无法排期"


def test_a_window_already_past_is_refused_on_every_path(client: TestClient, world: Seeded) -> None:
    """The app's clock says 2026-06-30 in China: a window that ended before it could never be
    scheduled, so it is refused rather than kept `submitted` for ever."""
    past = plan(world, earliest="2026-06-01", latest="2026-06-29")
    r = client.post("/api/v1/plans", json=past, headers=world.auth("A"))
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {"path": "latest", "code": "window_past", "message": f"latest {PAST}"}
    ]
    r = client.post("/api/v1/plans/batch", json=[plan(world), past], headers=world.auth("A"))
    assert [(e["path"], e["code"]) for e in r.json()["errors"]] == [
        ("plans[1].latest", "window_past")
    ]
    assert count(client, world) == 0
    today = plan(world, earliest="2026-06-01", latest="2026-06-30")
    pid = client.post("/api/v1/plans", json=today, headers=world.auth("A")).json()["id"]
    r = client.patch(f"/api/v1/plans/{pid}", json={"latest": "2026-06-29"}, headers=world.auth("A"))
    assert (r.status_code, r.json()["errors"][0]["code"]) == (422, "window_past")


SURPRISES = [
    ("priority", True),
    ("priority", "5"),
    ("priority", 5.0),
    ("unannounced", "yes"),
    ("unannounced", 1),
    ("items", "SCJG-0101"),
    ("earliest", 1798761600),  # seconds since 1970: pydantic alone reads 2027-01-01
    ("latest", "1798761600"),
]


def test_values_of_the_wrong_json_type_are_refused(client: TestClient, world: Seeded) -> None:
    """`priority: true` is not priority 1, nor is `"5"` the number 5: a value of the wrong JSON
    type is refused with a 422 naming the field, on create, update and batch. Dates are strings
    in JSON and stay accepted as such."""
    agency = world.auth("A")
    created = client.post("/api/v1/plans", json=plan(world), headers=agency)
    assert created.status_code == 201, created.text
    plan_id = created.json()["id"]
    for field, value in SURPRISES:
        for r, path in (
            (
                client.post("/api/v1/plans", json=plan(world, **{field: value}), headers=agency),
                field,
            ),
            (client.patch(f"/api/v1/plans/{plan_id}", json={field: value}, headers=agency), field),
            (
                client.post(
                    "/api/v1/plans/batch", json=[plan(world, **{field: value})], headers=agency
                ),
                f"[0].{field}",
            ),
        ):
            assert r.status_code == 422, (field, value, r.text)
            assert [e["path"] for e in r.json()["errors"]] == [path], (field, value)
            assert field in r.json()["detail"]
            assert "取值无效" not in r.json()["detail"], r.json()["detail"]
    assert client.get(f"/api/v1/plans/{plan_id}", headers=agency).json()["priority"] == 3


def test_the_list_filters_take_the_vocabulary_of_statuses_and_kinds(
    client: TestClient, world: Seeded
) -> None:
    """The status and kind filters are the domain's words: a value outside them is a 422 that
    lists them (not a regular expression), a value inside them filters."""
    for name, value, words in (
        ("status", "draft", ("submitted", "published", "unscheduled", "cancelled")),
        ("kind", "audit", ("routine", "special", "case", "requested")),
    ):
        r = client.get("/api/v1/plans", params={name: value}, headers=world.auth())
        assert r.status_code == 422, r.text
        [error] = r.json()["errors"]
        assert error["path"] == name
        assert error["message"].startswith("应为以下之一")
        assert all(w in error["message"] for w in words), error["message"]
    created = client.post("/api/v1/plans", json=plan(world), headers=world.auth("A"))
    assert created.status_code == 201, created.text
    for params, listed in (({"status": "submitted", "kind": "routine"}, 1), ({"kind": "case"}, 0)):
        r = client.get("/api/v1/plans", params=params, headers=world.auth())
        assert len(r.json()["items"]) == listed, (params, r.json())
