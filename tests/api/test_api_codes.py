"""Inspection codes (检查码) and enterprise codes (监督码): minted for published visits, signed
so that anyone can check them offline with the public keys alone (checked here by code that
knows JWS and Ed25519, not quietday: a few lines of `cryptography`, and a Node script),
revoked when the plans behind them change, and never minted for an inspection its enterprise
may not know of before the day."""

from __future__ import annotations

import base64
import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi.testclient import TestClient

from conftest import Clock
from flows import published, start, submit, wait
from quietday.errors import InputError
from quietday.persistence import Engine, session_scope
from quietday.planning.codes import enterprise_from_token, keyring, rotate_stored_key
from seed import Seeded

# tests/js/verify-code.mjs: a verifier in another language, from the RFCs alone.
NODE_VERIFIER = Path(__file__).resolve().parents[1] / "js" / "verify-code.mjs"


def verify_in_node(jwks: dict[str, Any], tokens: list[str]) -> list[dict[str, Any]]:
    done = subprocess.run(
        ["node", str(NODE_VERIFIER)],
        input=json.dumps({"jwks": jwks, "tokens": tokens}),
        capture_output=True,
        text=True,
        check=True,
    )
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_offline(jwks: dict[str, Any], token: str) -> dict[str, Any]:
    """What any verifier does with the published keys: find the key the header names, check
    the EdDSA signature over `header.payload`, read the payload. Raises on any failure."""
    header_b64, payload_b64, signature_b64 = token.split(".")
    header = json.loads(_unb64(header_b64))
    assert header["alg"] == "EdDSA"
    (jwk,) = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    key = Ed25519PublicKey.from_public_bytes(_unb64(jwk["x"]))
    key.verify(_unb64(signature_b64), f"{header_b64}.{payload_b64}".encode("ascii"))
    payload: dict[str, Any] = json.loads(_unb64(payload_b64))
    return payload


def codes(fc: TestClient, world: Seeded, visit_id: int, who: str) -> Any:
    r = fc.get(f"/api/v1/visits/{visit_id}/codes", headers=world.auth(who))
    assert r.status_code == 200, r.text
    return r.json()


def visit_of(fc: TestClient, world: Seeded, plan_id: int) -> int:
    return int(fc.get(f"/api/v1/plans/{plan_id}", headers=world.auth()).json()["visit_id"])


def test_a_visit_code_verifies_offline_and_says_what_it_signs(
    fc: TestClient, world: Seeded
) -> None:
    ids = published(fc, world)
    visit = visit_of(fc, world, ids["joint_a"])
    (mine,) = codes(fc, world, visit, "A")
    jwks = fc.get("/api/v1/codes/keys").json()
    payload = verify_offline(jwks, mine["token"])
    assert payload == {
        "typ": "code",
        "cid": mine["id"],
        "vis": visit,
        "agy": "360102-SCJG",
        "ent": world.enterprises[0],
        "day": "2026-07-21",
        "trg": False,
        "pln": [ids["joint_a"]],
        "iat": payload["iat"],
    }
    assert mine["url"].endswith("/v/" + mine["token"])
    assert len(mine["short_code"]) == 9
    assert mine["short_code"][4] == "-"
    # Asked again, the same code; the supervisor sees both agencies' codes of the joint visit.
    assert codes(fc, world, visit, "A") == [mine]
    both = codes(fc, world, visit, "supervisor")
    assert sorted(c["agency_id"] for c in both) == ["360102-SCJG", "360102-XFJY"]
    assert mine in both
    # An agency not on the visit is told it does not exist.
    assert fc.get(f"/api/v1/visits/{visit}/codes", headers=world.auth("C")).status_code == 404


def test_an_altered_code_fails_the_offline_check(fc: TestClient, world: Seeded) -> None:
    ids = published(fc, world)
    (mine,) = codes(fc, world, visit_of(fc, world, ids["alone"]), "A")
    jwks = fc.get("/api/v1/codes/keys").json()
    header, payload, signature = mine["token"].split(".")
    claims = json.loads(_unb64(payload))
    claims["day"] = "2026-07-25"
    altered = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidSignature):
        verify_offline(jwks, f"{header}.{altered}.{signature}")


