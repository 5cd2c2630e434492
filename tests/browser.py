"""What the browser tests share: Debian's Chromium driven by Playwright, the app served by
uvicorn on a free local port, axe-core run in a page, and what a page saw go wrong."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from conftest import require

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).resolve().parent / "js" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(__file__).resolve().parents[1] / "out" / "test-artifacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(app: Any, port: int) -> Iterator[str]:
    """The app under uvicorn in a thread on 127.0.0.1:`port`: its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def chromium(args: Sequence[str] = ()) -> Iterator[Any]:
    """Debian's Chromium (never Playwright's own download), headless, with `args` besides."""
    require(CHROMIUM.exists(), f"{CHROMIUM} not found (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", *args]
        )
        try:
            yield browser
        finally:
            browser.close()


def watch(page: Any, *, http: bool = False, expected: Collection[str] = ()) -> list[str]:
    """Console errors, uncaught exceptions and failed requests the page sees from now on (a
    download ends its navigation as aborted: not counted). With `http`, answers of 400 or more
    too, but those to the `expected` URLs; their console lines ("Failed to load resource") are
    then left to the answers and the failures."""
    problems: list[str] = []

    def console(m: Any) -> None:
        if m.type == "error" and not (http and m.text.startswith("Failed to load resource")):
            problems.append(m.text)

    page.on("console", console)
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.on(
        "requestfailed",
        lambda r: (
            None if r.url.endswith(".xlsx") else problems.append(f"failed: {r.url} {r.failure}")
        ),
    )
    if http:
        page.on(
            "response",
            lambda r: (
                problems.append(f"HTTP {r.status}: {r.url}")
                if r.status >= 400 and r.url not in expected
                else None
            ),
        )
    return problems


def serious_violations(page: Any, within: str | None = None) -> list[tuple[str, str, list[Any]]]:
    """axe-core's serious and critical violations in the page, or in the elements `within`
    selects (its source evaluated through the DevTools protocol: a script tag would be inline,
    which the pages' CSP refuses)."""
    require(AXE.exists(), "axe-core not installed (make tests/js/node_modules/.installed)")
    page.evaluate(AXE.read_text(encoding="utf-8") + ";0")
    context = "document" if within is None else f"{{include: [{json.dumps(within)}]}}"
    result = page.evaluate(f"axe.run({context})")
    return [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def assert_accessible(page: Any, within: str | None = None) -> None:
    """No serious or critical axe-core violation in the page (or the part `within`)."""
    bad = serious_violations(page, within)
    assert bad == [], f"{page.url}: {bad}"


def shoot(page: Any, name: str, *, full_page: bool = True) -> None:
    """The page (or only what the window shows) to out/test-artifacts/`name`.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)
