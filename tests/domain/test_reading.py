"""A document read a piece at a time (`formats.reader.JsonText`): the same instance and solution
as from the whole text, the same JSON errors with the whole text's line and column, members in
any order, and a province's repeated values held once."""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import doc, insp, load
from quietday.errors import InstanceError, SolutionError
from quietday.formats import (
    dump_instance,
    dump_solution,
    load_instance,
    parse_instance,
    parse_solution,
)
from quietday.generate import GeneratorConfig, generate
from quietday.solver import SolverConfig, solve


def _pieces(data: bytes, seed: int) -> Callable[[int], bytes]:
    """Reads `data` in pieces of 1 to 12 bytes, whatever size is asked for: every boundary
    falls inside some token, escape and multi-byte character."""
    rnd, at = random.Random(seed), 0

    def read(size: int) -> bytes:
        nonlocal at
        n = min(size, rnd.randint(1, 12))
        piece = data[at : at + n]
        at += len(piece)
        return piece

    return read


@pytest.fixture(scope="module")
def county() -> str:
    return dump_instance(generate(GeneratorConfig(enterprises=150, seed=3, counties=1)))


def test_a_document_read_a_few_bytes_at_a_time_is_the_instance_of_its_whole_text(
    county: str,
) -> None:
    whole = parse_instance(county)
    assert len(whole.inspections) > 100
    assert any(not e.name.isascii() for e in whole.enterprises.values())
    for seed in range(3):
        assert parse_instance(_pieces(county.encode(), seed)) == whole
    solution = solve(whole, SolverConfig(method="greedy")).solution
    text = dump_solution(solution)
    assert parse_solution(_pieces(text.encode(), 0)) == parse_solution(text) == solution


def test_a_number_cut_between_pieces_is_read_whole() -> None:
    text = json.dumps(doc(name=12345678901234567890))
    for seed in range(5):
        with pytest.raises(InstanceError) as caught:
            parse_instance(_pieces(text.encode(), seed))
        assert [p.message for p in caught.value.problems] == [
            "name 应为字符串,实际为 12345678901234567890"
        ]


def test_a_province_file_and_its_gzip_are_read_as_their_text(county: str, tmp_path: Path) -> None:
    plain, packed = tmp_path / "i.json", tmp_path / "i.json.gz"
    plain.write_text(county, encoding="utf-8")
    packed.write_bytes(gzip.compress(county.encode()))
    assert load_instance(plain) == load_instance(packed) == parse_instance(county)
    packed.write_bytes(gzip.compress(county.encode())[:-40])
    with pytest.raises(InstanceError) as caught:
        load_instance(packed)
    assert [p.code for p in caught.value.problems] == ["bad_gzip"]


def _json_error(text: str) -> str | None:
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return f"不是有效的 JSON: {exc}"
    return None


def test_broken_json_is_named_where_the_whole_text_would_name_it(county: str) -> None:
    """Characters cut out, doubled or replaced anywhere: the document is refused exactly when
    `json` refuses its whole text, with the same message, line and column."""
    rnd = random.Random(11)
    compared = 0
    for _ in range(600):
        at = rnd.randrange(len(county))
        broken = rnd.choice(
            [
                county[:at] + county[at + 1 :],
                county[:at] + county[at] + county[at:],
                county[:at] + rnd.choice(',:{}[]"x 1') + county[at + 1 :],
            ]
        )
        expected = _json_error(broken)
        if expected is None:
            continue
        compared += 1
        with pytest.raises(InstanceError) as caught:
            parse_instance(_pieces(broken.encode(), at))
        assert [(p.code, p.message) for p in caught.value.problems] == [("json_invalid", expected)]
    assert compared > 100


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "{",
        '{"format": "quietday.instance/1"',
        "{} x",
        "[1, 2",
        '{"a" 1}',
        "{,}",
        # records: a comma with nothing after it, none between two, one too many, the end
        '{"enterprises": [{"id": "a"},]}',
        '{"enterprises": [{"id": "a"} {"id": "b"}]}',
        '{"enterprises": [{"id": "a"},\n ,{"id": "b"}]}',
        '{"enterprises": [{"id": "a"}, ',
    ],
)
def test_short_broken_documents_are_named_as_json_names_them(text: str) -> None:
    expected = _json_error(text)
    assert expected is not None
    for source in (text, _pieces(text.encode(), 0)):
        with pytest.raises(InstanceError) as caught:
            parse_instance(source)
        assert [(p.code, p.message) for p in caught.value.problems] == [("json_invalid", expected)]


