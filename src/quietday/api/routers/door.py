"""At the door (亮码 / 扫码入企): the inspectors' phone pages and their API.

Pages (`/door`, Chinese, for a 360-px phone): sign in with the agency's key, name the inspectors
at the door, today's visits with their inspection codes' QR, and a scanner of the enterprise's
监督码. The scanner is `@zxing/browser` (npm, served from here): plain JavaScript that decodes
camera frames on a canvas in the page, so the pages keep the dashboard's CSP (`default-src
'self'`, no worker, no WebAssembly, no inline script). Sessions, CSRF tokens and the same-origin
check are the dashboard's (`planning.signin`), on a cookie of their own (Path=/door).

API (`/api/v1/door`, agency key): the day's visits with their codes, and each code's QR as SVG
or PNG; a scan is registered by `POST /api/v1/check-ins` with `enterprise_code`.
"""

from __future__ import annotations

import io
from datetime import datetime, time
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal

import segno
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from quietday.api.deps import ActorDep, KeyringDep, SessionDep, SettingsDep, TodayDep
from quietday.api.errors import problem_responses
from quietday.api.forms import FORM_EXPIRED, Area, clock_now, signing_secret
from quietday.api.qr import qr_svg
from quietday.api.routers.dashboard import CSP
from quietday.api.schemas import Day, DoorVisitPublic, SafeStr, SafeText
from quietday.config import Settings
from quietday.errors import InputError, NotFoundError, Problem
from quietday.persistence import Session
from quietday.planning import door
from quietday.planning.checkins import get_check_in
from quietday.planning.feeds import CHINA, today_in_china
from quietday.signing import Keyring

router = APIRouter(prefix="/door", include_in_schema=False)
api = APIRouter(prefix="/api/v1/door", tags=["door"], responses=problem_responses(401, 403, 422))
_pages = Environment(
    loader=PackageLoader("quietday.api", "templates/door"),
    autoescape=select_autoescape(["html"]),
)
_STATIC = Path(__file__).resolve().parents[1] / "static"
_OWN_ASSETS = {"door.css": "text/css", "door.js": "text/javascript"}
_SCANNER = Path("@zxing/browser/umd/zxing-browser.min.js")
COOKIE = "qd_door"
LOGIN_COOKIE = "qd_door_csrf"
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    # The scan page opens the camera; nothing else here may, and no other site's frame.
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
}
AREA = Area("/door", COOKIE, LOGIN_COOKIE, _HEADERS, landing="/door/crew")
_KIND_LABELS = {
    "routine": "日常检查",
    "special": "专项检查",
    "case": "个案检查",
    "requested": "应企业申请",
}


class DoorSignInRequired(Exception):  # noqa: N818 - it answers with a redirect, not an error
    """A door page asked for without a live door session: the sign-in page."""


def sign_in_page(request: Request, exc: Exception) -> Response:
    """What `DoorSignInRequired` answers."""
    return AREA.redirect("/door/login")


def _door(request: Request, session: SessionDep, settings: SettingsDep) -> door.Door:
    found = door.open_door(
        session,
        request.cookies.get(COOKIE),
        secret=signing_secret(request, settings),
        now=clock_now(request),
    )
    if found is None:
        raise DoorSignInRequired
    return found


AtDoor = Annotated[door.Door, Depends(_door)]


def _page(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    html = _pages.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


def _login_page(request: Request, **context: Any) -> HTMLResponse:
    return _page(request, "login.html", **context)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """The sign-in form (the agency's key)."""
    found = door.open_door(
        session,
        request.cookies.get(COOKIE),
        secret=signing_secret(request, settings),
        now=clock_now(request),
    )
    if found is not None:
        return AREA.redirect("/door")
    return AREA.login_form(request, partial(_login_page, request))


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    key: Annotated[SafeStr, Form(max_length=200)] = "",
    csrf: Annotated[SafeStr, Form(max_length=100)] = "",
) -> Response:
    """Sign in with the agency's key."""

    def start(secret: bytes) -> str:
        return door.sign_in(session, key.strip(), secret=secret, now=clock_now(request))

    return AREA.sign_in(request, settings, csrf, start, partial(_login_page, request))


@router.post("/logout")
def logout(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    at: AtDoor,
    csrf: Annotated[SafeStr, Form(max_length=100)] = "",
) -> Response:
    """End the session on this phone."""
    if not AREA.posted(request, settings, at.claims.csrf, csrf):
        return _page(request, "message.html", status=403, message=FORM_EXPIRED, at=at)
    door.sign_out(session, at.claims)
    return AREA.signed_out()


