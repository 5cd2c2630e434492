"""The public code pages in headless Chromium (Debian's `chromium` via Playwright) on a phone
(360 px, touch, device scale 3) and a desktop (1280 px): the verification page, the revoked
code's page, the enterprise's page with a typed code, and the 监督码 poster, with no console
error and nothing wider than the screen. The QR codes the app draws are photographed from the
page and decoded by an independent decoder (zxing-cpp); the URL they hold is the expected one
and its token verifies offline with the published keys. Screenshots go to out/test-artifacts/."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import zxingcpp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi.testclient import TestClient
from PIL import Image

from browser import chromium, free_port, served, shoot, watch
from conftest import Clock, url_of
from flows import published, token
from quietday.api import create_app
from quietday.api.qr import qr_svg
from quietday.config import Settings
from quietday.persistence import Engine
from seed import AGENCIES, Seeded

PHONE = {"viewport": {"width": 360, "height": 740}, "device_scale_factor": 3, "is_mobile": True,
         "has_touch": True}  # fmt: skip
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
WIDE = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_offline(jwks: dict[str, Any], token: str) -> dict[str, Any]:
    header_b64, payload_b64, signature_b64 = token.split(".")
    kid = json.loads(_unb64(header_b64))["kid"]
    (jwk,) = [k for k in jwks["keys"] if k["kid"] == kid]
    Ed25519PublicKey.from_public_bytes(_unb64(jwk["x"])).verify(
        _unb64(signature_b64), f"{header_b64}.{payload_b64}".encode("ascii")
    )
    payload: dict[str, Any] = json.loads(_unb64(payload_b64))
    return payload


def decoded(png: bytes) -> str:
    """The one QR code in a screenshot, read by zxing-cpp."""
    (found,) = zxingcpp.read_barcodes(
        Image.open(io.BytesIO(png)).convert("L"), formats=zxingcpp.BarcodeFormat.QRCode
    )
    assert found.format == zxingcpp.BarcodeFormat.QRCode
    return str(found.text)


def code_of(fc: TestClient, world: Seeded, plan_id: int) -> dict[str, Any]:
    """Agency A's code of the visit a plan is in."""
    visit = fc.get(f"/api/v1/plans/{plan_id}", headers=world.auth()).json()["visit_id"]
    (code,) = fc.get(f"/api/v1/visits/{visit}/codes", headers=world.auth("A")).json()
    return dict(code)


@pytest.fixture
def base(engine: Engine, fc: TestClient, clock: Clock) -> Iterator[str]:
    """The app under uvicorn on a free port, on the test's database and clock; its links point
    at itself."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(database_url=url_of(engine), runner="thread", public_url=base)
    with served(create_app(settings, engine=engine, clock=clock), port):
        yield base


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def test_the_code_pages_on_a_phone_and_a_desktop(
    base: str, fc: TestClient, world: Seeded, clock: Clock, browser: Any
) -> None:
    ids = published(fc, world)
    code = code_of(fc, world, ids["alone"])
    stale = code_of(fc, world, ids["joint_a"])
    changed = fc.patch(
        f"/api/v1/plans/{ids['joint_a']}", json={"items": ["食品安全"]}, headers=world.auth("A")
    )
    assert changed.status_code == 200, changed.text
    clock.now = datetime(2026, 7, 24, 1, 0, tzinfo=UTC)
    enterprise = world.enterprises[3]
    e_token = fc.get(f"/api/v1/enterprises/{enterprise}/code", headers=world.auth()).json()["token"]
    feed = token(fc, world, "enterprise", enterprise)["token"]
    jwks = fc.get("/api/v1/codes/keys").json()
    for name, device in (("phone", PHONE), ("desktop", DESKTOP)):
        context = browser.new_context(**device, locale="zh-CN")
        page = context.new_page()
        # The revoked code's 410 is expected, and the subscribe page has no favicon.
        problems = watch(
            page, http=True, expected={f"{base}/v/{stale['token']}", f"{base}/favicon.ico"}
        )
        # The verification page of a live code.
        page.goto(f"{base}/v/{code['token']}")
        assert page.locator(".verdict.good h1").inner_text() == "检查码有效"
        assert AGENCIES["A"][1] in page.inner_text("main")
        assert page.evaluate(WIDE) <= 0
        shoot(page, f"verify-code-{name}")
        # A revoked code: red, plainly refused.
        response = page.goto(f"{base}/v/{stale['token']}")
        assert response is not None
        assert response.status == 410
        assert page.locator(".verdict.bad h1").inner_text() == "此检查码已失效"
        assert page.evaluate(WIDE) <= 0
        shoot(page, f"verify-revoked-{name}")
        # The enterprise's page: type the short code, lower case and without its dash.
        page.goto(f"{base}/e/{e_token}")
        assert "本企业监督码" in page.inner_text("main")
        assert page.evaluate(WIDE) <= 0
        shoot(page, f"verify-enterprise-{name}")
        page.fill("#code", code["short_code"].replace("-", "").lower())
        page.click("button[type=submit]")
        page.wait_for_load_state()
        shoot(page, f"verify-typed-{name}")
        assert page.locator(".verdict.good h1").inner_text() == "检查码有效"
        # The poster from the subscribe page: its QR decodes to the enterprise's page.
        page.goto(f"{base}/feeds/{feed}")
        page.click("text=打印本企业监督码")
        page.wait_for_load_state()
        assert page.evaluate(WIDE) <= 0
        shoot(page, f"verify-poster-{name}")
        url = decoded(page.locator(".poster .qr").screenshot())
        assert url == f"{base}/e/{e_token}"
        assert verify_offline(jwks, url.rsplit("/", 1)[1]) == {
            "typ": "enterprise",
            "ent": enterprise,
        }
        page.emulate_media(media="print")
        shoot(page, f"verify-poster-print-{name}")
        assert problems == []
        context.close()


def test_the_door_facing_qr_decodes_to_a_code_that_verifies(
    fc: TestClient, world: Seeded, clock: Clock, browser: Any
) -> None:
    ids = published(fc, world)
    clock.now = datetime(2026, 7, 24, 1, 0, tzinfo=UTC)
    code = code_of(fc, world, ids["alone"])
    assert code["url"].endswith(f"/v/{code['token']}")
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.set_content(f'<div id="qr">{qr_svg(code["url"])}</div>')
    url = decoded(page.locator("#qr svg").screenshot())
    context.close()
    assert url == code["url"]
    payload = verify_offline(fc.get("/api/v1/codes/keys").json(), url.rsplit("/", 1)[1])
    assert payload["cid"] == code["id"]
    assert payload["ent"] == world.enterprises[3]
