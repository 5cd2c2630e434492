"""The agency's workbench (科室工作台): server-rendered Chinese pages for a clerk, desktop first.

Sign in with the agency's key (`planning.agency.desk_actor`, the door's single sign-on seam) into
the dashboard's signed sessions, on a cookie of its own (Path=/agency); forms carry the session's
CSRF token and a POST from another origin is refused. Pages: upload a plan sheet (the progress
of a large one drawn by `agency.js` from XMLHttpRequest's upload events; the result, every
problem with its row and Chinese column, and the sheet back marked), the plans with filters,
edit, cancel and an XLSX export, the month's visits and their inspectors. No inline script:
the pages keep the dashboard's CSP.
"""

from __future__ import annotations

from datetime import date
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from quietday.api.deps import SessionDep, SettingsDep
from quietday.api.forms import FORM_EXPIRED, Area, clock_now, signing_secret
from quietday.api.routers.dashboard import _MONTH, CSP
from quietday.api.schemas import Day, SafeStr, SafeText
from quietday.domain.model import KindName
from quietday.domain.status import CheckOutcome, PlanStatus
from quietday.errors import (
    ConflictError,
    InputError,
    NotFoundError,
)
from quietday.persistence import Session
from quietday.persistence.plans import PlanFilter
from quietday.persistence.sampling import CheckResultRepository
from quietday.planning import agency, crew
from quietday.planning.feeds import today_in_china
from quietday.planning.imports import example_row, template_xlsx
from quietday.planning.plans import cancel_plan, get_plan, list_plans, update_plan
from quietday.planning.sampling import record_result

router = APIRouter(prefix="/agency", include_in_schema=False)
_pages = Environment(
    loader=PackageLoader("quietday.api", "templates/agency"),
    autoescape=select_autoescape(["html"]),
)
_STATIC = Path(__file__).resolve().parents[1] / "static"
_OWN_ASSETS = {"agency.css": "text/css", "agency.js": "text/javascript"}
COOKIE = "qd_agency"
LOGIN_COOKIE = "qd_agency_csrf"
UPLOAD_PATH = "/agency/upload"
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
AREA = Area("/agency", COOKIE, LOGIN_COOKIE, _HEADERS, landing="/agency")
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PAGE_SIZE = 50
Id = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
UploadId = Annotated[str, PathParam(pattern=r"^[A-Za-z0-9_-]{20,64}$")]


class AgencySignInRequired(Exception):  # noqa: N818 - it answers with a redirect, not an error
    """An agency page asked for without a live session: the sign-in page."""


def sign_in_page(request: Request, exc: Exception) -> Response:
    """What `AgencySignInRequired` answers."""
    return AREA.redirect("/agency/login")


def _desk(request: Request, session: SessionDep, settings: SettingsDep) -> agency.Desk:
    found = agency.open_desk(
        session,
        request.cookies.get(COOKIE),
        secret=signing_secret(request, settings),
        now=clock_now(request),
    )
    if found is None:
        raise AgencySignInRequired
    return found


AtDesk = Annotated[agency.Desk, Depends(_desk)]


