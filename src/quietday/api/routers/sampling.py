"""Sampling (双随机、一公开): rounds, tasks, the draw and its verification over the API; the
check results agencies record; the public pages (no sign-in) of rounds, their seeds and
populations, and the results; and the dashboard's pages where a supervisor opens a round,
adds tasks and draws."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Path, Request, Response, status
from fastapi.responses import HTMLResponse, JSONResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from quietday.api.deps import ActorDep, SessionDep, SettingsDep, TodayDep
from quietday.api.errors import problem_responses
from quietday.api.forms import clock_now
from quietday.api.routers.dashboard import AREA, CSP, SignedIn, _page, form_refused
from quietday.api.routers.plans import PlanId
from quietday.api.schemas import (
    CheckResultCreate,
    CheckResultPublic,
    Day,
    SafeStr,
    SafeText,
    SamplingDrawResult,
    SamplingRoundCreate,
    SamplingRoundPublic,
    SamplingTaskCreate,
    SamplingTaskPublic,
    SamplingVerification,
)
from quietday.domain.status import CheckOutcome
from quietday.errors import ConflictError, InputError, NotFoundError
from quietday.persistence import Session
from quietday.persistence.registry import AgencyRepository, RegionRepository
from quietday.persistence.sampling import CheckResultRepository, SamplingRepository
from quietday.persistence.tables import CheckResultRow
from quietday.planning import sampling
from quietday.planning.feeds import today_in_china
from quietday.planning.keys import Actor
from quietday.planning.plans import get_plan

api = APIRouter(prefix="/api/v1", tags=["sampling"], responses=problem_responses(401, 422))
public = APIRouter(prefix="/public/sampling", include_in_schema=False)
pages = APIRouter(prefix="/dashboard/sampling", include_in_schema=False)

RoundId = Annotated[int, Path(ge=1, le=2**31 - 1, description="抽查批次编号")]
TaskId = Annotated[int, Path(ge=1, le=2**31 - 1, description="抽查任务编号")]
_CHINA = ZoneInfo("Asia/Shanghai")
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_public_pages = Environment(
    loader=PackageLoader("quietday.api", "templates/public"),
    autoescape=select_autoescape(["html"]),
)
_PUBLIC_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "public, max-age=60",
}


def _task(view: sampling.TaskView) -> SamplingTaskPublic:
    t = view.task
    return SamplingTaskPublic(
        id=int(t.id or 0),
        round_id=t.round_id,
        name=t.name,
        agencies=view.agencies,
        region_prefix=t.region_prefix,
        industries=t.industries,
        classes=t.classes,
        ratios=t.ratios,
        items=t.items,
        earliest=t.earliest,
        latest=t.latest,
        unannounced=t.unannounced,
        population=view.population,
        drawn=view.drawn,
    )


def _round(view: sampling.RoundView) -> SamplingRoundPublic:
    r = view.round
    return SamplingRoundPublic(
        id=int(r.id or 0),
        name=r.name,
        commitment=r.commitment,
        seed=r.seed if view.seed_shown else None,
        coordination=r.coordination,
        window_start=r.window_start,
        draw_at=r.draw_at,
        drawn_at=r.drawn_at,
        population_digest=r.snapshot_digest,
        tasks=[_task(t) for t in view.tasks],
    )


def _result(row: CheckResultRow) -> CheckResultPublic:
    outcome = CheckOutcome(row.outcome)
    return CheckResultPublic(
        plan_id=row.plan_id,
        outcome=outcome,
        outcome_label=outcome.label,
        day=row.day,
        note=row.note,
        recorded_at=row.recorded_at,
    )


@api.post(
    "/sampling-rounds",
    summary="创建抽查批次",
    status_code=201,
    response_model=SamplingRoundPublic,
    responses=problem_responses(403),
)
def create_round(
    request: Request, body: SamplingRoundCreate, session: SessionDep, actor: ActorDep
) -> SamplingRoundPublic:
    """监督密钥创建抽查批次:服务器生成随机种子并只公布其承诺值(SHA-256),到抽取时间后抽取并公开种子。"""
    now = clock_now(request)
    row = sampling.create_round(
        session,
        actor,
        name=body.name,
        draw_at=body.draw_at,
        coordination=body.coordination,
        window_start=body.window_start,
        now=now,
    )
    return _round(sampling.round_view(session, row, today=today_in_china(now), agency=_own(actor)))


@api.get("/sampling-rounds", summary="抽查批次列表", response_model=list[SamplingRoundPublic])
def list_rounds(session: SessionDep, actor: ActorDep, today: TodayDep) -> list[SamplingRoundPublic]:
    """最近的抽查批次及其任务、各部门抽中数。"""
    return [_round(v) for v in sampling.rounds(session, today=today, agency=_own(actor))]


@api.get(
    "/sampling-rounds/{round_id}",
    summary="一个抽查批次",
    response_model=SamplingRoundPublic,
    responses=problem_responses(404),
)
def get_round(
    round_id: RoundId, session: SessionDep, actor: ActorDep, today: TodayDep
) -> SamplingRoundPublic:
    """一个抽查批次及其任务。"""
    row = SamplingRepository(session).get_or_raise(round_id)
    return _round(sampling.round_view(session, row, today=today, agency=_own(actor)))


@api.post(
    "/sampling-rounds/{round_id}/tasks",
    summary="添加抽查任务",
    status_code=201,
    response_model=SamplingTaskPublic,
    responses=problem_responses(403, 404, 409),
)
def add_task(
    round_id: RoundId,
    body: SamplingTaskCreate,
    session: SessionDep,
    actor: ActorDep,
    today: TodayDep,
) -> SamplingTaskPublic:
    """部门密钥为本部门、监督密钥为任意部门(多个部门即联合抽查)定义抽查任务:范围、各信用风险类别的抽查比例、检查事项与期间。抽取后不能再添加。"""
    row = sampling.add_task(
        session,
        actor,
        round_id,
        sampling.TaskInput(
            name=body.name,
            region_prefix=body.region_prefix,
            earliest=body.earliest,
            latest=body.latest,
            classes=tuple(body.classes),
            ratios=body.ratios,
            industries=tuple(body.industries),
            items=tuple(body.items),
            agencies=tuple(body.agencies),
            unannounced=body.unannounced,
        ),
        today=today,
    )
    view = sampling.round_view(
        session, SamplingRepository(session).get_or_raise(round_id), today=today, agency=_own(actor)
    )
    return next(_task(t) for t in view.tasks if t.task.id == row.id)


@api.delete(
    "/sampling-rounds/{round_id}/tasks/{task_id}",
    summary="撤下抽查任务",
    status_code=204,
    responses=problem_responses(403, 404, 409),
)
def remove_task(
    round_id: RoundId, task_id: TaskId, session: SessionDep, actor: ActorDep
) -> Response:
    """抽取前撤下一个任务:监督密钥可撤下任何任务,部门密钥只能撤下本部门单独的任务。"""
    sampling.remove_task(session, actor, round_id, task_id)
    return Response(status_code=204)


@api.post(
    "/sampling-rounds/{round_id}/draw",
    summary="抽取",
    response_model=SamplingDrawResult,
    responses=problem_responses(403, 404, 409),
)
def draw(
    request: Request, round_id: RoundId, session: SessionDep, actor: ActorDep
) -> SamplingDrawResult:
    """监督密钥在公布的抽取时间之后抽取整个批次(只能一次):记录抽查对象快照,为抽中的企业生成检查计划,公开种子。"""
    summary = sampling.draw_round(session, actor, round_id, now=clock_now(request))
    return SamplingDrawResult.model_validate(summary)


@api.post(
    "/sampling-rounds/{round_id}/verify",
    summary="复核抽取结果",
    response_model=SamplingVerification,
    responses=problem_responses(404, 409),
)
def verify(round_id: RoundId, session: SessionDep, actor: ActorDep) -> SamplingVerification:
    """用记录的种子和抽查对象快照重新抽取,与保存的抽取结果比较。"""
    found = sampling.verify_round(session, round_id)
    return SamplingVerification(
        equal=found.equal,
        commitment_ok=found.commitment_ok,
        digest_ok=found.digest_ok,
        same_sample=found.same_sample,
        expected=found.expected,
        stored=found.stored,
        differences=found.differences,
    )


@api.post(
    "/plans/{plan_id}/result",
    summary="录入检查结果",
    response_model=CheckResultPublic,
    responses=problem_responses(403, 404, 409),
)
def record_result(
    plan_id: PlanId,
    body: CheckResultCreate,
    session: SessionDep,
    actor: ActorDep,
    today: TodayDep,
    response: Response,
) -> CheckResultPublic:
    """本部门录入一条检查计划的检查结果(首次 201,修改 200);检查窗口结束后结果公开,不能再修改。"""
    row, created = sampling.record_result(
        session, actor, plan_id, outcome=body.outcome, day=body.day, note=body.note, today=today
    )
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return _result(row)


@api.get(
    "/plans/{plan_id}/result",
    summary="检查结果",
    response_model=CheckResultPublic,
    responses=problem_responses(404),
)
def get_result(plan_id: PlanId, session: SessionDep, actor: ActorDep) -> CheckResultPublic:
    """一条检查计划已录入的检查结果。"""
    get_plan(session, actor, plan_id)
    row = CheckResultRepository(session).get(plan_id)
    if row is None:
        raise NotFoundError(f"检查计划 {plan_id} 尚未录入检查结果")
    return _result(row)


# ---- public pages ----


def _public_page(template: str, **context: object) -> HTMLResponse:
    html = _public_pages.get_template(template).render(
        class_labels=sampling.CLASS_LABELS, **context
    )
    return HTMLResponse(html, headers=_PUBLIC_HEADERS)


def _names(session: Session) -> tuple[dict[str, str], dict[str, str]]:
    agencies = {a.id: a.name for a in AgencyRepository(session).list()}
    regions = {r.code: r.name for r in RegionRepository(session).list()}
    return agencies, regions


@public.get("", response_class=HTMLResponse)
def public_rounds(session: SessionDep, today: TodayDep) -> HTMLResponse:
    """抽查批次公示: 承诺值、抽取时间、种子、任务。"""
    agencies, regions = _names(session)
    return _public_page(
        "sampling.html",
        rounds=sampling.rounds(session, today=today, public=True),
        agencies=agencies,
        regions=regions,
        today=today,
        local=_local,
    )


@public.get("/{round_id}", response_class=HTMLResponse)
def public_round(round_id: RoundId, session: SessionDep, today: TodayDep) -> Response:
    """One round: its tasks, the seed and exports once shown, and the results (一公开)."""
    row = SamplingRepository(session).get(round_id)
    if row is None:
        return Response("没有这个抽查批次", status_code=404, media_type="text/plain; charset=utf-8")
    agencies, regions = _names(session)
    return _public_page(
        "sampling_round.html",
        view=sampling.round_view(session, row, today=today, public=True),
        results=sampling.public_results(session, round_id, today=today),
        agencies=agencies,
        regions=regions,
        today=today,
        local=_local,
    )


def _download(body: bytes, media: str, name: str) -> Response:
    return Response(
        body,
        media_type=media,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
            "Cache-Control": "public, max-age=60",
            "X-Content-Type-Options": "nosniff",
        },
    )


@public.get("/{round_id}/draw.json")
def public_draw(round_id: RoundId, session: SessionDep, today: TodayDep) -> JSONResponse:
    """The round's record: seed, commitment, populations and what was drawn (re-run it)."""
    document = sampling.export_document(session, round_id, today=today)
    return JSONResponse(document, headers={"Cache-Control": "public, max-age=60"})