def _crew_page(
    request: Request,
    session: Session,
    at: door.Door,
    *,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    chosen = {int(i.id or 0) for i in at.crew}
    return _page(
        request,
        "crew.html",
        status=status,
        at=at,
        inspectors=door.candidates(session, at),
        chosen=chosen,
        error=error,
    )


@router.get("/crew", response_class=HTMLResponse)
def crew_form(request: Request, session: SessionDep, at: AtDoor) -> Response:
    """Who is at the door: the agency's certified inspectors to tick (at least two)."""
    return _crew_page(request, session, at)


@router.post("/crew", response_class=HTMLResponse)
def crew(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    at: AtDoor,
    inspector: Annotated[list[Annotated[int, Form(ge=1, le=2**31 - 1)]], Form(max_length=20)] = [],  # noqa: B006 - FastAPI copies form defaults
    csrf: Annotated[SafeStr, Form(max_length=100)] = "",
) -> Response:
    """Keep the inspectors chosen in the session, then today's visits."""
    if not AREA.posted(request, settings, at.claims.csrf, csrf):
        return _crew_page(request, session, at, error=FORM_EXPIRED, status=403)
    try:
        door.choose_crew(session, at, inspector)
    except InputError as exc:
        return _crew_page(
            request, session, at, error=";".join(p.message for p in exc.problems), status=422
        )
    return AREA.redirect("/door")


def _ready(at: door.Door) -> None:
    if not at.ready:
        raise DoorCrewRequired


class DoorCrewRequired(Exception):  # noqa: N818 - it answers with a redirect, not an error
    """A page that needs the inspectors named, before they are: the crew page."""


def crew_page(request: Request, exc: Exception) -> Response:
    """What `DoorCrewRequired` answers."""
    return AREA.redirect("/door/crew")


@router.get("", response_class=HTMLResponse)
def today(
    request: Request, session: SessionDep, settings: SettingsDep, ring: KeyringDep, at: AtDoor
) -> Response:
    """今日入企: the agency's published visits today, each with its inspection code's QR."""
    _ready(at)
    day = today_in_china(clock_now(request))
    visits = door.today_visits(session, ring, settings.base_url(), at.agency_id, day, today=day)
    return _page(
        request,
        "today.html",
        at=at,
        day=day,
        visits=[(v, qr_svg(v.url)) for v in visits],
        kind_labels=_KIND_LABELS,
    )


def _scan_page(
    request: Request,
    session: Session,
    settings: Settings,
    ring: Keyring,
    at: door.Door,
    *,
    status: int = 200,
    errors: list[str] | None = None,
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    day = today_in_china(clock_now(request))
    return _page(
        request,
        "scan.html",
        status=status,
        at=at,
        visits=door.today_visits(session, ring, settings.base_url(), at.agency_id, day, today=day),
        errors=errors or [],
        form=form or {},
    )


@router.get("/scan", response_class=HTMLResponse)
def scan_form(
    request: Request, session: SessionDep, settings: SettingsDep, ring: KeyringDep, at: AtDoor
) -> Response:
    """Scan the enterprise's 监督码 (the rear camera), or type it, or pick the enterprise."""
    _ready(at)
    return _scan_page(request, session, settings, ring, at)


@router.post("/check-in", response_class=HTMLResponse)
def check_in(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    ring: KeyringDep,
    at: AtDoor,
    csrf: Annotated[SafeStr, Form(max_length=100)] = "",
    code: Annotated[SafeStr, Form(max_length=1000)] = "",
    enterprise_id: Annotated[SafeStr, Form(max_length=18)] = "",
    late: Annotated[Literal["", "1"], Form()] = "",
    entered_at: Annotated[SafeStr, Form(max_length=5)] = "",
    late_reason: Annotated[SafeText, Form(max_length=200)] = "",
) -> Response:
    """Register the entry of the inspectors at the door, then show how it was judged."""
    _ready(at)
    form = {
        "code": code,
        "enterprise_id": enterprise_id,
        "late": late,
        "entered_at": entered_at,
        "late_reason": late_reason,
    }
    if not AREA.posted(request, settings, at.claims.csrf, csrf):
        return _scan_page(
            request, session, settings, ring, at, status=403, errors=[FORM_EXPIRED], form=form
        )
    now = clock_now(request)
    try:
        entered = _entered_at(entered_at, now) if late else None
        view = door.door_check_in(
            session,
            ring,
            at,
            code=code.strip() or None,
            enterprise_id=enterprise_id.strip() or None,
            now=now,
            entered_at=entered,
            late_reason=late_reason if late else None,
        )
    except InputError as exc:
        session.rollback()
        return _scan_page(
            request,
            session,
            settings,
            ring,
            at,
            status=422,
            errors=[p.message for p in exc.problems],
            form=form,
        )
    # Post, then redirect: reloading the result does not register the entry again.
    return AREA.redirect(f"/door/entries/{int(view.row.id or 0)}")


@router.get("/entries/{check_in_id}", response_class=HTMLResponse)
def entry(
    request: Request,
    session: SessionDep,
    at: AtDoor,
    check_in_id: Annotated[int, PathParam(ge=1, le=2**31 - 1)],
) -> Response:
    """An entry of the agency, as it was registered and judged."""
    try:
        view = get_check_in(session, at.actor, check_in_id)
    except NotFoundError as exc:
        return _page(request, "message.html", status=404, at=at, message=str(exc))
    names = door.enterprise_names(session, [view.row.enterprise_id])
    return _page(
        request,
        "done.html",
        at=at,
        entry=view.row,
        enterprise_name=names.get(view.row.enterprise_id, view.row.enterprise_id),
        flags=view.flags,
        local=lambda moment: moment.astimezone(CHINA).strftime("%H:%M"),
    )


def _entered_at(text: str, now: datetime) -> datetime:
    """An emergency's entry time, typed as HH:MM, today in China."""
    try:
        clock = time.fromisoformat(text)
    except ValueError:
        raise InputError(
            [Problem("bad_time", "entered_at", "入企时间应为 时:分,如 09:30")]
        ) from None
    return datetime.combine(today_in_china(now), clock, tzinfo=CHINA)


@router.get("/static/{name}")
def asset(name: str, settings: SettingsDep) -> Response:
    """The door pages' style sheet and script, and the QR scanner (npm, web/package.json)."""
    headers = {"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}
    if name == "zxing-browser.min.js":
        path = settings.docs_assets_path / _SCANNER
        if path.is_file():
            return FileResponse(path, media_type="text/javascript", headers=headers)
    elif name in _OWN_ASSETS:
        return FileResponse(_STATIC / name, media_type=_OWN_ASSETS[name], headers=headers)
    return Response("没有这个文件", status_code=404, media_type="text/plain; charset=utf-8")


VisitId = Annotated[int, PathParam(ge=1, le=2**31 - 1, description="入企编号")]


@api.get("/visits", summary="某日的入企及检查码", response_model=list[DoorVisitPublic])
def visits(
    session: SessionDep,
    settings: SettingsDep,
    ring: KeyringDep,
    actor: ActorDep,
    today: TodayDep,
    day: Annotated[Day | None, Query(alias="date", description="日期,默认今天")] = None,
) -> list[DoorVisitPublic]:
    """本部门某日(默认今天)已发布的入企:企业、联合检查的部门、检查事项、计划或触发,及检查码(亮码用)。"""
    agency_id = door.agency_of(actor)
    return [
        DoorVisitPublic(
            visit_id=v.visit_id,
            enterprise_id=v.enterprise_id,
            enterprise_name=v.enterprise_name,
            agencies=v.agencies,
            items=v.items,
            kinds=v.kinds,
            triggered=v.triggered,
            code=v.code,
            url=v.url,
        )
        for v in door.today_visits(
            session, ring, settings.base_url(), agency_id, day or today, today=today
        )
    ]


@api.get(
    "/visits/{visit_id}/qr.{fmt}",
    summary="检查码二维码",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}, "image/png": {}}}, **problem_responses(404)},
)
def visit_qr(
    session: SessionDep,
    settings: SettingsDep,
    ring: KeyringDep,
    actor: ActorDep,
    today: TodayDep,
    visit_id: VisitId,
    fmt: Literal["svg", "png"],
    day: Annotated[Day | None, Query(alias="date", description="日期,默认今天")] = None,
) -> Response:
    """一次入企的检查码二维码(SVG 或 PNG),内容为检查码的地址。"""
    agency_id = door.agency_of(actor)
    listed = door.today_visits(
        session, ring, settings.base_url(), agency_id, day or today, today=today
    )
    found = next((v for v in listed if v.visit_id == visit_id), None)
    if found is None:
        raise NotFoundError(f"本部门当日没有入企 {visit_id}")
    out = io.BytesIO()
    segno.make(found.url, error="m").save(out, kind=fmt, scale=8, border=4)
    media = "image/svg+xml" if fmt == "svg" else "image/png"
    return Response(out.getvalue(), media_type=media, headers={"Cache-Control": "no-store"})
