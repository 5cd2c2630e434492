"""/docs (Swagger UI) and /redoc (ReDoc) in headless Chromium, as on a government network with
no way out: every request the pages make goes to the app itself, and both draw the API. Over
HTTP: a CSP of this origin only, and the assets served from the npm packages in web/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from browser import chromium, free_port, served, shoot, watch
from quietday.api import create_app
from quietday.config import Settings
from quietday.persistence import upgrade

# What each page shows once drawn, and how many of it at least (the API has over 40 operations).
DRAWN = {"/docs": (".opblock", 40), "/redoc": ("[data-section-id^='operation/']", 40)}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    url = f"sqlite:///{tmp_path_factory.mktemp('docs') / 'quietday.db'}"
    upgrade(url)
    return create_app(Settings(database_url=url, runner="thread"))


@pytest.fixture(scope="module")
def base(app: Any) -> Iterator[str]:
    with served(app, free_port()) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    quiet = ["--disable-gpu", "--disable-background-networking", "--disable-component-update",
             "--disable-sync"]  # fmt: skip
    with chromium(quiet) as launched:
        yield launched


@pytest.mark.parametrize("width", [1366, 390])
@pytest.mark.parametrize("path", sorted(DRAWN))
def test_the_docs_draw_the_api_with_no_request_leaving(
    base: str, browser: Any, path: str, width: int
) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900}, locale="zh-CN")
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    problems = watch(page)
    page.goto(f"{base}{path}")
    selector, least = DRAWN[path]
    page.wait_for_function(
        f"() => document.querySelectorAll({selector!r}).length >= {least}", timeout=30_000
    )
    page.wait_for_load_state("networkidle")
    assert "quietday" in page.inner_text("h1, h2")
    assert "企业安静日检查排期服务" in page.content()
    shoot(page, f"docs{path.replace('/', '-')}-{width}", full_page=False)
    # Every request to this origin (ReDoc's search worker is a blob: of this page).
    own = (base + "/", f"blob:{base}/")
    assert requests, path
    assert [u for u in requests if not u.startswith(own)] == []
    assert f"{base}/openapi.json" in requests
    assert problems == []
    context.close()


def test_the_docs_pages_name_only_this_origin(app: Any) -> None:
    client = TestClient(app)
    for path in DRAWN:
        r = client.get(path)
        assert r.status_code == 200
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp
        assert "script-src" not in csp  # scripts fall back to 'self'
        assert "http" not in csp
        assert "//" not in r.text.replace("http://www.w3.org", "")
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "docs.js", "redoc.standalone.js"):
        r = client.get(f"/docs/static/{name}")
        assert r.status_code == 200, name
        assert r.headers["x-content-type-options"] == "nosniff"
    assert b"cdn.redoc.ly" not in client.get("/docs/static/redoc.standalone.js").content
    assert client.get("/docs/static/package.json").status_code == 404
    assert client.get("/docs/static/..%2Fpackage.json").status_code == 404
