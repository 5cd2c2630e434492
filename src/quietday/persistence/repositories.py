"""Repositories own every query; the same verbs in each (`get`, `get_or_raise`, `list`, `add`,
`delete`). They flush, never commit: the caller's unit of work decides."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, NamedTuple, TypeVar, cast

import psycopg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import QueryableAttribute, defer
from sqlmodel import Session, SQLModel, col, select
from sqlmodel.sql.expression import SelectOfScalar

from quietday.domain.status import PlanStatus, RunStatus, VisitStatus
from quietday.errors import NotFoundError
from quietday.persistence.tables import (
    AgencyCapacityRow,
    AgencyRow,
    ApiKeyRow,
    AuditHeadRow,
    AuditRow,
    CheckInRow,
    EnterpriseRow,
    FeedRenderRow,
    FeedTokenRow,
    HistoryRow,
    IdempotencyRow,
    InspectorRow,
    PlanRow,
    PolicyRow,
    RegionRow,
    RunPlanRow,
    RunRow,
    SettingRow,
    UTCDateTime,
    VisitInspectorRow,
    VisitRow,
)

__all__ = [
    "AgencyRepository",
    "ApiKeyRepository",
    "AuditRepository",
    "CapCounts",
    "DashboardRepository",
    "EnterpriseFacts",
    "EnterpriseRepository",
    "FeedRenderRepository",
    "FeedTokenRepository",
    "HistoryFacts",
    "HistoryRepository",
    "IdempotencyRepository",
    "InspectorRepository",
    "MonthTotals",
    "PairUse",
    "PlanFacts",
    "PlanFilter",
    "PlanOutcome",
    "PlanRepository",
    "PolicyRepository",
    "QuietCandidate",
    "RegionRepository",
    "RunRepository",
    "SettingRepository",
    "VisitLine",
    "VisitRepository",
]

Row = TypeVar("Row", bound=SQLModel)


class _Repository(Generic[Row]):
    model: type[Row]
    label: str = "记录"

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, key: Any) -> Row | None:
        return self.session.get(self.model, key)

    def get_or_raise(self, key: Any) -> Row:
        row = self.get(key)
        if row is None:
            raise NotFoundError(f"{self.label} {key} 不存在")
        return row

    def add(self, row: Row) -> Row:
        self.session.add(row)
        self.session.flush()
        return row

    def add_all(self, rows: Iterable[Row]) -> None:
        self.session.add_all(list(rows))
        self.session.flush()

    def delete(self, row: Row) -> None:
        self.session.delete(row)
        self.session.flush()


class RegionRepository(_Repository[RegionRow]):
    model = RegionRow
    label = "行政区划"

    def list(self) -> Sequence[RegionRow]:
        return self.session.exec(select(RegionRow).order_by(col(RegionRow.code))).all()


class PolicyRepository(_Repository[PolicyRow]):
    model = PolicyRow
    label = "安静日规则"

    def list(self) -> Sequence[PolicyRow]:
        return self.session.exec(select(PolicyRow).order_by(col(PolicyRow.id))).all()

    def by_ids(self, ids: Iterable[str]) -> Sequence[PolicyRow]:
        wanted = sorted(set(ids))
        if not wanted:
            return []
        return self.session.exec(select(PolicyRow).where(col(PolicyRow.id).in_(wanted))).all()


class SettingRepository(_Repository[SettingRow]):
    model = SettingRow
    label = "设置"

    def value(self, key: str) -> dict[str, Any]:
        row = self.get(key)
        return dict(row.value) if row is not None else {}

    def bump(self, key: str) -> None:
        """Count one more change under `key` (a generation number others compare)."""
        self.put(key, {"n": int(self.value(key).get("n", 0)) + 1})

    def put_if_absent(self, key: str, value: dict[str, Any]) -> dict[str, Any]:
        """Store `value` under `key` unless a value is there already (another process may
        store one at the same moment: the first to commit wins); the value that holds."""
        existing = self.get(key)
        if existing is not None:
            return dict(existing.value)
        try:
            with self.session.begin_nested():
                self.session.add(SettingRow(key=key, value=value))
        except sa.exc.IntegrityError:
            return self.value(key)
        return value

    def put(self, key: str, value: dict[str, Any]) -> None:
        row = self.get(key)
        if row is None:
            self.add(SettingRow(key=key, value=value))
        else:
            row.value = value
            self.session.add(row)
            self.session.flush()


class AgencyRepository(_Repository[AgencyRow]):
    model = AgencyRow
    label = "执法部门"

    def list(self, *, region_prefix: str | None = None) -> Sequence[AgencyRow]:
        query = select(AgencyRow).order_by(col(AgencyRow.id))
        if region_prefix:
            query = query.where(col(AgencyRow.region_code).startswith(region_prefix))
        return self.session.exec(query).all()

    def by_ids(self, ids: Iterable[str]) -> Sequence[AgencyRow]:
        return _by_column(self.session, AgencyRow, col(AgencyRow.id), ids)

    def capacities(
        self, agency_ids: Iterable[str], start: date, end: date
    ) -> Sequence[AgencyCapacityRow]:
        wanted = sorted(set(agency_ids))
        out: list[AgencyCapacityRow] = []
        for chunk in _chunks(wanted):
            out.extend(
                self.session.exec(
                    select(AgencyCapacityRow)
                    .where(col(AgencyCapacityRow.agency_id).in_(chunk))
                    .where(col(AgencyCapacityRow.day) >= start, col(AgencyCapacityRow.day) <= end)
                ).all()
            )
        return out

    def capacity_overrides(self, agency_id: str) -> Sequence[AgencyCapacityRow]:
        return self.session.exec(
            select(AgencyCapacityRow)
            .where(AgencyCapacityRow.agency_id == agency_id)
            .order_by(col(AgencyCapacityRow.day))
        ).all()

    def set_capacity(self, agency_id: str, day: date, capacity: int | None) -> None:
        row = self.session.get(AgencyCapacityRow, (agency_id, day))
        if capacity is None:
            if row is not None:
                self.session.delete(row)
        elif row is None:
            self.session.add(AgencyCapacityRow(agency_id=agency_id, day=day, capacity=capacity))
        else:
            row.capacity = capacity
            self.session.add(row)
        self.session.flush()


class InspectorRepository(_Repository[InspectorRow]):
    model = InspectorRow
    label = "执法人员"

    def on_visit(self, visit_id: int) -> list[int]:
        return list(
            self.session.exec(
                select(VisitInspectorRow.inspector_id).where(VisitInspectorRow.visit_id == visit_id)
            ).all()
        )

    def set_on_visit(
        self, visit_id: int, inspector_ids: Sequence[int], *, agencies: set[str]
    ) -> None:
        """Replace the inspectors of `agencies` on a visit with `inspector_ids`."""
        current = self.session.exec(
            select(VisitInspectorRow, InspectorRow)
            .join(InspectorRow, col(InspectorRow.id) == col(VisitInspectorRow.inspector_id))
            .where(VisitInspectorRow.visit_id == visit_id)
        ).all()
        for link, inspector in current:
            if inspector.agency_id in agencies and inspector.id not in inspector_ids:
                self.session.delete(link)
        present = {link.inspector_id for link, _ in current}
        self.session.add_all(
            VisitInspectorRow(visit_id=visit_id, inspector_id=i)
            for i in inspector_ids
            if i not in present
        )
        self.session.flush()

    def list(self, *, agency_id: str | None = None) -> Sequence[InspectorRow]:
        query = select(InspectorRow).order_by(col(InspectorRow.id))
        if agency_id is not None:
            query = query.where(InspectorRow.agency_id == agency_id)
        return self.session.exec(query).all()

    def by_certificate(self, number: str) -> InspectorRow | None:
        return self.session.exec(
            select(InspectorRow).where(InspectorRow.certificate_no == number)
        ).first()


class EnterpriseRepository(_Repository[EnterpriseRow]):
    model = EnterpriseRow
    label = "企业"

    def page(
        self, *, after: str | None, limit: int, region_prefix: str | None = None
    ) -> Sequence[EnterpriseRow]:
        query = select(EnterpriseRow).order_by(col(EnterpriseRow.id)).limit(limit)
        if after is not None:
            query = query.where(col(EnterpriseRow.id) > after)
        if region_prefix:
            query = query.where(col(EnterpriseRow.region_code).startswith(region_prefix))
        return self.session.exec(query).all()

    def by_ids(self, ids: Iterable[str]) -> Sequence[EnterpriseRow]:
        return _by_column(self.session, EnterpriseRow, col(EnterpriseRow.id), ids)

    def facts(self, ids: Iterable[str]) -> list[EnterpriseFacts]:
        """What a run's instance needs of these enterprises, by id (no ORM objects: a
        province's run reads 10^5)."""
        query = sa.select(*_columns(EnterpriseRow, EnterpriseFacts._fields))
        return [
            EnterpriseFacts._make(row)
            for where in _members(self.session, col(EnterpriseRow.id), ids)
            for row in self.session.execute(query.where(where))
        ]

    def count(self) -> int:
        return int(self.session.exec(select(sa.func.count()).select_from(EnterpriseRow)).one())

    def existing(self, ids: Iterable[str]) -> set[str]:
        wanted = sorted(set(ids))
        found: set[str] = set()
        for chunk in _chunks(wanted):
            found.update(
                self.session.exec(
                    select(EnterpriseRow.id).where(col(EnterpriseRow.id).in_(chunk))
                ).all()
            )
        return found


