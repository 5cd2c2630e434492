"""One language per audience: what a user reads (the API documentation, CLI help, validation
answers, the dashboard) is Chinese; codes, field names and enum values stay as they are."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from quietday.api.app import create_app
from quietday.config import Settings

CJK = re.compile(r"[\u3400-\u9fff]")
# Code spans, URLs and dotted or snake_case identifiers are names, not English prose.
_CODE = re.compile(r"`[^`]*`|https?://\S+|\b\w+(?:[._/:-]\w+)+\b|\b[a-z]+_[a-z_]+\b")
_WORD = re.compile(r"[A-Za-z][A-Za-z']*")
# Names a Chinese sentence uses as they are.
NAMES = {
    "api", "http", "https", "icalendar", "csv", "xlsx", "json", "uid", "id", "url", "utf", "bom",
    "excel", "gzip", "sha", "rfc", "iso", "cp", "sat", "null", "true", "false", "bearer",
    "authorization", "quietday", "webcal", "csrf", "cookie", "yyyy", "mm", "dd", "gb", "qr",
    "postgresql", "sqlite", "cli", "key", "agency", "supervisor", "runner", "holiday", "cn",
    "holidays", "plan", "run", "publish", "update", "date", "kind", "name", "q",
}  # fmt: skip


def english_run(text: str) -> str | None:
    """The first run of three or more English words that are not code names, if any."""
    prose = _CODE.sub(" | ", text)
    run: list[str] = []
    for token in re.split(r"(\s+)", prose):
        if token.isspace() or not token:
            continue
        word = _WORD.fullmatch(token.strip(",.;:()!?\"'"))
        if word and word.group(0).lower() not in NAMES and not word.group(0).isupper():
            run.append(word.group(0))
            if len(run) >= 3:
                return " ".join(run)
        else:
            run = []
    return None


def foreign(text: str) -> str | None:
    """Why `text` is not Chinese for a reader, or None when it is."""
    if not CJK.search(text):
        return "no Chinese"
    run = english_run(text)
    return f"English words: {run!r}" if run else None


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
