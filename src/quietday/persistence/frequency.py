"""Aggregate queries of the frequency audit: planned (published) and actual (checked-in) visits
and inspections per subject, grouped in SQL so that a page costs the same at 100,000
enterprises as at ten. Every query is restricted to one page of subjects."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, col, select

from quietday.domain.model import CAPPED_KINDS, Kind
from quietday.domain.status import PlanStatus, VisitStatus
from quietday.persistence.tables import AuditRollupRow

__all__ = [
    "BulkLoader",
    "Dimension",
    "FrequencyRepository",
    "RollupRepository",
    "Subject",
    "Tally",
]

Dimension = Literal["enterprise", "agency", "county", "city"]

# The key of each dimension over plan/visit rows (p, v), check-in rows (c) and enterprises (e).
# Queries are put together from these fixed fragments only; every value is a bound parameter.
_PLAN_KEY = {
    "enterprise": "v.enterprise_id",
    "agency": "p.agency_id",
    "county": "e.region_code",
    "city": "substr(e.region_code, 1, 4)",
}
# Over remote plans (p) and their enterprises (e).
_REMOTE_KEY = {
    "enterprise": "p.enterprise_id",
    "agency": "p.agency_id",
    "county": "e.region_code",
    "city": "substr(e.region_code, 1, 4)",
}
_ENTRY_KEY = {
    "enterprise": "c.enterprise_id",
    "agency": "c.agency_id",
    "county": "e.region_code",
    "city": "substr(e.region_code, 1, 4)",
}


@dataclass(frozen=True, slots=True)
class Subject:
    key: str
    name: str


@dataclass(frozen=True, slots=True)
class Tally:
    """What a subject had, planned or actual: door-openings (visits), those with two or more
    agencies, the openings saved by joining (a visit of n agencies saves n-1; an agency's
    tally carries its equal share of each), and inspections by kind and with an exempt reason."""

    key: str
    visits: int
    joint: int
    saved: float
    routine: int
    special: int
    case: int
    requested: int
    special_case: int


_COUNTS = (
    f"sum(CASE WHEN {{t}}.kind = '{Kind.ROUTINE}' THEN 1 ELSE 0 END) AS r, "
    f"sum(CASE WHEN {{t}}.kind = '{Kind.SPECIAL}' THEN 1 ELSE 0 END) AS s, "
    f"sum(CASE WHEN {{t}}.kind = '{Kind.CASE}' THEN 1 ELSE 0 END) AS c, "
    f"sum(CASE WHEN {{t}}.kind = '{Kind.REQUESTED}' THEN 1 ELSE 0 END) AS q, "
    "sum(CASE WHEN coalesce({t}.exempt_reason, '') <> '' THEN 1 ELSE 0 END) AS sc"
)
_TOTALS = (
    "SELECT k, count(*), sum(CASE WHEN n > 1 THEN 1 ELSE 0 END), sum((n - 1) * 1.0 / {share}), "
    "sum(r), sum(s), sum(c), sum(q), sum(sc) FROM ({units}) u GROUP BY k"
)
# The kinds that caps count, as an SQL list.
_CAPPED = "(" + ", ".join(f"'{k}'" for k in sorted(CAPPED_KINDS)) + ")"
# A door of the plan is a published visit; a door that happened is an enterprise on a day.
_PLANNED_ROWS = (
    "FROM plan p JOIN visit v ON v.id = p.visit_id JOIN enterprise e ON e.id = v.enterprise_id "
    f"WHERE p.status = '{PlanStatus.PUBLISHED}' AND v.status = '{VisitStatus.PUBLISHED}' "
    "AND v.day BETWEEN :first AND :last"
)
_ACTUAL_ROWS = (
    "FROM check_in c JOIN enterprise e ON e.id = c.enterprise_id "
    "WHERE c.day BETWEEN :first AND :last"
)


def _keys(name: str = "keys") -> sa.BindParameter[list[str]]:
    return sa.bindparam(name, expanding=True)


class FrequencyRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def for_reporting(self) -> None:
        """For the rest of this transaction: sort and hash a year's rows in memory (the default
        4 MB spills to disk), let a scan of them use parallel workers, which PostgreSQL's
        default costs would not start for a few hundred thousand rows, and never nest loops:
        inside a publication the new visits have no statistics yet, and a nested loop the
        planner thinks cheap over them runs for minutes."""
        if self.session.get_bind().dialect.name == "postgresql":
            for setting in (
                "enable_nestloop = off",
                "work_mem = '64MB'",
                "parallel_setup_cost = 10",
                "parallel_tuple_cost = 0.001",
                "min_parallel_table_scan_size = '1MB'",
            ):
                self.session.execute(sa.text(f"SET LOCAL {setting}"))

    def days_of(self, enterprise_id: str) -> list[date]:
        """Every date the enterprise has a visit or a check-in on, and the dates its remote
        plans' windows end and their results were recorded (the audit's months)."""
        rows = self.session.execute(
            sa.text(
                "SELECT day FROM visit WHERE enterprise_id = :e "
                "UNION SELECT day FROM check_in WHERE enterprise_id = :e "
                "UNION SELECT latest FROM plan WHERE enterprise_id = :e AND remote "
                "UNION SELECT r.day FROM check_result r JOIN plan p ON p.id = r.plan_id "
                "WHERE p.enterprise_id = :e AND p.remote"
            ),
            {"e": enterprise_id},
        )
        return [d if isinstance(d, date) else date.fromisoformat(str(d)) for (d,) in rows]

    def subjects(
        self, dim: Dimension, *, after: str | None, limit: int, region: str | None
    ) -> list[Subject]:
        """A page of subjects by key; `region` keeps those in a region (code prefix)."""
        table, key, name, where = {
            "enterprise": ("enterprise", "id", "name", "region_code LIKE :prefix"),
            "agency": ("agency", "id", "name", "region_code LIKE :prefix"),
            "county": ("region", "code", "name", "level = 'county' AND code LIKE :prefix"),
            "city": ("region", "code", "name", "level = 'city' AND code LIKE :prefix"),
        }[dim]
        query = sa.text(
            f"SELECT {key}, {name} FROM {table} WHERE {where} AND {key} > :after "
            f"ORDER BY {key} LIMIT :limit"
        )
        rows = self.session.execute(
            query, {"prefix": f"{region or ''}%", "after": after or "", "limit": limit}
        ).all()
        return [Subject(str(k), str(n)) for k, n in rows]

    def planned(self, dim: Dimension, keys: Sequence[str], first: date, last: date) -> list[Tally]:
        """Published visits and their inspections per subject, in one pass."""
        if dim == "agency":
            # Each (agency, visit) with the number of agencies in that visit, counted by a
            # window over the same rows: one scan, whatever the planner thinks of the sizes.
            units = (
                "SELECT * FROM (SELECT k, door, count(*) OVER (PARTITION BY door) AS n, "
                "r, s, c, q, sc FROM (SELECT p.agency_id AS k, v.id AS door, "
                f"{_COUNTS.format(t='p')} {_PLANNED_ROWS} AND v.id IN (SELECT visit_id "
                f"FROM plan WHERE agency_id IN :keys AND status = '{PlanStatus.PUBLISHED}') "
                "GROUP BY 1, 2) pa) w WHERE k IN :keys"
            )
            return self._tallies(_TOTALS.format(share="n", units=units), keys, first, last)
        key = _PLAN_KEY[dim]
        units = (
            f"SELECT {key} AS k, v.id AS door, count(DISTINCT p.agency_id) AS n, "
            f"{_COUNTS.format(t='p')} {_PLANNED_ROWS} AND {key} IN :keys GROUP BY 1, 2"
        )
        return self._tallies(_TOTALS.format(share="1", units=units), keys, first, last)

    def actual(self, dim: Dimension, keys: Sequence[str], first: date, last: date) -> list[Tally]:
        """Check-ins per subject, in one pass: check-ins at one enterprise on one day are one
        door-opening."""
        if dim == "agency":
            units = (
                "SELECT * FROM (SELECT k, ent, d, count(*) OVER (PARTITION BY ent, d) AS n, "
                "r, s, c, q, sc FROM (SELECT c.agency_id AS k, c.enterprise_id AS ent, "
                f"c.day AS d, {_COUNTS.format(t='c')} {_ACTUAL_ROWS} "
                "AND (c.enterprise_id, c.day) IN (SELECT enterprise_id, day FROM check_in "
                "WHERE agency_id IN :keys AND day BETWEEN :first AND :last) "
                "GROUP BY 1, 2, 3) ca) w WHERE k IN :keys"
            )
            return self._tallies(_TOTALS.format(share="n", units=units), keys, first, last)
        key = _ENTRY_KEY[dim]
        units = (
            f"SELECT {key} AS k, c.enterprise_id AS ent, c.day AS d, "
            f"count(DISTINCT c.agency_id) AS n, {_COUNTS.format(t='c')} {_ACTUAL_ROWS} "
            f"AND {key} IN :keys GROUP BY 1, 2, 3"
        )
        return self._tallies(_TOTALS.format(share="1", units=units), keys, first, last)

    def remote_planned(
        self, dim: Dimension, keys: Sequence[str], first: date, last: date
    ) -> dict[str, int]:
        """Live remote plans (非现场) per subject whose window ends in [first, last]."""
        key = _REMOTE_KEY[dim]
        query = (
            f"SELECT {key} AS k, count(*) FROM plan p JOIN enterprise e ON e.id = p.enterprise_id "
            f"WHERE p.remote AND p.status <> '{PlanStatus.CANCELLED}' "
            f"AND p.latest BETWEEN :first AND :last AND {key} IN :keys GROUP BY 1"
        )
        return self._counts(query, keys, first, last)

    def remote_done(
        self, dim: Dimension, keys: Sequence[str], first: date, last: date
    ) -> dict[str, int]:
        """Check results of remote plans per subject dated in [first, last]."""
        key = _REMOTE_KEY[dim]
        query = (
            f"SELECT {key} AS k, count(*) FROM check_result r JOIN plan p ON p.id = r.plan_id "
            "JOIN enterprise e ON e.id = p.enterprise_id "
            f"WHERE p.remote AND r.day BETWEEN :first AND :last AND {key} IN :keys GROUP BY 1"
        )
        return self._counts(query, keys, first, last)

    def _counts(self, sql: str, keys: Sequence[str], first: date, last: date) -> dict[str, int]:
        rows = self.session.execute(
            sa.text(sql).bindparams(_keys()), {"first": first, "last": last, "keys": list(keys)}
        )
        return {str(k): int(n) for k, n in rows}

    def _tallies(self, sql: str, keys: Sequence[str], first: date, last: date) -> list[Tally]:
        rows = self.session.execute(
            sa.text(sql).bindparams(_keys()), {"first": first, "last": last, "keys": list(keys)}
        )
        return [
            Tally(str(k), int(v), int(j), float(sv or 0), *(int(x or 0) for x in counts))
            for k, v, j, sv, *counts in rows
        ]

    def flags(
        self, dim: Dimension, keys: Sequence[str], first: date, last: date
    ) -> list[tuple[str, str, int]]:
        """(subject, flag code, check-ins with it)."""
        key = _ENTRY_KEY[dim]
        query = sa.text(
            f"SELECT {key} AS k, f.code, count(*) FROM check_in_flag f "
            "JOIN check_in c ON c.id = f.check_in_id JOIN enterprise e ON e.id = c.enterprise_id "
            f"WHERE c.day BETWEEN :first AND :last AND {key} IN :keys GROUP BY 1, 2"
        ).bindparams(_keys())
        rows = self.session.execute(query, {"first": first, "last": last, "keys": list(keys)})
        return [(str(k), str(code), int(n)) for k, code, n in rows]

    def flagged_entries(
        self, dim: Dimension, keys: Sequence[str], first: date, last: date, codes: Sequence[str]
    ) -> dict[str, int]:
        """Check-ins with at least one flag of `codes`, each counted once."""
        key = _ENTRY_KEY[dim]
        query = sa.text(
            f"SELECT {key} AS k, count(DISTINCT c.id) FROM check_in_flag f "
            "JOIN check_in c ON c.id = f.check_in_id JOIN enterprise e ON e.id = c.enterprise_id "
            f"WHERE c.day BETWEEN :first AND :last AND {key} IN :keys AND f.code IN :codes "
            "GROUP BY 1"
        ).bindparams(_keys(), _keys("codes"))
        rows = self.session.execute(
            query, {"first": first, "last": last, "keys": list(keys), "codes": list(codes)}
        )
        return {str(k): int(n) for k, n in rows}

    def capped_days(
        self, enterprise_ids: Sequence[str], first: date, last: date
    ) -> list[tuple[str, str, int]]:
        """(enterprise, agency, distinct dates with a capped check-in) in [first, last]."""
        query = sa.text(
            "SELECT c.enterprise_id, c.agency_id, count(DISTINCT c.day) FROM check_in c "
            f"WHERE c.kind IN {_CAPPED} AND c.day BETWEEN :first AND :last "
            "AND c.enterprise_id IN :keys GROUP BY 1, 2"
        ).bindparams(_keys())
        rows = self.session.execute(
            query, {"first": first, "last": last, "keys": list(enterprise_ids)}
        )
        return [(str(e), str(a), int(n)) for e, a, n in rows]

    def enterprise_days(
        self, enterprise_ids: Sequence[str], first: date, last: date
    ) -> dict[str, int]:
        """Distinct dates with a capped check-in per enterprise, all agencies together."""
        query = sa.text(
            "SELECT c.enterprise_id, count(DISTINCT c.day) FROM check_in c "
            f"WHERE c.kind IN {_CAPPED} AND c.day BETWEEN :first AND :last "
            "AND c.enterprise_id IN :keys GROUP BY 1"
        ).bindparams(_keys())
        rows = self.session.execute(
            query, {"first": first, "last": last, "keys": list(enterprise_ids)}
        )
        return {str(e): int(n) for e, n in rows}


class RollupRepository:
    """Monthly audit figures per agency and county (`AuditRollupRow`)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def replace(
        self, dim: str, month: date, subjects: Sequence[str] | None, rows: Sequence[AuditRollupRow]
    ) -> None:
        """The month's rows of `subjects` (all of the dimension for None) become `rows`."""
        query = sa.delete(AuditRollupRow).where(
            col(AuditRollupRow.dim) == dim, col(AuditRollupRow.month) == month
        )
        if subjects is not None:
            query = query.where(col(AuditRollupRow.subject).in_(list(subjects)))
        self.session.execute(query)
        self.session.add_all(rows)
        self.session.flush()

    def between(
        self, dim: str, subjects: Sequence[str], first: date, last: date, *, by_city: bool = False
    ) -> list[AuditRollupRow]:
        """Rows of the months in [first, last]; with `by_city`, the counties of those cities."""
        query = select(AuditRollupRow).where(
            col(AuditRollupRow.dim) == dim,
            col(AuditRollupRow.month) >= first,
            col(AuditRollupRow.month) <= last,
        )
        subject = col(AuditRollupRow.subject)
        key = sa.func.substr(subject, 1, 4) if by_city else subject
        return list(self.session.exec(query.where(key.in_(list(subjects)))).all())


class BulkLoader:
    """Many rows in one statement per batch (benchmarks load a province's year this way)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def insert(self, model: type[SQLModel], rows: Sequence[dict[str, object]]) -> list[int]:
        """Insert `rows` of `model`; their new ids, in the order of `rows`."""
        if not rows:
            return []
        table = model.__table__  # type: ignore[attr-defined]
        result = self.session.execute(
            sa.insert(table).returning(table.c.id, sort_by_parameter_order=True), list(rows)
        )
        return [int(i) for i in result.scalars()]

    def insert_plain(self, model: type[SQLModel], rows: Sequence[dict[str, object]]) -> None:
        """Insert `rows` of a table without a generated id."""
        if rows:
            self.session.execute(sa.insert(model.__table__), list(rows))  # type: ignore[attr-defined]
