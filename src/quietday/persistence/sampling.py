"""Queries of sampling (双随机): rounds, their tasks and agencies, the populations drawn from,
the enterprises drawn, and the check results of drawn plans (一公开)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlmodel import col, select

from quietday.domain.sampling import RISK_CLASSES
from quietday.persistence.base import Repository, in_conditions
from quietday.persistence.tables import (
    AgencyRow,
    CheckResultRow,
    EnterpriseRow,
    PlanRow,
    SamplingDrawRow,
    SamplingRoundRow,
    SamplingTaskAgencyRow,
    SamplingTaskRow,
)

__all__ = [
    "UNCLASSIFIED",
    "CheckResultRepository",
    "DrawnLine",
    "Population",
    "SamplingRepository",
]

# The stratum of enterprises with no credit-risk class yet.
UNCLASSIFIED = "U"


class Population(NamedTuple):
    """Which enterprises a task draws from: a region (code prefix), trades (empty: all) and
    credit-risk classes (`U`: not yet classified)."""

    region_prefix: str
    industries: Sequence[str]
    classes: Sequence[str]

    def conditions(self) -> list[Any]:
        out: list[Any] = [
            col(EnterpriseRow.region_code).startswith(self.region_prefix, autoescape=True)
        ]
        if self.industries:
            out.append(col(EnterpriseRow.industry).in_(sorted(set(self.industries))))
        letters = sorted(set(self.classes) & set(RISK_CLASSES))
        either = [col(EnterpriseRow.risk_class).in_(letters)] if letters else []
        if UNCLASSIFIED in self.classes:
            either.append(col(EnterpriseRow.risk_class).is_(None))
        out.append(sa.or_(*either) if either else sa.false())
        return out


class DrawnLine(NamedTuple):
    """A drawn plan as the public results list it: the task, the enterprise and agency by name,
    the plan's day and announcement, and its result if one is recorded."""

    task_id: int
    agency_id: str
    agency_name: str
    enterprise_id: str
    enterprise_name: str
    plan_id: int | None
    published_date: date | None
    plan_status: str | None
    outcome: str | None
    result_day: date | None


