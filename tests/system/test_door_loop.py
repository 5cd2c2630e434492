"""The bar of the door issue, on the demo, from outside (HTTP only, the keys the demo printed):
a filed, published visit's code verifies on the public page; a forged or altered code and a
revoked one are refused; an inspector's scan of the 监督码 creates a matched check-in; an entry
without a code is flagged `no_code`; an unannounced check's code exists only from its day; the
inspecting agency never sees an individual evaluation; a complaint reaches the supervisor's
queue and its reply reaches the enterprise."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from conftest import Clock
from quietday.api import create_app
from quietday.cli import app as cli
from quietday.config import Settings
from quietday.persistence import make_engine

TODAY = date(2026, 11, 28)
CHINA_MORNING = time(1, 30)  # 09:30 in China, in UTC
KEYS = re.compile(r"^(监督密钥|部门密钥)[^:]*: (qd_\S+)$", re.M)
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
SAME_SITE = {"Origin": "http://testserver"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], str]:
    out = tmp_path_factory.mktemp("door-demo")
    r = CliRunner().invoke(
        cli,
        ["demo", "--out", str(out), "--enterprises", "600", "--time-limit", "4", "--no-serve",
         "--today", TODAY.isoformat()],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    keys = {m.group(1): m.group(2) for m in KEYS.finditer(r.output)}
    agency = re.search(r"^部门密钥\(\S+ (\S+)\)", r.output, re.M)
    assert agency is not None
    return out, keys, agency.group(1)


def claims(token: str) -> dict[str, Any]:
    body = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))))


def on(day: date) -> datetime:
    return datetime.combine(day, CHINA_MORNING, tzinfo=UTC)


@pytest.mark.slow
def test_from_plan_to_the_door_and_back_on_the_demo(
    demo: tuple[Path, dict[str, str], str],
) -> None:
    out, keys, agency = demo
    url = f"sqlite:///{out / 'quietday.db'}"
    engine = make_engine(url)
    clock = Clock(on(TODAY))
    app = create_app(Settings(database_url=url, runner="thread"), engine=engine, clock=clock)
    supervisor = {"Authorization": f"Bearer {keys['监督密钥']}"}
    mine = {"Authorization": f"Bearer {keys['部门密钥']}"}
    with TestClient(app) as web, engine.connect() as db:
        # Two announced visits of the demo agency ahead, on two days: one to scan into, one
        # whose plan changes.
        ahead = db.execute(
            sa.text(
                "SELECT v.id, v.day, v.enterprise_id, min(p.id) FROM visit v JOIN plan p ON"
                " p.visit_id = v.id WHERE p.agency_id = :a AND v.day > :t AND p.status ="
                " 'published' AND p.kind IN ('routine', 'special') AND p.exempt_reason IS NULL"
                " AND NOT p.unannounced GROUP BY v.id, v.day, v.enterprise_id ORDER BY v.day, v.id"
            ),
            {"a": agency, "t": TODAY},
        ).all()
        (visit, day, enterprise, _), (other_visit, other_day, _, other_plan) = (
            ahead[0],
            next(row for row in ahead if row[1] != ahead[0][1]),
        )
        day, other_day = date.fromisoformat(str(day)), date.fromisoformat(str(other_day))

        # The code of a filed, published visit verifies on the public page, on its day.
        (code,) = web.get(f"/api/v1/visits/{visit}/codes", headers=mine).json()
        clock.now = on(day)
        page = web.get(f"/v/{code['token']}")
        assert page.status_code == 200, page.text
        assert "检查码有效" in page.text
        # Forged and altered codes get the same refusal.
        header, body, signature = code["token"].split(".")
        moved = dict(claims(code["token"]), day=(day + timedelta(days=1)).isoformat())
        altered = base64.urlsafe_b64encode(json.dumps(moved).encode()).rstrip(b"=").decode()
        refusals = [web.get(f"/v/{t}") for t in (f"{header}.{altered}.{signature}",
                                                   f"{header}.{body}.{signature[::-1]}", "x.y.z")]  # fmt: skip
        assert {r.status_code for r in refusals} == {404}
        assert len({r.content for r in refusals}) == 1
        # A revoked one (its plan changed) is refused as such.
        (changing,) = web.get(f"/api/v1/visits/{other_visit}/codes", headers=mine).json()
        r = web.patch(
            f"/api/v1/plans/{other_plan}", json={"items": ["演示:事项变更"]}, headers=mine
        )
        assert r.status_code == 200, r.text
        assert web.get(f"/v/{changing['token']}").status_code == 410
        assert other_day != day

        # The inspector scans the enterprise's 监督码: a check-in matched to the visit.
        poster = web.get(f"/api/v1/enterprises/{enterprise}/code", headers=supervisor).json()
        certificates = [
            c for (c,) in db.execute(
                sa.text("SELECT certificate_no FROM inspector WHERE agency_id = :a ORDER BY id"),
                {"a": agency},
            )
        ][:2]  # fmt: skip
        entry = web.post(
            "/api/v1/check-ins",
            json={"enterprise_code": poster["url"], "certificates": certificates,
                  "at": f"{day.isoformat()}T09:20:00+08:00"},
            headers=mine,
        )  # fmt: skip
        assert entry.status_code == 201, entry.text
        scanned = entry.json()
        assert (scanned["visit_id"], scanned["scanned"]) == (visit, True)
        assert [f["code"] for f in scanned["flags"]] == []
        # An entry where the agency holds no code that day is flagged no_code.
        elsewhere = db.execute(
            sa.text(
                "SELECT id FROM enterprise e WHERE NOT EXISTS (SELECT 1 FROM visit v WHERE"
                " v.enterprise_id = e.id AND v.day = :d) ORDER BY id LIMIT 1"
            ),
            {"d": day},
        ).scalar_one()
        bare = web.post(
            "/api/v1/check-ins",
            json={"enterprise_id": elsewhere, "certificates": certificates,
                  "at": f"{day.isoformat()}T09:25:00+08:00"},
            headers=mine,
        )  # fmt: skip
        assert bare.status_code == 201, bare.text
        assert "no_code" in {f["code"] for f in bare.json()["flags"]}

        # The enterprise rates the entry and complains from the code's page.
        csrf = CSRF.search(web.get(f"/v/{code['token']}").text)
        assert csrf is not None
        rated = web.post(f"/v/{code['token']}/rate", headers=SAME_SITE, follow_redirects=False,
                         data={"score": 1, "comment": "演示:只打一分的评价", "csrf": csrf.group(1)})  # fmt: skip
        assert rated.status_code == 303, rated.text
        complained = web.post(f"/v/{code['token']}/complain", headers=SAME_SITE,
                              follow_redirects=False,
                              data={"reason": "conduct", "text": "演示:投诉检查人员态度",
                                    "csrf": csrf.group(1)})  # fmt: skip
        assert complained.status_code == 303, complained.text
        # The agency never sees the single evaluation, in any of its answers.
        for path in (f"/api/v1/check-ins/{scanned['id']}", "/api/v1/check-ins?limit=500",
                     "/api/v1/check-ins/ratings"):  # fmt: skip
            seen = web.get(path, headers=mine)
            assert seen.status_code == 200, seen.text
            assert "只打一分" not in seen.text
        assert web.get(f"/api/v1/check-ins/{scanned['id']}", headers=mine).json()["rating"] is None
        assert web.get("/api/v1/complaints", headers=mine).status_code == 403
        # The complaint is in the supervisors' queue; their reply reaches the enterprise.
        queue = web.get("/api/v1/complaints", params={"status": "pending", "limit": 500},
                        headers=supervisor).json()["items"]  # fmt: skip
        (filed,) = [c for c in queue if c["channel"] == "verify"]
        assert (filed["agency_id"], filed["enterprise_id"], filed["check_in_id"]) == (
            agency, enterprise, scanned["id"])  # fmt: skip
        reply = "演示答复:已约谈该部门,责令整改。"
        closed = web.post(f"/api/v1/complaints/{filed['id']}/close", json={"reply": reply},
                          headers=supervisor)  # fmt: skip
        assert closed.status_code == 200, closed.text
        feed = web.post("/api/v1/feed-tokens", headers=supervisor,
                        json={"kind": "enterprise", "subject_id": enterprise, "label": "演示"})  # fmt: skip
        assert reply in web.get(f"/feeds/{feed.json()['token']}").text

        # An agency whose plans in a visit are all hidden (case, exempt or unannounced) has no
        # code before the day. (One with an announced plan there too has a code for that one.)
        hidden = db.execute(
            sa.text(
                "SELECT v.id, v.day, p.agency_id FROM visit v JOIN plan p ON p.visit_id = v.id"
                " WHERE p.status = 'published' AND v.day > :d AND (p.kind = 'case' OR"
                " p.exempt_reason IS NOT NULL OR p.unannounced) AND NOT EXISTS (SELECT 1"
                " FROM plan o WHERE o.visit_id = v.id AND o.agency_id = p.agency_id"
                " AND o.status = 'published' AND o.kind != 'case' AND o.exempt_reason IS NULL"
                " AND NOT o.unannounced) ORDER BY v.day, v.id LIMIT 1"
            ),
            {"d": day},
        ).one()
        hidden_day = date.fromisoformat(str(hidden[1]))
        clock.now = on(hidden_day - timedelta(days=1))
        before = web.get(f"/api/v1/visits/{hidden[0]}/codes", headers=supervisor).json()
        assert hidden[2] not in {c["agency_id"] for c in before}
        clock.now = on(hidden_day)
        then = web.get(f"/api/v1/visits/{hidden[0]}/codes", headers=supervisor).json()
        assert hidden[2] in {c["agency_id"] for c in then}
    engine.dispose()
