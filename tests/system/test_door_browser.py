"""The door pages in headless Chromium (Debian's, launched by Playwright by path) as a phone (360
px, touch, Android's user agent) whose camera is faked with a video of an enterprise's real
监督码: sign in with the agency's key, name two inspectors, show today's inspection code (its QR,
screenshotted and read back by zxing-cpp, an independent decoder: the signed code's URL), then
the scan page reads the 监督码 from the camera and registers the check-in. No console error, no
CSP violation, no failed request. Screenshots at 360 and 1280 px go to out/test-artifacts/."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import segno
import zxingcpp
from fastapi.testclient import TestClient
from PIL import Image

from browser import chromium, free_port, served, shoot, watch
from conftest import CERTS, Clock
from db import migrated, sqlite_url
from flows import published
from quietday.api import create_app
from quietday.config import Settings
from quietday.persistence import Engine, session_scope
from quietday.planning.codes import keyring
from quietday.planning.registry import create_inspector
from seed import AGENCIES, Seeded, seed

# 09:30 in China on the day of E0's joint visit (A and B).
MORNING = datetime(2026, 7, 21, 1, 30, tzinfo=UTC)
PHONE = {
    "viewport": {"width": 360, "height": 740},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "user_agent": "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/140.0 Mobile Safari/537.36",
    "locale": "zh-CN",
}


@dataclass
class Door:
    base: str
    world: Seeded
    engine: Engine
    client: TestClient
    code_url: str


@pytest.fixture(scope="module")
def door(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Door]:
    """The app under uvicorn on a SQLite file with the seeded world's schedule published, its
    clock on the morning of E0's visit, and E0's 监督码."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    for engine in migrated(sqlite_url(tmp_path_factory.mktemp("door"))):
        world = seed(engine)
        with session_scope(engine, actor="test") as s:
            for n in (*CERTS["A"], "A-003"):
                create_inspector(s, agency_id=AGENCIES["A"][0], name=f"执法员{n}", certificate_no=n)
        settings = Settings(database_url=str(engine.url), runner="thread", public_url=base)
        clock = Clock(MORNING)
        app = create_app(settings, engine=engine, clock=clock)
        with TestClient(app, base_url=base) as client:
            published(client, world)
            r = client.get(f"/api/v1/enterprises/{world.enterprises[0]}/code", headers=world.auth())
            assert r.status_code == 200
            with served(create_app(settings, engine=engine, clock=clock), port):
                yield Door(base, world, engine, client, r.json()["url"])