def test_a_changed_plan_revokes_its_code_and_a_new_one_is_minted(
    fc: TestClient, world: Seeded, engine: Engine
) -> None:
    ids = published(fc, world)
    visit = visit_of(fc, world, ids["joint_a"])
    before = {c["agency_id"]: c for c in codes(fc, world, visit, "supervisor")}
    r = fc.patch(
        f"/api/v1/plans/{ids['joint_a']}", json={"items": ["食品安全"]}, headers=world.auth("A")
    )
    assert r.status_code == 200, r.text
    with engine.connect() as conn:
        revoked = conn.exec_driver_sql(
            "SELECT id, revoked_reason FROM inspection_code WHERE revoked_at IS NOT NULL"
        ).all()
    assert [tuple(r) for r in revoked] == [(before["360102-SCJG"]["id"], "检查计划已变更")]
    after = {c["agency_id"]: c for c in codes(fc, world, visit, "supervisor")}
    # A's plan changed: a new code. B's plans did not: its code still holds.
    assert after["360102-SCJG"]["id"] != before["360102-SCJG"]["id"]
    assert after["360102-SCJG"]["short_code"] != before["360102-SCJG"]["short_code"]
    assert after["360102-XFJY"] == before["360102-XFJY"]


def test_a_cancelled_plan_revokes_the_code_of_its_visit(
    fc: TestClient, world: Seeded, engine: Engine
) -> None:
    ids = published(fc, world)
    visit = visit_of(fc, world, ids["alone"])
    (mine,) = codes(fc, world, visit, "A")
    assert (
        fc.post(f"/api/v1/plans/{ids['alone']}/cancel", headers=world.auth("A")).status_code == 200
    )
    with engine.connect() as conn:
        reason = conn.exec_driver_sql(
            f"SELECT revoked_reason FROM inspection_code WHERE id = {int(mine['id'])}"
        ).scalar_one()
    assert reason == "入企已取消"
    assert codes(fc, world, visit, "A") == []


def test_hidden_inspections_get_a_code_only_from_their_day(
    fc: TestClient, world: Seeded, clock: Clock
) -> None:
    ids = published(fc, world)
    case_visit = visit_of(fc, world, ids["case"])
    secret_visit = visit_of(fc, world, ids["secret"])
    clock.now = datetime(2026, 7, 21, 1, 0, tzinfo=UTC)
    assert codes(fc, world, case_visit, "A") == []
    assert codes(fc, world, secret_visit, "B") == []
    # C's announced plan on the same visit as B's unannounced one has its code already.
    assert [c["agency_id"] for c in codes(fc, world, secret_visit, "supervisor")] == ["360103-SCJG"]
    day = fc.get("/api/v1/codes", params={"date": "2026-07-22"}, headers=world.auth("A")).json()
    assert day == []
    clock.now = datetime(2026, 7, 22, 1, 0, tzinfo=UTC)
    (case,) = codes(fc, world, case_visit, "A")
    assert case["triggered"] is True
    assert fc.get("/api/v1/codes", headers=world.auth("A")).json() == [case]
    assert fc.get("/api/v1/codes", headers=world.auth()).status_code == 403


def test_a_rotated_key_keeps_old_codes_valid_and_signs_new_ones(
    fc: TestClient, world: Seeded, engine: Engine
) -> None:
    ids = published(fc, world)
    (old,) = codes(fc, world, visit_of(fc, world, ids["alone"]), "A")
    with session_scope(engine, actor="cli") as s:
        kid = rotate_stored_key(s)
    jwks = fc.get("/api/v1/codes/keys").json()
    assert [k["kid"] for k in jwks["keys"]] == [kid, jwks["keys"][1]["kid"]]
    assert verify_offline(jwks, old["token"])["cid"] == old["id"]
    (new,) = codes(fc, world, visit_of(fc, world, ids["joint_a"]), "A")
    assert json.loads(_unb64(new["token"].split(".")[0]))["kid"] == kid
    assert verify_offline(jwks, new["token"])["cid"] == new["id"]