class SamplingRepository(Repository[SamplingRoundRow]):
    model = SamplingRoundRow
    label = "抽查批次"

    def rounds(self, *, limit: int) -> Sequence[SamplingRoundRow]:
        """The latest rounds first."""
        return self.session.exec(
            select(SamplingRoundRow).order_by(col(SamplingRoundRow.id).desc()).limit(limit)
        ).all()

    def lock(self, round_id: int) -> SamplingRoundRow:
        """The round, its row locked until the transaction ends (one draw at a time)."""
        row = self.session.exec(
            select(SamplingRoundRow)
            .where(SamplingRoundRow.id == round_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).first()
        if row is None:
            return self.get_or_raise(round_id)
        return row

    def tasks(self, round_ids: Iterable[int]) -> list[SamplingTaskRow]:
        wanted = sorted(set(round_ids))
        if not wanted:
            return []
        return list(
            self.session.exec(
                select(SamplingTaskRow)
                .where(col(SamplingTaskRow.round_id).in_(wanted))
                .order_by(col(SamplingTaskRow.id))
            ).all()
        )

    def task(self, task_id: int) -> SamplingTaskRow | None:
        return self.session.get(SamplingTaskRow, task_id)

    def agencies(self, task_ids: Iterable[int]) -> dict[int, list[str]]:
        """Each task's agencies, the lead first."""
        wanted = sorted(set(task_ids))
        out: dict[int, list[str]] = {t: [] for t in wanted}
        if not wanted:
            return out
        rows = self.session.exec(
            select(SamplingTaskAgencyRow)
            .where(col(SamplingTaskAgencyRow.task_id).in_(wanted))
            .order_by(col(SamplingTaskAgencyRow.task_id), col(SamplingTaskAgencyRow.position))
        ).all()
        for row in rows:
            out[row.task_id].append(row.agency_id)
        return out

    def add_task(self, task: SamplingTaskRow, agencies: Sequence[str]) -> SamplingTaskRow:
        self.session.add(task)
        self.session.flush()
        self.session.add_all(
            SamplingTaskAgencyRow(task_id=int(task.id or 0), agency_id=a, position=k)
            for k, a in enumerate(agencies)
        )
        self.session.flush()
        return task

    def remove_task(self, task: SamplingTaskRow) -> None:
        """A task not drawn yet, with its agencies (nothing else refers to it)."""
        for member in self.session.exec(
            select(SamplingTaskAgencyRow).where(col(SamplingTaskAgencyRow.task_id) == task.id)
        ):
            self.session.delete(member)
        self.session.flush()
        self.session.delete(task)
        self.session.flush()

    def population_size(self, population: Population) -> int:
        found = self.session.exec(
            select(sa.func.count()).select_from(EnterpriseRow).where(*population.conditions())
        ).one()
        return int(found)

    def population(self, population: Population, *, limit: int) -> dict[str, str]:
        """Up to `limit` enterprises of the population, by code, with their class (`U`)."""
        rows = self.session.execute(
            sa.select(col(EnterpriseRow.id), col(EnterpriseRow.risk_class))
            .where(*population.conditions())
            .order_by(col(EnterpriseRow.id))
            .limit(limit)
        )
        return {eid: cls or UNCLASSIFIED for eid, cls in rows}

    def add_draws(self, rows: Sequence[SamplingDrawRow]) -> None:
        self.session.add_all(rows)
        self.session.flush()

    def draws(self, task_ids: Iterable[int]) -> list[SamplingDrawRow]:
        wanted = sorted(set(task_ids))
        if not wanted:
            return []
        return list(
            self.session.exec(
                select(SamplingDrawRow)
                .where(col(SamplingDrawRow.task_id).in_(wanted))
                .order_by(col(SamplingDrawRow.id))
            ).all()
        )

    def drawn_lines(self, task_ids: Iterable[int]) -> list[DrawnLine]:
        """The drawn plans of these tasks with what the public results need, by task, agency
        and enterprise."""
        wanted = sorted(set(task_ids))
        if not wanted:
            return []
        query = (
            sa.select(
                col(SamplingDrawRow.task_id),
                col(SamplingDrawRow.agency_id),
                col(AgencyRow.name),
                col(SamplingDrawRow.enterprise_id),
                col(EnterpriseRow.name),
                col(SamplingDrawRow.plan_id),
                col(PlanRow.published_date),
                col(PlanRow.status),
                col(CheckResultRow.outcome),
                col(CheckResultRow.day),
            )
            .join(AgencyRow, col(AgencyRow.id) == col(SamplingDrawRow.agency_id))
            .join(EnterpriseRow, col(EnterpriseRow.id) == col(SamplingDrawRow.enterprise_id))
            .outerjoin(PlanRow, col(PlanRow.id) == col(SamplingDrawRow.plan_id))
            .outerjoin(CheckResultRow, col(CheckResultRow.plan_id) == col(SamplingDrawRow.plan_id))
            .where(col(SamplingDrawRow.task_id).in_(wanted))
            .order_by(
                col(SamplingDrawRow.task_id),
                col(SamplingDrawRow.agency_id),
                col(SamplingDrawRow.enterprise_id),
            )
        )
        return [DrawnLine(*row) for row in self.session.execute(query)]

    def counts(self, task_ids: Iterable[int]) -> dict[tuple[int, str], int]:
        """Enterprises drawn per (task, agency)."""
        wanted = sorted(set(task_ids))
        if not wanted:
            return {}
        rows = self.session.execute(
            sa.select(col(SamplingDrawRow.task_id), col(SamplingDrawRow.agency_id), sa.func.count())
            .where(col(SamplingDrawRow.task_id).in_(wanted))
            .group_by(col(SamplingDrawRow.task_id), col(SamplingDrawRow.agency_id))
        )
        return {(t, a): int(n) for t, a, n in rows}

    def task_of_plans(self, plan_ids: Iterable[int]) -> dict[int, int]:
        """The task that drew each of these plans (plans not drawn are left out)."""
        out: dict[int, int] = {}
        for condition in in_conditions(self.session, col(SamplingDrawRow.plan_id), plan_ids):
            for plan_id, task_id in self.session.execute(
                sa.select(col(SamplingDrawRow.plan_id), col(SamplingDrawRow.task_id)).where(
                    condition
                )
            ):
                out[int(plan_id)] = int(task_id)
        return out


class CheckResultRepository(Repository[CheckResultRow]):
    model = CheckResultRow
    label = "检查结果"

    def of_plans(self, plan_ids: Iterable[int]) -> dict[int, CheckResultRow]:
        out: dict[int, CheckResultRow] = {}
        for condition in in_conditions(self.session, col(CheckResultRow.plan_id), plan_ids):
            for row in self.session.exec(select(CheckResultRow).where(condition)).all():
                out[row.plan_id] = row
        return out
