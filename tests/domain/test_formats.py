"""Reading and writing both formats: every problem named by record and field, in Chinese."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from typing import Any, get_args

import pytest

from helpers import FIXTURES, doc, insp, load
from quietday.domain import Instance, Reason, Solution, SolveStats, Status, Unscheduled, Visit
from quietday.domain.model import Kind, KindName
from quietday.errors import InstanceError, Problem, SolutionError
from quietday.formats import (
    dump_instance,
    dump_solution,
    parse_instance,
    parse_solution,
)
from quietday.formats import instance as instance_format


def problems(d: dict[str, Any]) -> list[Problem]:
    with pytest.raises(InstanceError) as err:
        load(d)
    return list(err.value.problems)


def codes(d: dict[str, Any]) -> list[str]:
    return [p.code for p in problems(d)]


def test_spec_example_is_refused_for_its_own_pin() -> None:
    """The spec's example caps the agency at 1 inspection a year for this enterprise, has it in
    the history on 2026-03-25, and pins a routine inspection on 2026-07-21: two dates."""
    with pytest.raises(InstanceError) as err:
        parse_instance((FIXTURES / "spec-example.json").read_bytes())
    (p,) = err.value.problems
    assert (p.code, p.path, p.record) == ("pin_cap_agency_enterprise_year", "pinned[0]", "P-000001")
    assert "2026-03-25(历史)" in p.message


def test_spec_example_with_a_cap_of_two_is_read() -> None:
    inst = parse_instance((FIXTURES / "spec-example-valid.json").read_bytes())
    assert inst.name == "jx-2026q3"
    assert [i.id for i in inst.inspections] == ["P-000001"]
    assert inst.pins == {"P-000001": date(2026, 7, 21)}
    caps = inst.caps_for("91360100MA35XXXXXX")  # type: ignore[arg-type]
    assert (caps.agency_enterprise_per_year, caps.enterprise_per_month) == (2, 1)
    assert inst.agencies["360102-SCJG"].capacity_on(date(2026, 7, 24)) == 0  # type: ignore[index]


def test_inverted_window_is_named_like_the_issue_says() -> None:
    d = doc(
        inspections=[insp(f"P-{k:06d}") for k in range(1, 18)]
        + [insp("P-000018", earliest="2026-07-05", latest="2026-07-01")]
    )
    (p,) = problems(d)
    assert p.code == "window_inverted"
    assert str(p) == "inspections[17] (P-000018): latest 2026-07-01 早于 earliest 2026-07-05"


@pytest.mark.parametrize(
    ("change", "code", "path"),
    [
        ({"agency": "NOPE"}, "unknown_agency", "inspections[0]"),
        ({"enterprise": "NOPE"}, "unknown_enterprise", "inspections[0]"),
        ({"kind": "surprise"}, "unknown_kind", "inspections[0]"),
        ({"priority": 0}, "priority_range", "inspections[0]"),
        ({"priority": 101}, "priority_range", "inspections[0]"),
        ({"priority": "high"}, "wrong_type", "inspections[0]"),
        ({"earliest": "2026-7-1"}, "bad_date", "inspections[0]"),
        ({"latest": "2026-02-30"}, "bad_date", "inspections[0]"),
        (
            {"earliest": "2026-10-01", "latest": "2026-10-31"},
            "window_outside_horizon",
            "inspections[0]",
        ),
    ],
)
def test_bad_inspection_fields(change: dict[str, Any], code: str, path: str) -> None:
    d = doc(inspections=[{**insp("P-1"), **change}])
    (p,) = problems(d)
    assert (p.code, p.path, p.record) == (code, path, "P-1")
    assert any("\u4e00" <= ch <= "\u9fff" for ch in p.message)


def test_missing_required_key_names_record_and_key() -> None:
    bad = insp("P-1")
    del bad["latest"]
    (p,) = problems(doc(inspections=[bad]))
    assert (p.code, p.path, p.record) == ("missing_key", "inspections[0]", "P-1")
    assert "latest" in p.message


def test_every_problem_is_reported_not_just_the_first() -> None:
    d = doc(inspections=[insp("P-1", agency="X"), insp("P-1"), insp("P-2", priority=500)])
    assert codes(d) == ["unknown_agency", "duplicate_id", "priority_range"]


def test_duplicate_and_unknown_references_in_every_section() -> None:
    d = doc()
    d["agencies"].append(dict(d["agencies"][0]))
    d["enterprises"][1]["quiet_policy"] = "nowhere"
    d["history"] = [{"enterprise": "E9", "agency": "A", "date": "2026-03-02", "kind": "routine"}]
    found = {(p.code, p.path) for p in problems(d)}
    assert found == {
        ("duplicate_id", "agencies[2]"),
        ("unknown_policy", "enterprises[1]"),
        ("unknown_enterprise", "history[0]"),
    }


def test_bad_policy_caps_and_capacity() -> None:
    d = doc(caps={"enterprise_per_month": -1, "per_week": 3})
    d["quiet_policies"].append({"id": "odd", "month_days": [[20, 1]], "weekdays": [8]})
    d["agencies"][0]["capacity_by_date"] = {"2026-07-21": -2, "soon": 1}
    found = sorted(p.code for p in problems(d))
    assert found == [
        "bad_date",
        "bad_policy_rule",
        "bad_policy_rule",
        "negative_number",
        "negative_number",
        "unknown_cap",
    ]


def test_not_json_and_wrong_format() -> None:
    with pytest.raises(InstanceError) as err:
        parse_instance(b"{not json")
    assert err.value.problems[0].code == "json_invalid"
    with pytest.raises(InstanceError) as err:
        parse_instance(json.dumps({"format": "quietday.solution/1"}))
    assert err.value.problems[0].code == "format_unknown"


def test_pin_on_a_quiet_day_is_refused_and_named() -> None:
    d = doc(inspections=[insp("P-1")], pinned=[{"inspection": "P-1", "date": "2026-07-10"}])
    (p,) = problems(d)
    assert (p.code, p.path, p.record) == ("pin_quiet_day", "pinned[0]", "P-1")


def test_pins_that_break_capacity_together_are_refused() -> None:
    d = doc(
        inspections=[insp("P-1"), insp("P-2", enterprise="E2")],
        pinned=[
            {"inspection": "P-1", "date": "2026-07-21"},
            {"inspection": "P-2", "date": "2026-07-21"},
        ],
    )
    d["agencies"][0]["daily_capacity"] = 1
    (p,) = problems(d)
    assert p.code == "pin_capacity"


def test_pin_breaking_a_cap_with_history_is_refused() -> None:
    d = doc(
        caps={"agency_enterprise_per_year": 1},
        inspections=[insp("P-1")],
        history=[{"enterprise": "E1", "agency": "A", "date": "2026-03-24", "kind": "routine"}],
        pinned=[{"inspection": "P-1", "date": "2026-07-21"}],
    )
    (p,) = problems(d)
    assert p.code == "pin_cap_agency_enterprise_year"


def test_pins_and_previous_of_absent_inspections_have_no_effect() -> None:
    inst = load(
        doc(pinned=[{"inspection": "GONE", "date": "2026-07-10"}], previous={"GONE": "2026-07-21"})
    )
    assert inst.pins == {}


def test_instance_round_trip_is_stable() -> None:
    inst = parse_instance((FIXTURES / "spec-example-valid.json").read_bytes())
    text = dump_instance(inst)
    again = parse_instance(text)
    assert dump_instance(again) == text
    assert again.inspections == inst.inspections


def test_solution_round_trip() -> None:
    sol = Solution(
        "x",
        (Visit("E1", date(2026, 7, 21), ("P-1", "P-2"), "A"),),  # type: ignore[arg-type]
        (Unscheduled("P-3", Reason.CAP, "上限"),),  # type: ignore[arg-type]
        SolveStats(
            Status.OPTIMAL, scheduled=2, visits=1, wall_seconds=1.5, extra={"method": "cpsat"}
        ),
    )
    text = dump_solution(sol)
    assert parse_solution(text) == sol
    assert "上限" in text  # written as UTF-8, not \\u escapes


def test_bad_solution_is_refused_with_paths() -> None:
    text = json.dumps(
        {
            "format": "quietday.solution/1",
            "instance": "x",
            "visits": [
                {"enterprise": "E1", "date": "21/07", "inspections": ["P-1"], "lead_agency": "A"}
            ],
            "unscheduled": [{"inspection": "P-2", "reason": "bored", "detail": ""}],
        }
    )
    with pytest.raises(SolutionError) as err:
        parse_solution(text)
    assert [(p.code, p.path) for p in err.value.problems] == [
        ("bad_date", "visits[0]"),
        ("unknown_reason", "unscheduled[0]"),
    ]


def test_the_kind_names_people_type_are_the_kinds() -> None:
    assert get_args(KindName) == tuple(k.value for k in Kind)


@pytest.mark.parametrize(
    ("agency_change", "code"),
    [
        ({"daily_capacity": None}, "wrong_type"),
        ({"capacity_by_date": {"2026-07-24": None}}, "wrong_type"),
    ],
)
def test_null_capacity_is_a_named_error(agency_change: dict[str, object], code: str) -> None:
    d = doc(inspections=[insp("P1")])
    d["agencies"][0].update(agency_change)
    with pytest.raises(InstanceError) as err:
        load(d)
    (p,) = err.value.problems
    assert (p.code, p.path, p.record) == (code, "agencies[0]", "A")


@pytest.mark.parametrize(
    "stats",
    [
        {"status": "optimal", "scheduled": "abc"},
        {"status": "optimal", "scheduled": {"a": 1}},
        {"status": [], "scheduled": 1},
        {"status": "optimal", "wall_seconds": "fast"},
    ],
)
def test_malformed_stats_are_refused_cleanly(stats: dict[str, object]) -> None:
    text = json.dumps(
        {
            "format": "quietday.solution/1",
            "instance": "x",
            "visits": [],
            "unscheduled": [],
            "stats": stats,
        }
    )
    with pytest.raises(SolutionError):
        parse_solution(text)


@pytest.mark.parametrize(
    "text",
    [
        '{"format": "quietday.instance/1", "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"format": "quietday.instance/1", "x": ' + "1" * 5000 + "}",
        '{"format": "quietday.instance/1", "name": "P\\ud800"}',
    ],
)
def test_hostile_json_is_refused_cleanly(text: str) -> None:
    with pytest.raises(InstanceError):
        parse_instance(text)


def test_each_date_is_read_once_and_each_bad_one_reported_where_it_is() -> None:
    """A date text read again is the same `date`; a bad one is reported at every record."""
    good = load(doc(inspections=[insp("P-1"), insp("P-2")]))
    first, second = good.inspections
    assert first.earliest is second.earliest
    assert first.latest is second.latest
    bad = doc(inspections=[insp("P-1", latest="2026-02-30"), insp("P-2", latest="2026-02-30")])
    found = [(p.code, p.path) for p in problems(bad)]
    assert found == [("bad_date", "inspections[0]"), ("bad_date", "inspections[1]")]


@pytest.mark.parametrize("as_bytes", [False, True])
def test_a_lone_surrogate_is_found_in_text_and_in_a_files_bytes(as_bytes: bool) -> None:
    """A file is read as bytes: the escape of a lone surrogate is found there as in text."""
    text = json.dumps(doc(name="LONE")).replace('"LONE"', '"P\\ud800"')
    with pytest.raises(InstanceError) as caught:
        parse_instance(text.encode() if as_bytes else text)
    assert [p.code for p in caught.value.problems] == ["bad_text"]
    fixed = text.replace("\\ud800", "\\u4e2d")
    assert parse_instance(fixed.encode() if as_bytes else fixed).name == "P中"


# Values of each JSON type, the edge cases of ids, ranges and dates among them.
_ODD_VALUES: list[Any] = [
    None, True, False, 0, 1, 100, 101, -1, 1.5, "", " ", "A", "E1", "E9", "routine",
    "special", "2026-07-22", "2026-06-30", "2026-10-01", "2026-02-30", "2026-7-1", [],
    ["X-1"], [1], [[]], ["2026-07-22"], ["2026-02-30"], {}, {"min_gap_days": 3}, {"x": 1},
    {"min_gap_days": None}, {"min_gap_days": -1}, {"min_gap_days": True}, {"min_gap_days": 1.5},
]  # fmt: skip
# Changes of an inspection's window as a whole: before, after and around the horizon.
_WINDOWS = [
    {"earliest": "2026-06-30", "latest": "2026-06-30"},
    {"earliest": "2026-10-01", "latest": "2026-10-01"},
    {"earliest": "2026-06-30", "latest": "2026-10-01"},
]
_GONE = object()


def _changed(record: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    out = dict(record)
    if value is _GONE:
        del out[key]
    else:
        out[key] = value
    return out


def _outcome(d: dict[str, Any]) -> Any:
    try:
        return load(d)
    except InstanceError as exc:
        return exc.problems


def _variants() -> list[dict[str, Any]]:
    """Documents with one field of one enterprise, inspection or history record changed to
    each odd value (or removed). The first enterprise's blackout holds the odd values' dates,
    so that they are known when the changed record is read."""
    first, second = doc()["enterprises"]
    first = {**first, "blackout": ["2026-06-30", "2026-07-22", "2026-10-01"]}
    good_ent = {**second, "blackout": ["2026-07-22"], "whitelisted": False, "caps": {}}
    good_insp = insp("P-2", earliest="2026-07-22", latest="2026-07-22")
    good_hist = {"enterprise": "E1", "agency": "A", "date": "2026-07-22", "kind": "routine"}
    out = []
    for key in good_ent:
        for value in [_GONE, *_ODD_VALUES]:
            ents = [first, _changed(good_ent, key, value)]
            out.append(doc(enterprises=ents, inspections=[good_insp]))
    changes = [(key, value) for key in good_insp for value in [_GONE, *_ODD_VALUES]]
    for change in [*(dict([kv]) for kv in changes), *_WINDOWS]:
        changed = {**good_insp, "id": "P-3"}
        for key, value in change.items():
            changed = _changed(changed, key, value)
        out.append(doc(enterprises=[first, second], inspections=[good_insp, changed]))
    for key in good_hist:
        for value in [_GONE, *_ODD_VALUES]:
            history = [good_hist, _changed(good_hist, key, value)]
            out.append(doc(enterprises=[first, second], inspections=[good_insp], history=history))
    return out


def test_records_read_in_one_go_are_read_as_the_full_reading_reads_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every record the one-go readers take is valid, and becomes what the full reading, which
    names each problem, makes of it: each variant parses to the same instance, or fails with
    the same problems, with those readers turned off."""
    readers = ("_plain_enterprise", "_plain_inspection", "_plain_history")
    taken: Counter[str] = Counter()

    def counted(name: str) -> Any:
        reader = getattr(instance_format, name)

        def read(*args: Any) -> Any:
            made = reader(*args)
            taken[name] += made is not None
            return made

        return read

    variants = _variants()
    for name in readers:
        monkeypatch.setattr(instance_format, name, counted(name))
    fast = [_outcome(d) for d in variants]
    for name in readers:
        monkeypatch.setattr(instance_format, name, lambda *args: None)
    full = [_outcome(d) for d in variants]
    assert fast == full
    parsed = sum(1 for o in full if isinstance(o, Instance))
    assert 50 < parsed < len(variants) - 300, parsed  # both outcomes well represented
    assert all(taken[name] > 50 for name in readers), taken
