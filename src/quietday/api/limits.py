"""Request bodies have a size limit, enforced before anything parses them or checks a key: a
body whose Content-Length is over the limit is refused at once, and a body without one
(chunked) is counted as it arrives and refused as soon as it passes the limit."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from quietday.api.errors import http_problem

__all__ = ["BodyLimit", "BodyTooLarge"]


class BodyTooLarge(HTTPException):
    """Raised while a body is read; the app answers it as 413 problem+json."""

    def __init__(self, limit: int) -> None:
        size = f"{limit / (1 << 20):g} MB" if limit >= 1 << 20 else f"{limit} 字节"
        super().__init__(413, f"请求体超过上限 {size}")


class BodyLimit:
    """ASGI middleware: at most `limit` bytes of body on every route, `larger` (path -> bytes)
    on the upload routes."""

    def __init__(self, app: ASGIApp, *, limit: int, larger: Mapping[str, int]) -> None:
        self.app = app
        self.limit = limit
        self.larger = dict(larger)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger.get(scope["path"], self.limit)
        length = Headers(scope=scope).get("content-length", "")
        if length.isascii() and length.isdigit() and int(length) > limit:
            await http_problem(Request(scope), BodyTooLarge(limit))(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)
