"""Calendar subscriptions: the feeds at their secret URLs, the subscribe page, and the tokens."""

from __future__ import annotations

import email.utils
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from quietday.api.deps import ActorDep, SessionDep, SettingsDep
from quietday.api.errors import problem_responses
from quietday.api.qr import qr_svg
from quietday.api.routers.complaints import form_token, own
from quietday.api.routers.dashboard import CSP
from quietday.api.schemas import (
    FeedTokenCreate,
    FeedTokenCreated,
    FeedTokenPublic,
    InspectorsPut,
    SafeText,
)
from quietday.planning.checkins import agency_names, list_for_token, rate_check_in
from quietday.planning.complaints import REASONS, complaints_for_token
from quietday.planning.feeds import (
    CHINA,
    FeedCache,
    RenderedFeed,
    assign_inspectors,
    fresh_feed,
    issue_token,
    list_tokens,
    poll,
    render_token,
    revoke_token,
    rotate_token,
    token_digest,
)

router = APIRouter(tags=["feeds"], responses=problem_responses(422))
_pages = Environment(
    loader=PackageLoader("quietday.api", "templates"), autoescape=select_autoescape(["html"])
)
# A token is only ever hashed: text outside the text rule matches no token (404, as feeds say).
Token = Annotated[str, Path(min_length=1, max_length=100, description="订阅令牌")]
TokenId = Annotated[int, Path(ge=1, le=2**31 - 1)]
ICS = "text/calendar; charset=utf-8"
# The dashboard's policy, but for the subscribe page's own inline style sheet.
SUBSCRIBE_CSP = f"{CSP}; style-src 'self' 'unsafe-inline'"


def _now(request: Request) -> datetime:
    now: datetime = request.app.state.clock()
    return now


def _rendered(
    request: Request, session: SessionDep, settings: SettingsDep, token: str
) -> RenderedFeed:
    return render_token(session, token, now=_now(request), uid_domain=settings.feed_uid_domain)


def _not_modified(match: str | None, since: str | None, etag: str, last_modified: datetime) -> bool:
    """RFC 9110: If-None-Match (weak comparison, lists, *) wins over If-Modified-Since."""
    if match is not None:
        tags = [t.strip() for t in match.split(",")]
        return "*" in tags or any(t.removeprefix("W/") == etag for t in tags)
    if since is None:
        return False
    try:
        moment = email.utils.parsedate_to_datetime(since)
    except (TypeError, ValueError, IndexError):
        return False
    return moment.tzinfo is not None and last_modified <= moment


_FEED_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {ICS: {}}, "description": "iCalendar 日历"},
    304: {"description": "未修改"},
    **problem_responses(404),
}
Headers = list[tuple[bytes, bytes]]
_KEPT_OVERHEAD = 512  # bytes: a kept answer's headers and bookkeeping, roughly


@dataclass(frozen=True, slots=True)
class Answer:
    """A feed's answers, headers ready: 304, and 200 with its body (None: the body is not
    held, as when the poll left it in the database because the client had it)."""

    etag: str
    last_modified: datetime
    not_modified: Headers
    body: bytes | None
    full: Headers

    def send(
        self, *, match: str | None, since: str | None, head: bool
    ) -> tuple[int, Headers, bytes] | None:
        """(status, headers, body) for a client holding (`match`, `since`) validators; None
        when the client needs the body and it is not held."""
        if _not_modified(match, since, self.etag, self.last_modified):
            return 304, self.not_modified, b""
        if self.body is None:
            return None
        return 200, self.full, b"" if head else self.body


def _encoded(headers: dict[str, str]) -> Headers:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


def _answer_of(*, etag: str, last_modified: datetime, body: bytes | None) -> Answer:
    """Every answer of one rendering, with the headers each carries."""
    common = {
        "ETag": etag,
        "Last-Modified": email.utils.format_datetime(last_modified.astimezone(UTC), usegmt=True),
        "Cache-Control": "private, max-age=300",
        "Referrer-Policy": "no-referrer",
        "X-Robots-Tag": "noindex",
        "X-Content-Type-Options": "nosniff",
    }
    full = {
        **common,
        "Content-Disposition": 'inline; filename="quietday.ics"',
        "Content-Length": str(len(body or b"")),
        "Content-Type": ICS,
    }
    return Answer(
        etag=etag,
        last_modified=last_modified,
        not_modified=_encoded(common),
        body=body,
        full=_encoded(full),
    )


def _response(status: int, headers: Headers, body: bytes) -> Response:
    response = Response(body, status_code=status)
    response.raw_headers = list(headers)
    return response


def _held_etag(request: Request) -> str:
    """The first ETag the client holds, if any: the poll leaves that body in the database."""
    match = request.headers.get("if-none-match", "")
    return match.split(",", 1)[0].strip().removeprefix("W/")