class PlanFilter:
    """What a plan listing may be narrowed by."""

    def __init__(
        self,
        *,
        agency_id: str | None = None,
        status: str | None = None,
        enterprise_id: str | None = None,
        kind: str | None = None,
        window_from: date | None = None,
        window_to: date | None = None,
    ) -> None:
        self.agency_id = agency_id
        self.status = status
        self.enterprise_id = enterprise_id
        self.kind = kind
        self.window_from = window_from
        self.window_to = window_to


def _done(by: date) -> Any:
    """A plan carried out by `by`: its agency checked in on its visit on or before that day."""
    return (
        sa.select(col(CheckInRow.id))
        .where(
            col(CheckInRow.visit_id) == col(PlanRow.visit_id),
            col(CheckInRow.agency_id) == col(PlanRow.agency_id),
            col(CheckInRow.day) <= by,
        )
        .exists()
    )


class PlanRepository(_Repository[PlanRow]):
    model = PlanRow
    label = "检查计划"

    def get_for(self, plan_id: int, agency_id: str | None) -> PlanRow:
        """The plan, if the caller (an agency, or a supervisor when `agency_id` is None) may see
        it; another agency's plan is reported missing, never forbidden."""
        row = self.get(plan_id)
        if row is None or (agency_id is not None and row.agency_id != agency_id):
            raise NotFoundError(f"检查计划 {plan_id} 不存在")
        return row

    def by_external_ref(self, agency_id: str, ref: str) -> PlanRow | None:
        return self.session.exec(
            select(PlanRow).where(PlanRow.agency_id == agency_id, PlanRow.external_ref == ref)
        ).first()

    def by_external_refs(self, agency_id: str, refs: Iterable[str]) -> dict[str, PlanRow]:
        found: dict[str, PlanRow] = {}
        for chunk in _chunks(sorted(set(refs))):
            for row in self.session.exec(
                select(PlanRow).where(
                    PlanRow.agency_id == agency_id, col(PlanRow.external_ref).in_(chunk)
                )
            ).all():
                found[str(row.external_ref)] = row
        return found

    def page(self, flt: PlanFilter, *, after: int | None, limit: int) -> Sequence[PlanRow]:
        query = select(PlanRow).order_by(col(PlanRow.id)).limit(limit)
        if after is not None:
            query = query.where(col(PlanRow.id) > after)
        if flt.agency_id is not None:
            query = query.where(PlanRow.agency_id == flt.agency_id)
        if flt.status is not None:
            query = query.where(PlanRow.status == flt.status)
        if flt.enterprise_id is not None:
            query = query.where(PlanRow.enterprise_id == flt.enterprise_id)
        if flt.kind is not None:
            query = query.where(PlanRow.kind == flt.kind)
        if flt.window_from is not None:
            query = query.where(col(PlanRow.latest) >= flt.window_from)
        if flt.window_to is not None:
            query = query.where(col(PlanRow.earliest) <= flt.window_to)
        return self.session.exec(query).all()

    def for_run(
        self, *, start: date, end: date, scope: str | None, done_by: date
    ) -> list[PlanFacts]:
        """Live plans whose window meets the horizon, of enterprises in the scope, by id; not
        those of the record for this horizon: published for a day outside it, or carried out
        by `done_by` (their agency checked in on their visit)."""
        published = col(PlanRow.status) == PlanStatus.PUBLISHED
        query = (
            sa.select(*_columns(PlanRow, PlanFacts._fields))
            .join(EnterpriseRow, col(EnterpriseRow.id) == col(PlanRow.enterprise_id))
            .where(col(PlanRow.status) != PlanStatus.CANCELLED)
            .where(col(PlanRow.earliest) <= end, col(PlanRow.latest) >= start)
            .where(
                ~sa.and_(
                    published,
                    sa.or_(col(PlanRow.published_date) < start, col(PlanRow.published_date) > end),
                )
            )
            .where(~_done(done_by))
            .order_by(col(PlanRow.id))
        )
        if scope:
            query = query.where(col(EnterpriseRow.region_code).startswith(scope))
        return [PlanFacts._make(row) for row in self.session.execute(query)]

    def published_between(
        self, *, start: date, end: date, agency_ids: Iterable[str], done_by: date
    ) -> list[PlanFacts]:
        """Plans of these agencies published for a day from `start` to `end`, by id; not those
        carried out by `done_by` (their check-ins are what happened)."""
        query = (
            sa.select(*_columns(PlanRow, PlanFacts._fields))
            .where(col(PlanRow.status) == PlanStatus.PUBLISHED)
            .where(col(PlanRow.published_date) >= start, col(PlanRow.published_date) <= end)
            .where(~_done(done_by))
        )
        out = [
            PlanFacts._make(row)
            for where in _members(self.session, col(PlanRow.agency_id), agency_ids)
            for row in self.session.execute(query.where(where))
        ]
        return sorted(out, key=lambda r: r.id)

    def published_of(
        self, enterprise_ids: Iterable[str], *, start: date, end: date, done_by: date
    ) -> list[PlanFacts]:
        """Plans of these enterprises published for a day from `start` to `end`; not those
        carried out by `done_by` (their check-ins are what happened)."""
        query = (
            sa.select(*_columns(PlanRow, PlanFacts._fields))
            .where(col(PlanRow.status) == PlanStatus.PUBLISHED)
            .where(col(PlanRow.published_date) >= start, col(PlanRow.published_date) <= end)
            .where(~_done(done_by))
        )
        return [
            PlanFacts._make(row)
            for where in _members(self.session, col(PlanRow.enterprise_id), enterprise_ids)
            for row in self.session.execute(query.where(where))
        ]

    def in_visits(self, visit_ids: Iterable[int]) -> list[PlanRow]:
        out: list[PlanRow] = []
        for chunk in _chunks(sorted(set(visit_ids))):
            out.extend(
                self.session.exec(select(PlanRow).where(col(PlanRow.visit_id).in_(chunk))).all()
            )
        return out

    def of_visits(self, visit_ids: Iterable[int]) -> list[PlanRow]:
        """The plans in these visits, and those cancelled out of them."""
        ids = sorted(set(visit_ids))
        out: list[PlanRow] = []
        for chunk in _chunks(ids):
            out.extend(
                self.session.exec(
                    select(PlanRow).where(
                        sa.or_(
                            col(PlanRow.visit_id).in_(chunk),
                            col(PlanRow.cancelled_visit_id).in_(chunk),
                        )
                    )
                ).all()
            )
        return out

    def in_visit(self, visit_id: int) -> Sequence[PlanRow]:
        return self.session.exec(
            select(PlanRow).where(PlanRow.visit_id == visit_id).order_by(col(PlanRow.id))
        ).all()

    def by_ids(self, ids: Iterable[int]) -> dict[int, PlanRow]:
        out: dict[int, PlanRow] = {}
        for where in _members(self.session, col(PlanRow.id), ids):
            for row in self.session.exec(select(PlanRow).where(where)).all():
                out[int(row.id or 0)] = row
        return out

    def count(self, *, agency_id: str | None = None) -> int:
        query = select(sa.func.count()).select_from(PlanRow)
        if agency_id is not None:
            query = query.where(PlanRow.agency_id == agency_id)
        return int(self.session.exec(query).one())


