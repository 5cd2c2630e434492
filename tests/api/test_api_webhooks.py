"""Webhooks end to end: endpoints over the API, the outbox written with publishing and plan
changes, delivery by the deliverer to a real local receiver that checks every signature with the
`standardwebhooks` package, a receiver down while publishing, privacy of agency endpoints,
re-delivery from the dashboard, hostile inputs."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import Clock, on_postgresql, url_of
from flows import CSRF, login, published
from quietday.api import create_app
from quietday.config import Settings
from quietday.persistence import Engine, session_scope
from quietday.persistence.webhooks import WebhookRepository
from quietday.planning.webhooks import Deliverer
from receiver import Receiver
from seed import Seeded

FAST = [0.05, 0.1, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _settings(engine: Engine, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": url_of(engine),
        "runner": "thread",
        "webhooks_local": True,
        "webhook_retry_seconds": FAST,
    }
    return Settings(**{**values, **changes})


@pytest.fixture
def wc(engine: Engine, world: Seeded, clock: Clock) -> Iterator[TestClient]:
    """A client of an app that allows local receivers."""
    app = create_app(_settings(engine), engine=engine, clock=clock)
    with TestClient(app, follow_redirects=False) as c:
        yield c


def _endpoint(
    wc: TestClient, world: Seeded, who: str, url: str, receiver: Receiver | None, **extra: Any
) -> dict[str, Any]:
    r = wc.post("/api/v1/webhooks", json={"url": url, **extra}, headers=world.auth(who))
    assert r.status_code == 201, r.text
    body = dict(r.json())
    assert body["secret"].startswith("whsec_")
    if receiver is not None:
        receiver.secrets[url.split(str(receiver.port), 1)[1]] = body["secret"]
    return body


def _drain(deliverer: Deliverer, *, until: float = 10.0) -> None:
    """Deliver until nothing is pending (waiting out the back-off), or fail after `until` s."""
    deadline = time.monotonic() + until
    while time.monotonic() < deadline:
        deliverer.run_once()
        with session_scope(deliverer.engine) as s:
            if not WebhookRepository(s).counts().get("pending"):
                return
        time.sleep(0.05)
    pytest.fail("deliveries still pending")


def _ids(received: list[dict[str, Any]]) -> list[str]:
    return [r["id"] for r in received]


def test_a_publication_reaches_every_endpoint_once_signed_and_private(
    engine: Engine, world: Seeded, wc: TestClient, receiver: Receiver
) -> None:
    every = _endpoint(wc, world, "supervisor", receiver.url("/all"), receiver)
    _endpoint(wc, world, "A", receiver.url("/a"), receiver)
    _endpoint(wc, world, "C", receiver.url("/c"), receiver, event_types=["visit.published"])
    ids = published(wc, world)
    deliverer = Deliverer(engine, _settings(engine))
    try:
        _drain(deliverer)
    finally:
        deliverer.close()
    # The integrator: 4 visits and the run; A: its three visits; C: the one with its plan.
    everything = receiver.delivered("/all")
    assert (
        sorted(r["payload"]["type"] for r in everything)
        == ["run.published"] + ["visit.published"] * 4
    )
    assert len(receiver.delivered("/a")) == 3
    assert len(receiver.delivered("/c")) == 1
    assert len(set(_ids(receiver.received))) == len(receiver.received) == 9
    run = next(r for r in everything if r["payload"]["type"] == "run.published")
    assert run["payload"]["data"]["run"]["published"] == 6
    # C shares a visit with B's unannounced plan: C is told neither of the plan nor of B.
    (c,) = receiver.delivered("/c")
    assert c["payload"]["data"]["visit"]["agencies"] == ["360103-SCJG"]
    assert c["payload"]["data"]["visit"]["plan_ids"] == [ids["open"]]
    assert "lead_agency_id" not in c["payload"]["data"]["visit"]
    # A sees its own case, and its partner B in the joint visit, but only its own plans.
    a_plans = sorted(p for r in receiver.delivered("/a") for p in r["payload"]["data"]["visit"]["plan_ids"])  # fmt: skip
    assert a_plans == sorted([ids["joint_a"], ids["case"], ids["alone"]])
    joint = next(
        r for r in receiver.delivered("/a") if ids["joint_a"] in r["payload"]["data"]["visit"]["plan_ids"]
    )  # fmt: skip
    assert joint["payload"]["data"]["visit"]["agencies"] == ["360102-SCJG", "360102-XFJY"]
    # The integrator sees every plan, hidden ones too.
    secret_visit = next(
        r for r in everything
        if r["payload"]["type"] == "visit.published" and ids["secret"] in r["payload"]["data"]["visit"]["plan_ids"]
    )  # fmt: skip
    assert secret_visit["payload"]["data"]["visit"]["agencies"] == ["360102-XFJY", "360103-SCJG"]
    # Cancelling A's plan of the joint visit: A and the integrator hear of it (visit.changed),
    # C filters visit.published only and hears nothing.
    r = wc.post(f"/api/v1/plans/{ids['joint_a']}/cancel", headers=world.auth("A"))
    assert r.status_code == 200, r.text
    deliverer = Deliverer(engine, _settings(engine))
    try:
        _drain(deliverer)
    finally:
        deliverer.close()
    changed = [r for r in receiver.delivered() if r["payload"]["type"] == "visit.changed"]
    assert sorted(r["path"] for r in changed) == ["/a", "/all"]
    mine = next(r for r in changed if r["path"] == "/a")["payload"]["data"]["visit"]
    assert mine["plan_ids"] == []
    assert mine["removed_plan_ids"] == [ids["joint_a"]]
    assert mine["agencies"] == ["360102-XFJY"]
    listed = wc.get(f"/api/v1/webhooks/{every['id']}/deliveries", headers=world.auth()).json()
    assert {d["status"] for d in listed} == {"succeeded"}
    assert len(listed) == 6


def test_a_receiver_down_during_publishing_gets_every_event_once_back(
    engine: Engine, world: Seeded, wc: TestClient
) -> None:
    """Connection refused while publishing, then 500s, then up: every event arrives after the
    back-off, none twice under one id, and every attempt is logged."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/hook"
    created = _endpoint(wc, world, "supervisor", url, None)
    published(wc, world)
    deliverer = Deliverer(engine, _settings(engine))
    try:
        assert deliverer.run_once() == 5  # nobody listens: connection refused
        with session_scope(engine) as s:
            lines = WebhookRepository(s).deliveries()
            assert {d.delivery.status for d in lines} == {"pending"}
            assert all("ConnectError" in (d.delivery.last_error or "") for d in lines)
        receiver = Receiver(port)
        receiver.secrets["/hook"] = created["secret"]
        receiver.answer = 500
        try:
            time.sleep(0.15)
            deliverer.run_once()
            assert receiver.received
            assert not receiver.delivered()
            receiver.answer = 200
            _drain(deliverer)
            ok = receiver.delivered()
            assert len(ok) == 5
            assert len(set(_ids(ok))) == 5
            # Each id was sent again only after a failure: one success per id.
            with session_scope(engine) as s:
                repo = WebhookRepository(s)
                for d in repo.deliveries():
                    attempts = repo.attempts(int(d.delivery.id or 0))
                    assert attempts[0].error
                    assert "ConnectError" in attempts[0].error
                    assert [a.status_code for a in attempts][-1] == 200
                    assert sum(a.status_code == 200 for a in attempts) == 1
                    assert d.delivery.status == "succeeded"
        finally:
            receiver.close()
    finally:
        deliverer.close()


