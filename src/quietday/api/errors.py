"""One error answer everywhere: RFC 9457 `application/problem+json` with a stable `code`, a
Chinese `detail` and, on 422, the path of every bad field. Domain errors know nothing of HTTP;
the class-to-status map lives here, once."""

from __future__ import annotations

import ast
import logging
import re
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from quietday.domain.text import readable
from quietday.errors import (
    AuthenticationError,
    CalendarError,
    ConflictError,
    ForbiddenError,
    InputError,
    NotFoundError,
    QuietdayError,
    TooManyError,
)
from quietday.persistence.errors import DBAPIError, PoolTimeout, is_lost_race, is_unavailable

__all__ = [
    "PROBLEM",
    "FieldError",
    "ProblemDetail",
    "http_problem",
    "install",
    "problem_responses",
]

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"

_STATUS: list[tuple[type[QuietdayError], int, str]] = [
    (InputError, 422, "输入无效"),
    (CalendarError, 422, "输入无效"),
    (NotFoundError, 404, "未找到"),
    (ConflictError, 409, "冲突"),
    (AuthenticationError, 401, "未认证"),
    (ForbiddenError, 403, "无权操作"),
    (TooManyError, 429, "请求过多"),
]
_TITLES = {400: "请求无效", 401: "未认证", 403: "无权操作", 404: "未找到", 405: "方法不允许", 409: "冲突", 413: "请求过大",
           415: "不支持的媒体类型", 422: "输入无效", 429: "请求过多", 500: "服务器错误", 503: "服务暂不可用"}  # fmt: skip


class FieldError(BaseModel):
    path: str
    code: str
    message: str
    record: str | None = None


