"""One language per audience, the API's side: its documentation (/openapi.json) and every
validation answer are Chinese; codes, field names and enum values stay as they are."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from language import english_run, foreign
from quietday.api.app import create_app
from quietday.api.errors import _chinese
from quietday.config import Settings
from seed import Seeded


def test_the_checker_can_fail() -> None:
    assert foreign("List Plans") == "no Chinese"
    assert foreign("检查计划: Submit one planned inspection.") is not None
    assert foreign("应为以下之一: 'routine'、'case'") is None
    assert foreign("导入 `CSV` 或 XLSX,返回 application/problem+json 的 JSON") is None
    assert foreign("缺少必填字段 (Field required)") is None  # two words: the next check's job
    assert english_run("Input should be a valid integer") == "Input should be"


# --- the API documentation ------------------------------------------------------------------


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _code_names(spec: Any) -> set[str]:
    """Every name the spec derives a `title` from: keys, parameter names, operation ids."""
    names = {"body"}  # a request body parameter is named `body`

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                names.add(_norm(str(key)))
                if key in ("name", "operationId") and isinstance(value, str):
                    names.update({_norm(value), "response" + _norm(value)})
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(spec)
    return names


def read_texts(spec: Any, path: str = "") -> Iterator[tuple[str, str, str]]:
    """(where, key, text) of every summary, description and title in an OpenAPI document."""
    if isinstance(spec, dict):
        for key, value in spec.items():
            where = f"{path}/{key}"
            if key in ("summary", "description", "title") and isinstance(value, str):
                yield where, key, value
            else:
                yield from read_texts(value, where)
    elif isinstance(spec, list):
        for i, item in enumerate(spec):
            yield from read_texts(item, f"{path}/{i}")


def openapi_problems(spec: dict[str, Any]) -> list[str]:
    """Every text of the documentation a reader meets that is not Chinese. A `title` the spec
    derives from a field, parameter or schema name is that name, and stays."""
    derived = _code_names(spec)
    problems = []
    for where, key, text in read_texts(spec):
        if key == "title" and _norm(text) in derived:
            continue
        why = foreign(text)
        if why:
            problems.append(f"{where}: {text!r} ({why})")
    return problems


def test_openapi_is_chinese_for_its_reader(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'q.db'}"))
    spec = TestClient(app).get("/openapi.json").json()  # no lifespan: no database needed
    texts = list(read_texts(spec))
    assert sum(key == "summary" for _, key, _ in texts) >= 60
    problems = openapi_problems(spec)
    assert not problems, "\n".join(problems[:40])


def test_the_openapi_check_finds_fastapi_defaults() -> None:
    """FastAPI's own texts (a summary from a function name, "Successful Response") are caught."""
    spec = {
        "paths": {
            "/x": {
                "get": {
                    "summary": "List Plans",
                    "operationId": "list_plans",
                    "parameters": [{"name": "plan_id", "schema": {"title": "Plan Id"}}],
                    "responses": {"200": {"description": "Successful Response"}},
                }
            }
        }
    }
    assert [p.split(":")[0] for p in openapi_problems(spec)] == [
        "/paths//x/get/summary",
        "/paths//x/get/responses/200/description",
    ]


# --- validation answers -----------------------------------------------------------------------


def _plan(world: Seeded, **changes: Any) -> dict[str, Any]:
    return {
        "enterprise_id": world.enterprises[0],
        "kind": "routine",
        "earliest": "2026-07-01",
        "latest": "2026-09-30",
        **changes,
    }


def _errors(r: Any) -> list[tuple[str, str, str]]:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert foreign(body["detail"]) is None, body["detail"]
    return [(e["path"], e["code"], e["message"]) for e in body["errors"]]


