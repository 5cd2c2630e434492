"""API keys: issued by a supervisor, shown once, stored hashed, revocable."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from quietday.api.deps import SessionDep, SupervisorDep
from quietday.api.errors import problem_responses
from quietday.api.schemas import KeyCreate, KeyCreated, KeyPublic
from quietday.planning.keys import create_key, list_keys, revoke_key

router = APIRouter(prefix="/api/v1/keys", tags=["keys"], responses=problem_responses(401, 403, 422))


@router.post("", summary="签发 API 密钥", status_code=201, response_model=KeyCreated)
def create(body: KeyCreate, session: SessionDep, actor: SupervisorDep) -> KeyCreated:
    """签发一个 API 密钥;密钥本身只在这次答复中显示。"""
    row, key = create_key(session, role=body.role, agency_id=body.agency_id, label=body.label)
    return KeyCreated.model_validate({**row.model_dump(), "key": key})


@router.get("", summary="API 密钥列表", response_model=list[KeyPublic])
def list_(session: SessionDep, actor: SupervisorDep) -> list[KeyPublic]:
    """所有 API 密钥(从不返回密钥本身)。"""
    return [KeyPublic.model_validate(r.model_dump()) for r in list_keys(session)]


@router.post(
    "/{key_id}/revoke",
    summary="吊销 API 密钥",
    response_model=KeyPublic,
    responses=problem_responses(404),
)
def revoke(
    key_id: Annotated[int, Path(ge=1, le=2**31 - 1)], session: SessionDep, actor: SupervisorDep
) -> KeyPublic:
    """吊销一个 API 密钥,立即失效。"""
    return KeyPublic.model_validate(revoke_key(session, key_id).model_dump())
