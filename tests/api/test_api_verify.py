"""The enterprise's side of the codes, without sign-in: a filed, published visit's code verifies
on the public page (and its JSON twin) with what the enterprise is entitled to see and nothing
more; a forged, altered or foreign-key code gets one and the same refusal, a revoked one is
refused plainly; a short code typed on the enterprise's own page holds only on the day, for
that enterprise, and misses are limited; hidden inspections have no code before their day."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from conftest import Clock, url_of
from flows import login, published
from quietday.cli import app
from quietday.persistence import Engine, session_scope
from quietday.planning.registry import create_inspector, put_policy, update_enterprise
from quietday.signing import Keyring, new_private_pem
from seed import AGENCIES, Seeded

A, B, C = (AGENCIES[k][0] for k in "ABC")
A_NAME, B_NAME, C_NAME = (AGENCIES[k][1] for k in "ABC")
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def day(clock: Clock, d: int, month: int = 7) -> None:
    """The clock on a day of 2026, 09:00 in China."""
    clock.now = datetime(2026, month, d, 1, 0, tzinfo=UTC)


def visit_of(fc: TestClient, world: Seeded, plan_id: int) -> int:
    return int(fc.get(f"/api/v1/plans/{plan_id}", headers=world.auth()).json()["visit_id"])


def code_of(fc: TestClient, world: Seeded, plan_id: int, agency: str) -> dict[str, Any]:
    r = fc.get(f"/api/v1/visits/{visit_of(fc, world, plan_id)}/codes", headers=world.auth())
    assert r.status_code == 200, r.text
    (code,) = [c for c in r.json() if c["agency_id"] == agency]
    return dict(code)


def staff(engine: Engine, fc: TestClient, world: Seeded, visit: int) -> None:
    """Two inspectors of A and one of B on the visit, each sent by its own agency."""
    with session_scope(engine, actor="cli") as s:
        ids = {
            who: create_inspector(s, agency_id=agency, name=name, certificate_no=cert).id
            for who, agency, name, cert in (
                ("a1", A, "张明", "36010200001"),
                ("a2", A, "李华", "36010200002"),
                ("b1", B, "王强", "36010299009"),
            )
        }
    for who, mine in (("A", ["a1", "a2"]), ("B", ["b1"])):
        r = fc.put(
            f"/api/v1/visits/{visit}/inspectors",
            json={"inspector_ids": [ids[k] for k in mine]},
            headers=world.auth(who),
        )
        assert r.status_code == 200, r.text


def altered(token: str, part: int, at: int = 5) -> str:
    parts = token.split(".")
    text = parts[part]
    parts[part] = text[:at] + ("B" if text[at] != "B" else "C") + text[at + 1 :]
    return ".".join(parts)


def test_a_published_code_verifies_with_what_the_enterprise_may_know(
    fc: TestClient, world: Seeded, clock: Clock, engine: Engine
) -> None:
    ids = published(fc, world)
    visit = visit_of(fc, world, ids["joint_a"])
    staff(engine, fc, world, visit)
    r = fc.patch(
        f"/api/v1/agencies/{A}",
        json={"legal_basis": "《中华人民共和国食品安全法》第一百一十条"},
        headers=world.auth(),
    )
    assert r.status_code == 200, r.text
    assert r.json()["legal_basis"] == "《中华人民共和国食品安全法》第一百一十条"
    day(clock, 21)
    code = code_of(fc, world, ids["joint_a"], A)
    page = fc.get(f"/v/{code['token']}")
    assert page.status_code == 200, page.text
    assert page.headers["cache-control"] == "no-store"
    # On its day the page has the enterprise's forms: its URL (the token) goes to this site
    # alone, so that a browser's Origin lets the form through.
    assert page.headers["referrer-policy"] == "same-origin"
    assert "default-src 'self'" in page.headers["content-security-policy"]
    text = page.text
    for shown in (
        "检查码有效",
        "2026年7月21日",
        A_NAME,
        B_NAME,  # the partner of the joint visit, on its day
        "SCJG-0101",
        "《中华人民共和国食品安全法》第一百一十条",
        "张明",
        "36010200001",
        "李华",
        "36010200002",
        "计划检查",
        "江西测试1号有限公司",
    ):
        assert shown in text, shown
    # B's inspector is not A's to show; nor is any other enterprise.
    assert "王强" not in text
    assert "36010299009" not in text
    for other in world.enterprises[1:]:
        assert other not in text
    assert "<script" not in text
    assert "style=" not in text
    twin = fc.get("/api/v1/codes/verify", params={"token": code["token"]})
    assert twin.status_code == 200, twin.text
    body = twin.json()
    assert body["valid"] is True
    assert body["warnings"] == []
    assert body["date"] == "2026-07-21"
    assert body["today"] == "2026-07-21"
    assert (body["agency_id"], body["agency_name"]) == (A, A_NAME)
    assert body["partner_agencies"] == [B_NAME]
    assert body["items"] == ["SCJG-0101"]
    assert body["legal_basis"] == "《中华人民共和国食品安全法》第一百一十条"
    assert body["inspectors"] == [
        {"name": "张明", "certificate_no": "36010200001"},
        {"name": "李华", "certificate_no": "36010200002"},
    ]
    assert body["enterprise_id"] == world.enterprises[0]
    assert body["triggered"] is False
    # B's code shows the general legal basis (B set none) and B's inspector alone.
    b = fc.get(
        "/api/v1/codes/verify", params={"token": code_of(fc, world, ids["joint_b"], B)["token"]}
    )
    assert b.json()["legal_basis"].startswith("《中华人民共和国行政处罚法》")
    assert b.json()["inspectors"] == [{"name": "王强", "certificate_no": "36010299009"}]


def test_forged_altered_foreign_and_revoked_codes_are_refused(
    fc: TestClient, world: Seeded, clock: Clock
) -> None:
    ids = published(fc, world)
    day(clock, 21)
    code = code_of(fc, world, ids["joint_a"], A)
    token = code["token"]
    header, payload, _ = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    foreign = Keyring.of(new_private_pem()).sign(claims)
    other_day = {**claims, "day": "2026-07-22"}
    swapped = base64.urlsafe_b64encode(json.dumps(other_day).encode()).rstrip(b"=").decode()
    refused = [
        altered(token, 1),
        altered(token, 2),
        f"{header}.{swapped}.{token.split('.')[2]}",
        foreign,
        "not-a-token",
        "a.b.c",
        "x" * 3000,
        "検査.コード.です",
    ]
    answers = [fc.get(f"/v/{t}") for t in refused]
    assert {a.status_code for a in answers} == {404}
    assert len({a.text for a in answers}) == 1
    assert "检查码无效" in answers[0].text
    assert "检查码有效" not in answers[0].text
    for t in refused[:6]:
        twin = fc.get("/api/v1/codes/verify", params={"token": t})
        assert twin.status_code == 404, t
        assert twin.json()["detail"] == "检查码无效"
    # A changed plan revokes the code: refused, plainly, with the reason; not green.
    r = fc.patch(
        f"/api/v1/plans/{ids['joint_a']}", json={"items": ["食品安全"]}, headers=world.auth("A")
    )
    assert r.status_code == 200, r.text
    page = fc.get(f"/v/{token}")
    assert page.status_code == 410
    assert "此检查码已失效" in page.text
    assert "检查计划已变更" in page.text
    assert 'class="verdict bad"' in page.text
    assert "检查码有效" not in page.text
    assert "SCJG-0101" not in page.text
    assert "食品安全" not in page.text
    twin = fc.get("/api/v1/codes/verify", params={"token": token}).json()
    assert twin["valid"] is False
    assert twin["revoked_reason"] == "检查计划已变更"
    assert [w["code"] for w in twin["warnings"]] == ["revoked"]
    # The new code of the changed plan verifies.
    fresh = code_of(fc, world, ids["joint_a"], A)
    assert fc.get("/api/v1/codes/verify", params={"token": fresh["token"]}).json()["items"] == [
        "食品安全"
    ]


def test_a_partner_hidden_before_its_day_never_shows(
    fc: TestClient, world: Seeded, clock: Clock
) -> None:
    ids = published(fc, world)
    r = fc.patch(
        f"/api/v1/plans/{ids['secret']}",
        json={"items": ["XF-0909 暗访事项"]},
        headers=world.auth("B"),
    )
    assert r.status_code == 200, r.text
    day(clock, 21)
    code = code_of(fc, world, ids["open"], C)
    page = fc.get(f"/v/{code['token']}")
    assert page.status_code == 200
    raw = page.content
    for hidden in (B, B_NAME, "XF-0909", "暗访", str(ids["secret"])):
        assert hidden.encode() not in raw, hidden
    for other in world.enterprises[:2] + world.enterprises[3:]:
        assert other.encode() not in raw
    twin = fc.get("/api/v1/codes/verify", params={"token": code["token"]}).json()
    assert twin["partner_agencies"] == []
    assert [w["code"] for w in twin["warnings"]] == ["not_yet"]
    assert "B" not in json.dumps(twin["items"])
    # On the day, the partner is named (its items stay its own code's).
    day(clock, 23)
    twin = fc.get("/api/v1/codes/verify", params={"token": code["token"]}).json()
    assert twin["partner_agencies"] == [B_NAME]
    assert twin["warnings"] == []
    assert "XF-0909" not in fc.get(f"/v/{code['token']}").text


def test_a_case_inspection_has_a_code_only_from_its_day(
    fc: TestClient, world: Seeded, clock: Clock
) -> None:
    ids = published(fc, world)
    case_visit = visit_of(fc, world, ids["case"])
    day(clock, 21)
    assert fc.get(f"/api/v1/visits/{case_visit}/codes", headers=world.auth()).json() == []
    day(clock, 22)
    code = code_of(fc, world, ids["case"], A)
    page = fc.get(f"/v/{code['token']}")
    assert page.status_code == 200
    assert "触发式检查" in page.text
    assert "投诉举报" in page.text
    twin = fc.get("/api/v1/codes/verify", params={"token": code["token"]}).json()
    assert twin["triggered"] is True
    assert twin["trigger_reason"] == "投诉举报"


def test_the_warnings_say_what_is_wrong(
    fc: TestClient, world: Seeded, clock: Clock, engine: Engine
) -> None:
    ids = published(fc, world)
    code = code_of(fc, world, ids["joint_a"], A)["token"]

    def warned() -> list[str]:
        return [
            w["code"]
            for w in fc.get("/api/v1/codes/verify", params={"token": code}).json()["warnings"]
        ]

    day(clock, 20)
    assert warned() == ["not_yet"]
    day(clock, 22)
    assert warned() == ["past"]
    day(clock, 21)
    assert warned() == []
    with session_scope(engine, actor="cli") as s:
        put_policy(s, policy_id="jx-1-20", name="每月1-31日", month_days=[[1, 31]])
        update_enterprise(
            s, world.enterprises[0], {"cap_overrides": {"agency_enterprise_per_year": 0}}
        )
    assert warned() == ["over_cap", "quiet_day"]
    page = fc.get(f"/v/{code}").text
    assert "检查码真实,但请注意" in page
    assert "超过上限 0 次" in page
    assert "安静日" in page
    assert "检查码有效" not in page


def enterprise_page(fc: TestClient, world: Seeded, n: int) -> tuple[str, str]:
    r = fc.get(f"/api/v1/enterprises/{world.enterprises[n]}/code", headers=world.auth())
    assert r.status_code == 200, r.text
    path = "/e/" + r.json()["token"]
    form = fc.get(path)
    assert form.status_code == 200
    found = CSRF.search(form.text)
    assert found is not None
    return path, found.group(1)


def typed(fc: TestClient, path: str, csrf: str, code: str, **headers: str) -> Any:
    return fc.post(path, data={"code": code, "csrf": csrf}, headers=headers)


def test_a_typed_code_holds_on_its_day_for_its_enterprise_only(
    fc: TestClient, world: Seeded, clock: Clock
) -> None:
    ids = published(fc, world)
    short = code_of(fc, world, ids["alone"], A)["short_code"]
    mine, csrf = enterprise_page(fc, world, 3)
    assert "本企业监督码" in fc.get(mine).text
    assert "江西测试4号有限公司" in fc.get(mine).text
    assert 'href="/door/scan"' in fc.get(mine).text
    day(clock, 23)
    before = typed(fc, mine, csrf, short)
    assert before.status_code == 404
    assert "没有找到今天对本企业有效" in before.text
    day(clock, 24)
    shown = typed(fc, mine, csrf, short)
    assert shown.status_code == 200, shown.text
    assert "检查码有效" in shown.text
    assert A_NAME in shown.text
    assert shown.headers["cache-control"] == "no-store"
    loose = typed(fc, mine, csrf, " " + short.replace("-", "").lower() + " ")
    assert loose.status_code == 200
    others, other_csrf = enterprise_page(fc, world, 0)
    assert typed(fc, others, other_csrf, short).status_code == 404
    day(clock, 25)
    assert typed(fc, mine, csrf, short).status_code == 404
    # The form is refused without its cookie's token, or from another site.
    day(clock, 24)
    assert typed(fc, mine, "forged", short).status_code == 403
    assert typed(fc, mine, csrf, short, origin="https://evil.example").status_code == 403


def test_typed_misses_are_limited_per_enterprise(
    fc: TestClient, world: Seeded, clock: Clock
) -> None:
    ids = published(fc, world)
    short = code_of(fc, world, ids["alone"], A)["short_code"]
    mine, csrf = enterprise_page(fc, world, 3)
    day(clock, 24)
    for n in range(10):
        assert typed(fc, mine, csrf, f"ZZZZ-ZZZ{n}").status_code == 404
    limited = typed(fc, mine, csrf, short)
    assert limited.status_code == 429
    assert "核验失败次数过多" in limited.text
    # Another enterprise's page from the same address is not limited yet.
    others, other_csrf = enterprise_page(fc, world, 0)
    assert typed(fc, others, other_csrf, "ZZZZ-ZZZZ").status_code == 404
    # The next hour, the enterprise may try again.
    clock.now = datetime(2026, 7, 24, 2, 0, tzinfo=UTC)
    assert typed(fc, mine, csrf, short).status_code == 200


def test_hostile_input_is_refused_never_a_server_error(
    fc: TestClient, world: Seeded, clock: Clock
) -> None:
    published(fc, world)
    mine, csrf = enterprise_page(fc, world, 3)
    day(clock, 24)
    for code, status in (
        ("K" * 101, 422),
        ("检查码一二三四五", 404),
        ("", 404),
        ("\u0000\u0001", 422),
        ("AAAA-AAAA' OR 1=1 --", 404),
    ):
        assert typed(fc, mine, csrf, code).status_code == status, code
    for path in ("/e/" + "x" * 5000, "/e/a.b.c", "/e/%E4%BC%81", "/v/%00", "/v/" + "." * 40):
        assert fc.get(path).status_code == 404, path
    assert fc.post("/e/a.b.c", data={"code": "x", "csrf": csrf}).status_code == 404
    for params in ({"token": ""}, {"token": "x" * 1025}, {}):
        assert fc.get("/api/v1/codes/verify", params=params).status_code == 422
    assert fc.get("/feeds/icsf_nothing/code").status_code == 404
    assert fc.get("/feeds/" + "x" * 300 + "/code").status_code == 404


@pytest.mark.parametrize("who", ["A", "supervisor"])
def test_an_agency_sets_no_legal_basis_a_supervisor_does(
    fc: TestClient, world: Seeded, who: str
) -> None:
    r = fc.patch(f"/api/v1/agencies/{A}", json={"legal_basis": "依据"}, headers=world.auth(who))
    assert r.status_code == (200 if who == "supervisor" else 403)
    long = fc.patch(f"/api/v1/agencies/{A}", json={"legal_basis": "法" * 501}, headers=world.auth())
    assert long.status_code == 422


def test_a_supervisor_prints_enterprise_codes_in_bulk(fc: TestClient, world: Seeded) -> None:
    assert fc.get("/dashboard/enterprise-codes", follow_redirects=False).status_code == 303
    assert login(fc, world.supervisor).status_code == 200
    page = fc.get("/dashboard/enterprise-codes", params={"region": "360103"})
    assert page.status_code == 200, page.text
    west = [e for e in world.enterprises if e[2:8] == "360103"]
    assert page.text.count('class="poster"') == len(west) == 2
    for e in world.enterprises:
        assert (e in page.text) == (e in west)
    named = fc.get("/dashboard/enterprise-codes", params={"q": "测试2号"})
    assert named.text.count('class="poster"') == 1
    assert fc.get("/dashboard/enterprise-codes", params={"region": "36x"}).status_code == 422


def test_the_cli_prints_the_keys_and_rotates_only_a_stored_key(
    fc: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUIETDAY_DATABASE_URL", url_of(engine))
    before = fc.get("/api/v1/codes/keys").json()
    shown = CliRunner().invoke(app, ["codes", "public-keys"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout) == before
    rotated = CliRunner().invoke(app, ["codes", "rotate-key"])
    assert rotated.exit_code == 0, rotated.output
    after = fc.get("/api/v1/codes/keys").json()["keys"]
    assert [k["kid"] for k in after[1:]] == [before["keys"][0]["kid"]]
    assert after[0]["kid"] in rotated.stdout
    monkeypatch.setenv("QUIETDAY_CODE_SIGNING_KEY", new_private_pem())
    refused = CliRunner().invoke(app, ["codes", "rotate-key"])
    assert refused.exit_code == 2
    assert "QUIETDAY_CODE_RETIRED_PUBLIC_KEYS" in refused.stderr


def test_a_cancelled_visit_refuses_its_code(fc: TestClient, world: Seeded) -> None:
    ids = published(fc, world)
    code = code_of(fc, world, ids["alone"], A)["token"]
    assert (
        fc.post(f"/api/v1/plans/{ids['alone']}/cancel", headers=world.auth("A")).status_code == 200
    )
    page = fc.get(f"/v/{code}")
    assert page.status_code == 410
    assert "入企已取消" in page.text
