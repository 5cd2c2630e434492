"""The bar of the workbench issue, in Chromium against one served app: a clerk uploads a sheet
with errors and fixes them from the marked copy; the supervisor starts a run from the dashboard,
previews it and publishes from the preview; the clerk then sees every plan's outcome; a webhook
receiver that was down while publishing receives every event once it is back, none twice. Each
page passes axe-core without a serious or critical violation."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from browser import chromium, free_port, serious_violations, served, shoot, watch
from conftest import Clock
from db import migrated, sqlite_url
from quietday.api import create_app
from quietday.config import Settings
from quietday.persistence import session_scope
from quietday.persistence.webhooks import WebhookRepository
from quietday.planning.webhooks import Deliverer
from receiver import Receiver
from seed import seed

RED = "FFFFC7CE"
FAST = [0.05, 0.1, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2]


def checked(page: Any, name: str) -> None:
    assert serious_violations(page) == [], page.url
    shoot(page, f"bar-{name}")


@pytest.mark.slow
def test_clerk_supervisor_and_a_receiver_that_was_down(tmp_path: Path) -> None:
    engine = next(migrated(sqlite_url(tmp_path)))
    world = seed(engine)
    port, hook_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(database_url=str(engine.url), runner="thread", public_url=base,
                        webhooks_local=True, webhook_retry_seconds=FAST)  # fmt: skip
    app = create_app(settings, engine=engine, clock=Clock())
    supervisor = {"Authorization": f"Bearer {world.supervisor}"}
    with served(app, port), chromium() as browser, httpx.Client(base_url=base) as api:
        # An integrator's endpoint, its receiver down (nothing listens on its port yet).
        hook = api.post("/api/v1/webhooks", headers=supervisor,
                        json={"url": f"http://127.0.0.1:{hook_port}/hook"})  # fmt: skip
        assert hook.status_code == 201, hook.text

        clerk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN",
                                    accept_downloads=True).new_page()  # fmt: skip
        problems = watch(clerk)
        clerk.goto(f"{base}/agency/login")
        checked(clerk, "clerk-login")
        clerk.fill("#key", world.keys["A"])
        clerk.click("button[type=submit]")
        clerk.wait_for_url("**/agency/plans")
        # The sheet: the template's example row and three more, one cell bad in each.
        template = api.get("/api/v1/plans/template.xlsx", headers=world.auth("A"))
        book = load_workbook(io.BytesIO(template.content))
        sheet = book.worksheets[0]
        example = [c.value for c in sheet[2]]
        for k, enterprise in enumerate(world.enterprises[3:6]):
            sheet.append([f"BAR-{k}", *example[1:2], enterprise, *example[3:]])
        sheet["C3"], sheet["F4"], sheet["D5"] = "91360000MA0000000X", "2026-02-30", "随便检查"
        book.save(tmp_path / "计划.xlsx")
        clerk.goto(f"{base}/agency/upload")
        clerk.set_input_files("#file", str(tmp_path / "计划.xlsx"))
        clerk.click("#upload-form button[type=submit]")
        clerk.wait_for_url("**/agency/uploads/*")
        assert clerk.locator("#problems tbody tr").count() == 3
        checked(clerk, "clerk-errors")
        with clerk.expect_download() as caught:
            clerk.click("#marked-link")
        caught.value.save_as(tmp_path / "marked.xlsx")
        marked = load_workbook(tmp_path / "marked.xlsx")
        fixed = marked.worksheets[0]
        bad = sorted(c.coordinate for row in fixed.iter_rows() for c in row
                     if c.fill.fgColor.rgb == RED and c.comment is not None)  # fmt: skip
        assert bad == ["C3", "D5", "F4"]
        fixed["C3"], fixed["F4"], fixed["D5"] = world.enterprises[3], fixed["F2"].value, "日常检查"
        marked.save(tmp_path / "改正.xlsx")
        clerk.goto(f"{base}/agency/upload")
        clerk.set_input_files("#file", str(tmp_path / "改正.xlsx"))
        clerk.click("#upload-form button[type=submit]")
        clerk.wait_for_url("**/agency/uploads/*")
        assert "新增 4 条" in clerk.inner_text("main")

        # The supervisor starts a run from the dashboard, previews it, publishes from it.
        desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        boss = desk.new_page()
        problems += watch(boss)
        boss.goto(f"{base}/dashboard/login")
        boss.fill("#key", world.supervisor)
        boss.click("button[type=submit]")
        boss.wait_for_url(f"{base}/dashboard")
        boss.goto(f"{base}/dashboard/runs")
        checked(boss, "runs")
        boss.fill("#time_limit", "5")
        boss.click("form.run-form button[type=submit]")
        boss.wait_for_url("**/dashboard/runs/*")
        boss.wait_for_selector("#preview-title", timeout=90_000)
        checked(boss, "preview")
        placed = int(boss.inner_text("[data-count=placed]"))
        assert placed >= 1
        boss.click("text=确认发布")
        boss.wait_for_selector("text=本次运行已发布")

        # The clerk sees every plan's outcome: none waits any more.
        clerk.goto(f"{base}/agency/plans")
        outcomes = clerk.locator("#plans tbody tr").all_inner_texts()
        assert len(outcomes) == 4
        assert not any("待排期" in o for o in outcomes), outcomes
        assert sum("已排定" in o for o in outcomes) == placed
        checked(clerk, "clerk-outcomes")
        assert problems == []

        # The receiver was down during publishing: refused, then back, it gets every event.
        deliverer = Deliverer(engine, settings)
        try:
            assert deliverer.run_once() > 0
            receiver = Receiver(port=hook_port)
            receiver.secrets["/hook"] = hook.json()["secret"]
            deadline = time.monotonic() + 20
            while True:
                deliverer.run_once()
                with session_scope(engine) as s:
                    if not WebhookRepository(s).counts().get("pending"):
                        break
                assert time.monotonic() < deadline, "deliveries still pending"
                time.sleep(0.05)
        finally:
            deliverer.close()
        listed = api.get(f"/api/v1/webhooks/{hook.json()['id']}/deliveries", headers=supervisor)
        deliveries = listed.json()
        assert {d["status"] for d in deliveries} == {"succeeded"}
        ids = [r["id"] for r in receiver.delivered()]
        assert len(ids) == len(set(ids)) == len(deliveries)
        types = {r["payload"]["type"] for r in receiver.delivered()}
        assert {"run.published", "visit.published"} <= types
        receiver.close()