@public.get("/{round_id}/population.csv")
def public_population(round_id: RoundId, session: SessionDep, today: TodayDep) -> Response:
    """The populations with each enterprise's number and who drew it, as CSV."""
    body = sampling.population_csv(session, round_id, today=today)
    return _download(body, "text/csv; charset=utf-8", f"抽查对象-{round_id}.csv")


@public.get("/{round_id}/results.csv")
def public_results_csv(round_id: RoundId, session: SessionDep, today: TodayDep) -> Response:
    """The public results as CSV."""
    body = sampling.results_csv(session, round_id, today=today)
    return _download(body, "text/csv; charset=utf-8", f"抽查结果-{round_id}.csv")


@public.get("/{round_id}/results.xlsx")
def public_results_xlsx(round_id: RoundId, session: SessionDep, today: TodayDep) -> Response:
    """The public results as XLSX."""
    body = sampling.results_xlsx(session, round_id, today=today)
    return _download(body, _XLSX, f"抽查结果-{round_id}.xlsx")


def _local(moment: datetime | None) -> str:
    return moment.astimezone(_CHINA).strftime("%Y-%m-%d %H:%M") if moment else ""


def _own(actor: Actor) -> str | None:
    """Whose view of the rounds an API key has: its agency's, or everything (supervisors)."""
    return None if actor.is_supervisor else actor.agency_id


