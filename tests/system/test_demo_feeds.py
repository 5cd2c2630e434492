"""The bar of the feeds issue: every feed the demo publishes parses in all three independent
parsers with zero errors, and its event count equals the database's; and the demo's 双随机
rounds and inspector draws hold up from outside."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import vobject
from fastapi.testclient import TestClient
from ical.calendar_stream import IcsCalendarStream
from typer.testing import CliRunner

from feedcheck import event_count, icaljs, own_problems
from helpers import assert_flags_agree_with_check
from quietday.api import create_app
from quietday.cli import app as cli
from quietday.config import Settings
from quietday.domain import find_violations
from quietday.domain.status import CheckOutcome
from quietday.formats import load_instance, load_solution
from quietday.persistence import make_engine, session_scope
from quietday.persistence.crew import InspectorConflictRepository
from quietday.persistence.registry import InspectorRepository
from quietday.persistence.sampling import SamplingRepository
from quietday.planning.frequency import VIOLATIONS, frequency_page
from quietday.planning.sampling import verify_round

NOW = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
TODAY = date(2026, 11, 28)
FIRST, LAST = TODAY - timedelta(days=90), TODAY + timedelta(days=366)

# Independent of the feed code: the rules of what each subscriber sees, written as SQL.
ANNOUNCEABLE = "p.kind <> 'case' AND p.exempt_reason IS NULL AND NOT p.unannounced"
COUNTS = {
    "enterprise": f"""SELECT count(*) FROM visit v WHERE v.enterprise_id = :s AND v.day BETWEEN :first AND :last
        AND v.status = 'published' AND (v.day < :today OR EXISTS (SELECT 1 FROM plan p WHERE p.visit_id = v.id
        AND p.status = 'published' AND {ANNOUNCEABLE}))""",
    "agency": """SELECT count(*) FROM visit v WHERE v.day BETWEEN :first AND :last AND v.status = 'published'
        AND EXISTS (SELECT 1 FROM plan p WHERE p.visit_id = v.id AND p.agency_id = :s AND p.status = 'published')""",
    "inspector": """SELECT count(*) FROM visit v JOIN visit_inspector vi ON vi.visit_id = v.id
        WHERE vi.inspector_id = :s AND v.day BETWEEN :first AND :last AND v.status = 'published'""",
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo, once for this module: a small province solved, published and checked into."""
    out = tmp_path_factory.mktemp("demo")
    r = CliRunner().invoke(
        cli,
        ["demo", "--out", str(out), "--enterprises", "400", "--time-limit", "4", "--no-serve",
         "--today", TODAY.isoformat()],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    return out


@pytest.mark.slow
def test_every_demo_feed_parses_everywhere_and_counts_right(demo: Path) -> None:
    url = f"sqlite:///{demo / 'quietday.db'}"
    engine = make_engine(url)
    feeds = [line.split("\t") for line in (demo / "feeds.txt").read_text("utf-8").splitlines()]
    assert {k for k, _, _ in feeds} == {"enterprise", "agency", "inspector"}
    app = create_app(Settings(database_url=url, runner="thread"), engine=engine, clock=lambda: NOW)
    bodies: list[bytes] = []
    with TestClient(app) as client, engine.connect() as db:
        for kind, subject, link in feeds:
            response = client.get(link.split("127.0.0.1:8000", 1)[1])
            assert response.status_code == 200
            body = response.content
            expected = db.execute(
                sa.text(COUNTS[kind]),
                {
                    "s": int(subject) if kind == "inspector" else subject,
                    "first": FIRST,
                    "last": LAST,
                    "today": TODAY,
                },
            ).scalar_one()
            assert own_problems(body) == [], (kind, subject)
            assert event_count(body) == expected, (kind, subject)
            text = body.decode("utf-8")
            assert len(getattr(vobject.readOne(text, validate=True), "vevent_list", [])) == expected
            assert len(IcsCalendarStream.calendar_from_ics(text).events) == expected
            bodies.append(body)
    assert sum(event_count(b) for b in bodies) > 0
    for (kind, subject, _), parsed, body in zip(feeds, icaljs(bodies), bodies, strict=True):
        assert parsed["ok"], (kind, subject, parsed)
        assert len(parsed["events"]) == event_count(body)
    engine.dispose()


@pytest.mark.slow
def test_demo_check_in_flags_and_audit_agree_with_quietday_check(
    demo: Path, tmp_path: Path
) -> None:
    """The bar of the supervision issue: every flag and violation the audit reports on the demo
    data agrees with `quietday check` on the same check-ins."""
    engine = make_engine(f"sqlite:///{demo / 'quietday.db'}")
    year = 2026  # the demo's today is in the last quarter of 2026
    breaches = assert_flags_agree_with_check(engine, year, tmp_path)
    assert breaches > 0, "the demo simulates quiet-day entries: the checker must find them"
    with engine.connect() as db:
        violating = db.execute(
            sa.text(
                "SELECT count(DISTINCT f.check_in_id) FROM check_in_flag f JOIN check_in c "
                "ON c.id = f.check_in_id WHERE f.code IN :codes AND c.day BETWEEN :a AND :b"
            ).bindparams(sa.bindparam("codes", expanding=True)),
            {"codes": sorted(VIOLATIONS), "a": date(year, 1, 1), "b": date(year, 12, 31)},
        ).scalar_one()
    with session_scope(engine) as s:
        cities = frequency_page(s, dim="city", period=str(year), limit=500).rows
    assert sum(r.violations for r in cities) == violating > 0
    instance = load_instance(tmp_path / "actuals-instance.json")
    checked = find_violations(instance, load_solution(tmp_path / "actuals-solution.json"))
    assert sum(r.quiet_day for r in cities) == sum(1 for v in checked if v.code == "quiet_day")
    assert sum(r.flags.get("not_working_day", 0) for r in cities) == sum(
        1 for v in checked if v.code == "not_working_day"
    )
    engine.dispose()


@pytest.mark.slow
def test_the_demo_draws_its_rounds_openly_and_its_crews_by_the_rules(demo: Path) -> None:
    """双随机 in the demo: each round re-runs from its revealed seed to the stored sample; the
    past round's results are public on its page; and no team drawn for a visit ahead holds an
    inspector whose certificate has lapsed or one with a declared 回避 at that enterprise."""
    url = f"sqlite:///{demo / 'quietday.db'}"
    engine = make_engine(url)
    with session_scope(engine) as s:
        rounds = sorted(SamplingRepository(s).rounds(limit=10), key=lambda r: r.id or 0)
        assert [r.drawn_at is not None for r in rounds] == [True, True]
        for r in rounds:
            found = verify_round(s, int(r.id or 0))
            assert (found.commitment_ok, found.digest_ok, found.same_sample) == (True, True, True)
            assert found.stored > 0
        results = s.execute(sa.text("SELECT count(*) FROM check_result")).scalar_one()
        lapsed = {
            int(i.id or 0)
            for i in InspectorRepository(s).list()
            if i.certified_until is not None and i.certified_until < TODAY
        }
        declared = {
            (c.inspector_id, c.enterprise_id)
            for a in {i.agency_id for i in InspectorRepository(s).list()}
            for c in InspectorConflictRepository(s).of_agency(a)
        }
        sent = s.execute(
            sa.text(
                "SELECT vi.inspector_id, v.enterprise_id FROM visit_inspector vi "
                "JOIN visit v ON v.id = vi.visit_id WHERE v.day >= :today"
            ),
            {"today": TODAY},
        ).all()
    assert results > 0
    assert lapsed
    assert declared
    assert sent
    assert not {i for i, _ in sent} & lapsed
    assert not {(i, e) for i, e in sent} & declared
    app = create_app(Settings(database_url=url, runner="thread"), engine=engine, clock=lambda: NOW)
    with TestClient(app) as client:
        page = client.get(f"/public/sampling/{rounds[0].id}")
    assert page.status_code == 200
    assert any(o.label in page.text for o in CheckOutcome)
