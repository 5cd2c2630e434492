"""The supervisors' dashboard: server-rendered Chinese pages over the published schedule.

A supervisor key signs in once (`/dashboard/login`) into a signed session cookie (HttpOnly,
SameSite=Strict, Path=/dashboard). Forms carry a CSRF token and POSTs from another origin are
refused. Pages run no inline script: charts are drawn by ECharts and `dashboard.js`, both served
from here, from data embedded as JSON, so every page is sent with `default-src 'self'`.
"""

from __future__ import annotations

import re
from datetime import date
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    Response,
)
from jinja2 import Environment, PackageLoader, select_autoescape

from quietday.api.deps import SessionDep, SettingsDep
from quietday.api.forms import FORM_EXPIRED, Area, clock_now, signing_secret
from quietday.api.schemas import SafeStr
from quietday.config import Settings
from quietday.domain.status import RunStatus
from quietday.errors import NotFoundError
from quietday.persistence import Session
from quietday.persistence.runs import RunRepository
from quietday.planning import calendar
from quietday.planning import dashboard as figures
from quietday.planning.frequency import export_csv, export_xlsx, frequency_page
from quietday.planning.risk import get_policy
from quietday.planning.signin import (
    DashboardSession,
    open_session,
    sign_in,
    sign_out,
)

router = APIRouter(prefix="/dashboard", include_in_schema=False)
_pages = Environment(
    loader=PackageLoader("quietday.api", "templates/dashboard"),
    autoescape=select_autoescape(["html"]),
)
_STATIC = Path(__file__).resolve().parents[1] / "static"
_OWN_ASSETS = {
    "dashboard.css": "text/css",
    "dashboard.js": "text/javascript",
    "runs.js": "text/javascript",
}
COOKIE = "qd_dashboard"
LOGIN_COOKIE = "qd_login_csrf"
CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
AREA = Area("/dashboard", COOKIE, LOGIN_COOKIE, _HEADERS, landing="/dashboard")
_MONTH = re.compile(r"^(20[0-9]{2}|2100)-(0[1-9]|1[0-2])$")
Month = Annotated[str | None, Query(pattern=_MONTH.pattern, description="月份 YYYY-MM")]
Year = Annotated[int | None, Query(ge=2000, le=2100)]


def _current(request: Request, session: Session, settings: Settings) -> DashboardSession | None:
    return open_session(
        session,
        request.cookies.get(COOKIE),
        secret=signing_secret(request, settings),
        now=clock_now(request),
    )


class SignInRequired(Exception):  # noqa: N818 - it answers with a redirect, not an error
    """A dashboard page asked for without a live session: the app sends the sign-in page."""


def _signed_in(request: Request, session: SessionDep, settings: SettingsDep) -> DashboardSession:
    current = _current(request, session, settings)
    if current is None:
        raise SignInRequired
    return current


# The signed-in supervisor's session; without one, the sign-in page (`SignInRequired`).
SignedIn = Annotated[DashboardSession, Depends(_signed_in)]


def sign_in_page(request: Request, exc: Exception) -> Response:
    """What `SignInRequired` answers: the sign-in page."""
    return AREA.redirect("/dashboard/login")


def _year(year: int | None, session: Session, request: Request) -> int:
    """The year asked for, else that of the month the overview would show."""
    return year or figures.default_month(session, figures.local_today(clock_now(request))).year


def _page(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    html = _pages.get_template(template).render(
        echarts_ready=settings.echarts_path.is_file(), **context
    )
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


def _month(value: str | None, session: Session, request: Request) -> date:
    if value is not None:
        return date.fromisoformat(f"{value}-01")
    return figures.default_month(session, figures.local_today(clock_now(request)))


def _shift(month: date, months: int) -> str:
    n = month.year * 12 + month.month - 1 + months
    return f"{n // 12:04d}-{n % 12 + 1:02d}"


def _bars(counts: list[figures.Count], name: str, link: str | None = None) -> dict[str, Any]:
    return {
        "type": "bar",
        "name": name,
        "labels": [c.label for c in counts],
        "values": [c.value for c in counts],
        "links": [link.format(c.key) for c in counts] if link else None,
    }


def _not_found(request: Request, exc: NotFoundError) -> HTMLResponse:
    return _page(request, "missing.html", status=404, message=str(exc), signed_in=True)


def form_refused(
    request: Request, current: DashboardSession, message: str = FORM_EXPIRED
) -> HTMLResponse:
    """A dashboard form refused (403): the page says why, the session stays."""
    return _page(
        request, "missing.html", status=403, message=message, signed_in=True, csrf=current.csrf
    )


def _login_page(request: Request, **context: Any) -> HTMLResponse:
    return _page(request, "login.html", **context)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """The sign-in form (a supervisor key)."""
    if _current(request, session, settings) is not None:
        return AREA.redirect("/dashboard")
    return AREA.login_form(request, partial(_login_page, request))


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    key: Annotated[SafeStr, Form(max_length=200)] = "",
    csrf: Annotated[SafeStr, Form(max_length=100)] = "",
) -> Response:
    """Sign in with a supervisor key: a session cookie, then the overview."""

    def start(secret: bytes) -> str:
        return sign_in(session, key.strip(), secret=secret, now=clock_now(request))[0]

    return AREA.sign_in(request, settings, csrf, start, partial(_login_page, request))


