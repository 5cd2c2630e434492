"""The enterprise's side of the codes, public and without sign-in: the verification page an
inspection code's QR opens (`/v/<token>`) and its JSON twin, the enterprise's own page its
监督码 opens (`/e/<token>`, where a short code can be typed), and the printable 监督码 posters
(from the enterprise's subscribe page, and in bulk on the dashboard).

The URLs hold tokens: every page is sent `no-store` with `Referrer-Policy: no-referrer` (the
enterprise's form page `same-origin`), and with the dashboard's CSP (no inline script or style). Anything that is not a genuine code gets
one and the same "检查码无效" page (404), whatever was wrong with it.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from quietday.api.deps import KeyringDep, SessionDep, SettingsDep, TodayDep
from quietday.api.errors import problem_responses, status_of
from quietday.api.forms import matches, same_origin
from quietday.api.qr import qr_svg
from quietday.api.routers.complaints import own
from quietday.api.routers.dashboard import CSP, SignedIn
from quietday.api.schemas import (
    CodeComplaint,
    CodeInspector,
    CodeRating,
    CodeRatingPublic,
    CodeVerification,
    CodeWarning,
    ComplaintOwnPublic,
    SafeStr,
    SafeText,
)
from quietday.config import Settings
from quietday.errors import InputError, NotFoundError, QuietdayError
from quietday.persistence import Session
from quietday.persistence.registry import EnterpriseRepository
from quietday.persistence.tables import EnterpriseRow
from quietday.planning.codes import enterprise_from_token, enterprise_token, enterprise_url
from quietday.planning.complaints import REASONS
from quietday.planning.feedback import complain_by_code, feedback_of, rate_by_code
from quietday.planning.feeds import look_up
from quietday.planning.verify import Verification, posters, typed_code, verify_token
from quietday.signing import Keyring

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1/codes", tags=["codes"])
_pages = Environment(
    loader=PackageLoader("quietday.api", "templates/codes"),
    autoescape=select_autoescape(["html"]),
)
_CSS = Path(__file__).resolve().parents[1] / "static" / "codes.css"
CSRF_COOKIE = "qd_code_csrf"
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
}
# Posters on one page of the bulk print.
PER_PAGE = 200
INVALID = "检查码无效"
INVALID_TEXT = (
    "这不是本系统签发的检查码,或者内容已被改动。请勿凭此码接受检查,"
    "可要求执法人员出示有效的检查码,或拨打 12345 反映。"
)


# The enterprise's page posts its form: with `no-referrer` the browser would send `Origin:
# null` and the same-origin check could not pass. Its URL goes to this site alone.
FORM_HEADERS = {**HEADERS, "Referrer-Policy": "same-origin"}


def _page(
    template: str, *, status: int = 200, headers: dict[str, str] = HEADERS, **context: Any
) -> HTMLResponse:
    html = _pages.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers=headers)


def _invalid(status: int = 404, title: str = INVALID, message: str = INVALID_TEXT) -> HTMLResponse:
    return _page("invalid.html", status=status, title=title, message=message)


def _public(v: Verification) -> CodeVerification:
    return CodeVerification(
        valid=v.valid,
        date=v.day,
        today=v.today,
        enterprise_id=v.enterprise_id,
        enterprise_name=v.enterprise_name,
        agency_id=v.agency_id,
        agency_name=v.agency_name,
        partner_agencies=v.partners,
        items=v.items,
        kinds=v.kinds,
        legal_basis=v.legal_basis,
        inspectors=[
            CodeInspector(name=i.name, certificate_no=i.certificate_no) for i in v.inspectors
        ],
        triggered=v.triggered,
        trigger_reason=v.trigger_reason,
        warnings=[
            CodeWarning.model_validate({"code": w.code, "message": w.message}) for w in v.warnings
        ],
        revoked_reason=v.revoked_reason,
    )


def _csrf(request: Request) -> str:
    """The form token the browser holds (a second tab's form stays good), else a new one."""
    held = request.cookies.get(CSRF_COOKIE, "")
    return held if re.fullmatch(r"[A-Za-z0-9_-]{32}", held) else secrets.token_urlsafe(24)


def _keep_csrf(request: Request, response: Response, csrf: str, path: str) -> None:
    response.set_cookie(
        CSRF_COOKIE,
        csrf,
        max_age=3600,
        path=path,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _form_ok(request: Request, settings: Settings, csrf: str) -> bool:
    held = request.cookies.get(CSRF_COOKIE, "")
    return same_origin(request, settings) and bool(held) and matches(held, csrf)


def _shown(
    v: Verification,
    *,
    request: Request | None = None,
    session: Session | None = None,
    token: str = "",
    status: int | None = None,
    sent: str | None = None,
    error: str | None = None,
) -> HTMLResponse:
    """A genuine code's page: 200, or 410 once it is revoked; with the evaluation and complaint
    forms from its day on when drawn for a browser at its own URL (`request`)."""
    feedback = feedback_of(session, v) if request is not None and session is not None else None
    if request is None or feedback is None or not feedback.open:
        return _page("verify.html", status=status or (200 if v.valid else 410), v=v)
    csrf = _csrf(request)
    response = _page(
        "verify.html",
        status=status or 200,
        headers=FORM_HEADERS,
        v=v,
        feedback=feedback,
        token=token,
        csrf=csrf,
        reasons=REASONS,
        sent=sent,
        error=error,
    )
    _keep_csrf(request, response, csrf, "/v")
    return response


@router.get("/static/codes.css")
def stylesheet() -> Response:
    """The style sheet of the code pages and posters."""
    return FileResponse(
        _CSS,
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/v/{token}", response_class=HTMLResponse)
def verify_page(
    token: str,
    request: Request,
    session: SessionDep,
    ring: KeyringDep,
    today: TodayDep,
    sent: Annotated[Literal["rating", "complaint"] | None, Query()] = None,
) -> Response:
    """What an inspection code's QR opens: the check it stands for, or why it does not hold;
    from its day on, the enterprise's evaluation and complaint forms."""
    found = verify_token(session, ring, token, today=today)
    if found is None:
        return _invalid()
    return _shown(found, request=request, session=session, token=token, sent=sent)


def _feedback_post(
    token: str,
    request: Request,
    session: Session,
    settings: Settings,
    ring: Keyring,
    today: date,
    csrf: str,
    act: Callable[[], object],
    sent: str,
) -> Response:
    """A form posted from a code's page: done and back to the page (303), or the page again
    with what went wrong."""
    found = verify_token(session, ring, token, today=today)
    if found is None:
        return _invalid()
    if not found.valid:
        return _shown(found)
    if not _form_ok(request, settings, csrf):
        return _shown(found, request=request, session=session, token=token, status=403,
                      error="表单已失效,请刷新页面后重新提交。")  # fmt: skip
    try:
        with session.begin_nested():
            act()
    except QuietdayError as exc:
        return _shown(found, request=request, session=session, token=token, status=status_of(exc),
                      error=str(exc))  # fmt: skip
    return RedirectResponse(f"/v/{token}?sent={sent}#feedback", status_code=303, headers=HEADERS)


@router.post("/v/{token}/rate", response_class=HTMLResponse)
def rate_form(
    token: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    ring: KeyringDep,
    today: TodayDep,
    score: Annotated[int, Form(ge=1, le=5)],
    comment: Annotated[SafeText, Form(max_length=500)] = "",
    csrf: Annotated[SafeStr, Form(max_length=100)] = "",
) -> Response:
    """The enterprise's evaluation of the entry, from the code's page."""
    return _feedback_post(
        token, request, session, settings, ring, today, csrf,
        lambda: rate_by_code(session, ring, token, score=score, comment=comment, today=today,
                             now=request.app.state.clock()),
        "rating",
    )  # fmt: skip


@router.post("/v/{token}/complain", response_class=HTMLResponse)
def complain_form(
    token: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    ring: KeyringDep,
    today: TodayDep,
    reason: Annotated[SafeStr, Form(max_length=16)],
    text: Annotated[SafeText, Form(max_length=500)] = "",
    csrf: Annotated[SafeStr, Form(max_length=100)] = "",
) -> Response:
    """The enterprise's complaint about the check, from the code's page."""
    now = request.app.state.clock()
    return _feedback_post(
        token, request, session, settings, ring, today, csrf,
        lambda: complain_by_code(session, ring, token, reason=reason, text=text, today=today,
                                 now=now),
        "complaint",
    )  # fmt: skip


@api.post(
    "/ratings",
    summary="凭检查码评价入企",
    status_code=201,
    response_model=CodeRatingPublic,
    responses=problem_responses(404, 409, 422),
)
def rate_json(
    body: CodeRating, request: Request, session: SessionDep, ring: KeyringDep, today: TodayDep
) -> CodeRatingPublic:
    """企业扫检查码后评价这次入企(无需密钥;入企当天起、有入企登记后;已在订阅页面评价过的请在订阅页面修改)。"""
    row = rate_by_code(
        session, ring, body.token, score=body.score, comment=body.comment, today=today,
        now=request.app.state.clock(),
    )  # fmt: skip
    return CodeRatingPublic(check_in_id=row.check_in_id, score=row.score, comment=row.comment)


@api.post(
    "/complaints",
    summary="凭检查码投诉",
    status_code=201,
    response_model=ComplaintOwnPublic,
    responses=problem_responses(404, 409, 422, 429),
)
def complain_json(
    body: CodeComplaint, request: Request, session: SessionDep, ring: KeyringDep, today: TodayDep
) -> ComplaintOwnPublic:
    """企业扫检查码后投诉这次检查(无需密钥;入企当天起),投诉直接送达司法行政监督部门。"""
    row = complain_by_code(
        session, ring, body.token, reason=body.reason, text=body.text, today=today,
        now=request.app.state.clock(),
    )  # fmt: skip
    return ComplaintOwnPublic.model_validate(own(row))


@api.get(
    "/verify",
    summary="核验检查码",
    response_model=CodeVerification,
    responses=problem_responses(404, 422),
)
def verify_json(
    session: SessionDep,
    ring: KeyringDep,
    today: TodayDep,
    token: Annotated[
        str, Query(min_length=1, max_length=1024, description="检查码(二维码中的签名令牌)")
    ],
) -> CodeVerification:
    """公开核验一个检查码(无需密钥,与扫码页面内容相同):检查部门、事项、依据、执法人员、日期,以及需要注意的问题;已撤销的检查码 valid 为 false。"""
    found = verify_token(session, ring, token, today=today)
    if found is None:
        raise NotFoundError(INVALID)
    return _public(found)


def _enterprise(session: SessionDep, ring: KeyringDep, token: str) -> EnterpriseRow | None:
    try:
        enterprise_id = enterprise_from_token(session, ring, token, field="token")
    except InputError:
        return None
    return EnterpriseRepository(session).get(enterprise_id)


def _enterprise_form(
    request: Request,
    token: str,
    enterprise: EnterpriseRow,
    *,
    status: int = 200,
    error: str | None = None,
    typed: str = "",
) -> HTMLResponse:
    # The token the browser holds is kept (a second tab's form stays good), else a new one.
    held = request.cookies.get(CSRF_COOKIE, "")
    csrf = held if re.fullmatch(r"[A-Za-z0-9_-]{32}", held) else secrets.token_urlsafe(24)
    response = _page(
        "enterprise.html",
        status=status,
        headers=FORM_HEADERS,
        name=enterprise.name,
        token=token,
        csrf=csrf,
        error=error,
        typed=typed,
    )
    response.set_cookie(
        CSRF_COOKIE,
        csrf,
        max_age=3600,
        path="/e",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/e/{token}", response_class=HTMLResponse)
def enterprise_page(
    token: str, request: Request, session: SessionDep, ring: KeyringDep
) -> Response:
    """What an enterprise's 监督码 opens: whose code it is, and a form to check a typed code."""
    enterprise = _enterprise(session, ring, token)
    if enterprise is None:
        return _invalid(
            title="监督码无效", message="这不是本系统签发的企业监督码,或者内容已被改动。"
        )
    return _enterprise_form(request, token, enterprise)


@router.post("/e/{token}", response_class=HTMLResponse)
def enterprise_check(
    token: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    ring: KeyringDep,
    today: TodayDep,
    code: Annotated[SafeStr, Form(max_length=100)] = "",
    csrf: Annotated[SafeStr, Form(max_length=100)] = "",
) -> Response:
    """A short code typed on the enterprise's page: shown if it is this enterprise's for today."""
    enterprise = _enterprise(session, ring, token)
    if enterprise is None:
        return _invalid(
            title="监督码无效", message="这不是本系统签发的企业监督码,或者内容已被改动。"
        )
    held = request.cookies.get(CSRF_COOKIE, "")
    if not same_origin(request, settings) or not held or not matches(held, csrf):
        return _enterprise_form(
            request, token, enterprise, status=403, error="表单已失效,请重新输入后提交。"
        )
    client = request.client.host if request.client else "unknown"
    found = typed_code(
        session, enterprise.id, code, client=client, today=today, now=request.app.state.clock()
    )
    if found == "limited":
        return _enterprise_form(
            request,
            token,
            enterprise,
            status=429,
            error="核验失败次数过多,请一小时后再试,或直接用手机相机扫描检查码的二维码。",
        )
    if found == "unknown":
        return _enterprise_form(
            request,
            token,
            enterprise,
            status=404,
            typed=code[:20],
            error="没有找到今天对本企业有效的这个检查码,请核对后重新输入(8 位字母和数字)。",
        )
    return _shown(found)


def _poster(settings: SettingsDep, ring: KeyringDep, enterprise: EnterpriseRow) -> dict[str, str]:
    url = enterprise_url(settings.base_url(), enterprise_token(ring, enterprise.id))
    return {"name": enterprise.name, "enterprise_id": enterprise.id, "url": url, "svg": qr_svg(url)}


@router.get("/feeds/{token}/code", response_class=HTMLResponse)
def enterprise_poster(
    token: str, request: Request, session: SessionDep, settings: SettingsDep, ring: KeyringDep
) -> Response:
    """The enterprise's 监督码 as a poster to print, from its subscribe page."""
    try:
        lookup = look_up(
            session, token, now=request.app.state.clock(), uid_domain=settings.feed_uid_domain
        )
    except (NotFoundError, InputError):
        lookup = None
    enterprise = (
        EnterpriseRepository(session).get(lookup.subject)
        if lookup is not None and lookup.kind == "enterprise"
        else None
    )
    if enterprise is None:
        return _invalid(
            title="订阅地址无效", message="这个订阅地址不存在或已被吊销,没有对应的企业监督码。"
        )
    return _page(
        "poster.html",
        posters=[_poster(settings, ring, enterprise)],
        back=f"/feeds/{token}",
    )


@router.get("/dashboard/enterprise-codes", response_class=HTMLResponse)
def enterprise_posters(
    session: SessionDep,
    settings: SettingsDep,
    ring: KeyringDep,
    _: SignedIn,
    region: Annotated[str, Query(pattern=r"^[0-9]{0,6}$", description="行政区划码前缀")] = "",
    q: Annotated[SafeStr, Query(max_length=100, description="企业名称中的字词")] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """Enterprises' 监督码 posters in bulk for a signed-in supervisor: one A4 page each."""
    found = posters(session, region=region, name=q.strip(), page=page, per_page=PER_PAGE)

    def link(n: int) -> str:
        return "/dashboard/enterprise-codes?" + urlencode({"region": region, "q": q, "page": n})

    return _page(
        "posters.html",
        posters=[_poster(settings, ring, e) for e in found.enterprises],
        found=found,
        region=region,
        q=q,
        per_page=PER_PAGE,
        link=link,
    )