def test_members_in_any_order_give_the_same_instance(county: str) -> None:
    """Records whose references come later are held until they can be read; the format may
    come last; unknown members are skipped."""
    document = json.loads(county)
    order = ["inspections", "history", "pinned", "enterprises", "agencies", "quiet_policies"]
    shuffled = {key: document[key] for key in order}
    shuffled |= {k: v for k, v in document.items() if k not in order and k != "format"}
    shuffled |= {"x-note": [{"any": "thing"}], "format": document["format"]}
    text = json.dumps(shuffled, ensure_ascii=False)
    assert parse_instance(_pieces(text.encode(), 5)) == parse_instance(county)


def test_a_member_twice_is_refused() -> None:
    text = json.dumps(doc(), ensure_ascii=False)
    twice = text[:-1] + ', "inspections": []}'
    with pytest.raises(InstanceError) as caught:
        parse_instance(twice)
    assert [(p.code, p.path) for p in caught.value.problems] == [("duplicate_key", "inspections")]


def test_a_lone_surrogate_escape_cut_between_pieces_is_found() -> None:
    text = json.dumps(doc(name="LONE")).replace('"LONE"', '"P\\ud800"')
    for seed in range(5):
        with pytest.raises(InstanceError) as caught:
            parse_instance(_pieces(text.encode(), seed))
        assert [p.code for p in caught.value.problems] == ["bad_text"]


def test_text_that_is_not_utf8_is_refused_and_a_bom_is_read() -> None:
    text = json.dumps(doc(name="中文"), ensure_ascii=False)
    assert parse_instance(b"\xef\xbb\xbf" + text.encode()).name == "中文"
    for raw in (text.encode("utf-16"), text.encode().replace("中".encode(), b"\xed\xa0\x80")):
        with pytest.raises(InstanceError) as caught:
            parse_instance(raw)
        assert [p.code for p in caught.value.problems] == ["json_invalid"]
        assert "UTF-8" in caught.value.problems[0].message


def test_the_solution_reader_refuses_a_broken_solution_like_the_instance_reader() -> None:
    with pytest.raises(SolutionError) as caught:
        parse_solution(b'{"format": "quietday.solution/1", "visits": [}')
    assert [p.code for p in caught.value.problems] == ["json_invalid"]
    with pytest.raises(SolutionError) as caught:
        parse_solution(b'{"format": "quietday.instance/1"}')
    assert [p.code for p in caught.value.problems] == ["format_unknown"]


def test_values_a_province_repeats_are_held_once() -> None:
    """References share their record's id, and equal item lists, regions, blackouts and cap
    overrides are one object: a million enterprises' copies were most of a province's memory."""
    enterprises = [
        {"id": f"E{k}", "name": f"企业{k}", "region": "360702", "quiet_policy": "jx-1-20",
         "blackout": ["2026-07-21"], "caps": {"agency_enterprise_per_year": 1}}
        for k in range(3)
    ]  # fmt: skip
    instance = load(
        doc(
            enterprises=enterprises,
            inspections=[insp(f"P{k}", enterprise=f"E{k % 3}") for k in range(6)],
        )
    )
    first, *rest = instance.inspections
    by_id = instance.enterprises
    for i in rest:
        assert i.items is first.items
        assert i.agency is first.agency
        assert i.enterprise is by_id[i.enterprise].id
    one, *others = by_id.values()
    for e in others:
        assert e.region is one.region
        assert e.quiet_policy is one.quiet_policy
        assert e.blackout is one.blackout
        assert e.cap_overrides is one.cap_overrides