@router.post("/logout")
def logout(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    current: SignedIn,
    csrf: Annotated[SafeStr, Form(max_length=100)] = "",
) -> Response:
    """End the session."""
    if not AREA.posted(request, settings, current.csrf, csrf):
        return form_refused(request, current)
    sign_out(session, current)
    return AREA.signed_out()


@router.get("/static/echarts.min.js")
def echarts(settings: SettingsDep) -> Response:
    """Apache ECharts, installed from npm (web/package.json) and served here: no CDN."""
    if not settings.echarts_path.is_file():
        return Response("ECharts 未安装", status_code=404, media_type="text/plain; charset=utf-8")
    return FileResponse(
        settings.echarts_path,
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/static/{name}")
def asset(name: str) -> Response:
    """The dashboard's own style sheet and script."""
    if name not in _OWN_ASSETS:
        return Response("没有这个文件", status_code=404, media_type="text/plain; charset=utf-8")
    return FileResponse(
        _STATIC / name,
        media_type=_OWN_ASSETS[name],
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


@router.get("", response_class=HTMLResponse)
def overview(
    request: Request,
    session: SessionDep,
    current: SignedIn,
    month: Month = None,
) -> Response:
    """The overview of one month (default: see `figures.default_month`)."""
    first = _month(month, session, request)
    summary = figures.month_summary(session, first)
    per_agency = figures.visits_per_agency(session, first)
    kinds = figures.inspections_by_kind(session, first)
    charts = {
        "perDay": _bars(figures.visits_per_day(session, first), "入企次数"),
        "byKind": {
            "type": "pie",
            "name": "检查项数",
            "items": [{"name": k.label, "value": k.value} for k in kinds],
        },
        "perAgency": {
            **_bars(per_agency, "参与入企次数", "/dashboard/agencies/{}"),
            "horizontal": True,
        },
    }
    return _page(
        request,
        "overview.html",
        signed_in=True,
        csrf=current.csrf,
        nav="overview",
        month=first,
        previous_month=_shift(first, -1),
        next_month=_shift(first, 1),
        summary=summary,
        exceptions=figures.quiet_day_exceptions(session, first),
        top=figures.most_visited(session, *figures.month_bounds(first)),
        actual=_province_month(session, first),
        period=first.isoformat()[:7],
        charts=charts,
        risk_policy=get_policy(session),
    )


def _province_month(session: Session, first: date) -> dict[str, int]:
    """What happened in the month, province-wide (the audit's rollups of every city)."""
    rows = frequency_page(session, dim="city", period=first.isoformat()[:7], limit=500).rows
    return {
        name: sum(getattr(r, name) for r in rows)
        for name in (
            "actual_visits", "violations", "quiet_day", "unplanned", "over_cap",
            "planned_remote", "actual_remote",
        )
    }  # fmt: skip


@router.get("/enterprises", response_class=HTMLResponse)
def enterprises(
    request: Request,
    session: SessionDep,
    current: SignedIn,
    q: Annotated[SafeStr, Query(max_length=100, description="企业名称或统一社会信用代码")] = "",
) -> Response:
    """Find an enterprise by name or code; without a query, this year's most visited."""
    year = figures.local_today(clock_now(request)).year
    return _page(
        request,
        "enterprises.html",
        signed_in=True,
        csrf=current.csrf,
        nav="enterprises",
        q=q,
        found=figures.enterprise_listing(session, q) if q.strip() else [],
        top=figures.most_visited(session, date(year, 1, 1), date(year, 12, 31), limit=30),
        year=year,
    )


@router.get("/enterprises/{enterprise_id}", response_class=HTMLResponse)
def enterprise(
    enterprise_id: str,
    request: Request,
    session: SessionDep,
    current: SignedIn,
    year: Year = None,
) -> Response:
    """One enterprise: a calendar heatmap of its visits over the year, the visits, its policy."""
    shown = _year(year, session, request)
    try:
        listing, lines = figures.enterprise_visits(session, enterprise_id, shown)
    except NotFoundError as exc:
        return _not_found(request, exc)
    per_day: dict[str, int] = {}
    for line in lines:
        per_day[line.day.isoformat()] = per_day.get(line.day.isoformat(), 0) + len(line.agencies)
    charts = {
        "heatmap": {
            "type": "calendar",
            "name": "入企部门数",
            "year": shown,
            "days": sorted(per_day.items()),
        }
    }
    return _page(
        request,
        "enterprise.html",
        signed_in=True,
        csrf=current.csrf,
        nav="enterprises",
        listing=listing,
        lines=lines,
        year=shown,
        charts=charts,
        kind_labels=figures.KIND_LABELS,
    )


@router.get("/agencies", response_class=HTMLResponse)
def agencies(
    request: Request,
    session: SessionDep,
    current: SignedIn,
    year: Year = None,
) -> Response:
    """Every agency with the visits it takes part in this year."""
    shown = _year(year, session, request)
    return _page(
        request,
        "agencies.html",
        signed_in=True,
        csrf=current.csrf,
        nav="agencies",
        year=shown,
        rows=figures.agency_listing(session, shown),
    )


@router.get("/agencies/{agency_id}", response_class=HTMLResponse)
def agency(
    agency_id: str,
    request: Request,
    session: SessionDep,
    current: SignedIn,
    year: Year = None,
) -> Response:
    """One agency: visits per month, the enterprises it visits most, capacity use, caps."""
    shown = _year(year, session, request)
    try:
        row = figures.agency_of(session, agency_id)
    except NotFoundError as exc:
        return _not_found(request, exc)
    months = figures.agency_capacity(session, agency_id, shown)
    charts = {
        "perMonth": {
            "type": "bar",
            "name": "参与入企次数",
            "labels": [f"{m.month.month}月" for m in months],
            "values": [m.visits for m in months],
            "capacity": [m.capacity for m in months],
        }
    }
    return _page(
        request,
        "agency.html",
        signed_in=True,
        csrf=current.csrf,
        nav="agencies",
        agency=row,
        year=shown,
        months=months,
        top=figures.most_visited(
            session, date(shown, 1, 1), date(shown, 12, 31), agency_id=agency_id
        ),
        near_cap=figures.near_cap_pairs(session, shown, agency_id=agency_id),
        charts=charts,
    )


_RUN_STATUSES = {
    RunStatus.QUEUED: "排队",
    RunStatus.RUNNING: "运行中",
    RunStatus.SUCCEEDED: "已完成",
    RunStatus.FAILED: "失败",
    RunStatus.CANCELLED: "已取消",
    RunStatus.PUBLISHED: "已发布",
}


@router.get("/calendar", response_class=HTMLResponse)
def official_calendar(
    request: Request,
    session: SessionDep,
    current: SignedIn,
    year: Year = None,
) -> Response:
    """The official calendar by year (official or provisional, its source), one year's days and
    the published visits on its days off, and which recent runs were provisional."""
    today = figures.local_today(clock_now(request))
    years = calendar.list_years(session, today=today)
    # By default the year that needs attention: visits on days off, else no notice yet.
    near = [y for y in reversed(years) if y.year >= today.year]
    pick = next((y for y in near if y.disturbed), None) or next(
        (y for y in near if y.provisional), None
    )
    shown, days = calendar.year_days(session, year or (pick.year if pick else today.year))
    return _page(
        request,
        "calendar.html",
        signed_in=True,
        csrf=current.csrf,
        nav="calendar",
        years=years,
        shown=shown,
        days=days,
        disturbed=calendar.disturbed_visits(session, year=shown.year, limit=200),
        runs=RunRepository(session).list(limit=20, after=None),
        statuses=_RUN_STATUSES,
        local=lambda moment: moment.astimezone(figures.SHANGHAI).strftime("%Y-%m-%d %H:%M"),
    )


_EXPORTS = {
    "csv": ("text/csv; charset=utf-8", export_csv),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", export_xlsx),
}


@router.get("/exports/frequency.{fmt}")
def export(
    session: SessionDep,
    _: SignedIn,
    fmt: Literal["csv", "xlsx"],
    period: Annotated[SafeStr, Query(max_length=7, description="2026、2026-Q3 或 2026-07")],
    by: Literal["enterprise", "agency", "county", "city"] = "agency",
) -> Response:
    """The frequency audit for the signed-in supervisor (the API's exports take a key)."""
    media, write = _EXPORTS[fmt]
    return Response(
        write(session, dim=by, period=period),
        media_type=media,
        headers={"Content-Disposition": f"attachment; filename=frequency-{by}-{period}.{fmt}"},
    )


@router.get("/caps")
def caps(
    request: Request, session: SessionDep, settings: SettingsDep, year: Year = None
) -> Response:
    """Agency-enterprise pairs over, at or one below the yearly cap, as JSON: the overview loads
    it after drawing, since it aggregates a whole year of the province."""
    if _current(request, session, settings) is None:
        return JSONResponse({"detail": "请先登录"}, status_code=401, headers=_HEADERS)
    shown = year or figures.local_today(clock_now(request)).year
    found = figures.near_cap_pairs(session, shown)
    body = {
        "year": shown,
        "over": found.over,
        "at": found.at,
        "below": found.below,
        "pairs": [
            {
                "agency_id": n.agency_id,
                "agency_name": n.agency_name,
                "enterprise_id": n.enterprise_id,
                "enterprise_name": n.enterprise_name,
                "used": n.used,
                "cap": n.cap,
            }
            for n in found.pairs
        ],
    }
    return JSONResponse(body, headers=_HEADERS)