class HistoryRepository(_Repository[HistoryRow]):
    model = HistoryRow
    label = "历史检查"

    def of(self, enterprise_ids: Iterable[str], *, start: date, end: date) -> list[HistoryFacts]:
        """The imported inspections of these enterprises from `start` to `end`."""
        return self._facts(HistoryRow, enterprise_ids, start=start, end=end)

    def checked_in(
        self, enterprise_ids: Iterable[str], *, start: date, end: date
    ) -> list[HistoryFacts]:
        """The check-ins (inspections that took place) at these enterprises from `start` to
        `end`, planned or not."""
        return self._facts(CheckInRow, enterprise_ids, start=start, end=end)

    def _facts(
        self,
        model: type[HistoryRow] | type[CheckInRow],
        enterprise_ids: Iterable[str],
        *,
        start: date,
        end: date,
    ) -> list[HistoryFacts]:
        query = (
            sa.select(*_columns(model, HistoryFacts._fields))
            .where(col(model.day) >= start, col(model.day) <= end)
            .order_by(col(model.id))
        )
        return [
            HistoryFacts._make(row)
            for where in _members(self.session, col(model.enterprise_id), enterprise_ids)
            for row in self.session.execute(query.where(where))
        ]


# A run's instance and solution (megabytes at province scale) load when first read, not with
# the row: status polls, the run list and the cancel watch read the row many times a minute.
# (SQLModel types a column as its value: `defer` wants the class attribute it really is.)
_BLOBS_DEFERRED = tuple(
    defer(cast("QueryableAttribute[bytes | None]", blob))
    for blob in (RunRow.instance_gz, RunRow.solution_gz)
)


