"""Supervisors' run controls in the dashboard: runs listed and started (scope by region name),
a run's progress (stage, parts) polled by `runs.js`, cancel; the preview of a finished run
(also `GET /api/v1/runs/{id}/preview` for integrators) and publishing from it; feed letters,
enterprise calendar subscriptions issued in bulk and printed one A4 letter each.

Every form posts a CSRF token and is refused from another origin, as the dashboard's are;
writes go through `planning` (create_run, cancel_run, publish_run, issue_enterprise_tokens)."""

from __future__ import annotations

import re
from dataclasses import asdict
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from quietday.api.deps import RunnerDep, SessionDep, SettingsDep, SupervisorDep, TodayDep
from quietday.api.errors import problem_responses
from quietday.api.qr import qr_svg
from quietday.api.routers.dashboard import (
    _HEADERS,
    _RUN_STATUSES,
    AREA,
    SignedIn,
    _current,
    _page,
    form_refused,
)
from quietday.api.schemas import RunPreview, SafeStr, SafeText
from quietday.config import Settings
from quietday.domain.limits import FIRST_DAY, LAST_DAY, YEARS
from quietday.domain.status import RunStage
from quietday.domain.uscc import uscc_problem
from quietday.errors import ConflictError, InputError, NotFoundError
from quietday.persistence import Session
from quietday.persistence.keys import ApiKeyRepository
from quietday.persistence.registry import EnterpriseRepository, RegionRepository
from quietday.persistence.run_controls import RunControlRepository
from quietday.persistence.runs import RunRepository
from quietday.persistence.tables import RegionRow, RunRow
from quietday.planning.dashboard import SHANGHAI
from quietday.planning.feeds import issue_enterprise_tokens
from quietday.planning.keys import Actor
from quietday.planning.runs import RunRequest, cancel_run, create_run, publish_run
from quietday.planning.runs.preview import Preview, preview_run

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1/runs", tags=["runs"], responses=problem_responses(401, 403, 422))
RunId = Annotated[int, Path(ge=1, le=2**31 - 1, description="排期运行编号")]

STAGES = {
    RunStage.QUEUED: "排队等待",
    RunStage.BUILD: "读取计划,构建实例",
    RunStage.SOLVE: "求解",
    RunStage.CHECK: "校验",
    RunStage.STORE: "保存结果",
    RunStage.DONE: "结束",
}
KINDS = {"routine": "日常检查", "special": "专项检查", "case": "案件检查"}
FEED_KINDS = {"enterprise": "企业", "agency": "执法部门", "inspector": "执法人员"}
PER_PAGE = 100
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_SECONDS = re.compile(r"[0-9]{1,6}(\.[0-9]{1,3})?", re.ASCII)
MAX_LETTERS = 500
# A letter page holds feed tokens: it is never stored, and its links send no Referer.
SECRET_HEADERS = {**_HEADERS, "Referrer-Policy": "no-referrer"}


def _supervisor(session: Session, current: SignedIn) -> Actor:
    actor = Actor(key_id=current.key_id, role="supervisor", agency_id=None)
    session.info["actor"] = actor.name
    return actor


def _region_names(regions: list[RegionRow]) -> dict[str, str]:
    """Each region by its name under its parents (the province left out): 南昌市 东湖区."""
    by_code = {r.code: r for r in regions}

    def chain(r: RegionRow) -> list[str]:
        parent = by_code.get(r.parent_code or "")
        return [*chain(parent), r.name] if parent is not None and parent.parent_code else [r.name]

    return {r.code: " ".join(chain(r)) for r in regions}


def _next_quarter(today: date) -> tuple[date, date]:
    q = (today.month - 1) // 3 + 1
    year, q = (today.year + 1, 1) if q == 4 else (today.year, q + 1)
    start = date(year, 3 * q - 2, 1)
    end = date(year + 1, 1, 1) if q == 4 else date(year, 3 * q + 1, 1)
    return start, end - timedelta(days=1)