# ---- the dashboard's pages ----


def _actor_of(session: Session, current: SignedIn) -> Actor:
    actor = Actor(key_id=current.key_id, role="supervisor", agency_id=None)
    session.info["actor"] = actor.name
    return actor


def _overview(
    request: Request,
    session: Session,
    current: SignedIn,
    *,
    errors: list[str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    today = today_in_china(clock_now(request))
    return _page(
        request,
        "sampling.html",
        status=status_code,
        signed_in=True,
        csrf=current.csrf,
        nav="sampling",
        rounds=sampling.rounds(session, today=today),
        errors=errors or [],
        local=_local,
    )


def _messages(exc: InputError | ConflictError) -> list[str]:
    if isinstance(exc, InputError):
        return [f"{p.path}: {p.message}" if p.path else p.message for p in exc.problems]
    return [str(exc)]


@pages.get("", response_class=HTMLResponse)
def overview(request: Request, session: SessionDep, current: SignedIn) -> Response:
    """The rounds and the form to open one."""
    return _overview(request, session, current)


@pages.post("", response_class=HTMLResponse)
def open_round(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    current: SignedIn,
    name: Annotated[SafeStr, Form(max_length=100)] = "",
    draw_at: Annotated[
        str, Form(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}$")
    ] = "2000-01-01T00:00",
    coordination: Annotated[Literal["coordinated", "independent"], Form()] = "coordinated",
    window_start: Annotated[float, Form(ge=0.0, lt=1.0)] = 0.0,
    csrf: Annotated[SafeStr, Form(max_length=100)] = "",
) -> Response:
    """Open a round (a form with the session's CSRF token); the draw time is China's."""
    if not AREA.posted(request, settings, current.csrf, csrf):
        return form_refused(request, current)
    actor = _actor_of(session, current)
    try:
        moment = datetime.fromisoformat(draw_at).replace(tzinfo=_CHINA)
        row = sampling.create_round(
            session,
            actor,
            name=name,
            draw_at=moment,
            coordination=coordination,
            window_start=window_start,
            now=clock_now(request),
        )
    except ValueError:
        return _overview(request, session, current, errors=["抽取时间无效"], status_code=422)
    except InputError as exc:
        session.rollback()
        return _overview(request, session, current, errors=_messages(exc), status_code=422)
    return AREA.redirect(f"/dashboard/sampling/{row.id}")


def _round_page(
    request: Request,
    session: Session,
    current: SignedIn,
    round_id: int,
    *,
    errors: list[str] | None = None,
    status_code: int = 200,
    done: str | None = None,
) -> HTMLResponse:
    row = SamplingRepository(session).get(round_id)
    if row is None:
        return _page(
            request,
            "missing.html",
            status=404,
            message=f"抽查批次 {round_id} 不存在。",
            signed_in=True,
            csrf=current.csrf,
        )
    now = clock_now(request)
    today = today_in_china(now)
    agencies, regions = _names(session)
    return _page(
        request,
        "sampling_round.html",
        status=status_code,
        signed_in=True,
        csrf=current.csrf,
        nav="sampling",
        view=sampling.round_view(session, row, today=today),
        agencies=agencies,
        regions=regions,
        classes=sampling.CLASS_LABELS,
        due=now >= row.draw_at,
        errors=errors or [],
        done=done,
        local=_local,
    )


@pages.get("/{round_id}", response_class=HTMLResponse)
def round_page(
    request: Request, session: SessionDep, current: SignedIn, round_id: RoundId
) -> Response:
    """One round: its tasks and counts, the form to add a task, the draw."""
    return _round_page(request, session, current, round_id)


@pages.post("/{round_id}/tasks", response_class=HTMLResponse)
def add_task_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    current: SignedIn,
    round_id: RoundId,
    name: Annotated[SafeStr, Form(max_length=100)] = "",
    agency: Annotated[list[Annotated[SafeStr, Form(max_length=64)]], Form(max_length=10)] = [],  # noqa: B006 - FastAPI copies form defaults
    region_prefix: Annotated[SafeStr, Form(max_length=12)] = "",
    industries: Annotated[SafeStr, Form(max_length=2000)] = "",
    ratio_a: Annotated[str, Form(max_length=12)] = "",
    ratio_b: Annotated[str, Form(max_length=12)] = "",
    ratio_c: Annotated[str, Form(max_length=12)] = "",
    ratio_d: Annotated[str, Form(max_length=12)] = "",
    ratio_u: Annotated[str, Form(max_length=12)] = "",
    items: Annotated[SafeText, Form(max_length=4000)] = "",
    earliest: Annotated[Day, Form()] = date.min,
    latest: Annotated[Day, Form()] = date.min,
    unannounced: Annotated[Literal["", "1"], Form()] = "",
    csrf: Annotated[SafeStr, Form(max_length=100)] = "",
) -> Response:
    """Add a task: the classes drawn are those given a share (in per cent)."""
    if not AREA.posted(request, settings, current.csrf, csrf):
        return form_refused(request, current)
    actor = _actor_of(session, current)
    given = {"A": ratio_a, "B": ratio_b, "C": ratio_c, "D": ratio_d, "U": ratio_u}
    try:
        ratios = {c: _percent(v) for c, v in given.items() if v.strip()}
    except ValueError:
        return _round_page(
            request,
            session,
            current,
            round_id,
            errors=["抽查比例应为 0 至 100 的数(百分比)"],
            status_code=422,
        )
    task = sampling.TaskInput(
        name=name,
        region_prefix=region_prefix,
        earliest=earliest,
        latest=latest,
        classes=tuple(ratios),
        ratios=ratios,
        industries=tuple(_split(industries)),
        items=tuple(_split(items)),
        agencies=tuple(agency),
        unannounced=unannounced == "1",
    )
    try:
        sampling.add_task(session, actor, round_id, task, today=today_in_china(clock_now(request)))
    except NotFoundError:
        return _round_page(request, session, current, round_id)
    except (InputError, ConflictError) as exc:
        session.rollback()
        return _round_page(
            request, session, current, round_id, errors=_messages(exc), status_code=422
        )
    return _round_page(
        request, session, current, round_id, done=f"已添加任务「{task.name.strip()}」"
    )


@pages.post("/{round_id}/draw", response_class=HTMLResponse)
def draw_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    current: SignedIn,
    round_id: RoundId,
    csrf: Annotated[SafeStr, Form(max_length=100)] = "",
) -> Response:
    """Draw the round (a form with the session's CSRF token)."""
    if not AREA.posted(request, settings, current.csrf, csrf):
        return form_refused(request, current)
    actor = _actor_of(session, current)
    try:
        summary = sampling.draw_round(session, actor, round_id, now=clock_now(request))
    except (InputError, ConflictError) as exc:
        session.rollback()
        return _round_page(
            request,
            session,
            current,
            round_id,
            errors=_messages(exc),
            status_code=422 if isinstance(exc, InputError) else 409,
        )
    except NotFoundError:
        return _round_page(request, session, current, round_id)
    return _round_page(
        request, session, current, round_id, done=f"已抽取,生成检查计划 {summary['plans']} 条"
    )


def _percent(text: str) -> float:
    """A share typed in per cent (`5` or `2.5`), as a ratio; anything else is a ValueError."""
    value = text.strip()
    if not value.replace(".", "", 1).isdigit() or not value.isascii():
        raise ValueError(value)
    ratio = float(value) / 100
    if ratio > 1:
        raise ValueError(value)
    return ratio


def _split(text: str) -> list[str]:
    return [
        i.strip() for i in text.replace("、", "\n").replace(",", "\n").splitlines() if i.strip()
    ]