def _page(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    html = _pages.get_template(template).render(
        status_labels=agency.STATUS_LABELS, kind_labels=agency.KIND_LABELS, **context
    )
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


def _messages(exc: InputError | ConflictError) -> list[str]:
    if isinstance(exc, InputError):
        return [p.message for p in exc.problems]
    return [str(exc)]


def _login_page(request: Request, **context: Any) -> HTMLResponse:
    return _page(request, "login.html", **context)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """The sign-in form (the agency's key)."""
    found = agency.open_desk(
        session,
        request.cookies.get(COOKIE),
        secret=signing_secret(request, settings),
        now=clock_now(request),
    )
    if found is not None:
        return AREA.redirect("/agency")
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
        return agency.sign_in(session, key.strip(), secret=secret, now=clock_now(request))

    return AREA.sign_in(request, settings, csrf, start, partial(_login_page, request))


@router.post("/logout")
def logout(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    desk: AtDesk,
    csrf: Annotated[SafeStr, Form(max_length=100)] = "",
) -> Response:
    """End the session on the server."""
    if not AREA.posted(request, settings, desk.claims.csrf, csrf):
        return _page(request, "message.html", status=403, desk=desk, message=FORM_EXPIRED)
    agency.sign_out(session, desk.claims)
    return AREA.signed_out()


@router.get("", response_class=HTMLResponse)
def home(desk: AtDesk) -> Response:
    """The workbench opens on the plans."""
    return AREA.redirect("/agency/plans")


# ---- upload ----


@router.get("/upload", response_class=HTMLResponse)
def upload_form(request: Request, desk: AtDesk) -> Response:
    """上传检查计划表格."""
    return _page(request, "upload.html", desk=desk, nav="upload", error=None)


@router.post("/upload", response_class=HTMLResponse)
def upload(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    desk: AtDesk,
    file: Annotated[UploadFile, File()],
    csrf: Annotated[SafeStr, Form(max_length=100)] = "",
) -> Response:
    """Import the sheet whole or not at all, then its result page (POST, redirect, GET)."""
    if not AREA.posted(request, settings, desk.claims.csrf, csrf):
        return _page(
            request, "upload.html", status=403, desk=desk, nav="upload", error=FORM_EXPIRED
        )
    now = clock_now(request)
    try:
        row = agency.upload(
            session,
            desk,
            file.file,
            filename=file.filename or "",
            today=today_in_china(now),
            now=now,
        )
    except InputError as exc:
        message = ";".join(_messages(exc))
        return _page(request, "upload.html", status=422, desk=desk, nav="upload", error=message)
    return AREA.redirect(f"/agency/uploads/{row.id}")


@router.get("/uploads/{upload_id}", response_class=HTMLResponse)
def upload_result(
    request: Request, session: SessionDep, desk: AtDesk, upload_id: UploadId
) -> Response:
    """What became of an upload: the counts, or every problem and the marked sheet."""
    try:
        row = agency.upload_of(session, desk, upload_id, now=clock_now(request))
    except NotFoundError as exc:
        return _page(request, "message.html", status=404, desk=desk, message=str(exc))
    return _page(
        request,
        "result.html",
        desk=desk,
        nav="upload",
        upload=row,
        problems=agency.problem_lines(row),
    )


@router.get("/uploads/{upload_id}/marked.xlsx")
def marked(request: Request, session: SessionDep, desk: AtDesk, upload_id: UploadId) -> Response:
    """The refused sheet back, its bad cells filled red with the problems as comments."""
    row = agency.upload_of(session, desk, upload_id, now=clock_now(request))
    if row.marked is None:
        raise NotFoundError("这次上传没有错误,没有标注的表格")
    stem = row.filename.rsplit(".", 1)[0] or "plans"
    return Response(
        row.marked,
        media_type=_XLSX,
        headers={
            "Content-Disposition": "attachment; filename=plans-marked.xlsx; "
            f"filename*=UTF-8''{quote(stem + '-标注.xlsx')}",
            "Cache-Control": "no-store",
        },
    )


# ---- plans ----


class PlanQuery:
    """The plans page's filters, validated as query parameters."""

    def __init__(
        self,
        status: Annotated[PlanStatus | Literal[""], Query()] = "",
        kind: Annotated[KindName | Literal[""], Query()] = "",
        q: Annotated[SafeStr, Query(max_length=50)] = "",
        window_from: Annotated[Day | Literal[""], Query(alias="from")] = "",
        window_to: Annotated[Day | Literal[""], Query(alias="to")] = "",
        cursor: Annotated[SafeStr, Query(max_length=64)] = "",
        mode: Annotated[Literal["", "onsite", "remote"], Query()] = "",
    ) -> None:
        self.mode = mode
        self.status = status
        self.kind = kind
        self.q = q.strip()
        self.window_from = window_from or None
        self.window_to = window_to or None
        self.cursor = cursor or None

    def filter(self) -> PlanFilter:
        return PlanFilter(
            status=self.status or None,
            kind=self.kind or None,
            enterprise_text=self.q or None,
            window_from=self.window_from,
            window_to=self.window_to,
            remote={"onsite": False, "remote": True}.get(self.mode),
        )

    def query(self, **extra: str) -> str:
        values = {
            "status": self.status,
            "kind": self.kind,
            "q": self.q,
            "from": self.window_from.isoformat() if self.window_from else "",
            "to": self.window_to.isoformat() if self.window_to else "",
            "mode": self.mode,
            **extra,
        }
        return urlencode({k: v for k, v in values.items() if v})


Filters = Annotated[PlanQuery, Depends()]


@router.get("/plans", response_class=HTMLResponse)
def plans(request: Request, session: SessionDep, desk: AtDesk, filters: Filters) -> Response:
    """本部门的检查计划:筛选、每条的结果、修改与撤销、导出。"""
    try:
        page = list_plans(
            session, desk.actor, filters.filter(), cursor=filters.cursor, limit=PAGE_SIZE
        )
    except InputError as exc:
        return _page(request, "message.html", status=422, desk=desk, message=_messages(exc)[0])
    return _page(
        request,
        "plans.html",
        desk=desk,
        nav="plans",
        filters=filters,
        lines=agency.plan_lines(session, page.items),
        next_page=filters.query(cursor=page.next_cursor) if page.next_cursor else None,
        export=filters.query(),
    )


@router.get("/plans.xlsx")
def export(session: SessionDep, desk: AtDesk, filters: Filters) -> Response:
    """The plans the filters find, as XLSX (Chinese headers)."""
    return Response(
        agency.export_xlsx(session, desk, filters.filter()),
        media_type=_XLSX,
        headers={
            "Content-Disposition": "attachment; filename=plans.xlsx; "
            f"filename*=UTF-8''{quote('检查计划.xlsx')}",
            "Cache-Control": "no-store",
        },
    )


def _plan_page(
    request: Request,
    session: Session,
    desk: agency.Desk,
    plan_id: int,
    *,
    errors: list[str] | None = None,
    status: int = 200,
    done: str | None = None,
) -> HTMLResponse:
    try:
        row = get_plan(session, desk.actor, plan_id)
    except NotFoundError as exc:
        return _page(request, "message.html", status=404, desk=desk, message=str(exc))
    (line,) = agency.plan_lines(session, [row])
    return _page(
        request,
        "plan.html",
        status=status,
        desk=desk,
        nav="plans",
        line=line,
        result=CheckResultRepository(session).get(plan_id),
        outcome_labels={o.value: o.label for o in CheckOutcome},
        today=today_in_china(clock_now(request)),
        errors=errors or [],
        done=done,
    )


@router.get("/plans/{plan_id}", response_class=HTMLResponse)
def plan(request: Request, session: SessionDep, desk: AtDesk, plan_id: Id) -> Response:
    """One plan, what became of it, and the forms to change or cancel it."""
    return _plan_page(request, session, desk, plan_id)


@router.post("/plans/{plan_id}", response_class=HTMLResponse)
def edit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    desk: AtDesk,
    plan_id: Id,
    items: Annotated[SafeText, Form(max_length=4000)] = "",
    earliest: Annotated[Day, Form()] = date.min,
    latest: Annotated[Day, Form()] = date.min,
    priority: Annotated[int, Form(ge=1, le=5)] = 1,
    unannounced: Annotated[Literal["", "1"], Form()] = "",
    csrf: Annotated[SafeStr, Form(max_length=100)] = "",
) -> Response:
    """Change a plan's items, window, priority or announcement; `update_plan` decides."""
    if not AREA.posted(request, settings, desk.claims.csrf, csrf):
        return _plan_page(request, session, desk, plan_id, errors=[FORM_EXPIRED], status=403)
    changes = {
        "items": [i.strip() for i in items.replace("、", "\n").splitlines() if i.strip()],
        "earliest": earliest,
        "latest": latest,
        "priority": priority,
        "unannounced": unannounced == "1",
    }
    try:
        update_plan(session, desk.actor, plan_id, changes, today=today_in_china(clock_now(request)))
    except (InputError, ConflictError) as exc:
        session.rollback()
        return _plan_page(request, session, desk, plan_id, errors=_messages(exc), status=422)
    return _plan_page(request, session, desk, plan_id, done="已保存修改")