def _local(moment: Any) -> str:
    return str(moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")) if moment else ""


def _runs_page(
    request: Request,
    session: Session,
    current: SignedIn,
    today: date,
    *,
    form: dict[str, Any] | None = None,
    errors: list[str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    regions = sorted(RegionRepository(session).list(), key=lambda r: r.code)
    names = _region_names(regions)
    rows = list(RunRepository(session).list(limit=50, after=None))
    keys = ApiKeyRepository(session)
    askers = {}
    for k in {r.requested_by for r in rows if r.requested_by is not None}:
        key = keys.get(k)
        askers[k] = f"{key.label or '监督密钥'}(#{k})" if key is not None else f"#{k}"
    start, end = _next_quarter(today)
    shown = form or {
        "scope": "",
        "horizon_start": start.isoformat(),
        "horizon_end": end.isoformat(),
        "time_limit": str(min(60, int(settings.max_time_limit))),
        "correction": False,
    }
    return _page(
        request,
        "runs.html",
        status=status,
        signed_in=True,
        csrf=current.csrf,
        nav="runs",
        regions=[(r.code, names[r.code], r.level) for r in regions],
        region_names=names,
        runs=rows,
        askers=askers,
        statuses=_RUN_STATUSES,
        stages=STAGES,
        form=shown,
        errors=errors or [],
        max_time_limit=settings.max_time_limit,
        local=_local,
    )


@router.get("/dashboard/runs", response_class=HTMLResponse)
def runs_page(
    request: Request, session: SessionDep, current: SignedIn, today: TodayDep
) -> Response:
    """The runs, newest first, and the form that starts one."""
    return _runs_page(request, session, current, today)


@router.post("/dashboard/runs", response_class=HTMLResponse)
def start_run(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    current: SignedIn,
    runner: RunnerDep,
    today: TodayDep,
    csrf: Annotated[SafeStr, Form(max_length=100)] = "",
    scope: Annotated[SafeStr, Form(max_length=12)] = "",
    horizon_start: Annotated[SafeStr, Form(max_length=10)] = "",
    horizon_end: Annotated[SafeStr, Form(max_length=10)] = "",
    time_limit: Annotated[SafeStr, Form(max_length=10)] = "",
    correction: Annotated[SafeStr, Form(max_length=5)] = "",
) -> Response:
    """Start a run from the form: the same `create_run` and runner as the API."""
    if not AREA.posted(request, settings, current.csrf, csrf):
        return form_refused(request, current)
    form = {
        "scope": scope,
        "horizon_start": horizon_start,
        "horizon_end": horizon_end,
        "time_limit": time_limit,
        "correction": correction == "on",
    }
    errors: list[str] = []
    days: dict[str, date] = {}
    for name, value, label in (
        ("horizon_start", horizon_start, "开始日期"),
        ("horizon_end", horizon_end, "结束日期"),
    ):
        # As the API's `Day`: YYYY-MM-DD (not 20270101 nor 2027-W01-1), in the years it takes.
        try:
            days[name] = date.fromisoformat(value) if _ISO_DATE.fullmatch(value) else date.min
        except ValueError:
            days[name] = date.min
        if not FIRST_DAY <= days[name] <= LAST_DAY:
            errors.append(f"{label}应为日期,如 2027-01-01({YEARS[0]} 至 {YEARS[1]} 年间)")
    # Seconds as ASCII digits (float() would also take "1_0" and other scripts' digits).
    limit = float(time_limit) if _SECONDS.fullmatch(time_limit) else 0.0
    if limit <= 0:
        errors.append("求解时限应为秒数")
    if correction not in ("", "on"):
        errors.append("更正历史记录的选项无效")
    run: RunRow | None = None
    if not errors:
        try:
            run = create_run(
                session,
                _supervisor(session, current),
                RunRequest(
                    days["horizon_start"],
                    days["horizon_end"],
                    scope=scope or None,
                    time_limit=limit,
                    workers=min(2, settings.max_workers),
                    correction=correction == "on",
                ),
                today=today,
                max_time_limit=settings.max_time_limit,
                max_workers=settings.max_workers,
            )
        except InputError as exc:
            session.rollback()
            errors += [_form_problem(p.path, p.message) for p in exc.problems]
    if run is None:
        return _runs_page(request, session, current, today, form=form, errors=errors, status=422)
    runner.submit(session, int(run.id or 0))
    return AREA.redirect(f"/dashboard/runs/{run.id}")


_FIELDS = {
    "horizon_start": "开始日期",
    "horizon_end": "结束日期",
    "scope": "范围",
    "time_limit": "求解时限",
}


def _form_problem(path: str, message: str) -> str:
    """A planning problem as the form says it: the field's label, not its API name."""
    label = _FIELDS.get(path, path)
    for name, shown in _FIELDS.items():
        message = message.replace(name, shown)
    message = message.replace("correction", "“更正历史记录”")
    return f"{label}: {message}"


def _progress(session: Session, run: RunRow) -> dict[str, Any]:
    parts = RunControlRepository(session).part_states(int(run.id or 0))
    return {
        "id": run.id,
        "status": run.status,
        "status_label": _RUN_STATUSES.get(run.status, run.status),  # type: ignore[call-overload]
        "stage": run.stage,
        "stage_label": STAGES.get(RunStage(run.stage), run.stage),
        "progress": run.progress,
        "percent": round(100 * run.progress),
        "message": run.message,
        "error": run.error,
        "parts": {"total": sum(parts.values()), **parts},
        "finished": run.status not in ("queued", "running"),
    }


def _run_or_missing(
    request: Request, session: Session, current: SignedIn, run_id: int
) -> RunRow | HTMLResponse:
    run = RunRepository(session).get(run_id)
    if run is None:
        return _page(
            request,
            "missing.html",
            status=404,
            message=f"排期运行 {run_id} 不存在",
            signed_in=True,
            csrf=current.csrf,
        )
    return run


def _run_page(
    request: Request,
    session: Session,
    current: SignedIn,
    run: RunRow,
    today: date,
    *,
    page: int = 1,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    preview = (
        preview_run(session, int(run.id or 0), today=today) if run.status == "succeeded" else None
    )
    names = _region_names(sorted(RegionRepository(session).list(), key=lambda r: r.code))
    return _page(
        request,
        "run.html",
        status=status,
        signed_in=True,
        csrf=current.csrf,
        nav="runs",
        run=run,
        live=_progress(session, run),
        scope_name=names.get(run.scope or "", "全省") if run.scope else "全省",
        preview=preview,
        page=page,
        per_page=PER_PAGE,
        pages=_pages_of(preview) if preview else 1,
        kinds=KINDS,
        feed_kinds=FEED_KINDS,
        error=error,
        local=_local,
    )


def _pages_of(preview: Preview) -> int:
    longest = max(
        len(preview.placed),
        len(preview.moved),
        len(preview.unscheduled),
        len(preview.skipped),
        len(preview.enterprises),
        len(preview.feeds),
        1,
    )
    return (longest + PER_PAGE - 1) // PER_PAGE


@router.get("/dashboard/runs/{run_id}", response_class=HTMLResponse)
def run_page(
    run_id: RunId,
    request: Request,
    session: SessionDep,
    current: SignedIn,
    today: TodayDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """One run: its progress while it runs; once finished, the preview and publish button."""
    run = _run_or_missing(request, session, current, run_id)
    if isinstance(run, HTMLResponse):
        return run
    return _run_page(request, session, current, run, today, page=page)


@router.get("/dashboard/runs/{run_id}/progress")
def run_progress(
    run_id: RunId, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    """The run's stage, progress and parts as JSON (the run page polls it)."""
    if _current(request, session, settings) is None:
        return JSONResponse({"detail": "请先登录"}, status_code=401, headers=_HEADERS)
    run = RunRepository(session).get(run_id)
    if run is None:
        return JSONResponse(
            {"detail": f"排期运行 {run_id} 不存在"}, status_code=404, headers=_HEADERS
        )
    return JSONResponse(_progress(session, run), headers=_HEADERS)


@router.post("/dashboard/runs/{run_id}/cancel", response_class=HTMLResponse)
def cancel(
    run_id: RunId,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    current: SignedIn,
    csrf: Annotated[SafeStr, Form(max_length=100)] = "",
) -> Response:
    """Cancel the run (the API's `cancel_run`)."""
    if not AREA.posted(request, settings, current.csrf, csrf):
        return form_refused(request, current)
    _supervisor(session, current)
    try:
        cancel_run(session, run_id)
    except NotFoundError as exc:
        return _page(request, "missing.html", status=404, message=str(exc), signed_in=True,
                     csrf=current.csrf)  # fmt: skip
    return AREA.redirect(f"/dashboard/runs/{run_id}")


@router.post("/dashboard/runs/{run_id}/publish", response_class=HTMLResponse)
def publish(
    run_id: RunId,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    current: SignedIn,
    today: TodayDep,
    csrf: Annotated[SafeStr, Form(max_length=100)] = "",
) -> Response:
    """Publish from the preview (the API's `publish_run`); a refusal shows its reason."""
    if not AREA.posted(request, settings, current.csrf, csrf):
        return form_refused(request, current)
    _supervisor(session, current)
    try:
        publish_run(session, run_id, today=today)
    except NotFoundError as exc:
        return _page(request, "missing.html", status=404, message=str(exc), signed_in=True,
                     csrf=current.csrf)  # fmt: skip
    except ConflictError as exc:
        session.rollback()
        run = RunRepository(session).get_or_raise(run_id)
        return _run_page(request, session, current, run, today, error=str(exc), status=409)
    return AREA.redirect(f"/dashboard/runs/{run_id}")


@api.get(
    "/{run_id}/preview",
    summary="发布前预览",
    response_model=RunPreview,
    responses=problem_responses(404),
)
def preview(
    run_id: RunId,
    session: SessionDep,
    actor: SupervisorDep,
    today: TodayDep,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="各列表跳过的条数")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000, description="各列表最多返回的条数")] = 200,
) -> RunPreview:
    """已完成的运行若现在发布,会新排、改期、未排上、跳过哪些计划,涉及哪些企业和部门,哪些日历订阅的内容会变化;
    不能发布时给出原因。各列表按 offset/limit 分页,另给总数。"""
    found = preview_run(session, run_id, today=today)
    window = slice(offset, offset + limit)

    def lines(items: list[Any]) -> list[dict[str, Any]]:
        return [asdict(i) for i in items[window]]

    return RunPreview.model_validate(
        {
            "run_id": found.run_id,
            "status": found.status,
            "refusal": found.refusal,
            "refusal_code": found.refusal_code,
            "staying": found.staying,
            "totals": {
                "placed": len(found.placed),
                "moved": len(found.moved),
                "unscheduled": len(found.unscheduled),
                "skipped": len(found.skipped),
                "enterprises": len(found.enterprises),
                "agencies": len(found.agencies),
                "feeds": len(found.feeds),
            },
            "placed": lines(found.placed),
            "moved": lines(found.moved),
            "unscheduled": lines(found.unscheduled),
            "skipped": lines(found.skipped),
            "enterprises": [{"id": i, "name": n} for i, n in found.enterprises[window]],
            "agencies": [{"id": i, "name": n} for i, n in found.agencies[window]],
            "feeds": lines(found.feeds),
        }
    )


@router.get("/dashboard/feed-letters", response_class=HTMLResponse)
def letters_form(request: Request, current: SignedIn) -> Response:
    """The form: enterprise codes, one a line."""
    return _page(
        request,
        "letters.html",
        signed_in=True,
        csrf=current.csrf,
        nav="letters",
        codes="",
        errors=[],
        most=MAX_LETTERS,
    )


def _codes(text: str) -> tuple[list[str], list[str]]:
    """The codes of the lines (blank lines skipped, repeats once), and each bad line named."""
    codes: list[str] = []
    errors: list[str] = []
    for n, line in enumerate(text.splitlines(), start=1):
        code = line.strip().upper()
        if not code:
            continue
        problem = uscc_problem(code)
        if problem is not None:
            errors.append(f"第 {n} 行 {code[:30]}: {problem}")
        elif code not in codes:
            codes.append(code)
    if not codes and not errors:
        errors.append("请至少填写一个统一社会信用代码")
    if len(codes) > MAX_LETTERS:
        errors.append(f"一次最多 {MAX_LETTERS} 家企业,收到 {len(codes)} 家")
    return codes, errors


@router.post("/dashboard/feed-letters", response_class=HTMLResponse)
def letters(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    current: SignedIn,
    csrf: Annotated[SafeStr, Form(max_length=100)] = "",
    codes: Annotated[SafeText, Form(max_length=MAX_LETTERS * 40)] = "",
) -> Response:
    """Issue the listed enterprises' feed tokens (audit-logged) and print one letter each."""
    if not AREA.posted(request, settings, current.csrf, csrf):
        return form_refused(request, current)
    wanted, errors = _codes(codes)
    if not errors:
        known = EnterpriseRepository(session).existing(wanted)
        errors = [f"{c}: 没有这家企业" for c in wanted if c not in known]
    if errors:
        return _page(request, "letters.html", status=422, signed_in=True, csrf=current.csrf,
                     nav="letters", codes=codes, errors=errors, most=MAX_LETTERS)  # fmt: skip
    issued = issue_enterprise_tokens(
        session, _supervisor(session, current), wanted, label="订阅告知函"
    )
    names = {e.id: e.name for e in EnterpriseRepository(session).by_ids(wanted)}
    base = settings.base_url()
    sheets = []
    for enterprise_id, token in issued:
        page_url = f"{base}/feeds/{token}"
        ics = f"{page_url}.ics"
        sheets.append(
            {
                "enterprise_id": enterprise_id,
                "name": names[enterprise_id],
                "page_url": page_url,
                "https_url": ics,
                "webcal_url": "webcal://" + ics.split("://", 1)[1],
                "svg": qr_svg(page_url),
            }
        )
    html = _page(request, "letters_print.html", signed_in=True, csrf=current.csrf,
                 nav="letters", letters=sheets)  # fmt: skip
    html.headers.update(SECRET_HEADERS)
    return html
