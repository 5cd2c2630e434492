"""Aggregate queries of the frequency audit: planned (published) and actual (checked-in) visits
and inspections per subject, grouped in SQL so that a page costs the same at 100,000
enterprises as at ten. Every query is restricted to one page of subjects."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

import sqlalchemy as sa
from sqlmodel import Session, SQLModel

__all__ = [
    "BulkLoader",
    "Dimension",
    "DoorCounts",
    "FrequencyRepository",
    "KindCount",
    "Subject",
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
_ENTRY_KEY = {
    "enterprise": "c.enterprise_id",
    "agency": "c.agency_id",
    "county": "e.region_code",
    "city": "substr(e.region_code, 1, 4)",
}
_SPECIAL = "CASE WHEN coalesce({t}.exempt_reason, '') <> '' THEN 1 ELSE 0 END"


@dataclass(frozen=True, slots=True)
class Subject:
    key: str
    name: str


@dataclass(frozen=True, slots=True)
class KindCount:
    key: str
    kind: str
    special_case: bool
    count: int


@dataclass(frozen=True, slots=True)
class DoorCounts:
    """Door-openings of a subject: visits, joint ones, and the openings saved by joining
    (each visit of n agencies saves n-1; a visit's saving is shared equally among its agencies,
    so that the agencies' shares add up to the whole)."""

    key: str
    visits: int
    joint: int
    saved: float


def _keys(name: str = "keys") -> sa.BindParameter[list[str]]:
    return sa.bindparam(name, expanding=True)


class FrequencyRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

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

    def planned_kinds(
        self, dim: Dimension, keys: Sequence[str], first: date, last: date
    ) -> list[KindCount]:
        key = _PLAN_KEY[dim]
        query = sa.text(
            f"SELECT {key} AS k, p.kind, {_SPECIAL.format(t='p')} AS sc, count(*) "
            "FROM plan p JOIN visit v ON v.id = p.visit_id "
            "JOIN enterprise e ON e.id = v.enterprise_id "
            "WHERE p.status = 'published' AND v.status = 'published' "
            f"AND v.day BETWEEN :first AND :last AND {key} IN :keys "
            "GROUP BY 1, 2, 3"
        ).bindparams(_keys())
        rows = self.session.execute(query, {"first": first, "last": last, "keys": list(keys)})
        return [KindCount(str(k), str(kind), bool(sc), int(n)) for k, kind, sc, n in rows]

    def planned_doors(
        self, dim: Dimension, keys: Sequence[str], first: date, last: date
    ) -> list[DoorCounts]:
        key = _PLAN_KEY[dim]
        query = sa.text(
            "WITH va AS ("
            f"SELECT DISTINCT v.id AS vid, {key} AS k, p.agency_id AS ag "
            "FROM plan p JOIN visit v ON v.id = p.visit_id "
            "JOIN enterprise e ON e.id = v.enterprise_id "
            "WHERE p.status = 'published' AND v.status = 'published' "
            f"AND v.day BETWEEN :first AND :last AND {key} IN :keys), "
            "vn AS (SELECT p.visit_id AS vid, count(DISTINCT p.agency_id) AS n FROM plan p "
            "WHERE p.status = 'published' AND p.visit_id IN (SELECT vid FROM va) "
            "GROUP BY p.visit_id) "
            "SELECT va.k, count(DISTINCT va.vid), "
            "count(DISTINCT CASE WHEN vn.n > 1 THEN va.vid END), "
            "sum((vn.n - 1) * 1.0 / vn.n) "
            "FROM va JOIN vn ON vn.vid = va.vid GROUP BY va.k"
        ).bindparams(_keys())
        rows = self.session.execute(query, {"first": first, "last": last, "keys": list(keys)})
        return [DoorCounts(str(k), int(v), int(j), float(s or 0)) for k, v, j, s in rows]

    def actual_kinds(
        self, dim: Dimension, keys: Sequence[str], first: date, last: date
    ) -> list[KindCount]:
        key = _ENTRY_KEY[dim]
        query = sa.text(
            f"SELECT {key} AS k, c.kind, {_SPECIAL.format(t='c')} AS sc, count(*) "
            "FROM check_in c JOIN enterprise e ON e.id = c.enterprise_id "
            f"WHERE c.day BETWEEN :first AND :last AND {key} IN :keys GROUP BY 1, 2, 3"
        ).bindparams(_keys())
        rows = self.session.execute(query, {"first": first, "last": last, "keys": list(keys)})
        return [KindCount(str(k), str(kind), bool(sc), int(n)) for k, kind, sc, n in rows]

    def actual_doors(
        self, dim: Dimension, keys: Sequence[str], first: date, last: date
    ) -> list[DoorCounts]:
        """Door-openings that happened: check-ins at one enterprise on one day are one door."""
        key = _ENTRY_KEY[dim]
        query = sa.text(
            "WITH ca AS ("
            f"SELECT DISTINCT c.enterprise_id AS ent, c.day AS d, {key} AS k, c.agency_id AS ag "
            "FROM check_in c JOIN enterprise e ON e.id = c.enterprise_id "
            f"WHERE c.day BETWEEN :first AND :last AND {key} IN :keys), "
            "doors AS (SELECT DISTINCT ent, d FROM ca), "
            "cn AS (SELECT c.enterprise_id AS ent, c.day AS d, count(DISTINCT c.agency_id) AS n "
            "FROM check_in c JOIN doors ON doors.ent = c.enterprise_id AND doors.d = c.day "
            "GROUP BY c.enterprise_id, c.day) "
            "SELECT ca.k, count(DISTINCT ca.ent || '|' || CAST(ca.d AS VARCHAR(10))), "
            "count(DISTINCT CASE WHEN cn.n > 1 THEN ca.ent || '|' || CAST(ca.d AS VARCHAR(10)) "
            "END), sum((cn.n - 1) * 1.0 / cn.n) "
            "FROM ca JOIN cn ON cn.ent = ca.ent AND cn.d = ca.d GROUP BY ca.k"
        ).bindparams(_keys())
        rows = self.session.execute(query, {"first": first, "last": last, "keys": list(keys)})
        return [DoorCounts(str(k), int(v), int(j), float(s or 0)) for k, v, j, s in rows]

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
            "WHERE c.kind IN ('routine', 'special') AND c.day BETWEEN :first AND :last "
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
            "WHERE c.kind IN ('routine', 'special') AND c.day BETWEEN :first AND :last "
            "AND c.enterprise_id IN :keys GROUP BY 1"
        ).bindparams(_keys())
        rows = self.session.execute(
            query, {"first": first, "last": last, "keys": list(enterprise_ids)}
        )
        return {str(e): int(n) for e, n in rows}


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