@router.post("/plans/{plan_id}/cancel", response_class=HTMLResponse)
def cancel(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    desk: AtDesk,
    plan_id: Id,
    csrf: Annotated[SafeStr, Form(max_length=100)] = "",
) -> Response:
    """Cancel a plan; `cancel_plan` decides (a plan of the record stays)."""
    if not AREA.posted(request, settings, desk.claims.csrf, csrf):
        return _plan_page(request, session, desk, plan_id, errors=[FORM_EXPIRED], status=403)
    try:
        cancel_plan(session, desk.actor, plan_id, today=today_in_china(clock_now(request)))
    except (InputError, ConflictError) as exc:
        session.rollback()
        return _plan_page(request, session, desk, plan_id, errors=_messages(exc), status=409)
    return _plan_page(request, session, desk, plan_id, done="已撤销")


@router.post("/plans/{plan_id}/result", response_class=HTMLResponse)
def result(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    desk: AtDesk,
    plan_id: Id,
    outcome: Annotated[CheckOutcome, Form()],
    day: Annotated[Day, Form()],
    note: Annotated[SafeText, Form(max_length=500)] = "",
    csrf: Annotated[SafeStr, Form(max_length=100)] = "",
) -> Response:
    """Record what the check found; `record_result` decides (the window ended: the record)."""
    if not AREA.posted(request, settings, desk.claims.csrf, csrf):
        return _plan_page(request, session, desk, plan_id, errors=[FORM_EXPIRED], status=403)
    today = today_in_china(clock_now(request))
    try:
        record_result(
            session, desk.actor, plan_id, outcome=outcome, day=day, note=note, today=today
        )
    except (InputError, ConflictError) as exc:
        session.rollback()
        return _plan_page(request, session, desk, plan_id, errors=_messages(exc), status=422)
    return _plan_page(request, session, desk, plan_id, done="已录入检查结果")


