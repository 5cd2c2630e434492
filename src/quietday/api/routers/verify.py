"""The enterprise's side of the codes, public and without sign-in: the verification page an
inspection code's QR opens (`/v/<token>`) and its JSON twin, the enterprise's own page its
监督码 opens (`/e/<token>`, where a short code can be typed), and the printable 监督码 posters
(from the enterprise's subscribe page, and in bulk on the dashboard).

The URLs hold tokens: every page is sent `no-store` with `Referrer-Policy: no-referrer` (the
enterprise's form page `same-origin`), and with the dashboard's CSP (no inline script or style). Anything that is not a genuine code gets
one and the same "检查码无效" page (404), whatever was wrong with it.
"""

from __future__ import annotations

import io
import re
import secrets
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import segno
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from quietday.api.deps import KeyringDep, SessionDep, SettingsDep, TodayDep
from quietday.api.errors import problem_responses
from quietday.api.routers.dashboard import CSP, SignedIn, _matches, _same_origin
from quietday.api.schemas import CodeInspector, CodeVerification, CodeWarning, SafeStr
from quietday.errors import InputError, NotFoundError
from quietday.persistence.registry import EnterpriseRepository
from quietday.persistence.tables import EnterpriseRow
from quietday.planning.codes import enterprise_from_token, enterprise_token, enterprise_url
from quietday.planning.feeds import look_up
from quietday.planning.verify import Verification, posters, typed_code, verify_token

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


def qr_svg(url: str) -> str:
    """The QR of a URL as inline SVG, as every page here draws it (error correction M, a quiet
    zone of 4 modules, a viewBox so that style sheets size it)."""
    out = io.BytesIO()
    segno.make(url, error="m").save(
        out, kind="svg", xmldecl=False, svgns=False, border=4, omitsize=True
    )
    return out.getvalue().decode("utf-8")


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


def _shown(v: Verification) -> HTMLResponse:
    """A genuine code's page: 200, or 410 once it is revoked."""
    return _page("verify.html", status=200 if v.valid else 410, v=v)


@router.get("/static/codes.css")
def stylesheet() -> Response:
    """The style sheet of the code pages and posters."""
    return FileResponse(
        _CSS,
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/v/{token}", response_class=HTMLResponse)
def verify_page(token: str, session: SessionDep, ring: KeyringDep, today: TodayDep) -> Response:
    """What an inspection code's QR opens: the check it stands for, or why it does not hold."""
    found = verify_token(session, ring, token, today=today)
    return _invalid() if found is None else _shown(found)


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
    if not _same_origin(request, settings) or not held or not _matches(held, csrf):
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
