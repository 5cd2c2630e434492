"""Complaints (投诉): filed by an enterprise through its feed token (the subscribe page's form
and JSON for the province's app), handled by supervisors (API and dashboard); and the
supervision view per agency and month. No agency key reaches any of it."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from quietday.api.deps import SessionDep, SettingsDep, SupervisorDep
from quietday.api.errors import problem_responses
from quietday.api.forms import matches, same_origin, signing_secret
from quietday.api.routers.dashboard import AREA, SignedIn, _not_found, _page, _shift, form_refused
from quietday.api.schemas import (
    ComplaintClose,
    ComplaintCreate,
    ComplaintOwnPublic,
    ComplaintPage,
    ComplaintPublic,
    SafeStr,
    SafeText,
    SupervisionPublic,
    SupervisionRowPublic,
)
from quietday.config import Settings
from quietday.domain.status import ComplaintStatus
from quietday.errors import ConflictError, ForbiddenError, InputError, NotFoundError
from quietday.persistence import Session
from quietday.persistence.tables import ComplaintRow
from quietday.planning.checkins import agency_names
from quietday.planning.complaints import (
    REASONS,
    ComplaintFilter,
    accept_complaint,
    close_complaint,
    complaints_for_token,
    file_for_token,
    get_complaint,
    list_complaints,
)
from quietday.planning.dashboard import SHANGHAI
from quietday.planning.keys import Actor
from quietday.planning.supervision import month_bounds, supervision

ComplaintId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Token = Annotated[str, Path(min_length=1, max_length=100, description="企业的订阅令牌")]
MonthQuery = Annotated[SafeStr | None, Query(max_length=7, description="按提交月份筛选,YYYY-MM")]
StatusQuery = Annotated[
    ComplaintStatus | None, Query(description="pending 待处理、handling 处理中、closed 已办结")
]


def _now(request: Request) -> datetime:
    now: datetime = request.app.state.clock()
    return now


def own(row: ComplaintRow) -> dict[str, Any]:
    """What the enterprise sees of its complaint."""
    return {
        "id": int(row.id or 0),
        "check_in_id": row.check_in_id,
        "agency_id": row.agency_id,
        "reason": row.reason,
        "reason_label": REASONS.get(row.reason, row.reason),
        "text": row.text,
        "status": row.status,
        "status_label": ComplaintStatus(row.status).label,
        "reply": row.reply,
        "created_at": row.created_at,
        "closed_at": row.closed_at,
    }


def public(row: ComplaintRow) -> ComplaintPublic:
    return ComplaintPublic(
        **own(row),
        enterprise_id=row.enterprise_id,
        visit_id=row.visit_id,
        channel=row.channel,
        handled_by=row.handled_by,
        accepted_at=row.accepted_at,
    )


def _filter(
    *,
    status: ComplaintStatus | None,
    agency_id: str | None,
    enterprise_id: str | None,
    month: str | None,
) -> ComplaintFilter:
    start = end = None
    if month:
        _, _, start, end = month_bounds(month)
    return ComplaintFilter(
        status=status,
        agency_id=agency_id or None,
        enterprise_id=enterprise_id or None,
        created_from=start,
        created_to=end,
    )


# The supervisors' API.
api = APIRouter(
    prefix="/api/v1/complaints", tags=["complaints"], responses=problem_responses(401, 403, 422)
)


@api.get("", summary="投诉列表", response_model=ComplaintPage)
def list_(
    session: SessionDep,
    actor: SupervisorDep,
    status: StatusQuery = None,
    agency_id: Annotated[SafeStr | None, Query(max_length=64)] = None,
    enterprise_id: Annotated[SafeStr | None, Query(max_length=18)] = None,
    month: MonthQuery = None,
    after: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description="上一页最后一条投诉的编号")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ComplaintPage:
    """按提交顺序列出投诉(仅监督部门);按状态筛选即最早的在前。"""
    flt = _filter(status=status, agency_id=agency_id, enterprise_id=enterprise_id, month=month)
    rows = list_complaints(session, actor, flt, after=after, limit=limit)
    items = [public(r) for r in rows]
    return ComplaintPage(items=items, next_cursor=items[-1].id if len(items) == limit else None)


@api.get(
    "/{complaint_id}", summary="一件投诉", response_model=ComplaintPublic,
    responses=problem_responses(404),
)  # fmt: skip
def read(session: SessionDep, actor: SupervisorDep, complaint_id: ComplaintId) -> ComplaintPublic:
    """一件投诉及其处理情况(仅监督部门)。"""
    return public(get_complaint(session, actor, complaint_id))


@api.post(
    "/{complaint_id}/accept", summary="受理投诉", response_model=ComplaintPublic,
    responses=problem_responses(404, 409),
)  # fmt: skip
def accept(
    request: Request, session: SessionDep, actor: SupervisorDep, complaint_id: ComplaintId
) -> ComplaintPublic:
    """受理一件待处理的投诉(待处理 → 处理中)。"""
    return public(accept_complaint(session, actor, complaint_id, now=_now(request)))


@api.post(
    "/{complaint_id}/close", summary="办结投诉", response_model=ComplaintPublic,
    responses=problem_responses(404, 409),
)  # fmt: skip
def close(
    request: Request,
    session: SessionDep,
    actor: SupervisorDep,
    complaint_id: ComplaintId,
    body: ComplaintClose,
) -> ComplaintPublic:
    """办结投诉并答复企业(待处理或处理中 → 已办结);企业在订阅页面看到答复。"""
    return public(
        close_complaint(session, actor, complaint_id, reply=body.reply, now=_now(request))
    )


supervision_api = APIRouter(
    prefix="/api/v1/supervision", tags=["complaints"], responses=problem_responses(401, 403, 422)
)


@supervision_api.get("", summary="各部门月度监督", response_model=SupervisionPublic)
def month_view(
    session: SessionDep,
    _: SupervisorDep,
    month: Annotated[SafeStr, Query(max_length=7, description="月份 YYYY-MM")],
) -> SupervisionPublic:
    """每个执法部门一个月的扫码入企、未出示检查码与补扫码、投诉及处理时长、高频预警。"""
    found = supervision(session, month)
    return SupervisionPublic(
        month=found.month.isoformat()[:7],
        agencies=[
            SupervisionRowPublic.model_validate(a, from_attributes=True) for a in found.agencies
        ],
        unattributed_complaints=found.unattributed_filed,
    )


# The enterprise's side: its feed token is the credential.
feed_api = APIRouter(
    prefix="/api/v1/feeds/{token}/complaints",
    tags=["complaints"],
    responses=problem_responses(404, 422),
)


@feed_api.get("", summary="企业的投诉", response_model=list[ComplaintOwnPublic])
def of_token(session: SessionDep, token: Token) -> list[ComplaintOwnPublic]:
    """企业自己最近的投诉及答复(仅限企业的订阅令牌)。"""
    found = complaints_for_token(session, token)
    return [ComplaintOwnPublic.model_validate(own(r)) for r in found.complaints]


@feed_api.post(
    "", summary="企业投诉", status_code=status.HTTP_201_CREATED,
    response_model=ComplaintOwnPublic, responses=problem_responses(429),
)  # fmt: skip
def file(
    request: Request, session: SessionDep, token: Token, body: ComplaintCreate
) -> ComplaintOwnPublic:
    """企业投诉(直达司法行政监督部门,检查部门看不到);24 小时内最多 20 件。"""
    row = file_for_token(
        session,
        token,
        reason=body.reason,
        text=body.text,
        check_in_id=body.check_in_id,
        now=_now(request),
    )
    return ComplaintOwnPublic.model_validate(own(row))


def form_token(request: Request, settings: Settings, token: str) -> str:
    """The subscribe page's complaint form token: an HMAC of the feed token under the server
    secret, so that only a page this server rendered carries it."""
    digest = hmac.new(
        signing_secret(request, settings), f"complain:{token}".encode(), hashlib.sha256
    )
    return digest.hexdigest()


form = APIRouter(tags=["complaints"], responses=problem_responses(403, 404, 422, 429))


@form.post("/feeds/{token}/complain", summary="订阅页面的投诉表单", response_class=RedirectResponse,
           status_code=303)  # fmt: skip
def complain_form(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    token: Token,
    reason: Annotated[SafeStr, Form(max_length=16)],
    csrf: Annotated[SafeStr, Form(max_length=100)] = "",
    text: Annotated[SafeText, Form(max_length=500)] = "",
    check_in_id: Annotated[int | None, Form(ge=1, le=2**31 - 1)] = None,
) -> RedirectResponse:
    """订阅页面上的投诉表单:须来自本站页面(来源检查与表单令牌)。"""
    if not same_origin(request, settings) or not matches(
        form_token(request, settings, token), csrf
    ):
        raise ForbiddenError("表单已失效,请刷新订阅页面后重新提交")
    row = file_for_token(
        session, token, reason=reason, text=text, check_in_id=check_in_id, now=_now(request)
    )
    return RedirectResponse(f"/feeds/{token}?complained={row.id}#complaints", status_code=303)


# The dashboard's pages.
pages = APIRouter(prefix="/dashboard", include_in_schema=False)
_STATUS_LABELS = {s.value: s.label for s in ComplaintStatus}


def _supervisor_of(session: Session, current: SignedIn) -> Actor:
    actor = Actor(key_id=current.key_id, role="supervisor", agency_id=None)
    session.info["actor"] = actor.name
    return actor


def _local(moment: datetime | None) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if moment else ""


@pages.get("/complaints", response_class=HTMLResponse)
def queue(
    request: Request,
    session: SessionDep,
    current: SignedIn,
    status: Annotated[ComplaintStatus | None, Query()] = ComplaintStatus.PENDING,
    every: Annotated[bool, Query(alias="all")] = False,
    agency: Annotated[SafeStr, Query(max_length=64)] = "",
    month: Annotated[SafeStr, Query(max_length=7)] = "",
) -> Response:
    """The complaint queue: pending ones first by default, the oldest on top."""
    actor = _supervisor_of(session, current)
    shown = None if every else status
    try:
        flt = _filter(status=shown, agency_id=agency, enterprise_id=None, month=month or None)
    except InputError:
        return _page(request, "missing.html", status=422, message="月份应为 YYYY-MM。",
                     signed_in=True, csrf=current.csrf)  # fmt: skip
    rows = list_complaints(session, actor, flt, after=None, limit=200)
    names = agency_names(session, {r.agency_id for r in rows if r.agency_id})
    return _page(
        request,
        "complaints.html",
        signed_in=True,
        csrf=current.csrf,
        nav="complaints",
        rows=rows,
        shown_status=shown.value if shown else "",
        agency=agency,
        month=month,
        names=names,
        reasons=REASONS,
        statuses=_STATUS_LABELS,
        local=_local,
    )


@pages.get("/complaints/{complaint_id}", response_class=HTMLResponse)
def complaint_page(
    request: Request,
    session: SessionDep,
    current: SignedIn,
    complaint_id: ComplaintId,
    error: Annotated[SafeStr, Query(max_length=100)] = "",
) -> Response:
    """One complaint, with its 受理 and 办结 forms."""
    actor = _supervisor_of(session, current)
    try:
        row = get_complaint(session, actor, complaint_id)
    except NotFoundError as exc:
        return _not_found(request, exc)
    names = agency_names(session, [row.agency_id] if row.agency_id else [])
    return _page(
        request,
        "complaint.html",
        signed_in=True,
        csrf=current.csrf,
        nav="complaints",
        c=row,
        agency_name=names.get(row.agency_id or "", ""),
        reasons=REASONS,
        statuses=_STATUS_LABELS,
        local=_local,
        error=error,
    )


@pages.post("/complaints/{complaint_id}/accept")
def accept_form(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    current: SignedIn,
    complaint_id: ComplaintId,
    csrf: Annotated[SafeStr, Form(max_length=100)] = "",
) -> Response:
    """受理 from the complaint's page."""
    if not AREA.posted(request, settings, current.csrf, csrf):
        return form_refused(request, current)
    actor = _supervisor_of(session, current)
    try:
        accept_complaint(session, actor, complaint_id, now=_now(request))
    except NotFoundError as exc:
        return _not_found(request, exc)
    except ConflictError:
        return AREA.redirect(f"/dashboard/complaints/{complaint_id}?error=state")
    return AREA.redirect(f"/dashboard/complaints/{complaint_id}")