def write_y4m(path: Path, text: str, *, width: int = 640, height: int = 480) -> None:
    """A few seconds of video (YUV4MPEG2, 4:2:0) of a QR code of `text` on white paper, held as
    a hand holds a phone: from frame to frame a little nearer or farther (4 to 6 pixels a
    module) and off centre. What Chromium's fake camera plays. One still frame is a single try:
    the browser's decoder misses some dense signed codes on a given frame for good (2 of 20
    runs with one still frame, each run's code signed anew), as it may one camera frame."""
    code = segno.make(text, error="m")
    chroma = np.full((height // 2, width // 2), 128, dtype=np.uint8).tobytes()
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F15:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for k in range(45):
            scale, shift = 4 + k % 3, 8 * (k % 5 - 2)
            rows = [list(row) for row in code.matrix_iter(scale=scale, border=4)]
            qr = np.where(np.array(rows, dtype=bool), 16, 235).astype(np.uint8)
            top = (height - qr.shape[0]) // 2 + shift
            left = (width - qr.shape[1]) // 2 - shift
            assert top >= 0, (qr.shape, shift)
            assert top + qr.shape[0] <= height, (qr.shape, shift)
            luma = np.full((height, width), 235, dtype=np.uint8)
            luma[top : top + qr.shape[0], left : left + qr.shape[1]] = qr
            out.write(b"FRAME\n" + luma.tobytes() + chroma + chroma)


@pytest.fixture(scope="module")
def browser(door: Door, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    video = tmp_path_factory.mktemp("camera") / "supervision-code.y4m"
    write_y4m(video, door.code_url)
    camera = [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    ]
    with chromium(camera) as launched:
        yield launched


def sign_in_with_crew(page: Any, door: Door) -> None:
    page.goto(f"{door.base}/door")
    assert page.url.endswith("/door/login")
    page.fill("#key", door.world.keys["A"])
    page.click("button[type=submit]")
    page.wait_for_url(f"{door.base}/door/crew")
    page.check("input[name=inspector] >> nth=0")
    page.check("input[name=inspector] >> nth=1")
    page.click("form[action='/door/crew'] button[type=submit]")
    page.wait_for_url(f"{door.base}/door")


def test_phone_shows_the_code_and_scans_the_enterprise_code_with_its_camera(
    door: Door, browser: Any
) -> None:
    context = browser.new_context(**PHONE)
    context.grant_permissions(["camera"], origin=door.base)
    page = context.new_page()
    problems = watch(page, http=True)
    sign_in_with_crew(page, door)

    # Today's visit: its inspection code's QR, as the phone shows it, read by zxing-cpp.
    figure = page.locator("figure.qr").first
    figure.scroll_into_view_if_needed()
    shoot(page, "door-today-360")
    shown = Image.open(io.BytesIO(page.locator("figure.qr svg").first.screenshot()))
    (found,) = zxingcpp.read_barcodes(shown, formats=zxingcpp.BarcodeFormat.QRCode)
    assert found.text == figure.get_attribute("data-code-url")
    codes = door.client.get(
        "/api/v1/codes", params={"date": "2026-07-21"}, headers=door.world.auth("A")
    ).json()
    assert found.text == codes[0]["url"]
    with session_scope(door.engine, actor="test") as s:
        claims = keyring(s, None).verify(found.text.rsplit("/v/", 1)[1])
    assert claims["agy"] == AGENCIES["A"][0]
    assert claims["ent"] == door.world.enterprises[0]
    assert claims["day"] == "2026-07-21"
    short = page.inner_text("figure.qr .short")
    assert short == codes[0]["short_code"]
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the page is {width} px wide on a 360 px phone"

    # The scan page opens the (fake) rear camera, reads E0's 监督码 and registers the entry.
    page.click("a[href='/door/scan'].button")
    try:
        page.wait_for_selector("h1:has-text('已登记入企')", timeout=45_000)
    except Exception:
        shoot(page, "door-scan-failed-360")
        pytest.fail(f"no check-in from the camera: {page.inner_text('body')[:300]} {problems}")
    shoot(page, "door-done-360")
    assert page.locator("[data-flag-none]").count() == 1
    entries = door.client.get("/api/v1/check-ins", headers=door.world.auth("A")).json()["items"]
    assert len(entries) == 1
    entry = entries[0]
    assert entry["enterprise_id"] == door.world.enterprises[0]
    assert entry["scanned"] is True
    assert sorted(entry["certificates"]) == sorted(CERTS["A"])
    assert entry["flags"] == []

    # A phone whose scanner does not load: the typed fallback, here an emergency entry (checked
    # at 08:10, the 监督码 pasted before leaving), with its reason.
    page.route(
        "**/door/static/zxing-browser.min.js",
        lambda route: route.fulfill(body="", content_type="text/javascript"),
    )
    page.goto(f"{door.base}/door/scan")
    assert "无法打开摄像头" in page.inner_text("[data-scan-status]")
    assert not page.is_visible("#late_reason")
    page.check("#late")
    page.fill("#code", door.code_url)
    page.fill("#entered_at", "08:10")
    page.fill("#late_reason", "群众举报正在发生的安全隐患")
    shoot(page, "door-scan-360")
    page.click("#check-in button[type=submit]")
    page.wait_for_selector("[data-flag=late_scan]")
    assert "08:10 入企,09:30 扫码" in page.inner_text("[data-flag=late_scan]")
    page.click("form.logout button")
    page.wait_for_url(f"{door.base}/door/login")
    assert problems == []
    context.close()


def test_pages_at_desktop_width(door: Door, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    problems = watch(page, http=True)
    page.goto(f"{door.base}/door/login")
    shoot(page, "door-login-1280", full_page=False)
    sign_in_with_crew(page, door)
    shoot(page, "door-today-1280")
    shown = Image.open(io.BytesIO(page.locator("figure.qr svg").first.screenshot()))
    assert [
        b.text for b in zxingcpp.read_barcodes(shown, formats=zxingcpp.BarcodeFormat.QRCode)
    ] == [page.locator("figure.qr").first.get_attribute("data-code-url")]
    page.goto(f"{door.base}/door/crew")
    shoot(page, "door-crew-1280")
    assert problems == []
    context.close()