class ProblemDetail(BaseModel):
    """RFC 9457 错误详情,附 quietday 的错误代码 `code`;422 时附逐项错误 `errors`。"""

    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None
    errors: list[FieldError] | None = None


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries documenting the problem answers a route can give."""
    return {
        s: {
            "model": ProblemDetail,
            "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/ProblemDetail"}}},
            "description": _TITLES.get(s, "错误"),
        }
        for s in statuses
    }


def _answer(
    request: Request,
    status: int,
    *,
    code: str,
    detail: str,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    # The answer echoes paths and values from the request: a lone surrogate in them could not
    # be sent as UTF-8.
    body = ProblemDetail(
        type=f"urn:quietday:problem:{code}",
        title=_TITLES.get(status, "错误"),
        status=status,
        detail=readable(detail),
        code=code,
        instance=readable(request.url.path),
        errors=[
            e.model_copy(update={"path": readable(e.path), "message": readable(e.message)})
            for e in errors
        ]
        if errors is not None
        else None,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True), status_code=status, media_type=PROBLEM, headers=headers
    )


# The most problems one answer lists (a sheet may have tens of thousands; `detail` gives the
# count, and `?marked=true` on an import marks every one in the sheet).
MAX_LISTED = 1000


def _count(total: int, first: list[str]) -> str:
    """`detail` of a 422: how many problems, the first three, and whether the list is cut."""
    listed = f"(下列 errors 只列出前 {MAX_LISTED} 处)" if total > MAX_LISTED else ""
    more = " …" if total > len(first) else ""
    return f"共 {total} 处错误{listed}: " + "; ".join(first) + more


def status_of(exc: QuietdayError) -> int:
    """The HTTP status of a service error (what pages answer too)."""
    return next((s for cls, s, _ in _STATUS if isinstance(exc, cls)), 500)


def _domain(request: Request, exc: QuietdayError) -> JSONResponse:
    status = status_of(exc)
    if isinstance(exc, InputError):
        errors = [
            FieldError(path=p.path, code=p.code, message=p.message, record=p.record)
            for p in exc.problems[:MAX_LISTED]
        ]
        return _answer(
            request,
            422,
            code=exc.code,
            detail=_count(len(exc.problems), [str(p) for p in exc.problems[:3]]),
            errors=errors,
        )
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return _answer(request, status, code=exc.code, detail=str(exc), headers=headers)


def _loc(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out or ".".join(str(p) for p in loc)


def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [
        FieldError(
            path=_loc(tuple(e.get("loc", ()))),
            code=str(e.get("type", "invalid")),
            message=_chinese(e),
        )
        for e in exc.errors()
    ]
    detail = _count(len(errors), [f"{e.path}: {e.message}" for e in errors[:3]])
    return _answer(request, 422, code="invalid_request", detail=detail, errors=errors)


# What pydantic found, by error `type`, in words a user reads; `{name}` is filled from the
# error's `ctx`. pydantic's own `msg` is English and never shown.
_MESSAGES = {
    "missing": "缺少必填字段", "extra_forbidden": "不允许的字段",
    "string_too_short": "太短,至少 {min_length} 个字符", "string_too_long": "太长,最多 {max_length} 个字符",
    "greater_than_equal": "不能小于 {ge}", "less_than_equal": "不能大于 {le}",
    "greater_than": "应大于 {gt}", "less_than": "应小于 {lt}", "multiple_of": "应为 {multiple_of} 的倍数",
    "finite_number": "应为有限的数字",
    "int_parsing": "应为整数", "int_type": "应为整数", "int_from_float": "应为整数",
    "float_parsing": "应为数字", "float_type": "应为数字",
    "bool_parsing": "应为 true 或 false", "bool_type": "应为 true 或 false",
    "date_from_datetime_parsing": "应为 YYYY-MM-DD 日期", "date_from_datetime_inexact": "应为 YYYY-MM-DD 日期",
    "date_parsing": "应为 YYYY-MM-DD 日期", "date_type": "应为 YYYY-MM-DD 日期",
    "datetime_parsing": "应为带时区的 ISO 8601 时间", "datetime_from_date_parsing": "应为带时区的 ISO 8601 时间",
    "datetime_type": "应为带时区的 ISO 8601 时间", "timezone_aware": "应带时区,如 +08:00",
    "string_type": "应为字符串", "string_unicode": "应为有效的 Unicode 字符串",
    "string_pattern_mismatch": "格式不对,应匹配 {pattern}",
    "list_type": "应为数组", "tuple_type": "应为数组", "set_type": "应为数组",
    "model_type": "应为对象", "model_attributes_type": "应为对象", "dict_type": "应为对象",
    "json_invalid": "不是有效的 JSON", "json_type": "应为 JSON 字符串",
    "none_required": "应为 null", "url_parsing": "应为网址", "url_type": "应为网址",
}  # fmt: skip
# A length limit on a string counts characters; on a list, items.
_LENGTH = {
    ("too_short", True): "太短,至少 {min_length} 个字符", ("too_short", False): "至少 {min_length} 项",
    ("too_long", True): "太长,最多 {max_length} 个字符", ("too_long", False): "最多 {max_length} 项",
}  # fmt: skip


def _choices(expected: str) -> str:
    """pydantic's English list of allowed values (`'a', 'b' or 'c'`) as a Chinese one, each
    value as it is written in the request (a, not Python's 'a')."""
    return "、".join(str(_plain(v)) for v in re.split(r",\s*|\s+or\s+", expected) if v)


def _chinese(error: dict[str, Any]) -> str:
    kind = str(error.get("type"))
    ctx = error.get("ctx") or {}
    if kind == "value_error":  # our own validators: their message is Chinese
        return str(error.get("msg", "")).removeprefix("Value error, ")
    if kind in ("literal_error", "enum"):
        return f"应为以下之一:{_choices(str(ctx.get('expected', '')))}"
    template = _LENGTH.get((kind, isinstance(error.get("input"), str))) or _MESSAGES.get(kind)
    if template is None:
        field = next((str(p) for p in reversed(error.get("loc", ())) if isinstance(p, str)), "")
        return f"{field} 的取值无效" if field else "取值无效"
    return template.format_map(_Bounds({k: _plain(v) for k, v in ctx.items()}))


class _Bounds(dict[str, Any]):
    """An error's `ctx` for a template: a bound pydantic did not give reads as "?"."""

    def __missing__(self, key: str) -> str:
        return "?"


def _plain(value: Any) -> Any:
    """A value of an error's `ctx` as people write it: 1, not 1.0; dates and times in ISO 8601;
    text without quotes. pydantic gives some values as Python's repr (a date bound after a
    validator reads `datetime.date(2100, 12, 31)`): those are read back, never shown."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, date | time):  # a datetime is a date
        return value.isoformat()
    if isinstance(value, timedelta):
        return f"{_plain(value.total_seconds())} 秒"
    if isinstance(value, str) and _REPR.fullmatch(value.strip()):
        try:
            return _plain(_literal(ast.parse(value.strip(), mode="eval").body))
        except (SyntaxError, ValueError, TypeError, ArithmeticError):
            return value
    return value


# Python's repr of a value pydantic puts in `ctx`: a quoted text, a date, time or duration,
# a Decimal.
_REPR = re.compile(r"'.*'|\".*\"|(datetime\.(date|datetime|time|timedelta)|Decimal)\(.*\)", re.S)
_MAKERS: dict[str, Any] = {
    "date": date, "datetime": datetime, "time": time, "timedelta": timedelta,
    "timezone": timezone, "Decimal": Decimal,
}  # fmt: skip


def _literal(node: ast.expr) -> Any:
    """The value of a repr's syntax tree: constants and calls of `_MAKERS` alone."""
    match node:
        case ast.Constant(value=int() | float() | str() as v):
            return v
        case ast.UnaryOp(op=ast.USub(), operand=ast.Constant(value=int() | float() as v)):
            return -v
        case ast.Attribute(value=ast.Attribute(attr="timezone"), attr="utc"):
            return UTC
        case ast.Call(func=ast.Name(id=name) | ast.Attribute(attr=name), args=args, keywords=kw):
            if name not in _MAKERS or any(k.arg is None for k in kw):
                raise ValueError(name)
            return _MAKERS[name](
                *(_literal(a) for a in args), **{str(k.arg): _literal(k.value) for k in kw}
            )
    raise ValueError(ast.dump(node))


def http_problem(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """An HTTP-level refusal (no such route, a body too large to read, ...) as problem+json."""
    codes = {
        404: "not_found",
        405: "method_not_allowed",
        401: "unauthenticated",
        400: "bad_request",
        413: "body_too_large",
    }
    detail = {404: "没有这个地址", 405: "该地址不支持此方法", 400: "请求体无法解析"}.get(
        exc.status_code, str(exc.detail)
    )
    code = codes.get(exc.status_code, "http_error")
    return _answer(
        request, exc.status_code, code=code, detail=detail, headers=dict(exc.headers or {})
    )


RETRY_AFTER = 5  # seconds: about how long PostgreSQL takes to restart or a failover to finish


def _database(request: Request, exc: Exception) -> JSONResponse:
    """Connection-level failures are a retryable 503, lost races a 409; any other database
    error is a bug (500)."""
    if is_unavailable(exc):
        log.warning("database unavailable on %s: %s", request.url.path, exc)
        return _answer(
            request,
            503,
            code="database_unavailable",
            detail="数据库暂时不可用,请稍后重试",
            headers={"Retry-After": str(RETRY_AFTER)},
        )
    if is_lost_race(exc):
        return _answer(request, 409, code="concurrent_change", detail="同一记录正被并发修改,请重试")
    return _unexpected(request, exc)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s", request.url.path, exc_info=exc)
    return _answer(request, 500, code="internal_error", detail="服务器内部错误")


def install(app: FastAPI) -> None:
    app.add_exception_handler(QuietdayError, _domain)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http_problem)  # type: ignore[arg-type]
    app.add_exception_handler(DBAPIError, _database)
    app.add_exception_handler(PoolTimeout, _database)
    app.add_exception_handler(Exception, _unexpected)