def test_a_private_address_is_never_called_nor_named_to_the_agency(
    engine: Engine, world: Seeded, wc: TestClient, receiver: Receiver
) -> None:
    """Production deliverer (no `webhooks_local`): an endpoint that resolves to loopback is not
    called, and the agency's delivery log says so without the address its name resolved to
    (else an agency key could map the internal DNS)."""
    mine = _endpoint(wc, world, "A", receiver.url("/a"), receiver)
    published(wc, world)
    deliverer = Deliverer(engine, _settings(engine, webhooks_local=False))
    try:
        assert deliverer.run_once() == 3
    finally:
        deliverer.close()
    assert receiver.received == []
    listed = wc.get(f"/api/v1/webhooks/{mine['id']}/deliveries", headers=world.auth("A")).json()
    assert {d["last_error"] for d in listed} == {"blocked: not a public address"}


def test_a_delivery_fails_after_the_last_retry(
    engine: Engine, world: Seeded, wc: TestClient, receiver: Receiver
) -> None:
    _endpoint(wc, world, "supervisor", receiver.url("/x"), receiver, event_types=["run.published"])
    receiver.answer = 500
    published(wc, world)
    deliverer = Deliverer(engine, _settings(engine, webhook_retry_seconds=[0.01, 0.01]))
    try:
        _drain(deliverer)
    finally:
        deliverer.close()
    assert len(receiver.received) == 3  # the first attempt and two retries
    assert len({r["id"] for r in receiver.received}) == 1
    with session_scope(engine) as s:
        (line,) = WebhookRepository(s).deliveries()
        assert line.delivery.status == "failed"
        assert line.delivery.last_status_code == 500