async def _feed(token: str, request: Request, *, head: bool) -> Response:
    """A poll is mostly answered from the stored rendering in one indexed query on the event
    loop; rendering goes to the thread pool so that a large feed never stalls the other polls.
    What it answers is kept in the process's `FeedCache` (`FeedPolls` answers from there)."""
    state = request.app.state
    domain = state.settings.feed_uid_domain
    cache: FeedCache[Answer] = state.feed_cache
    match = request.headers.get("if-none-match")
    since = request.headers.get("if-modified-since")
    mark = cache.mark()
    found = poll(
        state.reader, token, now=state.clock(), uid_domain=domain, client_etag=_held_etag(request)
    )
    etag, last_modified = found.stored_etag, found.stored_last_modified
    answer = sent = None
    if etag is not None and last_modified is not None:
        answer = _answer_of(etag=etag, last_modified=last_modified, body=found.stored_body)
        sent = answer.send(match=match, since=since, head=head)
    if answer is None or sent is None:
        fresh = await run_in_threadpool(fresh_feed, state.engine, found, uid_domain=domain)
        answer = _answer_of(etag=fresh.etag, last_modified=fresh.last_modified, body=fresh.body)
        sent = answer.send(match=match, since=since, head=head)
        assert sent is not None  # a fresh rendering holds its body
    digest = token_digest(token)
    if digest is not None:
        size = len(answer.body or b"") + _KEPT_OVERHEAD
        cache.put(digest, answer, mark=mark, today=found.today, size=size)
    return _response(*sent)


class FeedPolls:
    """ASGI middleware: a poll of a feed whose answer this process holds (`FeedCache`) is
    answered here, before routing; everything else goes on to the app."""

    def __init__(
        self, app: ASGIApp, *, cache: FeedCache[Answer], clock: Callable[[], datetime]
    ) -> None:
        self.app = app
        self.cache = cache
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sent = self._held(scope) if scope["type"] == "http" else None
        if sent is None:
            await self.app(scope, receive, send)
            return
        status, headers, body = sent
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _held(self, scope: Scope) -> tuple[int, Headers, bytes] | None:
        path: str = scope["path"]
        method = scope["method"]
        if (
            not path.startswith("/feeds/")
            or not path.endswith(".ics")
            or method not in ("GET", "HEAD")
            or scope.get("root_path")
        ):
            return None
        token = path[7:-4]
        digest = token_digest(token) if "/" not in token else None
        answer = self.cache.get(digest, self.clock()) if digest is not None else None
        if answer is None:
            return None
        match = since = None
        for name, value in scope["headers"]:
            if name == b"if-none-match":
                match = value.decode("latin-1")
            elif name == b"if-modified-since":
                since = value.decode("latin-1")
        return answer.send(match=match, since=since, head=method == "HEAD")


@router.get(
    "/feeds/{token}.ics", summary="日历订阅", response_class=Response, responses=_FEED_RESPONSES
)
async def feed(token: Token, request: Request) -> Response:
    """日历订阅(iCalendar,无需密钥:URL 中的令牌即凭证)。"""
    return await _feed(token, request, head=False)


@router.head(
    "/feeds/{token}.ics",
    summary="日历订阅(仅头部)",
    response_class=Response,
    responses=_FEED_RESPONSES,
)
async def feed_head(token: Token, request: Request) -> Response:
    """只返回订阅的响应头(校验值与长度)。"""
    return await _feed(token, request, head=True)