def test_an_enterprise_code_names_its_enterprise_and_nothing_forged_passes(
    fc: TestClient, world: Seeded, engine: Engine
) -> None:
    enterprise = world.enterprises[2]
    r = fc.get(f"/api/v1/enterprises/{enterprise}/code", headers=world.auth())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["url"].endswith("/e/" + body["token"])
    assert verify_offline(fc.get("/api/v1/codes/keys").json(), body["token"]) == {
        "typ": "enterprise",
        "ent": enterprise,
    }
    assert (
        fc.get(f"/api/v1/enterprises/{enterprise}/code", headers=world.auth("A")).status_code == 403
    )
    with session_scope(engine, actor="cli") as s:
        ring = keyring(s, None)
        assert enterprise_from_token(s, ring, body["token"], field="code") == enterprise
        header, _, signature = body["token"].split(".")
        other = base64.urlsafe_b64encode(
            json.dumps({"typ": "enterprise", "ent": world.enterprises[3]}).encode()
        )
        for forged in (
            f"{header}.{other.rstrip(b'=').decode()}.{signature}",
            "not-a-token",
            "a.b.c",
            "x" * 5000,
            "",
        ):
            with pytest.raises(InputError) as caught:
                enterprise_from_token(s, ring, forged, field="code")
            assert caught.value.problems[0].path == "code"


def test_codes_verify_in_node_with_the_published_keys_alone(fc: TestClient, world: Seeded) -> None:
    ids = published(fc, world)
    visit = visit_of(fc, world, ids["joint_a"])
    both = codes(fc, world, visit, "supervisor")
    poster = fc.get(f"/api/v1/enterprises/{world.enterprises[0]}/code", headers=world.auth()).json()
    jwks = fc.get("/api/v1/codes/keys").json()
    header, payload, signature = both[0]["token"].split(".")
    other_payload = both[1]["token"].split(".")[1]
    tokens = [
        *(c["token"] for c in both),
        poster["token"],
        f"{header}.{other_payload}.{signature}",  # another code's content under this signature
        f"{header}.{payload}.{signature[:-4]}AAAA",
    ]
    results = verify_in_node(jwks, tokens)
    assert [r["ok"] for r in results] == [True, True, True, False, False]
    assert [r["payload"]["agy"] for r in results[:2]] == [c["agency_id"] for c in both]
    assert results[2]["payload"] == {"ent": world.enterprises[0], "typ": "enterprise"}


def test_a_hidden_plan_joining_an_announced_one_changes_nothing_of_its_code(
    fc: TestClient, world: Seeded, clock: Clock
) -> None:
    """A complaint case of A joins A's announced plan on E3 before the day: the code the
    enterprise may already hold stays valid and the same (revoking it would tell of the case);
    on the day, the code still stands for the announced plan."""
    ids = published(fc, world)
    visit = visit_of(fc, world, ids["alone"])
    (before,) = codes(fc, world, visit, "A")
    case = submit(fc, world, "A", 3, kind="case", exempt_reason="投诉举报",
                  earliest="2026-07-24", latest="2026-07-24")  # fmt: skip
    run = wait(fc, world, start(fc, world)["id"])
    assert run["status"] == "succeeded", run
    r = fc.post(f"/api/v1/runs/{run['id']}/publish", headers=world.auth())
    assert r.status_code == 200, r.text
    assert visit_of(fc, world, case) == visit
    page = fc.get(f"/v/{before['token']}")
    assert page.status_code == 200
    assert codes(fc, world, visit, "A") == [before]
    # The case changes, and is cancelled: still nothing.
    r = fc.patch(f"/api/v1/plans/{case}", json={"items": ["核查投诉"]}, headers=world.auth("A"))
    assert r.status_code == 200, r.text
    assert codes(fc, world, visit, "A") == [before]
    clock.now = datetime(2026, 7, 24, 1, 0, tzinfo=UTC)
    assert codes(fc, world, visit, "A") == [before]
    assert verify_offline(fc.get("/api/v1/codes/keys").json(), before["token"])["pln"] == [
        ids["alone"]
    ]