def test_redelivery_from_the_dashboard_sends_the_same_id_again(
    engine: Engine, world: Seeded, wc: TestClient, receiver: Receiver
) -> None:
    _endpoint(wc, world, "supervisor", receiver.url("/d"), receiver, event_types=["run.published"])
    published(wc, world)
    deliverer = Deliverer(engine, _settings(engine))
    try:
        _drain(deliverer)
        (first,) = receiver.delivered()
        assert login(wc, world.supervisor).status_code == 303
        page = wc.get("/dashboard/webhooks")
        assert page.status_code == 200
        assert "run.published" in page.text
        assert "content-security-policy" in page.headers
        with session_scope(engine) as s:
            delivery_id = int(WebhookRepository(s).deliveries()[0].delivery.id or 0)
        one = wc.get(f"/dashboard/webhooks/deliveries/{delivery_id}")
        assert one.status_code == 200
        assert "HTTP 200" in one.text
        token = CSRF.search(one.text)
        assert token is not None
        url = f"/dashboard/webhooks/deliveries/{delivery_id}/redeliver"
        assert wc.post(url, data={"csrf": "wrong"}).status_code == 403
        assert (
            wc.post(
                url, data={"csrf": token.group(1)}, headers={"origin": "https://evil.example"}
            ).status_code
            == 403
        )
        r = wc.post(url, data={"csrf": token.group(1)})
        assert r.status_code == 303
        assert r.headers["location"].endswith("redelivered=1")
        _drain(deliverer)
        again = receiver.delivered()
        assert len(again) == 2
        assert again[1]["id"] == first["id"]
        assert json.dumps(again[1]["payload"], sort_keys=True) == json.dumps(
            first["payload"], sort_keys=True
        )
        log = wc.get(f"/dashboard/webhooks/deliveries/{delivery_id}").text
        assert log.count("data-attempt=") == 2
        # The API's re-delivery does the same; A's key cannot touch the integrator's.
        api = f"/api/v1/webhooks/deliveries/{delivery_id}/redeliver"
        assert wc.post(api, headers=world.auth("A")).status_code == 404
        assert wc.post(api, headers=world.auth()).status_code == 202
    finally:
        deliverer.close()


