"""Queries of credit-risk classes: the per-class policy, enterprises' classes (for an import of
SAMR's monthly reclassification, for intake and for a run's caps)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import date
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlmodel import Session, col, select

from quietday.domain.model import Enterprise
from quietday.persistence.base import Repository, columns_of, in_conditions
from quietday.persistence.tables import EnterpriseRow, RiskClassPolicyRow

__all__ = [
    "DEFAULT_POLICY",
    "ClassCaps",
    "ClassFacts",
    "RiskPolicyRepository",
    "RiskRepository",
    "seed_risk_policy",
]

# What a new database starts with (migration 0026): configuration, not national figures (SAMR
# leaves ratios and frequencies to each locality). A lowest (无事不扰: one inspection per agency
# a year, routine checks of 无感监管 firms remote), D highest and uncapped.
DEFAULT_POLICY: tuple[Mapping[str, Any], ...] = (
    {"risk_class": "A", "sampling_ratio": 0.03, "agency_enterprise_per_year": 1,
     "remote_routine": True},
    {"risk_class": "B", "sampling_ratio": 0.05, "agency_enterprise_per_year": 2,
     "remote_routine": False},
    {"risk_class": "C", "sampling_ratio": 0.10, "agency_enterprise_per_year": 2,
     "remote_routine": False},
    {"risk_class": "D", "sampling_ratio": 0.20, "agency_enterprise_per_year": None,
     "remote_routine": False},
)  # fmt: skip


def seed_risk_policy(conn: sa.Connection) -> None:
    """Store the default policy of the classes the table does not hold yet."""
    table = RiskClassPolicyRow.__table__  # type: ignore[attr-defined]
    present = set(conn.execute(sa.select(table.c.risk_class)).scalars())
    rows = [dict(r) for r in DEFAULT_POLICY if r["risk_class"] not in present]
    if rows:
        conn.execute(sa.insert(table), rows)


class ClassFacts(NamedTuple):
    """What the registry holds of an enterprise's class."""

    id: str
    region_code: str
    risk_class: str | None
    risk_classified_on: date | None
    low_risk: bool


class RiskPolicyRepository(Repository[RiskClassPolicyRow]):
    model = RiskClassPolicyRow
    label = "信用风险分类"

    def by_class(self) -> dict[str, RiskClassPolicyRow]:
        """Every class's policy, by class."""
        rows = self.session.exec(select(RiskClassPolicyRow)).all()
        return {r.risk_class: r for r in sorted(rows, key=lambda r: r.risk_class)}


class RiskRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def classes(self, ids: Iterable[str]) -> dict[str, ClassFacts]:
        """The class, its date and the 无感监管 flag of these enterprises (those registered)."""
        query = sa.select(*columns_of(EnterpriseRow, ClassFacts._fields))
        return {
            row.id: ClassFacts._make(row)
            for where in in_conditions(self.session, col(EnterpriseRow.id), ids)
            for row in self.session.execute(query.where(where))
        }

    def class_counts(self) -> dict[str, tuple[int, int]]:
        """Enterprises per class: (all, on the 无感监管 list)."""
        query = (
            sa.select(
                col(EnterpriseRow.risk_class),
                sa.func.count(),
                sa.func.sum(sa.case((col(EnterpriseRow.low_risk), 1), else_=0)),
            )
            .where(col(EnterpriseRow.risk_class).is_not(None))
            .group_by(col(EnterpriseRow.risk_class))
        )
        return {str(c): (int(n), int(low or 0)) for c, n, low in self.session.execute(query)}

    def low_risk_classes(self, ids: Iterable[str]) -> dict[str, str | None]:
        """The class of each of these enterprises that is on the 无感监管 list."""
        query = sa.select(col(EnterpriseRow.id), col(EnterpriseRow.risk_class)).where(
            col(EnterpriseRow.low_risk)
        )
        return {
            str(e): c
            for where in in_conditions(self.session, col(EnterpriseRow.id), ids)
            for e, c in self.session.execute(query.where(where))
        }

    def set_classes(self, changes: Sequence[Mapping[str, Any]]) -> None:
        """Set each enterprise's class, its date and 无感监管 (`enterprise_id`, `risk_class`,
        `risk_classified_on`, `low_risk`), in one executemany."""
        if not changes:
            return
        statement = (
            sa.update(EnterpriseRow.__table__)  # type: ignore[attr-defined]
            .where(EnterpriseRow.__table__.c.id == sa.bindparam("e"))  # type: ignore[attr-defined]
            .values(
                risk_class=sa.bindparam("c"),
                risk_classified_on=sa.bindparam("d"),
                low_risk=sa.bindparam("low"),
            )
        )
        params = [
            {
                "e": x["enterprise_id"],
                "c": x["risk_class"],
                "d": x["risk_classified_on"],
                "low": x["low_risk"],
            }
            for x in changes
        ]
        self.session.execute(statement, params)


class ClassCaps:
    """The caps each credit-risk class gives its enterprises (a class A firm: once per agency
    a year, by default), under each enterprise's own `cap_overrides`: what runs, the check-in
    flags and the frequency audit all hold an enterprise to."""

    def __init__(self, session: Session) -> None:
        self.by_class = {
            cls: {"agency_enterprise_per_year": row.agency_enterprise_per_year}
            for cls, row in RiskPolicyRepository(session).by_class().items()
        }

    def apply(self, enterprise: Enterprise, risk_class: str | None) -> Enterprise:
        """The enterprise with its class's caps, each overridden by its own."""
        caps = self.by_class.get(risk_class or "")
        if caps is None:
            return enterprise
        return replace(enterprise, cap_overrides={**caps, **enterprise.cap_overrides})
