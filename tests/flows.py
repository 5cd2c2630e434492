"""The flows the API tests share: a plan's body, submitting plans, starting a run and waiting
for it, a published schedule, feed tokens, check-ins, signing in to the dashboard, a made-up
notice for the calendar import, and plans as a spreadsheet's rows."""

from __future__ import annotations

import csv
import io
import re
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from conftest import CERTS, EVE, Clock
from quietday.formats import parse_instance, parse_solution
from quietday.planning.imports import COLUMNS
from seed import Seeded


def plan(world: Seeded, n: int = 0, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "enterprise_id": world.enterprises[n % len(world.enterprises)],
        "kind": "routine",
        "earliest": "2026-07-01",
        "latest": "2026-09-30",
        "items": ["SCJG-0101"],
        "priority": 3,
    }
    body.update(changes)
    return body


def count(client: TestClient, world: Seeded, **query: Any) -> int:
    total, cursor = 0, None
    while True:
        params = {"limit": 500, **query, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/plans", params=params, headers=world.auth()).json()
        total += len(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return total


RUN = {
    "horizon_start": "2026-07-01",
    "horizon_end": "2026-09-30",
    "time_limit": 5,
    "deterministic": True,
    "workers": 1,
}


def start(client: TestClient, world: Seeded, **changes: Any) -> dict[str, Any]:
    r = client.post("/api/v1/runs", json={**RUN, **changes}, headers=world.auth())
    assert r.status_code == 202, r.text
    assert r.headers["location"] == f"/api/v1/runs/{r.json()['id']}"
    return dict(r.json())


def wait(client: TestClient, world: Seeded, run_id: int, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.get(f"/api/v1/runs/{run_id}", headers=world.auth()).json()
        if run["status"] not in ("queued", "running"):
            return dict(run)
        time.sleep(0.1)
    pytest.fail(f"run {run_id} did not finish in {timeout} s")


def documents(client: TestClient, world: Seeded, run_id: int) -> tuple[Any, Any]:
    inst = client.get(f"/api/v1/runs/{run_id}/instance", headers=world.auth())
    sol = client.get(f"/api/v1/runs/{run_id}/solution", headers=world.auth())
    assert inst.headers["content-encoding"] == "gzip"
    return parse_instance(inst.content), parse_solution(sol.content)


def submit(client: TestClient, world: Seeded, who: str, n: int, **changes: Any) -> int:
    r = client.post("/api/v1/plans", json=plan(world, n, **changes), headers=world.auth(who))
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def published(fc: TestClient, world: Seeded) -> dict[str, int]:
    """E0: a joint visit of A and B on 07-21; E1: A's complaint case on 07-22; E2: B routine but
    unannounced on 07-23 together with C's announceable one; E3: A routine on 07-24. They are
    submitted, planned and published on the eve of the quarter, whatever day the test stands on
    afterwards."""
    clock: Clock = fc.app.state.clock  # type: ignore[attr-defined]
    later, clock.now = clock.now, EVE
    ids = {
        "joint_a": submit(fc, world, "A", 0, earliest="2026-07-21", latest="2026-07-21"),
        "joint_b": submit(fc, world, "B", 0, earliest="2026-07-21", latest="2026-07-21"),
        "case": submit(
            fc,
            world,
            "A",
            1,
            kind="case",
            exempt_reason="投诉举报",
            earliest="2026-07-22",
            latest="2026-07-22",
        ),
        "secret": submit(
            fc, world, "B", 2, unannounced=True, earliest="2026-07-23", latest="2026-07-23"
        ),
        "open": submit(fc, world, "C", 2, earliest="2026-07-23", latest="2026-07-23"),
        "alone": submit(fc, world, "A", 3, earliest="2026-07-24", latest="2026-07-24"),
    }
    run = wait(fc, world, start(fc, world)["id"])
    assert (
        fc.post(f"/api/v1/runs/{run['id']}/publish", headers=world.auth()).json()["published"] == 6
    )
    clock.now = later
    return ids


def token(
    fc: TestClient, world: Seeded, kind: str, subject: str, who: str = "supervisor"
) -> dict[str, Any]:
    r = fc.post(
        "/api/v1/feed-tokens",
        json={"kind": kind, "subject_id": subject, "label": "测试"},
        headers=world.auth(who),
    )
    assert r.status_code == 201, r.text
    body = dict(r.json())
    assert body["token"].startswith("icsf_")
    assert len(body["token"]) >= 5 + 43  # 256 bits in base64url
    return body


def check_in(
    fc: TestClient,
    world: Seeded,
    who: str,
    enterprise: int,
    at: str,
    *,
    expect: int = 201,
    **extra: Any,
) -> dict[str, Any]:
    body = {
        "enterprise_id": world.enterprises[enterprise],
        "certificates": CERTS.get(who, []),
        "at": at,
        **extra,
    }
    r = fc.post("/api/v1/check-ins", json=body, headers=world.auth(who))
    assert r.status_code == expect, r.text
    return dict(r.json())


CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def login(client: TestClient, key: str, **headers: str) -> Response:
    form = client.get("/dashboard/login")
    assert form.status_code == 200
    token = CSRF.search(form.text)
    assert token is not None
    return client.post(
        "/dashboard/login", data={"key": key, "csrf": token.group(1)}, headers=headers
    )


# NOT the State Council's 2027 notice (../shared/data/cn_holidays/2027.json has no days yet): a
# made-up one in its shape, whose 春节 runs from 除夕 (Fri 5 February) to Fri 12 February and
# is made up on two weekend days (调休).
HYPOTHETICAL_2027 = """date,kind,name
2027-01-01,休,元旦
2027-01-02,休,元旦
2027-01-03,休,元旦
2027-01-31,班,春节
2027-02-05,休,春节
2027-02-06,休,春节
2027-02-07,休,春节
2027-02-08,休,春节
2027-02-09,休,春节
2027-02-10,休,春节
2027-02-11,休,春节
2027-02-12,休,春节
2027-02-20,班,春节
2027-04-05,休,清明节
2027-05-01,休,劳动节
2027-05-02,休,劳动节
2027-05-03,休,劳动节
2027-05-04,休,劳动节
2027-05-05,休,劳动节
2027-06-09,休,端午节
2027-09-15,休,中秋节
2027-10-01,休,国庆节
2027-10-02,休,国庆节
2027-10-03,休,国庆节
2027-10-04,休,国庆节
2027-10-05,休,国庆节
2027-10-06,休,国庆节
2027-10-07,休,国庆节
"""


HEADERS = [h for h, _, _ in COLUMNS]


def row(world: Seeded, k: int, **changes: str) -> list[str]:
    values = {
        "外部编号": f"X-{k}",
        "部门编码": "",
        "统一社会信用代码": world.enterprises[k % len(world.enterprises)],
        "检查类型": "日常检查" if k % 2 else "专项检查",
        "检查事项": "SCJG-0101、SCJG-0102",
        "最早日期": "2026-07-01",
        "最晚日期": "2026-09-30",
        "优先级": str(1 + k % 5),
        "豁免事由": "",
        "不提前告知": "否",
        "触发事由": "",
        "检查方式": "",
    }
    values.update(changes)
    return [values[h] for h in HEADERS]


def as_csv(rows: list[list[str]], encoding: str = "utf-8-sig") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADERS)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)