class RunRepository(_Repository[RunRow]):
    model = RunRow
    label = "排期运行"

    def get(self, key: Any) -> RunRow | None:
        return self.session.get(RunRow, key, options=_BLOBS_DEFERRED)

    def list(self, *, limit: int, after: int | None) -> Sequence[RunRow]:
        query = select(RunRow).options(*_BLOBS_DEFERRED).order_by(col(RunRow.id).desc())
        if after is not None:
            query = query.where(col(RunRow.id) < after)
        return self.session.exec(query.limit(limit)).all()

    def lock(self, run_id: int) -> RunRow:
        """The run, locked for update until the transaction ends (a no-op on SQLite, which
        serialises writers anyway)."""
        row = self.session.exec(
            select(RunRow).options(*_BLOBS_DEFERRED).where(RunRow.id == run_id).with_for_update()
        ).first()
        if row is None:
            raise NotFoundError(f"排期运行 {run_id} 不存在")
        return row

    def cancel_requested(self, run_id: int) -> bool | None:
        """Whether the run was asked to stop (None: there is no such run)."""
        return self.session.exec(select(RunRow.cancel_requested).where(RunRow.id == run_id)).first()

    def set_progress(self, run_id: int, progress: float, message: str) -> None:
        self.session.execute(
            sa.update(RunRow)
            .where(col(RunRow.id) == run_id)
            .values(progress=progress, message=message)
        )

    def lock_publishing(self) -> None:
        """Serialise publishing across processes: lock the `publish` setting row."""
        self.session.exec(
            select(SettingRow).where(SettingRow.key == "publish").with_for_update()
        ).first()

    def published_since(self, moment: datetime) -> Sequence[RunRow]:
        return self.session.exec(
            select(RunRow)
            .options(*_BLOBS_DEFERRED)
            .where(RunRow.status == RunStatus.PUBLISHED, col(RunRow.published_at) > moment)
        ).all()

    def plans(self, run_id: int) -> Sequence[RunPlanRow]:
        return self.session.exec(
            select(RunPlanRow).where(RunPlanRow.run_id == run_id).order_by(col(RunPlanRow.plan_id))
        ).all()

    def plan_versions(self, run_id: int) -> dict[int, int]:
        """The version of each plan the run saw, by plan id."""
        rows = self.session.execute(
            sa.select(col(RunPlanRow.plan_id), col(RunPlanRow.version))
            .where(col(RunPlanRow.run_id) == run_id)
            .order_by(col(RunPlanRow.plan_id))
        )
        return {int(plan_id): int(version) for plan_id, version in rows}

    def add_plans(self, run_id: int, versions: Mapping[int, int]) -> None:
        """The plans a run sees, at these versions."""
        self._insert_plans(
            ("run_id", "plan_id", "version"), [(run_id, p, v) for p, v in versions.items()]
        )

    def store_outcomes(self, run_id: int, outcomes: Sequence[PlanOutcome]) -> None:
        """What the run made of each plan it saw; then every plan still at the version the run
        saw, and not published, takes that as its draft. Set-based: a province's run has 10^5."""
        self.session.execute(sa.delete(RunPlanRow).where(col(RunPlanRow.run_id) == run_id))
        self._insert_plans(("run_id", *PlanOutcome._fields), [(run_id, *o) for o in outcomes])
        self.session.execute(
            sa.update(PlanRow)
            .where(
                col(RunPlanRow.run_id) == run_id,
                col(RunPlanRow.plan_id) == col(PlanRow.id),
                col(RunPlanRow.version) == col(PlanRow.version),
                col(PlanRow.status) != PlanStatus.PUBLISHED,
            )
            .values(
                draft_run_id=run_id,
                draft_date=RunPlanRow.day,
                reason=RunPlanRow.reason,
                detail=RunPlanRow.detail,
            )
            .execution_options(synchronize_session=False)
        )

    def _insert_plans(self, names: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        """`run_plan` rows: COPY on PostgreSQL (a province's 10^5 rows took 5.4 s as multi-row
        inserts, 1.8 s copied), multi-row inserts elsewhere."""
        if not rows:
            return
        if self.session.get_bind().dialect.name != "postgresql":
            self.session.execute(
                sa.insert(RunPlanRow), [dict(zip(names, r, strict=True)) for r in rows]
            )
            return
        conn = cast(psycopg.Connection[Any], self.session.connection().connection.driver_connection)
        copy_sql = f"COPY {RunPlanRow.__tablename__} ({', '.join(names)}) FROM STDIN"
        with conn.cursor() as cursor, cursor.copy(copy_sql) as copy:
            for row in rows:
                copy.write_row(row)

    def latest_draft(self, plan_id: int) -> RunPlanRow | None:
        return self.session.exec(
            select(RunPlanRow)
            .where(RunPlanRow.plan_id == plan_id)
            .order_by(col(RunPlanRow.run_id).desc())
        ).first()


def _visits_of_agency(agency_id: str) -> Any:
    """The visits an agency takes part in, and those its cancelled plans left."""
    return sa.union(
        sa.select(col(PlanRow.visit_id)).where(
            col(PlanRow.agency_id) == agency_id, col(PlanRow.visit_id).is_not(None)
        ),
        sa.select(col(PlanRow.cancelled_visit_id)).where(
            col(PlanRow.agency_id) == agency_id, col(PlanRow.cancelled_visit_id).is_not(None)
        ),
    )


class VisitRepository(_Repository[VisitRow]):
    model = VisitRow
    label = "入企"

    def _between(self, first: date, last: date) -> SelectOfScalar[VisitRow]:
        return (
            select(VisitRow)
            .where(col(VisitRow.day) >= first, col(VisitRow.day) <= last)
            .order_by(col(VisitRow.day), col(VisitRow.id))
        )

    def _subject(self, query: Any, kind: str, subject: str) -> Any:
        if kind == "enterprise":
            return query.where(VisitRow.enterprise_id == subject)
        if kind == "agency":
            return query.where(col(VisitRow.id).in_(_visits_of_agency(subject)))
        sent = select(VisitInspectorRow.visit_id).where(
            VisitInspectorRow.inspector_id == int(subject)
        )
        return query.where(col(VisitRow.id).in_(sent))

    def of_subject(self, kind: str, subject: str, first: date, last: date) -> Sequence[VisitRow]:
        query: SelectOfScalar[VisitRow] = self._subject(self._between(first, last), kind, subject)
        return self.session.exec(query).all()

    def page(
        self,
        *,
        after: int | None,
        limit: int,
        day_from: date | None = None,
        day_to: date | None = None,
        enterprise_id: str | None = None,
        agency_id: str | None = None,
    ) -> Sequence[VisitRow]:
        """Visits by id; with `agency_id`, those holding one of that agency's plans."""
        query = select(VisitRow).order_by(col(VisitRow.id)).limit(limit)
        if after is not None:
            query = query.where(col(VisitRow.id) > after)
        if day_from is not None:
            query = query.where(col(VisitRow.day) >= day_from)
        if day_to is not None:
            query = query.where(col(VisitRow.day) <= day_to)
        if enterprise_id is not None:
            query = query.where(VisitRow.enterprise_id == enterprise_id)
        if agency_id is not None:
            query = query.where(col(VisitRow.id).in_(_visits_of_agency(agency_id)))
        return self.session.exec(query).all()

    def checked_in(self, visit_ids: Iterable[int]) -> set[int]:
        """Those of these visits with a check-in (they are the record: nothing joins or leaves)."""
        return {
            int(vid)
            for where in _members(self.session, col(CheckInRow.visit_id), visit_ids)
            for (vid,) in self.session.execute(sa.select(col(CheckInRow.visit_id)).where(where))
        }

    def at_many(self, doors: Iterable[tuple[str, date]]) -> dict[tuple[str, date], VisitRow]:
        """The visits there are at these (enterprise, date) doors."""
        wanted = set(doors)
        if not wanted:
            return {}
        first, last = min(d for _, d in wanted), max(d for _, d in wanted)
        found: dict[tuple[str, date], VisitRow] = {}
        for chunk in _chunks(sorted({e for e, _ in wanted})):
            for row in self.session.exec(
                select(VisitRow)
                .where(col(VisitRow.enterprise_id).in_(chunk))
                .where(col(VisitRow.day) >= first, col(VisitRow.day) <= last)
            ).all():
                if (row.enterprise_id, row.day) in wanted:
                    found[(row.enterprise_id, row.day)] = row
        return found


class FeedTokenRepository(_Repository[FeedTokenRow]):
    model = FeedTokenRow
    label = "日历订阅"

    def subject_of(self, token_hash: str) -> tuple[str, str] | None:
        """(kind, subject) of a live token; None for an unknown or revoked one."""
        row = self.session.exec(
            select(FeedTokenRow.kind, FeedTokenRow.subject_id).where(
                FeedTokenRow.token_hash == token_hash, col(FeedTokenRow.revoked_at).is_(None)
            )
        ).first()
        return (row[0], row[1]) if row is not None else None

    def live(self, token_hash: str) -> FeedTokenRow | None:
        """The row of a live token; None for an unknown or revoked one."""
        return self.session.exec(
            select(FeedTokenRow).where(
                FeedTokenRow.token_hash == token_hash, col(FeedTokenRow.revoked_at).is_(None)
            )
        ).first()

    def list(self) -> Sequence[FeedTokenRow]:
        return self.session.exec(select(FeedTokenRow).order_by(col(FeedTokenRow.id))).all()


_STAMP = (
    "CAST(count(*) AS VARCHAR(20)) || '|' || COALESCE(CAST(max(v.updated_at) AS VARCHAR(60)), '')"
    " || '|' || CAST(COALESCE(sum(v.sequence), 0) AS VARCHAR(20))"
)
_WINDOW = "v.day >= :first AND v.day <= :last"
_POLL = sa.text(
    f"""
    SELECT t.kind, t.subject_id,
      CASE
        WHEN t.kind = 'enterprise' THEN
          (SELECT {_STAMP} FROM visit v WHERE v.enterprise_id = t.subject_id AND {_WINDOW})
        WHEN t.kind = 'agency' THEN
          (SELECT {_STAMP} FROM visit v WHERE {_WINDOW}
             AND v.id IN (SELECT p.visit_id FROM plan p WHERE p.agency_id = t.subject_id
                          UNION SELECT p.cancelled_visit_id FROM plan p
                          WHERE p.agency_id = t.subject_id))
        ELSE
          (SELECT {_STAMP} FROM visit v JOIN visit_inspector vi ON vi.visit_id = v.id
             WHERE CAST(vi.inspector_id AS VARCHAR(20)) = t.subject_id AND {_WINDOW})
      END || '|' || COALESCE(
        (SELECT CAST(s.value AS VARCHAR(60)) FROM setting s WHERE s.key = 'feed_generation'), ''
      ) AS stamp,
      r.version, r.etag, r.last_modified,
      CASE WHEN r.etag = :etag THEN NULL ELSE r.body END AS body
    FROM feed_token t
    LEFT JOIN feed_render r
      ON r.kind = t.kind AND r.subject_id = t.subject_id AND r.uid_domain = :domain
    WHERE t.token_hash = :hash AND t.revoked_at IS NULL
    """
).bindparams(
    sa.bindparam("first", type_=sa.Date), sa.bindparam("last", type_=sa.Date)
).columns(
    sa.column("kind", sa.String), sa.column("subject_id", sa.String), sa.column("stamp", sa.String),
    sa.column("version", sa.String), sa.column("etag", sa.String), sa.column("last_modified", UTCDateTime),
    sa.column("body", sa.LargeBinary),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class FeedPoll:
    """A live token's feed, a stamp of its visits, and the stored rendering (if any): its
    version and validators, and its body unless the client already holds that ETag."""

    kind: str
    subject_id: str
    stamp: str
    version: str | None
    etag: str | None
    last_modified: datetime | None
    body: bytes | None


def _polled(executor: Session | sa.Connection, params: dict[str, Any]) -> FeedPoll | None:
    row = executor.execute(_POLL, params).first()
    if row is None:
        return None
    return FeedPoll(
        row.kind,
        row.subject_id,
        row.stamp or "",
        row.version,
        row.etag,
        row.last_modified,
        row.body,
    )


def _poll_params(
    token_hash: str, first: date, last: date, uid_domain: str, client_etag: str
) -> dict[str, Any]:
    return {
        "hash": token_hash,
        "first": first,
        "last": last,
        "domain": uid_domain,
        "etag": client_etag,
    }


def poll_feed(
    reader: sa.Engine,
    token_hash: str,
    *,
    first: date,
    last: date,
    uid_domain: str,
    client_etag: str = "",
) -> FeedPoll | None:
    """`FeedRenderRepository.poll` on a reader engine (`make_reader`): one statement, retried
    once on a fresh connection when the server had dropped the pooled one. The stored body is
    left out when the client already holds its ETag."""
    params = _poll_params(token_hash, first, last, uid_domain, client_etag)
    try:
        with reader.connect() as conn:
            return _polled(conn, params)
    except sa.exc.DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    with reader.connect() as conn:
        return _polled(conn, params)


class FeedRenderRepository(_Repository[FeedRenderRow]):
    model = FeedRenderRow
    label = "日历渲染"

    def poll(self, token_hash: str, *, first: date, last: date, uid_domain: str) -> FeedPoll | None:
        """In one round trip: a live token's (kind, subject), a stamp of its feed's visits, and
        the stored rendering."""
        return _polled(self.session, _poll_params(token_hash, first, last, uid_domain, ""))

    def store(self, row: FeedRenderRow) -> None:
        """Keep the newest rendering; another process storing the same feed meanwhile is fine."""
        existing = self.session.get(FeedRenderRow, (row.kind, row.subject_id, row.uid_domain))
        if existing is None:
            self.session.add(row)
        else:
            existing.version, existing.etag = row.version, row.etag
            existing.last_modified, existing.body = row.last_modified, row.body
            self.session.add(existing)
        self.session.flush()


class ApiKeyRepository(_Repository[ApiKeyRow]):
    model = ApiKeyRow
    label = "API 密钥"

    def by_prefix(self, prefix: str) -> ApiKeyRow | None:
        return self.session.exec(select(ApiKeyRow).where(ApiKeyRow.prefix == prefix)).first()

    def list(self) -> Sequence[ApiKeyRow]:
        return self.session.exec(select(ApiKeyRow).order_by(col(ApiKeyRow.id))).all()


class IdempotencyRepository(_Repository[IdempotencyRow]):
    model = IdempotencyRow
    label = "幂等记录"

    def find(self, api_key_id: int, key: str) -> IdempotencyRow | None:
        return self.session.exec(
            select(IdempotencyRow).where(
                IdempotencyRow.api_key_id == api_key_id, IdempotencyRow.key == key
            )
        ).first()


class AuditRepository:
    """The append-only audit log: entries are appended, never updated or deleted (hence no
    `delete` verb here), and the head row is moved first in the appending transaction (its row
    lock serialises appenders)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def append(self, row: AuditRow) -> AuditRow:
        self.session.add(row)
        self.session.flush()
        return row

    def advance_head(self) -> tuple[int, str]:
        """Take the head for one more entry: (its seq, the hash of the entry before it). A write
        first, so that PostgreSQL locks the row and SQLite takes its write lock before reading."""
        row = self.session.execute(
            sa.update(AuditHeadRow)
            .where(col(AuditHeadRow.id) == 1)
            .values(seq=col(AuditHeadRow.seq) + 1)
            .returning(col(AuditHeadRow.seq), col(AuditHeadRow.hash))
        ).one()
        return int(row[0]), str(row[1])

    def set_head_hash(self, seq: int, digest: str) -> None:
        self.session.execute(
            sa.update(AuditHeadRow)
            .where(col(AuditHeadRow.id) == 1, col(AuditHeadRow.seq) == seq)
            .values(hash=digest)
        )

    def head(self) -> tuple[int, str]:
        row = self.session.execute(
            sa.select(col(AuditHeadRow.seq), col(AuditHeadRow.hash)).where(
                col(AuditHeadRow.id) == 1
            )
        ).one()
        return int(row[0]), str(row[1])

    def stream(self, *, upto: int, chunk: int = 1000) -> Iterator[AuditRow]:
        """Entries with seq <= `upto` in seq order, read a chunk at a time (bounded memory)."""
        after = 0
        while True:
            rows = self.session.exec(
                select(AuditRow)
                .where(col(AuditRow.seq) > after, col(AuditRow.seq) <= upto)
                .order_by(col(AuditRow.seq))
                .limit(chunk)
            ).all()
            for row in rows:
                self.session.expunge(row)
                yield row
            if len(rows) < chunk:
                return
            after = rows[-1].seq

    def page(
        self, *, after: int, limit: int, action_prefix: str | None, subject: str | None
    ) -> Sequence[AuditRow]:
        query = (
            select(AuditRow)
            .where(col(AuditRow.seq) > after)
            .order_by(col(AuditRow.seq))
            .limit(limit)
        )
        if action_prefix:
            query = query.where(col(AuditRow.action).startswith(action_prefix, autoescape=True))
        if subject is not None:
            query = query.where(AuditRow.subject == subject)
        return self.session.exec(query).all()


_CHUNK = 900  # below SQLite's default limit of bound parameters per statement


class PlanFacts(NamedTuple):
    """What a run's instance needs of a plan, read as plain columns (a quarter holds 10^5)."""

    id: int
    agency_id: str
    enterprise_id: str
    kind: str
    items: list[str]
    earliest: date
    latest: date
    priority: int
    exempt_reason: str | None
    status: str
    version: int
    draft_date: date | None
    published_date: date | None
    visit_id: int | None


class PlanOutcome(NamedTuple):
    """What a run made of one plan: its day, or why it has none."""

    plan_id: int
    version: int
    day: date | None
    reason: str | None
    detail: str | None


class EnterpriseFacts(NamedTuple):
    id: str
    name: str
    region_code: str
    quiet_policy_id: str
    blackout: list[str]
    whitelisted: bool
    cap_overrides: dict[str, int]


class HistoryFacts(NamedTuple):
    enterprise_id: str
    agency_id: str
    day: date
    kind: str


def _columns(model: type[SQLModel], names: Sequence[str]) -> list[Any]:
    """The columns of `model` of these names, in their order (a NamedTuple's `_fields`)."""
    return [getattr(model, name) for name in names]


def _members(session: Session, column: Any, values: Iterable[Any]) -> Iterator[Any]:
    """Conditions `column IN values` that together cover the distinct `values`: one array
    parameter on PostgreSQL (a single round trip, however many), chunks elsewhere."""
    wanted = sorted(set(values))
    if session.get_bind().dialect.name == "postgresql":
        yield column == sa.any_(
            sa.bindparam("members", wanted, type_=postgresql.ARRAY(column.type), unique=True)
        )
        return
    for chunk in _chunks(wanted):
        yield column.in_(chunk)


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _by_column(session: Session, model: type[Row], column: Any, values: Iterable[Any]) -> list[Row]:
    out: list[Row] = []
    for where in _members(session, column, values):
        out.extend(session.exec(select(model).where(where)).all())
    return out


_CAPPED = ("routine", "special")


@dataclass(frozen=True, slots=True)
class MonthTotals:
    """Published visits in a period: how many, their inspections, and how they were joined."""

    visits: int
    inspections: int
    joint_visits: int
    joint_inspections: int
    agency_visits: int


@dataclass(frozen=True, slots=True)
class QuietCandidate:
    """A published inspection that may fall on a quiet or blackout day of its enterprise."""

    plan_id: int
    day: date
    enterprise_id: str
    enterprise_name: str
    quiet_policy_id: str
    blackout: list[str]
    agency_id: str
    agency_name: str
    kind: str
    exempt_reason: str | None


@dataclass(frozen=True, slots=True)
class PairUse:
    """Distinct capped inspection dates of one agency at one enterprise, and the pair's cap."""

    agency_id: str
    agency_name: str
    enterprise_id: str
    enterprise_name: str
    used: int
    cap: int


@dataclass(frozen=True, slots=True)
class CapCounts:
    """How many agency-enterprise pairs are over their cap, at it, and one below it."""

    over: int
    at: int
    below: int


@dataclass(frozen=True, slots=True)
class VisitLine:
    """A published visit of one enterprise with the agencies and kinds of its inspections."""

    visit_id: int
    day: date
    lead_agency_id: str
    agencies: list[tuple[str, str]]
    kinds: list[str]
    exempt_reasons: list[str]


class DashboardRepository:
    """Aggregates of the published schedule for the supervisors' dashboard. Every query is
    bounded by a date range on `visit.day` (indexed) or by one agency or enterprise (indexed),
    and aggregates in SQL: nothing loads a month's visits into Python."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def latest_visit_day(self) -> date | None:
        latest: date | None = self.session.execute(
            sa.select(sa.func.max(col(VisitRow.day))).where(
                col(VisitRow.status) == VisitStatus.PUBLISHED
            )
        ).scalar_one()
        return latest

    def month_totals(self, first: date, last: date) -> MonthTotals:
        per_visit = (
            select(
                col(VisitRow.id).label("visit_id"),
                sa.func.count(col(PlanRow.id)).label("inspections"),
                sa.func.count(sa.distinct(col(PlanRow.agency_id))).label("agencies"),
            )
            .join(VisitRow, col(VisitRow.id) == col(PlanRow.visit_id))
            .where(
                col(PlanRow.status) == PlanStatus.PUBLISHED,
                col(VisitRow.status) == VisitStatus.PUBLISHED,
            )
            .where(col(VisitRow.day) >= first, col(VisitRow.day) <= last)
            .group_by(col(VisitRow.id))
            .subquery()
        )
        joint = per_visit.c.agencies >= 2
        row = self.session.execute(
            sa.select(
                sa.func.count(),
                sa.func.coalesce(sa.func.sum(per_visit.c.inspections), 0),
                sa.func.coalesce(sa.func.sum(sa.case((joint, 1), else_=0)), 0),
                sa.func.coalesce(
                    sa.func.sum(sa.case((joint, per_visit.c.inspections), else_=0)), 0
                ),
                sa.func.coalesce(sa.func.sum(per_visit.c.agencies), 0),
            )
        ).one()
        return MonthTotals(*(int(v) for v in row))

    def visits_per_day(self, first: date, last: date) -> dict[date, int]:
        rows = self.session.execute(
            sa.select(col(VisitRow.day), sa.func.count())
            .where(col(VisitRow.status) == VisitStatus.PUBLISHED)
            .where(col(VisitRow.day) >= first, col(VisitRow.day) <= last)
            .group_by(col(VisitRow.day))
        ).all()
        return {day: int(n) for day, n in rows}

    def inspections_by_kind(self, first: date, last: date) -> dict[str, int]:
        rows = self.session.execute(
            sa.select(col(PlanRow.kind), sa.func.count())
            .join(VisitRow, col(VisitRow.id) == col(PlanRow.visit_id))
            .where(
                col(PlanRow.status) == PlanStatus.PUBLISHED,
                col(VisitRow.status) == VisitStatus.PUBLISHED,
            )
            .where(col(VisitRow.day) >= first, col(VisitRow.day) <= last)
            .group_by(col(PlanRow.kind))
        ).all()
        return {kind: int(n) for kind, n in rows}

    def visits_per_agency(self, first: date, last: date) -> list[tuple[str, str, int]]:
        """(agency id, name, visits it takes part in), most visits first."""
        visits = sa.func.count(sa.distinct(col(VisitRow.id)))
        rows = self.session.execute(
            sa.select(col(AgencyRow.id), col(AgencyRow.name), visits)
            .join(PlanRow, col(PlanRow.agency_id) == col(AgencyRow.id))
            .join(VisitRow, col(VisitRow.id) == col(PlanRow.visit_id))
            .where(
                col(PlanRow.status) == PlanStatus.PUBLISHED,
                col(VisitRow.status) == VisitStatus.PUBLISHED,
            )
            .where(col(VisitRow.day) >= first, col(VisitRow.day) <= last)
            .group_by(col(AgencyRow.id), col(AgencyRow.name))
            .order_by(visits.desc(), col(AgencyRow.id))
        ).all()
        return [(a, name, int(n)) for a, name, n in rows]

    def most_visited(
        self, first: date, last: date, *, limit: int, agency_id: str | None = None
    ) -> list[tuple[str, str, int]]:
        """(enterprise id, name, visits), most visited first; with `agency_id`, that agency's."""
        visits = sa.func.count(sa.distinct(col(VisitRow.id)))
        query = (
            sa.select(col(EnterpriseRow.id), col(EnterpriseRow.name), visits)
            .join(VisitRow, col(VisitRow.enterprise_id) == col(EnterpriseRow.id))
            .where(col(VisitRow.status) == VisitStatus.PUBLISHED)
            .where(col(VisitRow.day) >= first, col(VisitRow.day) <= last)
            .group_by(col(EnterpriseRow.id), col(EnterpriseRow.name))
            .order_by(visits.desc(), col(EnterpriseRow.id))
            .limit(limit)
        )
        if agency_id is not None:
            query = query.join(PlanRow, col(PlanRow.visit_id) == col(VisitRow.id)).where(
                col(PlanRow.agency_id) == agency_id, col(PlanRow.status) == PlanStatus.PUBLISHED
            )
        return [(e, name, int(n)) for e, name, n in self.session.execute(query).all()]

    def quiet_candidates(
        self, first: date, last: date, quiet: dict[str, list[date]]
    ) -> list[QuietCandidate]:
        """Published inspections on one of their policy's `quiet` dates, or on a date written
        in their enterprise's blackout list (the caller checks each exactly)."""
        on_quiet = [
            sa.and_(col(EnterpriseRow.quiet_policy_id) == policy, col(VisitRow.day).in_(days))
            for policy, days in sorted(quiet.items())
            if days
        ]
        on_blackout = sa.cast(EnterpriseRow.blackout, sa.String).like(
            sa.literal("%") + sa.cast(VisitRow.day, sa.String) + sa.literal("%")
        )
        rows = self.session.execute(
            sa.select(
                col(PlanRow.id),
                col(VisitRow.day),
                col(EnterpriseRow.id),
                col(EnterpriseRow.name),
                col(EnterpriseRow.quiet_policy_id),
                col(EnterpriseRow.blackout),
                col(AgencyRow.id),
                col(AgencyRow.name),
                col(PlanRow.kind),
                col(PlanRow.exempt_reason),
            )
            .join(VisitRow, col(VisitRow.id) == col(PlanRow.visit_id))
            .join(EnterpriseRow, col(EnterpriseRow.id) == col(VisitRow.enterprise_id))
            .join(AgencyRow, col(AgencyRow.id) == col(PlanRow.agency_id))
            .where(
                col(PlanRow.status) == PlanStatus.PUBLISHED,
                col(VisitRow.status) == VisitStatus.PUBLISHED,
            )
            .where(col(VisitRow.day) >= first, col(VisitRow.day) <= last)
            .where(sa.or_(*on_quiet, on_blackout))
            .order_by(col(VisitRow.day), col(PlanRow.id))
        ).all()
        return [
            QuietCandidate(
                int(r[0] or 0), r[1], r[2], r[3], r[4], list(r[5]), r[6], r[7], r[8], r[9]
            )
            for r in rows
        ]

    def _cap_of_enterprise(self, default_cap: int | None) -> Any:
        """`agency_enterprise_per_year` of each enterprise in SQL: its override when it has one
        (an explicit JSON null there means no cap), else `default_cap` (None: no cap)."""
        key = "agency_enterprise_per_year"
        overrides = col(EnterpriseRow.cap_overrides)
        if self.session.get_bind().dialect.name == "sqlite":
            explicit_null = sa.func.json_type(overrides, f'$."{key}"') == "null"
        else:
            explicit_null = sa.func.json_typeof(overrides.op("->")(key)) == "null"
        fallback = sa.literal(default_cap, sa.Integer)
        return sa.case(
            (explicit_null, sa.null()),
            else_=sa.func.coalesce(overrides[key].as_integer(), fallback),
        )

    def cap_pairs(
        self,
        first: date,
        last: date,
        *,
        default_cap: int | None,
        agency_id: str | None = None,
        limit: int,
    ) -> tuple[CapCounts, list[PairUse]]:
        """Agency-enterprise pairs whose distinct capped dates (routine and special, published
        or imported as history) between `first` and `last` reach their cap minus one: how many
        are over, at and one below the cap, and the first `limit` of them, most over first."""
        planned = (
            sa.select(col(PlanRow.agency_id), col(PlanRow.enterprise_id), col(VisitRow.day))
            .join(VisitRow, col(VisitRow.id) == col(PlanRow.visit_id))
            .where(
                col(PlanRow.status) == PlanStatus.PUBLISHED,
                col(VisitRow.status) == VisitStatus.PUBLISHED,
            )
            .where(col(PlanRow.kind).in_(_CAPPED))
            .where(col(VisitRow.day) >= first, col(VisitRow.day) <= last)
        )
        history = (
            sa.select(col(HistoryRow.agency_id), col(HistoryRow.enterprise_id), col(HistoryRow.day))
            .where(col(HistoryRow.kind).in_(_CAPPED))
            .where(col(HistoryRow.day) >= first, col(HistoryRow.day) <= last)
        )
        if agency_id is not None:
            planned = planned.where(col(PlanRow.agency_id) == agency_id)
            history = history.where(col(HistoryRow.agency_id) == agency_id)
        dates = sa.union(planned, history).subquery()
        used = (
            sa.select(dates.c.agency_id, dates.c.enterprise_id, sa.func.count().label("used"))
            .group_by(dates.c.agency_id, dates.c.enterprise_id)
            .subquery()
        )
        cap = self._cap_of_enterprise(default_cap)
        near = (
            sa.select(
                used.c.agency_id,
                col(AgencyRow.name).label("agency_name"),
                used.c.enterprise_id,
                col(EnterpriseRow.name).label("enterprise_name"),
                used.c.used,
                cap.label("cap"),
            )
            .join(AgencyRow, col(AgencyRow.id) == used.c.agency_id)
            .join(EnterpriseRow, col(EnterpriseRow.id) == used.c.enterprise_id)
            .where(cap.is_not(None), used.c.used >= cap - 1)
            .subquery()
        )
        # One pass: the counts are window sums over every pair, taken before the LIMIT.
        rows = self.session.execute(
            sa.select(
                near,
                sa.func.sum(sa.case((near.c.used > near.c.cap, 1), else_=0)).over(),
                sa.func.sum(sa.case((near.c.used == near.c.cap, 1), else_=0)).over(),
                sa.func.sum(sa.case((near.c.used < near.c.cap, 1), else_=0)).over(),
            )
            .order_by((near.c.used - near.c.cap).desc(), near.c.agency_id, near.c.enterprise_id)
            .limit(limit)
        ).all()
        counts = CapCounts(*(int(n) for n in rows[0][6:])) if rows else CapCounts(0, 0, 0)
        return counts, [PairUse(r[0], r[1], r[2], r[3], int(r[4]), int(r[5])) for r in rows]

    def visit_lines(self, enterprise_id: str, first: date, last: date) -> list[VisitLine]:
        """The enterprise's published visits between two dates, with their agencies."""
        rows = self.session.execute(
            sa.select(
                col(VisitRow.id),
                col(VisitRow.day),
                col(VisitRow.lead_agency_id),
                col(AgencyRow.id),
                col(AgencyRow.name),
                col(PlanRow.kind),
                col(PlanRow.exempt_reason),
            )
            .join(PlanRow, col(PlanRow.visit_id) == col(VisitRow.id))
            .join(AgencyRow, col(AgencyRow.id) == col(PlanRow.agency_id))
            .where(
                col(VisitRow.enterprise_id) == enterprise_id,
                col(VisitRow.status) == VisitStatus.PUBLISHED,
            )
            .where(col(PlanRow.status) == PlanStatus.PUBLISHED)
            .where(col(VisitRow.day) >= first, col(VisitRow.day) <= last)
            .order_by(col(VisitRow.day), col(AgencyRow.id), col(PlanRow.id))
        ).all()
        lines: dict[int, VisitLine] = {}
        for vid, day, lead, agency, name, kind, reason in rows:
            line = lines.setdefault(int(vid or 0), VisitLine(int(vid or 0), day, lead, [], [], []))
            if (agency, name) not in line.agencies:
                line.agencies.append((agency, name))
            line.kinds.append(kind)
            if reason:
                line.exempt_reasons.append(reason)
        return list(lines.values())

    def agency_days(self, agency_id: str, first: date, last: date) -> dict[date, int]:
        """Visits the agency takes part in, per day."""
        rows = self.session.execute(
            sa.select(col(VisitRow.day), sa.func.count(sa.distinct(col(VisitRow.id))))
            .join(PlanRow, col(PlanRow.visit_id) == col(VisitRow.id))
            .where(col(PlanRow.agency_id) == agency_id, col(PlanRow.status) == PlanStatus.PUBLISHED)
            .where(col(VisitRow.status) == VisitStatus.PUBLISHED)
            .where(col(VisitRow.day) >= first, col(VisitRow.day) <= last)
            .group_by(col(VisitRow.day))
        ).all()
        return {day: int(n) for day, n in rows}

    def agencies_with_visits(self, first: date, last: date) -> list[tuple[AgencyRow, int]]:
        """Every agency with the visits it takes part in between two dates (zero included),
        the busiest first."""
        visits = (
            select(PlanRow.agency_id, sa.func.count(sa.distinct(col(VisitRow.id))).label("visits"))
            .join(VisitRow, col(VisitRow.id) == col(PlanRow.visit_id))
            .where(
                col(PlanRow.status) == PlanStatus.PUBLISHED,
                col(VisitRow.status) == VisitStatus.PUBLISHED,
            )
            .where(col(VisitRow.day) >= first, col(VisitRow.day) <= last)
            .group_by(col(PlanRow.agency_id))
            .subquery()
        )
        taken = sa.func.coalesce(visits.c.visits, 0)
        rows = self.session.execute(
            sa.select(AgencyRow, taken)
            .outerjoin(visits, visits.c.agency_id == col(AgencyRow.id))
            .order_by(taken.desc(), col(AgencyRow.id))
        ).all()
        return [(agency, int(n)) for agency, n in rows]

    def search_enterprises(self, text: str, *, limit: int) -> Sequence[EnterpriseRow]:
        """Enterprises whose name contains `text` or whose code starts with it."""
        pattern = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return self.session.exec(
            select(EnterpriseRow)
            .where(
                sa.or_(
                    col(EnterpriseRow.name).like(f"%{pattern}%", escape="\\"),
                    col(EnterpriseRow.id).like(f"{pattern.upper()}%", escape="\\"),
                )
            )
            .order_by(col(EnterpriseRow.id))
            .limit(limit)
        ).all()