@on_postgresql
def test_two_deliverers_never_send_one_delivery_twice(
    engine: Engine, world: Seeded, wc: TestClient, receiver: Receiver
) -> None:
    """Two deliverers side by side on PostgreSQL (small batches, a slow receiver): every delivery
    is attempted once, by one of them."""
    for n in range(12):
        _endpoint(wc, world, "supervisor", receiver.url(f"/p{n}"), receiver)
    published(wc, world)
    receiver.delay = 0.02
    slow = _settings(engine)
    deliverers = [Deliverer(engine, slow, batch=4, concurrency=2) for _ in range(2)]
    went: list[int] = [0, 0]

    def work(i: int) -> None:
        while n := deliverers[i].run_once():
            went[i] += n

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        for d in deliverers:
            d.close()
    ids = _ids(receiver.received)
    assert len(ids) == 12 * 5 == len(set(ids)) == sum(went)
    assert all(went), "both deliverers took deliveries"
    with session_scope(engine) as s:
        repo = WebhookRepository(s)
        assert repo.counts() == {"succeeded": 60}
        assert all(len(repo.attempts(int(d.delivery.id or 0))) == 1 for d in repo.deliveries())


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "http://169.254.169.254/latest/meta-data"}, "url"),
        ({"url": "https://169.254.169.254/"}, "url"),
        ({"url": "https://10.0.0.8/hook"}, "url"),
        ({"url": "https://[::1]/hook"}, "url"),
        ({"url": "https://localhost/hook"}, "url"),
        # What the C resolver reads as a literal address (127.0.0.1, 10.0.0.1, 0.0.0.0), and
        # names ending with the root's dot.
        ({"url": "https://127.1/hook"}, "url"),
        ({"url": "https://0x7f000001/hook"}, "url"),
        ({"url": "https://2130706433/hook"}, "url"),
        ({"url": "https://0177.0.0.1/hook"}, "url"),
        ({"url": "https://10.1/hook"}, "url"),
        ({"url": "https://0/hook"}, "url"),
        ({"url": "https://127.0.0.1./hook"}, "url"),
        ({"url": "https://localhost./hook"}, "url"),
        ({"url": "http://example.com/hook"}, "url"),
        ({"url": "ftp://example.com/hook"}, "url"),
        ({"url": "https://user:pw@example.com/hook"}, "url"),
        ({"url": "https://example.com/" + "a" * 2000}, "url"),
        ({"url": "https://例子.中国/hook"}, "url"),
        ({"url": "https://example.com:99999/"}, "url"),
        ({"url": "https://example.com/", "event_types": ["visit.exploded"]}, "event_types"),
        ({"url": "https://example.com/", "description": "x" * 201}, "description"),
        ({"url": "https://example.com/", "agency_id": "NOPE"}, "agency_id"),
        ({"url": "https://example.com/", "secret": "mine"}, "secret"),
    ],
)
def test_hostile_endpoints_are_refused(
    client: TestClient, world: Seeded, body: dict[str, Any], field: str
) -> None:
    """Production settings (no `webhooks_local`): https to public addresses only."""
    r = client.post("/api/v1/webhooks", json=body, headers=world.auth())
    assert r.status_code == 422, r.text
    assert field in r.text


def test_who_manages_which_endpoint(client: TestClient, world: Seeded) -> None:
    url = "https://hooks.example.com/quietday"
    r = client.post("/api/v1/webhooks", json={"url": url}, headers=world.auth("A"))
    assert r.status_code == 201
    mine = r.json()
    assert mine["agency_id"] == "360102-SCJG"
    assert "secret" in mine
    # Another agency's key neither sees nor changes it; a supervisor does.
    assert client.get(f"/api/v1/webhooks/{mine['id']}", headers=world.auth("B")).status_code == 404
    assert client.get("/api/v1/webhooks", headers=world.auth("B")).json() == []
    other = {"url": url, "agency_id": "360102-XFJY"}
    assert client.post("/api/v1/webhooks", json=other, headers=world.auth("A")).status_code == 403
    listed = client.get("/api/v1/webhooks", headers=world.auth()).json()
    assert [e["id"] for e in listed] == [mine["id"]]
    assert "secret" not in listed[0]
    patched = client.patch(
        f"/api/v1/webhooks/{mine['id']}", json={"active": False}, headers=world.auth("A")
    )
    assert patched.status_code == 200
    assert patched.json()["active"] is False
    bad = client.patch(
        f"/api/v1/webhooks/{mine['id']}", json={"url": "http://127.0.0.1/"}, headers=world.auth("A")
    )
    assert bad.status_code == 422
    rotated = client.post(f"/api/v1/webhooks/{mine['id']}/rotate-secret", headers=world.auth("A"))
    assert rotated.status_code == 200
    assert rotated.json()["secret"] != mine["secret"]
    assert (
        client.delete(f"/api/v1/webhooks/{mine['id']}", headers=world.auth("B")).status_code == 404
    )
    assert (
        client.delete(f"/api/v1/webhooks/{mine['id']}", headers=world.auth("A")).status_code == 204
    )
    assert client.get("/api/v1/webhooks", headers=world.auth()).json() == []
    audit = client.get(
        "/api/v1/audit/log", headers=world.auth(), params={"action": "webhook."}
    ).json()
    actions = [e["action"] for e in audit["items"]]
    assert sorted(actions) == sorted(
        ["webhook.create", "webhook.update", "webhook.rotate_secret", "webhook.delete"]
    )
    assert all(mine["secret"] not in json.dumps(e) for e in audit["items"])