# ---- the month ----


Month = Annotated[str, Query(pattern=_MONTH.pattern)]


def _shift(month: date, months: int) -> str:
    n = month.year * 12 + month.month - 1 + months
    return f"{n // 12:04d}-{n % 12 + 1:02d}"


def _month_page(
    request: Request,
    session: Session,
    desk: agency.Desk,
    first: date,
    *,
    inspector: int | None = None,
    errors: list[str] | None = None,
    done: str | None = None,
    drawn: crew.DrawOutcome | None = None,
    released: list[crew.Released] | None = None,
    status: int = 200,
) -> HTMLResponse:
    return _page(
        request,
        "month.html",
        status=status,
        desk=desk,
        nav="month",
        first=first,
        weeks=agency.month_weeks(session, desk, first, inspector_id=inspector),
        inspectors=agency.inspectors(session, desk),
        conflicts=crew.conflict_lines(session, desk.actor, desk.agency_id),
        chosen=inspector,
        previous=_shift(first, -1),
        following=_shift(first, 1),
        errors=errors or [],
        done=done,
        drawn=drawn,
        released=released or [],
    )


def _first(request: Request, m: str | None) -> date:
    if m:
        return date.fromisoformat(f"{m}-01")
    return today_in_china(clock_now(request)).replace(day=1)