@router.get(
    "/feeds/{token}",
    summary="订阅页面",
    response_class=HTMLResponse,
    responses=problem_responses(404),
)
def subscribe_page(
    token: Token, request: Request, session: SessionDep, settings: SettingsDep
) -> HTMLResponse:
    """订阅页面:日历应用的订阅链接、手机扫码用的二维码、接下来的入企。"""
    # First: the signing secret may be stored on its own connection, before this one writes.
    complain_csrf = form_token(request, settings, token)
    rendered = _rendered(request, session, settings, token)
    https_url = f"{settings.base_url()}/feeds/{token}.ics"
    webcal_url = "webcal://" + https_url.split("://", 1)[1]
    upcoming: list[dict[str, Any]] = [
        {
            "day": day,
            "cancelled": side.cancelled,
            "agencies": "、".join(sorted({p.agency_name for p in side.parts})),
            "lead": side.lead_agency_name,
        }
        for day, side in rendered.upcoming[:10]
    ]
    enterprise = rendered.kind == "enterprise"
    entries = list_for_token(session, token, limit=20) if enterprise else []
    filed = complaints_for_token(session, token, limit=20).complaints if enterprise else []
    names = agency_names(
        session, {e.row.agency_id for e in entries} | {c.agency_id for c in filed if c.agency_id}
    )
    html = _pages.get_template("subscribe.html").render(
        name=rendered.name,
        https_url=https_url,
        webcal_url=webcal_url,
        google_url="https://calendar.google.com/calendar/r?cid=" + quote(https_url, safe=""),
        qr_svg=qr_svg(https_url),
        upcoming=upcoming,
        entries=[
            {
                "id": e.row.id,
                "day": e.row.day.isoformat(),
                "agency": names.get(e.row.agency_id, e.row.agency_id),
                "score": e.rating.score if e.rating is not None else None,
                "action": f"/feeds/{token}/rate",
            }
            for e in entries
        ],
        rated=request.query_params.get("rated"),
        complaints=[{**own(c), "agency": names.get(c.agency_id or "", "")} for c in filed],
        complained=request.query_params.get("complained"),
        reasons=REASONS,
        complain_action=f"/feeds/{token}/complain",
        complain_csrf=complain_csrf,
        enterprise=enterprise,
        china=CHINA,
        poster_url=f"/feeds/{token}/code" if rendered.kind == "enterprise" else None,
    )
    return HTMLResponse(
        html,
        headers={
            "Cache-Control": "private, no-store",
            # The token never leaves for another site, and the page's own forms carry their
            # Origin (under no-referrer a browser sends `Origin: null`).
            "Referrer-Policy": "same-origin",
            "X-Robots-Tag": "noindex",
            # Its forms and the enterprise's complaints are not to be framed by another site,
            # nor any script run (its style is inline).
            "Content-Security-Policy": SUBSCRIBE_CSP,
            "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.post("/feeds/{token}/rate", summary="订阅页面的评价表单", response_class=RedirectResponse,
             status_code=303, responses=problem_responses(404, 422))  # fmt: skip
def rate_form(
    token: Token,
    request: Request,
    session: SessionDep,
    check_in_id: Annotated[int, Form(ge=1, le=2**31 - 1)],
    score: Annotated[int, Form(ge=1, le=5)],
    comment: Annotated[SafeText, Form(max_length=500)] = "",
) -> RedirectResponse:
    """订阅页面上的评价表单(令牌即凭证:不用 cookie,也不需 CSRF 令牌)。"""
    rate_check_in(
        session, token, check_in_id, score=score, comment=comment, now=request.app.state.clock()
    )
    return RedirectResponse(f"/feeds/{token}?rated={check_in_id}", status_code=303)


tokens = APIRouter(
    prefix="/api/v1/feed-tokens", tags=["feeds"], responses=problem_responses(401, 403, 422)
)


def _public(row: Any) -> FeedTokenPublic:
    return FeedTokenPublic.model_validate(row.model_dump())


def _created(settings: SettingsDep, row: Any, token: str) -> FeedTokenCreated:
    base = settings.base_url()
    return FeedTokenCreated.model_validate(
        {
            **row.model_dump(),
            "token": token,
            "feed_url": f"{base}/feeds/{token}.ics",
            "page_url": f"{base}/feeds/{token}",
        }
    )


@tokens.post(
    "",
    summary="签发订阅地址",
    status_code=201,
    response_model=FeedTokenCreated,
    responses=problem_responses(404),
)
def issue(
    body: FeedTokenCreate, session: SessionDep, settings: SettingsDep, actor: ActorDep
) -> FeedTokenCreated:
    """为一个订阅签发地址(只显示这一次):企业的(监督部门签发)、执法部门的或执法人员的(监督部门或该部门签发)。"""
    row, token = issue_token(
        session, actor, kind=body.kind, subject_id=body.subject_id, label=body.label
    )
    return _created(settings, row, token)


@tokens.get("", summary="订阅列表", response_model=list[FeedTokenPublic])
def list_(session: SessionDep, actor: ActorDep) -> list[FeedTokenPublic]:
    """本密钥管理的订阅(从不返回令牌本身)。"""
    return [_public(r) for r in list_tokens(session, actor)]


@tokens.post(
    "/{token_id}/rotate",
    summary="更换订阅地址",
    status_code=201,
    response_model=FeedTokenCreated,
    responses=problem_responses(404),
)
def rotate(
    token_id: TokenId, session: SessionDep, settings: SettingsDep, actor: ActorDep
) -> FeedTokenCreated:
    """为同一订阅换一个新地址;旧地址立即失效。"""
    row, token = rotate_token(session, actor, token_id)
    return _created(settings, row, token)


@tokens.post(
    "/{token_id}/revoke",
    summary="吊销订阅地址",
    response_model=FeedTokenPublic,
    responses=problem_responses(404),
)
def revoke(token_id: TokenId, session: SessionDep, actor: ActorDep) -> FeedTokenPublic:
    """立即吊销一个订阅地址。"""
    return _public(revoke_token(session, actor, token_id))


@router.put(
    "/api/v1/visits/{visit_id}/inspectors",
    summary="指派执法人员",
    response_model=list[int],
    tags=["visits"],
    responses=problem_responses(401, 404, 422),
)
def put_inspectors(
    visit_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    body: InspectorsPut,
    session: SessionDep,
    actor: ActorDep,
) -> list[int]:
    """指定本部门哪些持证执法人员参加一次入企(他们的订阅会显示)。"""
    return assign_inspectors(session, actor, visit_id, body.inspector_ids)
