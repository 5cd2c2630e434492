"""Webhooks: endpoints (an agency key manages its own, a supervisor key all), their deliveries,
re-delivery; and the dashboard's page of them (`/dashboard/webhooks`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Path, Query, Request, Response, status
from fastapi.responses import HTMLResponse

from quietday.api.deps import ActorDep, SessionDep, SettingsDep
from quietday.api.errors import problem_responses
from quietday.api.routers.dashboard import AREA, SignedIn, _page, form_refused
from quietday.api.schemas import (
    SafeStr,
    WebhookCreate,
    WebhookCreated,
    WebhookDeliveryPublic,
    WebhookPublic,
    WebhookUpdate,
)
from quietday.errors import ConflictError, NotFoundError
from quietday.persistence import Session
from quietday.persistence.webhooks import DeliveryLine, WebhookRepository
from quietday.planning import webhooks
from quietday.planning.dashboard import SHANGHAI
from quietday.planning.keys import Actor

router = APIRouter(
    prefix="/api/v1/webhooks", tags=["webhooks"], responses=problem_responses(401, 403, 422)
)
pages = APIRouter(prefix="/dashboard/webhooks", include_in_schema=False)

EndpointId = Annotated[int, Path(ge=1, le=2**31 - 1, description="端点编号")]
DeliveryId = Annotated[int, Path(ge=1, le=2**31 - 1, description="投递编号")]


def _public(row: object) -> WebhookPublic:
    return WebhookPublic.model_validate(row, from_attributes=True)


def _delivery(line: DeliveryLine) -> WebhookDeliveryPublic:
    d = line.delivery
    return WebhookDeliveryPublic(
        id=int(d.id or 0),
        webhook_id=f"msg_{d.id}",
        event_id=d.event_id,
        event_type=line.event_type,
        endpoint_id=d.endpoint_id,
        status=d.status,  # type: ignore[arg-type]
        attempts=d.attempts,
        next_attempt_at=d.next_attempt_at if d.status == "pending" else None,
        last_status_code=d.last_status_code,
        last_error=d.last_error,
        delivered_at=d.delivered_at,
        created_at=d.created_at,
    )


@router.post("", summary="创建 Webhook 端点", status_code=201, response_model=WebhookCreated)
def create(
    body: WebhookCreate, session: SessionDep, actor: ActorDep, settings: SettingsDep
) -> WebhookCreated:
    """创建一个接收端点;签名密钥只在这次答复中显示。部门密钥的端点只收到本部门参与的入企,
    且只含本部门的检查计划。"""
    row, secret = webhooks.create_endpoint(
        session,
        actor,
        url=body.url,
        event_types=body.event_types,
        description=body.description,
        agency_id=body.agency_id,
        active=body.active,
        local=settings.webhooks_local,
    )
    return WebhookCreated.model_validate({**_public(row).model_dump(), "secret": secret})


@router.get("", summary="Webhook 端点列表", response_model=list[WebhookPublic])
def list_(session: SessionDep, actor: ActorDep) -> list[WebhookPublic]:
    """本部门的端点(监督密钥: 全部);从不返回签名密钥。"""
    return [_public(r) for r in webhooks.list_endpoints(session, actor)]


@router.get(
    "/{endpoint_id}",
    summary="Webhook 端点",
    response_model=WebhookPublic,
    responses=problem_responses(404),
)
def get(endpoint_id: EndpointId, session: SessionDep, actor: ActorDep) -> WebhookPublic:
    """一个端点。"""
    return _public(webhooks.get_endpoint(session, actor, endpoint_id))


@router.patch(
    "/{endpoint_id}",
    summary="修改 Webhook 端点",
    response_model=WebhookPublic,
    responses=problem_responses(404),
)
def update(
    endpoint_id: EndpointId,
    body: WebhookUpdate,
    session: SessionDep,
    actor: ActorDep,
    settings: SettingsDep,
) -> WebhookPublic:
    """修改地址、事件类型、说明或启用状态。"""
    changes = body.model_dump(exclude_unset=True)
    row = webhooks.update_endpoint(
        session, actor, endpoint_id, changes, local=settings.webhooks_local
    )
    return _public(row)


@router.delete(
    "/{endpoint_id}", summary="删除 Webhook 端点", status_code=204, responses=problem_responses(404)
)
def delete(endpoint_id: EndpointId, session: SessionDep, actor: ActorDep) -> Response:
    """删除端点:不再向它投递;投递记录保留。"""
    webhooks.delete_endpoint(session, actor, endpoint_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{endpoint_id}/rotate-secret",
    summary="更换签名密钥",
    response_model=WebhookCreated,
    responses=problem_responses(404),
)
def rotate(endpoint_id: EndpointId, session: SessionDep, actor: ActorDep) -> WebhookCreated:
    """生成新的签名密钥(只显示这一次);旧密钥在 24 小时内仍附加一个签名。"""
    row, secret = webhooks.rotate_secret(session, actor, endpoint_id)
    return WebhookCreated.model_validate({**_public(row).model_dump(), "secret": secret})


@router.get(
    "/{endpoint_id}/deliveries",
    summary="端点的投递记录",
    response_model=list[WebhookDeliveryPublic],
    responses=problem_responses(404),
)
def deliveries(
    endpoint_id: EndpointId,
    session: SessionDep,
    actor: ActorDep,
    state: Annotated[
        Literal["pending", "succeeded", "failed"] | None, Query(alias="status")
    ] = None,
    before: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="只列编号更小的")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[WebhookDeliveryPublic]:
    """最近的投递(新的在前)。"""
    webhooks.get_endpoint(session, actor, endpoint_id)
    lines = WebhookRepository(session).deliveries(
        endpoint_ids=[endpoint_id], status=state, before=before, limit=limit
    )
    return [_delivery(line) for line in lines]


@router.post(
    "/deliveries/{delivery_id}/redeliver",
    summary="重新投递",
    status_code=202,
    responses=problem_responses(404, 409),
)
def redeliver_api(delivery_id: DeliveryId, session: SessionDep, actor: ActorDep) -> Response:
    """立即再投递一次(同一个 webhook-id,重试间隔从头开始)。"""
    if actor.role == "approver":
        raise NotFoundError(f"投递 {delivery_id} 不存在")
    webhooks.redeliver(session, delivery_id, agency_id=actor.own_agency)
    return Response(status_code=status.HTTP_202_ACCEPTED)


# -- the dashboard's page -------------------------------------------------------------------

_STATUS = {"pending": "待投递", "succeeded": "已送达", "failed": "失败"}


def _local(moment: datetime | None) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def _supervisor_of(session: Session, current: SignedIn) -> None:
    session.info["actor"] = Actor(key_id=current.key_id, role="supervisor", agency_id=None).name


@pages.get("", response_class=HTMLResponse)
def overview(
    request: Request,
    session: SessionDep,
    current: SignedIn,
    state: Annotated[
        Literal["pending", "succeeded", "failed"] | None, Query(alias="status")
    ] = None,
) -> Response:
    """The endpoints, the count of deliveries by status and the latest deliveries."""
    repo = WebhookRepository(session)
    return _page(
        request,
        "webhooks.html",
        signed_in=True,
        csrf=current.csrf,
        nav="webhooks",
        endpoints=repo.endpoints(),
        counts=repo.counts(),
        deliveries=repo.deliveries(status=state, limit=100),
        shown=state,
        statuses=_STATUS,
        local=_local,
    )


@pages.get("/deliveries/{delivery_id}", response_class=HTMLResponse)
def delivery(
    request: Request, session: SessionDep, current: SignedIn, delivery_id: DeliveryId
) -> Response:
    """One delivery: its event, endpoint and the log of its attempts, and re-delivery."""
    repo = WebhookRepository(session)
    row = repo.delivery(delivery_id)
    if row is None:
        return _page(
            request,
            "missing.html",
            status=404,
            message=f"投递 {delivery_id} 不存在。",
            signed_in=True,
            csrf=current.csrf,
        )
    endpoint = repo.get_or_raise(row.endpoint_id)
    event = repo.events_by_ids([row.event_id])[row.event_id]
    return _page(
        request,
        "webhook_delivery.html",
        signed_in=True,
        csrf=current.csrf,
        nav="webhooks",
        delivery=row,
        endpoint=endpoint,
        event=event,
        body=webhooks.payload(event, endpoint),
        attempts=repo.attempts(delivery_id),
        statuses=_STATUS,
        local=_local,
        redelivered=request.query_params.get("redelivered") == "1",
    )


@pages.post("/deliveries/{delivery_id}/redeliver")
def redeliver_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    current: SignedIn,
    delivery_id: DeliveryId,
    csrf: Annotated[SafeStr, Form(max_length=100)] = "",
) -> Response:
    """Re-deliver (a form with the session's CSRF token, from this site)."""
    if not AREA.posted(request, settings, current.csrf, csrf):
        return form_refused(request, current)
    _supervisor_of(session, current)
    try:
        webhooks.redeliver(session, delivery_id, agency_id=None)
    except (ConflictError, NotFoundError) as exc:
        return _page(
            request,
            "missing.html",
            status=409 if isinstance(exc, ConflictError) else 404,
            message=str(exc),
            signed_in=True,
            csrf=current.csrf,
        )
    return AREA.redirect(f"/dashboard/webhooks/deliveries/{delivery_id}?redelivered=1")