def test_validation_messages_are_chinese_on_every_entry_path(
    client: TestClient, world: Seeded
) -> None:
    agency = world.auth("A")

    def body(**changes: Any) -> list[tuple[str, str, str]]:
        return _errors(client.post("/api/v1/plans", json=_plan(world, **changes), headers=agency))

    assert body(kind="x") == [
        ("kind", "literal_error", "应为以下之一:routine、special、case、requested")
    ]
    # A date bound reads as a date, not Python's repr (`datetime.date(2100, 12, 31)`).
    assert body(latest="2101-01-01") == [("latest", "less_than_equal", "不能大于 2100-12-31")]
    assert body(earliest="1999-12-31") == [
        ("earliest", "greater_than_equal", "不能小于 2000-01-01")
    ]
    assert body(priority="a") == [("priority", "int_type", "应为整数")]
    assert body(priority=0) == [("priority", "greater_than_equal", "不能小于 1")]
    assert body(external_ref="x" * 300) == [("external_ref", "too_long", "太长,最多 100 个字符")]
    assert body(items=["x"] * 300) == [("items", "too_long", "最多 50 项")]
    assert body(items=[""]) == [("items[0]", "too_short", "太短,至少 1 个字符")]
    assert body(enterprise_id=5) == [("enterprise_id", "string_type", "应为字符串")]
    assert body(bogus=1) == [("bogus", "extra_forbidden", "不允许的字段")]
    del_kind = {k: v for k, v in _plan(world).items() if k != "kind"}
    assert _errors(client.post("/api/v1/plans", json=del_kind, headers=agency)) == [
        ("kind", "missing", "缺少必填字段")
    ]
    broken = client.post(
        "/api/v1/plans", content=b"{", headers={**agency, "Content-Type": "application/json"}
    )
    assert [e[1:] for e in _errors(broken)] == [("json_invalid", "不是有效的 JSON")]
    # The query, the path and a form.
    assert _errors(client.get("/api/v1/plans?limit=abc", headers=agency)) == [
        ("limit", "int_parsing", "应为整数")
    ]
    assert _errors(client.get("/api/v1/plans/0", headers=agency)) == [
        ("plan_id", "greater_than_equal", "不能小于 1")
    ]
    assert _errors(client.get("/api/v1/visits?date_from=2026-07-01T09:00", headers=agency)) == [
        ("date_from", "value_error", "应为 YYYY-MM-DD 格式的日期")
    ]
    assert _errors(client.post("/feeds/x/rate", data={"check_in_id": "x", "score": "9"})) == [
        ("check_in_id", "int_parsing", "应为整数"),
        ("score", "less_than_equal", "不能大于 5"),
    ]


def test_no_english_from_pydantic_in_any_message(client: TestClient, world: Seeded) -> None:
    """Whatever the error, the answer a user reads is Chinese and names the field."""
    agency = world.auth("A")
    odd: list[Any] = [None, True, -1, 1.5, "", "x" * 5000, [], ["x"], {}, {"a": 1}, "2026-13-45",
                      "1900-01-01", "2999-01-01"]  # fmt: skip
    fields = ["enterprise_id", "kind", "earliest", "latest", "items", "priority", "exempt_reason",
              "unannounced", "external_ref", "agency_id"]  # fmt: skip
    seen: set[str] = set()
    for field in fields:
        for value in odd:
            r = client.post("/api/v1/plans", json=_plan(world, **{field: value}), headers=agency)
            if r.status_code != 422:
                continue
            for _, code, message in _errors(r):
                seen.add(code)
                assert foreign(message) is None, (field, value, message)
                assert not re.search(r"datetime\.|Decimal\(|'", message), (field, value, message)
    assert len(seen) >= 8, seen


def test_an_unknown_error_type_still_names_the_field() -> None:
    error = {"type": "uuid_parsing", "loc": ("body", "items", 0, "ref"), "msg": "Input should be"}
    assert _chinese(error) == "ref 的取值无效"


def test_a_bound_missing_from_the_error_leaves_the_words_not_a_500() -> None:
    error = {"type": "string_too_long", "loc": ("body", "name"), "msg": "x", "ctx": {}}
    assert _chinese(error) == "太长,最多 ? 个字符"


def test_a_body_that_cannot_be_parsed_is_a_chinese_400(client: TestClient) -> None:
    r = client.post(
        "/feeds/x/rate", content=b"--b\r\nbad", headers={"Content-Type": "multipart/form-data"}
    )
    assert (r.status_code, r.json()["code"]) == (400, "bad_request")
    assert foreign(r.json()["detail"]) is None


def test_values_in_messages_read_as_written_not_as_python_reprs() -> None:
    def le(bound: Any) -> str:
        return _chinese({"type": "less_than_equal", "loc": ("body", "x"), "ctx": {"le": bound}})

    assert le("datetime.date(2100, 12, 31)") == "不能大于 2100-12-31"
    assert le(date(2100, 12, 31)) == "不能大于 2100-12-31"
    assert le("datetime.datetime(2100, 1, 1, 8, 30, tzinfo=datetime.timezone.utc)") == (
        "不能大于 2100-01-01T08:30:00+00:00"
    )
    offset = "datetime.timezone(datetime.timedelta(seconds=28800))"
    assert le(f"datetime.datetime(2100, 1, 1, 8, 30, tzinfo={offset})") == (
        "不能大于 2100-01-01T08:30:00+08:00"
    )
    assert le("datetime.time(8, 30)") == "不能大于 08:30:00"
    assert le("datetime.timedelta(seconds=3600)") == "不能大于 3600 秒"
    assert le("Decimal('1.5')") == "不能大于 1.5"
    assert le(2.0) == "不能大于 2"
    # What is not such a repr stays as it is; nothing else is evaluated.
    assert le("datetime.date(99999, 1, 1)") == "不能大于 datetime.date(99999, 1, 1)"
    assert le("os.system('true')") == "不能大于 os.system('true')"
    literal = {"type": "literal_error", "loc": ("body", "x"), "ctx": {"expected": "'A', 'B' or 1"}}
    assert _chinese(literal) == "应为以下之一:A、B、1"
