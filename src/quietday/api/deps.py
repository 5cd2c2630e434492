"""Each dependency declared once as an `Annotated` alias; routers use only these."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from quietday.config import Settings
from quietday.errors import ForbiddenError
from quietday.persistence import Engine, Session, session_scope
from quietday.planning.codes import keyring
from quietday.planning.feeds import today_in_china
from quietday.planning.keys import Actor, authenticate
from quietday.planning.runner import Runner
from quietday.signing import Keyring

__all__ = [
    "ActorDep",
    "KeyringDep",
    "RunnerDep",
    "SessionDep",
    "SettingsDep",
    "SupervisorDep",
    "TodayDep",
]

_bearer = HTTPBearer(auto_error=False, description="API 密钥: `Authorization: Bearer qd_...`")


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _runner(request: Request) -> Runner:
    runner: Runner = request.app.state.runner
    return runner


def _session(request: Request) -> Iterator[Session]:
    """The request's unit of work: committed when the route returns, before the answer is sent."""
    engine: Engine = request.app.state.engine
    with session_scope(engine) as session:
        yield session


def _today(request: Request) -> date:
    """Today in China, by the app's clock (tests set it)."""
    clock: Callable[[], datetime] = request.app.state.clock
    return today_in_china(clock())


SettingsDep = Annotated[Settings, Depends(_settings)]


SessionDep = Annotated[Session, Depends(_session, scope="function")]


def _keyring(session: SessionDep, settings: SettingsDep) -> Keyring:
    """The keys that sign and verify codes; a key stored in the database is read each time
    (another process may have rotated it), in the request's own unit of work: a second
    connection per request would let concurrent requests hold the whole pool, each waiting
    for another."""
    return keyring(session, settings.code_key_pem(), settings.code_retired_public_keys)


KeyringDep = Annotated[Keyring, Depends(_keyring)]
TodayDep = Annotated[date, Depends(_today)]
RunnerDep = Annotated[Runner, Depends(_runner)]


def _actor(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    x_api_key: Annotated[
        str | None, Header(description="API 密钥(也可用 Authorization: Bearer)")
    ] = None,
) -> Actor:
    presented = credentials.credentials if credentials is not None else x_api_key
    actor = authenticate(session, presented)
    session.info["actor"] = actor.name
    return actor


ActorDep = Annotated[Actor, Depends(_actor)]


def _supervisor(actor: ActorDep) -> Actor:
    if not actor.is_supervisor:
        raise ForbiddenError("只有监督(司法行政)密钥可以执行此操作")
    return actor


SupervisorDep = Annotated[Actor, Depends(_supervisor)]
