"""Unannounced means unannounced, in joint visits too: everything an enterprise can observe of
its feed and subscribe page before a visit's date (bytes, ETag, Last-Modified, whether an event
exists, its SEQUENCE, agencies, lead and contact) is a function of its announceable plans
alone. Adding, moving or cancelling hidden plans (case, exempt, unannounced), publishing a
visit of hidden plans only and sending inspectors changes none of it. Over HTTP, on SQLite and
PostgreSQL, against real runs."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import EVE, Clock
from db import empty
from feedcheck import parse_everywhere
from flows import start, submit, token, wait
from quietday.persistence import Engine
from seed import AGENCIES, Seeded, seed

# E0 (western county): A's announced routine inspection on 07-21; hidden ones come and go.
DAY, ALONE, MOVED = "2026-07-21", "2026-08-21", "2026-09-21"
HIDDEN = {
    "case": {"kind": "case", "exempt_reason": "投诉举报"},
    "exempt": {"exempt_reason": "安全生产"},
    "unannounced": {"unannounced": True},
}
OPS = ("join", "alone", "cancel", "move", "inspectors", "items")


def publish(fc: TestClient, world: Seeded) -> None:
    run = wait(fc, world, start(fc, world)["id"])
    assert run["status"] == "succeeded", run
    r = fc.post(f"/api/v1/runs/{run['id']}/publish", headers=world.auth())
    assert r.status_code == 200, r.text


def observed(fc: TestClient, feed: dict[str, Any]) -> dict[str, Any]:
    """All the enterprise can see: its feed (plain and conditional) and its subscribe page."""
    body = fc.get(f"/feeds/{feed['token']}.ics")
    held = fc.get(f"/feeds/{feed['token']}.ics", headers={"If-None-Match": body.headers["etag"]})
    since = fc.get(
        f"/feeds/{feed['token']}.ics", headers={"If-Modified-Since": body.headers["last-modified"]}
    )
    page = fc.get(f"/feeds/{feed['token']}")
    return {
        "feed": (
            body.status_code,
            body.content,
            body.headers["etag"],
            body.headers["last-modified"],
        ),
        "held": (held.status_code, held.content),
        "since": since.status_code,
        "page": (page.status_code, page.text),
    }


class Hidden:
    """Hidden plans of agencies B and C at E0, and what a test does with them."""

    def __init__(self, fc: TestClient, world: Seeded, how: dict[str, Any]) -> None:
        self.fc, self.world, self.how = fc, world, how
        self.published: list[tuple[str, int]] = []

    def add(self, who: str, day: str) -> None:
        pid = submit(self.fc, self.world, who, 0, earliest=day, latest=day, **self.how)
        publish(self.fc, self.world)
        assert self.fc.get(f"/api/v1/plans/{pid}", headers=self.world.auth()).json()["status"] == (
            "published"
        )
        self.published.append((who, pid))

    def do(self, op: str) -> None:
        fc, world = self.fc, self.world
        if op == "join":
            self.add("B" if len(self.published) % 2 else "C", DAY)
        elif op == "alone":
            self.add("C", ALONE)
        elif self.published and op == "cancel":
            who, pid = self.published.pop()
            assert (
                fc.post(f"/api/v1/plans/{pid}/cancel", headers=world.auth(who)).status_code == 200
            )
        elif self.published and op == "move":
            who, pid = self.published[-1]
            r = fc.patch(f"/api/v1/plans/{pid}", json={"earliest": MOVED, "latest": MOVED},
                         headers=world.auth(who))  # fmt: skip
            assert r.status_code == 200, r.text
            publish(fc, world)
        elif self.published and op == "items":
            who, pid = self.published[-1]
            r = fc.patch(
                f"/api/v1/plans/{pid}", json={"items": ["XF-0202"]}, headers=world.auth(who)
            )
            assert r.status_code == 200, r.text
        elif op == "inspectors":
            self._send_inspector()

    def _send_inspector(self) -> None:
        fc, world = self.fc, self.world
        joined = [(who, pid) for who, pid in self.published if who == "B"]
        if not joined:
            return
        who, pid = joined[-1]
        visit_id = fc.get(f"/api/v1/plans/{pid}", headers=world.auth()).json()["visit_id"]
        if visit_id is None:
            return
        agency = AGENCIES[who][0]
        listed = fc.get(f"/api/v1/agencies/{agency}/inspectors", headers=world.auth()).json()
        inspector = listed[0] if listed else fc.post(
            f"/api/v1/agencies/{agency}/inspectors",
            json={"name": "暗访员", "certificate_no": "B-900"},
            headers=world.auth(),
        ).json()  # fmt: skip
        r = fc.put(f"/api/v1/visits/{visit_id}/inspectors",
                   json={"inspector_ids": [inspector["id"]]}, headers=world.auth(who))  # fmt: skip
        assert r.status_code == 200, r.text


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    ops=st.lists(st.sampled_from(OPS), min_size=1, max_size=5),
    kind=st.sampled_from(sorted(HIDDEN)),
)
def test_hidden_plans_never_change_what_the_enterprise_sees(
    fc: TestClient, engine: Engine, clock: Clock, ops: list[str], kind: str
) -> None:
    empty(engine)
    world = seed(engine)
    clock.now = EVE
    # Caps would leave some hidden plans unscheduled: they are not what this test is about.
    loose = {"agency_enterprise_per_year": 50, "enterprise_per_month": 31}
    r = fc.patch(f"/api/v1/enterprises/{world.enterprises[0]}", json={"cap_overrides": loose},
                 headers=world.auth())  # fmt: skip
    assert r.status_code == 200, r.text
    submit(fc, world, "A", 0, earliest=DAY, latest=DAY)
    publish(fc, world)
    feed = token(fc, world, "enterprise", world.enterprises[0])
    before = observed(fc, feed)
    assert (before["feed"][0], before["held"][0], before["since"]) == (200, 304, 304)
    (event,) = parse_everywhere(before["feed"][1]).icaljs["events"]
    assert event["summary"] == "入企检查:市场监督管理局"
    hidden = Hidden(fc, world, HIDDEN[kind])
    for op in ops:
        hidden.do(op)
        assert observed(fc, feed) == before, (ops, op)


def test_a_joint_visit_shows_only_its_announced_agencies_lead_and_contact(
    fc: TestClient, world: Seeded, clock: Clock
) -> None:
    """The lead agency an enterprise sees is chosen among the announced agencies, with its
    contact; the hidden one appears nowhere, not even when it would lead the whole visit."""
    clock.now = EVE
    for item in ("a", "b", "c"):  # the hidden agency has more plans: it leads the whole visit
        submit(fc, world, "B", 0, earliest=DAY, latest=DAY, items=[f"XF-{item}"], **HIDDEN["case"])
    submit(fc, world, "A", 0, earliest=DAY, latest=DAY)
    publish(fc, world)
    (visit,) = fc.get("/api/v1/visits", headers=world.auth()).json()["items"]
    assert visit["lead_agency_id"] == AGENCIES["B"][0]
    feed = token(fc, world, "enterprise", world.enterprises[0])
    seen = observed(fc, feed)
    hidden_name = AGENCIES["B"][1]
    assert hidden_name not in seen["feed"][1].decode()
    assert hidden_name not in seen["page"][1]
    assert (
        "牵头部门:" + AGENCIES["A"][1]
        in parse_everywhere(seen["feed"][1]).icaljs["events"][0]["description"]
    )
    # Cancelling the only announced plan shows the event cancelled; it does not vanish.
    (a_plan,) = fc.get("/api/v1/plans", headers=world.auth("A")).json()["items"]
    assert (
        fc.post(f"/api/v1/plans/{a_plan['id']}/cancel", headers=world.auth("A")).status_code == 200
    )
    (event,) = parse_everywhere(fc.get(f"/feeds/{feed['token']}.ics").content).icaljs["events"]
    assert event["status"] == "CANCELLED"
    assert event["summary"] == "【已取消】入企检查:市场监督管理局"
    # After the date the enterprise sees what took place, the hidden part included.
    clock.now = EVE.replace(month=7, day=22)
    events = parse_everywhere(fc.get(f"/feeds/{feed['token']}.ics").content).icaljs["events"]
    assert [e["summary"] for e in events] == ["入企检查:消防救援大队"]