@router.get("/month", response_class=HTMLResponse)
def month(
    request: Request,
    session: SessionDep,
    desk: AtDesk,
    m: Annotated[Month | None, Query(alias="month")] = None,
    inspector: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Response:
    """本部门一个月的入企日历(联合检查标出),可按执法人员筛选;执法人员及其执法证、回避申报。"""
    return _month_page(request, session, desk, _first(request, m), inspector=inspector)


FormMonth = Annotated[str, Form(alias="month", pattern=_MONTH.pattern)]


@router.post("/month/draw", response_class=HTMLResponse)
def draw(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    desk: AtDesk,
    m: FormMonth,
    redraw: Annotated[Literal["", "1"], Form()] = "",
    csrf: Annotated[SafeStr, Form(max_length=100)] = "",
) -> Response:
    """随机选派本月: draw the agency's inspectors for its open visits of the month."""
    first = _first(request, m)
    if not AREA.posted(request, settings, desk.claims.csrf, csrf):
        return _month_page(request, session, desk, first, errors=[FORM_EXPIRED], status=403)
    try:
        drawn = crew.draw_month(
            session,
            desk.actor,
            agency_id=desk.agency_id,
            month=first,
            today=today_in_china(clock_now(request)),
            redraw=redraw == "1",
        )
    except InputError as exc:
        session.rollback()
        return _month_page(request, session, desk, first, errors=_messages(exc), status=422)
    return _month_page(request, session, desk, first, drawn=drawn)


@router.post("/conflicts", response_class=HTMLResponse)
def declare_conflict(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    desk: AtDesk,
    m: FormMonth,
    inspector: Annotated[int, Form(ge=1, le=2**31 - 1)],
    enterprise: Annotated[SafeStr, Form(max_length=50)] = "",
    reason: Annotated[SafeStr, Form(max_length=200)] = "",
    csrf: Annotated[SafeStr, Form(max_length=100)] = "",
) -> Response:
    """申报回避: one of the agency's inspectors must not inspect an enterprise."""
    first = _first(request, m)
    if not AREA.posted(request, settings, desk.claims.csrf, csrf):
        return _month_page(request, session, desk, first, errors=[FORM_EXPIRED], status=403)
    try:
        declared = crew.declare_conflict(
            session,
            desk.actor,
            agency_id=desk.agency_id,
            inspector_id=inspector,
            enterprise_id=enterprise.strip().upper(),
            reason=reason,
            today=today_in_china(clock_now(request)),
        )
    except (InputError, ConflictError, NotFoundError) as exc:
        session.rollback()
        messages = [str(exc)] if isinstance(exc, NotFoundError) else _messages(exc)
        return _month_page(request, session, desk, first, errors=messages, status=422)
    return _month_page(request, session, desk, first, done="已登记回避", released=declared.released)


def _visit_page(
    request: Request,
    session: Session,
    desk: agency.Desk,
    visit_id: int,
    *,
    errors: list[str] | None = None,
    status: int = 200,
    done: str | None = None,
) -> HTMLResponse:
    try:
        found = agency.visit_of(session, desk, visit_id)
    except NotFoundError as exc:
        return _page(request, "message.html", status=404, desk=desk, message=str(exc))
    return _page(
        request,
        "visit.html",
        status=status,
        desk=desk,
        nav="month",
        v=found,
        inspectors=[i for i in agency.inspectors(session, desk) if i.active],
        refusals=agency.refusals(session, desk, found),
        chosen={int(i.id or 0) for i in found.crew},
        errors=errors or [],
        done=done,
    )


@router.get("/visits/{visit_id}", response_class=HTMLResponse)
def visit(request: Request, session: SessionDep, desk: AtDesk, visit_id: Id) -> Response:
    """One visit of the agency and the inspectors sent on it."""
    return _visit_page(request, session, desk, visit_id)


@router.post("/visits/{visit_id}/inspectors", response_class=HTMLResponse)
def assign(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    desk: AtDesk,
    visit_id: Id,
    inspector: Annotated[list[Annotated[int, Form(ge=1, le=2**31 - 1)]], Form(max_length=50)] = [],  # noqa: B006 - FastAPI copies form defaults
    csrf: Annotated[SafeStr, Form(max_length=100)] = "",
) -> Response:
    """Send at least two of the agency's active inspectors on the visit (by hand)."""
    if not AREA.posted(request, settings, desk.claims.csrf, csrf):
        return _visit_page(request, session, desk, visit_id, errors=[FORM_EXPIRED], status=403)
    try:
        agency.assign(session, desk, visit_id, inspector)
    except InputError as exc:
        session.rollback()
        return _visit_page(request, session, desk, visit_id, errors=_messages(exc), status=422)
    return _visit_page(request, session, desk, visit_id, done="已指派")


# ---- enterprises, static ----


@router.get("/enterprises")
def enterprises(
    session: SessionDep,
    desk: AtDesk,
    q: Annotated[SafeStr, Query(min_length=1, max_length=50)],
) -> JSONResponse:
    """The autocomplete's enterprises (name, code or pinyin initials), at most ten."""
    found = agency.find_enterprises(session, q, limit=10)
    return JSONResponse(
        [{"id": e.id, "name": e.name} for e in found], headers={"Cache-Control": "no-store"}
    )


@router.get("/static/{name}")
def asset(name: str) -> Response:
    """The pages' style sheet and script."""
    if name in _OWN_ASSETS:
        headers = {"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}
        return FileResponse(_STATIC / name, media_type=_OWN_ASSETS[name], headers=headers)
    return Response("没有这个文件", status_code=404, media_type="text/plain; charset=utf-8")


@router.get("/template.xlsx")
def template(request: Request, session: SessionDep, desk: AtDesk) -> Response:
    """The import template, its example row importable as it is."""
    example = example_row(session, desk.actor, today=today_in_china(clock_now(request)))
    return Response(
        template_xlsx(example),
        media_type=_XLSX,
        headers={"Content-Disposition": "attachment; filename=plans-template.xlsx"},
    )
