"""Filing and approval: the lead time of planned checks (inherited from the city), a case's
trigger and its notice (never shown to the enterprise), special plans approved by their
agency's head before any run takes them, and their public listing (公示)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from conftest import Clock
from flows import as_csv, documents, plan, published, row, start, submit, token, wait
from quietday.persistence.mapping import inspection_id
from seed import AGENCIES, Seeded

A, B = AGENCIES["A"][0], AGENCIES["B"][0]
# Thursday 24 September 2026, 09:00 in China: 25 September (中秋) and 1-7 October (国庆) are
# off, Saturday 10 October is a working day (调休). Seven working days ahead: 12 October.
BEFORE_HOLIDAYS = datetime(2026, 9, 24, 1, 0, tzinfo=UTC)


def lead(client: TestClient, world: Seeded, code: str, name: str, days: int | None) -> Any:
    r = client.put(
        f"/api/v1/regions/{code}",
        json={"name": name, "filing_lead_days": days},
        headers=world.auth(),
    )
    assert r.status_code == 200, r.text
    return r.json()


def key(client: TestClient, world: Seeded, role: str, agency: str | None) -> dict[str, str]:
    r = client.post("/api/v1/keys", json={"role": role, "agency_id": agency}, headers=world.auth())
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['key']}"}


def audit(client: TestClient, world: Seeded, subject: str) -> list[str]:
    r = client.get("/api/v1/audit/log", params={"subject": subject}, headers=world.auth())
    return [e["action"] for e in r.json()["items"]]


def test_the_lead_time_counts_working_days_and_is_inherited_from_the_city(
    client: TestClient, world: Seeded, clock: Clock
) -> None:
    clock.now = BEFORE_HOLIDAYS
    assert lead(client, world, "3601", "南昌市", 7)["filing_lead_days"] == 7
    regions = client.get("/api/v1/regions", headers=world.auth("A")).json()
    assert {r["code"]: r["filing_lead_days"] for r in regions}["360102"] is None
    early = plan(world, 1, earliest="2026-10-11", latest="2026-12-31")
    r = client.post("/api/v1/plans", json=early, headers=world.auth("A"))
    assert r.status_code == 422
    (problem,) = r.json()["errors"]
    assert (problem["code"], problem["path"]) == ("filing_too_late", "earliest")
    assert problem["message"].startswith(
        "earliest 须不早于 2026-10-12:南昌市要求至少提前 7 个工作日备案"
    )
    assert submit(client, world, "A", 1, earliest="2026-10-12", latest="2026-12-31")
    # A batch names the record; special plans are filed ahead too, cases and requests are not.
    batch = [
        plan(world, 2, kind="case", trigger="complaint", earliest="2026-09-25"),
        plan(world, 2, kind="requested", earliest="2026-09-25", latest="2026-12-31"),
        plan(world, 3, kind="special", earliest="2026-10-09", latest="2026-12-31"),
    ]
    r = client.post("/api/v1/plans/batch", json=batch, headers=world.auth("A"))
    assert [(e["path"], e["code"]) for e in r.json()["errors"]] == [
        ("plans[2].earliest", "filing_too_late")
    ]
    # The county's own value wins over its city's: 东湖区 asks for none, 西湖区 inherits 7.
    lead(client, world, "360102", "东湖区", 0)
    assert submit(client, world, "A", 4, earliest="2026-09-28", latest="2026-12-31")
    r = client.post("/api/v1/plans", json=early, headers=world.auth("C"))
    assert r.json()["errors"][0]["code"] == "filing_too_late"
    # A change that moves the start forward is filed anew.
    moved = submit(client, world, "C", 5, earliest="2026-10-20", latest="2026-12-31")
    r = client.patch(
        f"/api/v1/plans/{moved}", json={"earliest": "2026-10-09"}, headers=world.auth("C")
    )
    assert (r.status_code, r.json()["errors"][0]["code"]) == (422, "filing_too_late")
    assert "region.update" in audit(client, world, "region:3601")


def test_an_import_names_the_row_filed_too_late(
    client: TestClient, world: Seeded, clock: Clock
) -> None:
    clock.now = BEFORE_HOLIDAYS
    lead(client, world, "36", "江西省", 7)
    rows = [
        row(world, 0, 最早日期="2026-10-12", 最晚日期="2026-12-31"),
        row(world, 1, 最早日期="2026-10-10", 最晚日期="2026-12-31"),
    ]
    r = client.post(
        "/api/v1/plans/import", files={"file": ("p.csv", as_csv(rows))}, headers=world.auth("A")
    )
    assert r.status_code == 422
    (problem,) = r.json()["errors"]
    assert problem["path"] == "rows[1].earliest"
    assert problem["message"].startswith("第 3 行「最早日期」须不早于 2026-10-12:江西省要求")


def test_a_case_needs_a_trigger_and_gets_a_numbered_notice(
    client: TestClient, world: Seeded
) -> None:
    r = client.post("/api/v1/plans", json=plan(world, 1, kind="case"), headers=world.auth("A"))
    assert [(e["path"], e["code"]) for e in r.json()["errors"]] == [("trigger", "missing_trigger")]
    r = client.post(
        "/api/v1/plans", json=plan(world, 1, trigger="complaint"), headers=world.auth("A")
    )
    assert r.json()["errors"][0]["code"] == "unexpected_trigger"
    first = submit(client, world, "A", 1, kind="case", trigger="emergency")
    # An older client naming the trigger in the exemption's reason keeps working.
    second = submit(client, world, "A", 2, kind="case", exempt_reason="投诉举报核查")
    other = submit(client, world, "B", 2, kind="case", trigger="referral")
    got = client.get(f"/api/v1/plans/{second}", headers=world.auth("A")).json()
    assert got["trigger"] == "complaint"
    mine = client.get("/api/v1/notices", headers=world.auth("A")).json()["items"]
    assert [(n["plan_id"], n["number"], n["trigger"]) for n in mine] == [
        (first, f"{A}-2026-000001", "emergency"),
        (second, f"{A}-2026-000002", "complaint"),
    ]
    assert mine[0]["reason"] == "突发事件"
    assert mine[1]["reason"] == "投诉举报核查"
    every = client.get("/api/v1/notices", headers=world.auth()).json()["items"]
    assert [n["number"] for n in every][-1] == f"{B}-2026-000001"
    assert (
        client.get(f"/api/v1/notices/{mine[0]['id']}", headers=world.auth("B")).status_code == 404
    )
    one = client.get("/api/v1/notices", params={"plan_id": other}, headers=world.auth()).json()
    assert [n["plan_id"] for n in one["items"]] == [other]
    assert audit(client, world, f"notice:{mine[0]['id']}") == ["notice.issue"]
    # A routine plan made a case gets its notice then.
    later = submit(client, world, "A", 3)
    r = client.patch(
        f"/api/v1/plans/{later}",
        json={"kind": "case", "trigger": "data_lead"},
        headers=world.auth("A"),
    )
    assert r.status_code == 200, r.text
    found = client.get("/api/v1/notices", params={"plan_id": later}, headers=world.auth("A"))
    assert [n["number"] for n in found.json()["items"]] == [f"{A}-2026-000003"]


def test_the_enterprise_never_sees_a_case_notice(fc: TestClient, world: Seeded) -> None:
    ids = published(fc, world)
    (notice,) = fc.get(
        "/api/v1/notices", params={"plan_id": ids["case"]}, headers=world.auth("A")
    ).json()["items"]
    feed = token(fc, world, "enterprise", world.enterprises[1])
    # The page has the enterprise's own complaint forms (the word "complaint" in their markup);
    # the feed has no word of it.
    for url, secrets in (
        (f"/feeds/{feed['token']}.ics", (notice["number"], "检查通知", "投诉举报", "complaint")),
        (f"/feeds/{feed['token']}", (notice["number"], "检查通知", "投诉举报")),
    ):
        body = fc.get(url)
        assert body.status_code == 200
        for secret in secrets:
            assert secret not in body.text, (url, secret)


def test_special_plans_wait_for_their_heads_approval(
    client: TestClient, world: Seeded, clock: Clock
) -> None:
    head_a, head_b = key(client, world, "approver", A), key(client, world, "approver", B)
    special = submit(client, world, "A", 0, kind="special", earliest="2026-07-21")
    other = submit(client, world, "A", 1, kind="special", items=["XF-1"])
    got = client.get(f"/api/v1/plans/{special}", headers=head_a).json()
    assert got["approval"] == "pending"
    assert got["approval_note"] == "专项检查计划待本部门负责人审批,批准前不参加排期"
    run = wait(client, world, start(client, world)["id"])
    instance, _ = documents(client, world, run["id"])
    placed = {i.id for i in instance.inspections}
    assert inspection_id(special) not in placed
    assert inspection_id(other) not in placed
    url = f"/api/v1/plans/{special}/approve"
    assert client.post(url, headers=world.auth()).status_code == 403  # separation of duties
    assert client.post(url, headers=world.auth("A")).status_code == 403
    assert client.post(url, headers=head_b).status_code == 404
    r = client.post(url, json={"comment": "同意"}, headers=head_a)
    assert r.status_code == 200, r.text
    assert (r.json()["approval"], r.json()["approval_note"]) == ("approved", None)
    assert client.post(url, headers=head_a).json()["code"] == "already_decided"
    refuse = f"/api/v1/plans/{other}/reject"
    r = client.post(refuse, json={}, headers=head_a)
    assert (r.status_code, r.json()["errors"][0]["code"]) == (422, "missing_comment")
    r = client.post(refuse, json={"comment": "与双随机抽查重复"}, headers=head_a)
    assert r.json()["approval"] == "rejected"
    assert "与双随机抽查重复" in r.json()["approval_note"]
    assert audit(client, world, f"plan:{special}")[-1] == "plan.approve"
    assert audit(client, world, f"plan:{other}")[-1] == "plan.reject"
    # An approver files nothing.
    r = client.post("/api/v1/plans", json=plan(world, 2), headers=head_a)
    assert r.status_code == 403
    run = wait(client, world, start(client, world)["id"])
    instance, _ = documents(client, world, run["id"])
    placed = {i.id for i in instance.inspections}
    assert inspection_id(special) in placed
    assert inspection_id(other) not in placed
    # Changing what was approved sends it back: pending, out of the next run.
    r = client.patch(f"/api/v1/plans/{special}", json={"items": ["X-2"]}, headers=world.auth("A"))
    assert r.json()["approval"] == "pending"
    r = client.patch(f"/api/v1/plans/{special}", json={"priority": 9}, headers=world.auth("A"))
    assert r.json()["approval"] == "pending"


def test_the_public_listing_shows_scope_never_enterprises(
    client: TestClient, world: Seeded, clock: Clock
) -> None:
    head = key(client, world, "approver", A)
    campaign = {"kind": "special", "items": ["燃气安全"], "earliest": "2026-08-01"}
    ids = [
        submit(client, world, "A", 0, **campaign),
        submit(client, world, "A", 1, unannounced=True, **campaign),
        submit(client, world, "A", 2, **campaign),
        submit(client, world, "A", 3, kind="special", items=["电梯安全"]),
    ]
    for pid in ids[:3]:
        assert client.post(f"/api/v1/plans/{pid}/approve", headers=head).status_code == 200
    clock.now = datetime(2026, 7, 2, 1, 0, tzinfo=UTC)
    assert client.post(f"/api/v1/plans/{ids[3]}/approve", headers=head).status_code == 200
    client.post(f"/api/v1/plans/{ids[2]}/cancel", headers=world.auth("A"))
    june = client.get("/api/v1/public/special-plans", params={"month": "2026-06"}).json()
    assert june["months"] == ["2026-06", "2026-07"]
    (shown,) = june["campaigns"]
    # The unannounced plan (E1, 东湖区) is counted nowhere: the campaign says only that it
    # holds some.
    assert (shown["agency_name"], shown["items"], shown["enterprises"], shown["withheld"]) == (
        "东湖区市场监督管理局", ["燃气安全"], 1, True,
    )  # fmt: skip
    assert (shown["earliest"], shown["latest"], shown["approved_on"]) == (
        "2026-08-01", "2026-09-30", "2026-06-30",
    )  # fmt: skip
    assert {r["name"]: r["enterprises"] for r in shown["regions"]} == {"西湖区": 1}
    default = client.get("/api/v1/public/special-plans").json()
    assert (default["month"], [c["items"] for c in default["campaigns"]]) == (
        "2026-07", [["电梯安全"]],
    )  # fmt: skip
    page = client.get("/public/special-plans", params={"month": "2026-06"})
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "燃气安全" in page.text
    assert "西湖区 1 家" in page.text
    assert "东湖区 1 家" not in page.text
    assert "另有不预先告知的检查,范围不公开" in page.text
    for secret in (*world.enterprises, "测试", "有限公司"):
        assert secret not in page.text
        assert secret not in str(june)
    css = client.get("/static/public.css")
    assert (css.status_code, css.headers["content-type"].split(";")[0]) == (200, "text/css")


def test_hostile_inputs_are_refused(client: TestClient, world: Seeded) -> None:
    head = key(client, world, "approver", A)
    special = submit(client, world, "A", 0, kind="special")
    for month in ("2026-13", "26-01", "2026-1", "<script>", "2026-06-01"):
        assert client.get("/public/special-plans", params={"month": month}).status_code == 422
        assert (
            client.get("/api/v1/public/special-plans", params={"month": month}).status_code == 422
        )
    url = f"/api/v1/plans/{special}/reject"
    for body in ({"comment": "意" * 501}, {"comment": 5}, {"comment": "a\x00b"}, {"why": "x"}):
        assert client.post(url, json=body, headers=head).status_code == 422, body
    assert client.post("/api/v1/plans/0/approve", headers=head).status_code == 422
    assert client.post("/api/v1/plans/99999/approve", headers=head).status_code == 404
    for days in (-1, 61, "7", 1.5):
        r = client.put(
            "/api/v1/regions/3601", json={"name": "南昌市", "filing_lead_days": days},
            headers=world.auth(),
        )  # fmt: skip
        assert r.status_code == 422, days
    r = client.post("/api/v1/plans", json=plan(world, 1, kind="case", trigger="rumour"),
                    headers=world.auth("A"))  # fmt: skip
    assert r.status_code == 422
    assert (
        client.get("/api/v1/notices", params={"after": "x"}, headers=world.auth()).status_code
        == 422
    )
    assert client.get("/api/v1/notices").status_code == 401
    r = client.post("/api/v1/keys", json={"role": "approver"}, headers=world.auth())
    assert (r.status_code, r.json()["errors"][0]["code"]) == (422, "missing_key")
