"""The API's documentation pages, /docs (Swagger UI) and /redoc (ReDoc), with every asset served
from here (npm packages installed with web/'s lockfile, as ECharts is): they work offline."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from quietday.api.deps import SettingsDep

router = APIRouter(include_in_schema=False)
_pages = Environment(
    loader=PackageLoader("quietday.api", "templates/docs"), autoescape=select_autoescape(["html"])
)
_OWN = Path(__file__).resolve().parents[1] / "static" / "docs.js"
# Each asset by the name the pages use: its path under the npm packages, and its media type.
ASSETS = {
    "swagger-ui.css": ("swagger-ui-dist/swagger-ui.css", "text/css"),
    "swagger-ui-bundle.js": ("swagger-ui-dist/swagger-ui-bundle.js", "text/javascript"),
    "redoc.standalone.js": ("redoc/bundles/redoc.standalone.js", "text/javascript"),
}
CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# ReDoc's build writes <style> elements from its script, some before any option is read (so a
# nonce cannot reach them): its page lets inline styles apply, and its search runs in a worker
# made from a blob. Scripts stay this origin's.
REDOC_CSP = f"{CSP}; style-src 'self' 'unsafe-inline'; worker-src 'self' blob:"
# The one outside address in ReDoc's build: its footer's logo, shown empty instead.
_REDOC_LOGO = (
    b"https://cdn.redoc.ly/redoc/logo-mini.svg",
    b"data:image/svg+xml,%3Csvg%20xmlns='http://www.w3.org/2000/svg'/%3E",
)


def _page(request: Request, template: str, csp: str) -> HTMLResponse:
    app = request.app
    html = _pages.get_template(template).render(title=app.title, openapi_url=app.openapi_url)
    return HTMLResponse(
        html, headers={"Content-Security-Policy": csp, "X-Content-Type-Options": "nosniff"}
    )


@router.get("/docs")
def swagger(request: Request) -> HTMLResponse:
    return _page(request, "swagger.html", CSP)


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    return _page(request, "redoc.html", REDOC_CSP)


@router.get("/docs/static/{name}")
def asset(name: str, settings: SettingsDep) -> Response:
    """Swagger UI's and ReDoc's builds, and the script that starts Swagger UI."""
    headers = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}
    if name == "docs.js":
        return FileResponse(_OWN, media_type="text/javascript", headers=headers)
    relative, media = ASSETS.get(name, ("", ""))
    path = settings.docs_assets_path / relative
    if not relative or not path.is_file():
        return Response("没有这个文件", status_code=404, media_type="text/plain; charset=utf-8")
    if name == "redoc.standalone.js":
        return Response(_redoc(path), media_type=media, headers=headers)
    return FileResponse(path, media_type=media, headers=headers)


@lru_cache(maxsize=1)
def _redoc(path: Path) -> bytes:
    return path.read_bytes().replace(*_REDOC_LOGO)
