"""API keys: issued by a supervisor, shown once, stored hashed, revocable."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from quietday.api.deps import SessionDep, SupervisorDep
from quietday.api.errors import problem_responses
from quietday.api.schemas import KeyCreate, KeyCreated, KeyPublic
from quietday.planning.keys import create_key, list_keys, revoke_key

router = APIRouter(prefix="/api/v1/keys", tags=["keys"], responses=problem_responses(401, 403, 422))


@router.post("", status_code=201, response_model=KeyCreated)
def create(body: KeyCreate, session: SessionDep, actor: SupervisorDep) -> KeyCreated:
    """Issue a key; the answer is the only time the key itself is shown."""
    row, key = create_key(session, role=body.role, agency_id=body.agency_id, label=body.label)
    return KeyCreated.model_validate({**row.model_dump(), "key": key})


@router.get("", response_model=list[KeyPublic])
def list_(session: SessionDep, actor: SupervisorDep) -> list[KeyPublic]:
    """Every key (never the key itself)."""
    return [KeyPublic.model_validate(r.model_dump()) for r in list_keys(session)]


@router.post("/{key_id}/revoke", response_model=KeyPublic, responses=problem_responses(404))
def revoke(
    key_id: Annotated[int, Path(ge=1, le=2**31 - 1)], session: SessionDep, actor: SupervisorDep
) -> KeyPublic:
    """Revoke a key; it stops working at once."""
    return KeyPublic.model_validate(revoke_key(session, key_id).model_dump())