@pages.post("/complaints/{complaint_id}/close")
def close_form(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    current: SignedIn,
    complaint_id: ComplaintId,
    csrf: Annotated[SafeStr, Form(max_length=100)] = "",
    reply: Annotated[SafeText, Form(max_length=1000)] = "",
) -> Response:
    """办结 with a reply from the complaint's page."""
    if not AREA.posted(request, settings, current.csrf, csrf):
        return form_refused(request, current)
    actor = _supervisor_of(session, current)
    try:
        close_complaint(session, actor, complaint_id, reply=reply, now=_now(request))
    except NotFoundError as exc:
        return _not_found(request, exc)
    except ConflictError:
        return AREA.redirect(f"/dashboard/complaints/{complaint_id}?error=state")
    except InputError:
        return AREA.redirect(f"/dashboard/complaints/{complaint_id}?error=reply")
    return AREA.redirect(f"/dashboard/complaints/{complaint_id}")


@pages.get("/supervision", response_class=HTMLResponse)
def supervision_page(
    request: Request,
    session: SessionDep,
    current: SignedIn,
    month: Annotated[SafeStr, Query(max_length=7)] = "",
) -> Response:
    """Per agency and month: entries, scans, complaints and high-frequency warnings."""
    shown = month or _now(request).astimezone(SHANGHAI).strftime("%Y-%m")
    try:
        found = supervision(session, shown)
    except InputError:
        return _page(request, "missing.html", status=422, message="月份应为 YYYY-MM。",
                     signed_in=True, csrf=current.csrf)  # fmt: skip
    return _page(
        request,
        "supervision.html",
        signed_in=True,
        csrf=current.csrf,
        nav="supervision",
        found=found,
        month=found.month,
        previous_month=_shift(found.month, -1),
        next_month=_shift(found.month, 1),
    )


router = APIRouter()
for _part in (api, supervision_api, feed_api, form, pages):
    router.include_router(_part)
