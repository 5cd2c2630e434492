"""dashboard: the feeds benchmark's province copied, `quietday serve` over it, the overview
opened in headless Chromium (Debian's, by Playwright) until its charts are drawn, and until the
pairs near their cap have come; the enterprise and agency pages."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psycopg
from playwright.sync_api import sync_playwright

from benchmarks.feeds import FEEDS_DB
from benchmarks.harness import Echo, copy_database, postgres_reachable, server, settle
from quietday.persistence import make_engine, session_scope
from quietday.persistence.registry import EnterpriseRepository
from quietday.planning.keys import create_key
from quietday.planning.province import CLI

DASHBOARD_DB = "bench_dashboard"
_DRAWN = """() => { const els = document.querySelectorAll('[data-chart]');
  return els.length > 0 && Array.from(els).every(el => el.querySelector('canvas')); }"""


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return round(ordered[len(ordered) // 2], 3)


def measure(out: Path, *, progress: Echo) -> dict[str, Any]:
    """Page times of the dashboard in Chromium over the feeds benchmark's province."""
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        raise RuntimeError("chromium 未安装: apt-get install -y chromium fonts-noto-cjk")
    if not postgres_reachable():
        raise RuntimeError("PostgreSQL 不可用 (127.0.0.1:5432)")
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if (
            conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (FEEDS_DB,)).fetchone()
            is None
        ):
            raise RuntimeError(
                "先运行 feeds 基准(它建立 10 万家企业的省份): --only feeds,dashboard"
            )
    progress("复制 feeds 基准的省份数据库……")
    url = copy_database(FEEDS_DB, DASHBOARD_DB)
    engine = make_engine(url)
    with session_scope(engine, actor=CLI) as session:
        _, key = create_key(session, role="supervisor", label="bench dashboard")
        enterprises = EnterpriseRepository(session).count()
    engine.dispose()
    settle(DASHBOARD_DB)
    times: dict[str, list[float]] = {
        "overview": [],
        "overview_with_caps": [],
        "enterprise": [],
        "agency": [],
    }
    with server(url) as (base, _), sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(chromium), headless=True, args=["--no-sandbox"]
        )
        page = browser.new_page(viewport={"width": 1366, "height": 800})
        page.goto(f"{base}/dashboard/login")
        page.fill("#key", key)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/dashboard")
        page.wait_for_selector("[data-caps] table", timeout=120_000)
        progress("总览页(5 次)……")
        for _ in range(5):
            started = time.perf_counter()
            page.goto(f"{base}/dashboard")
            page.wait_for_function(_DRAWN, timeout=120_000)
            times["overview"].append(time.perf_counter() - started)
            page.wait_for_selector("[data-caps] table", timeout=120_000)
            times["overview_with_caps"].append(time.perf_counter() - started)
        links = {
            "enterprise": page.locator("a[href^='/dashboard/enterprises/']").first.get_attribute(
                "href"
            ),
            "agency": page.locator("a[href^='/dashboard/agencies/']").first.get_attribute("href"),
        }
        for name, link in links.items():
            for _ in range(3):
                started = time.perf_counter()
                page.goto(f"{base}{link}")
                page.wait_for_function(_DRAWN, timeout=120_000)
                times[name].append(time.perf_counter() - started)
        page.goto(f"{base}/dashboard")
        page.wait_for_selector("[data-caps] table", timeout=120_000)
        page.screenshot(path=str(out / "dashboard-overview.png"), full_page=True)
        browser.close()
    medians = {f"{name}_seconds": _median(values) for name, values in times.items()}
    return {
        "enterprises": enterprises,
        **medians,
        "bars": {"overview_at_most_3_s": medians["overview_seconds"] <= 3.0},
    }


def print_figures(d: dict[str, Any], echo: Echo) -> None:
    echo(
        f"监督看板(企业 {d['enterprises']:,} 家): 总览 {d['overview_seconds']} 秒(图表绘出), "
        f"含上限统计 {d['overview_with_caps_seconds']} 秒, 企业页 {d['enterprise_seconds']} 秒, "
        f"部门页 {d['agency_seconds']} 秒"
    )
