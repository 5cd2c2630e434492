"""Feed rendering judged by independent parsers: byte rules, hostile text, size, negatives."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import vobject

from feedcheck import (
    byte_problems,
    event_count,
    icaljs,
    own_problems,
    parse_everywhere,
    structure_problems,
)
from quietday.ics import AgencyPart, Feed, FeedEvent, Seen, VisitFacts, compose, render

STAMP = datetime(2026, 7, 1, 2, 30, tzinfo=UTC)
HOSTILE = '逗号,分号;反斜杠\\冒号:引号"换行\n第二行\t制表'


def unescape_text(value: str) -> str:
    """RFC 5545 §3.3.11 TEXT unescaping."""
    out, k = [], 0
    while k < len(value):
        if value[k] == "\\" and k + 1 < len(value):
            out.append({"n": "\n", "N": "\n"}.get(value[k + 1], value[k + 1]))
            k += 2
        else:
            out.append(value[k])
            k += 1
    return "".join(out)


def event(n: int, **changes: object) -> FeedEvent:
    values: dict[str, object] = {
        "uid": f"visit-{n}@quietday.test",
        "day": date(2026, 7, 21) + timedelta(days=n % 60),
        "summary": f"联合检查:市场监督管理局、消防救援大队 {n}",
        "description": "企业:江西测试有限公司\n牵头部门:东湖区市场监督管理局",
        "status": "CONFIRMED",
        "sequence": n % 4,
        "created": STAMP,
        "updated": STAMP + timedelta(minutes=n),
    }
    values.update(changes)
    return FeedEvent(**values)  # type: ignore[arg-type]


def feed(events: list[FeedEvent], name: str = "江西测试有限公司 入企检查日程") -> Feed:
    return Feed(name=name, description="已发布的入企检查安排", events=events)


def judge(body: bytes, events: int) -> None:
    assert own_problems(body) == []
    parsed = parse_everywhere(body)
    assert (
        len(parsed.icaljs["events"])
        == parsed.vobject_events
        == parsed.ical_events
        == event_count(body)
        == events
    )


def test_a_plain_feed_passes_every_judge() -> None:
    body = render(feed([event(n) for n in range(5)]))
    judge(body, 5)
    parsed = parse_everywhere(body)
    first = parsed.icaljs["events"][0]
    assert first["allDay"] is True
    assert (first["start"], first["end"]) == ("2026-07-21", "2026-07-22")
    assert parsed.icaljs["name"] == "江西测试有限公司 入企检查日程"
    text = body.decode()
    assert "\r\nMETHOD" not in text
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n" in text
    assert "X-PUBLISHED-TTL:PT1H\r\n" in text
    assert "BEGIN:VTIMEZONE\r\nTZID:Asia/Shanghai" in text


def test_rendering_twice_gives_the_same_bytes() -> None:
    events = [event(n) for n in range(20)]
    assert render(feed(events)) == render(feed(list(reversed(events))))


def test_empty_feed() -> None:
    judge(render(feed([])), 0)


def test_hostile_text_in_every_field_survives_exactly() -> None:
    body = render(
        Feed(
            name=f"日历{HOSTILE}",
            description=f"说明{HOSTILE}",
            events=[event(1, summary=f"摘要{HOSTILE}", description=f"描述{HOSTILE}")],
        )
    )
    judge(body, 1)
    cal = vobject.readOne(body.decode(), validate=True)
    assert cal.vevent.summary.value == f"摘要{HOSTILE}"
    assert cal.vevent.description.value == f"描述{HOSTILE}"
    assert cal.contents["x-wr-calname"][0].value == f"日历{HOSTILE}"
    (js,) = icaljs([body])
    # ical.js 2.2.1 knows no RFC 7986 NAME: it hands the TEXT value over still escaped.
    assert unescape_text(js["name"]) == f"日历{HOSTILE}"
    assert js["events"][0]["summary"] == f"摘要{HOSTILE}"


def test_control_characters_are_dropped() -> None:
    body = render(feed([event(1, summary="甲\x00乙\x07丙\r\n丁")]))
    judge(body, 1)
    assert vobject.readOne(body.decode()).vevent.summary.value == "甲乙丙\n丁"


@pytest.mark.parametrize("offset", range(55, 82, 3))
def test_emoji_and_long_chinese_at_fold_boundaries(offset: int) -> None:
    summary = "检" * offset + "👨‍👩‍👧‍👦🏗️a\u0301" + "查" * 200
    body = render(feed([event(1, summary=summary)], name="名" * offset + "🎉" * 30))
    judge(body, 1)
    assert vobject.readOne(body.decode()).vevent.summary.value == summary


def test_five_thousand_events() -> None:
    body = render(feed([event(n) for n in range(5000)]))
    judge(body, 5000)
    assert len(body) < 5000 * 800


def test_cancelled_event() -> None:
    body = render(feed([event(1, status="CANCELLED", summary="【已取消】入企检查", sequence=3)]))
    judge(body, 1)
    (js,) = icaljs([body])
    assert (js["events"][0]["status"], js["events"][0]["sequence"]) == ("CANCELLED", 3)


GOOD = render(feed([event(1), event(2)]))
NEGATIVES = {
    "split UTF-8 fold": GOOD.replace(
        "江西测试有限公司".encode(),
        "江西测试有限公司江西测试有限公司江西测试有限公司江西测试".encode(),
    ).replace(b"\xe6\xb1\x9f\xe8\xa5\xbf\xe6\xb5", b"\xe6\xb1\x9f\xe8\xa5\r\n \xbf\xe6\xb5", 1),
    "line over 75 octets": GOOD.replace(b"SUMMARY:", b"SUMMARY:" + b"x" * 80, 1),
    "bare LF": GOOD.replace(b"\r\nSEQUENCE", b"\nSEQUENCE", 1),
    "BOM": b"\xef\xbb\xbf" + GOOD,
    "raw newline in a value": GOOD.replace(b"SUMMARY:", b"SUMMARY:a\r\nb", 1),
    "line without a colon": GOOD.replace(b"\r\nSEQUENCE:", b"\r\nstray words\r\nSEQUENCE:", 1),
    "duplicate UID": GOOD.replace(b"visit-2@", b"visit-1@"),
    "DTEND before DTSTART": GOOD.replace(
        b"DTEND;VALUE=DATE:20260723", b"DTEND;VALUE=DATE:20260721"
    ),
    "bad X-PUBLISHED-TTL": GOOD.replace(b"X-PUBLISHED-TTL:PT1H", b"X-PUBLISHED-TTL:1:00:00"),
    "REFRESH-INTERVAL without VALUE": GOOD.replace(
        b"REFRESH-INTERVAL;VALUE=DURATION:", b"REFRESH-INTERVAL:"
    ),
    "METHOD": GOOD.replace(b"VERSION:2.0\r\n", b"VERSION:2.0\r\nMETHOD:PUBLISH\r\n"),
    "calendar UID": GOOD.replace(b"VERSION:2.0\r\n", b"VERSION:2.0\r\nUID:abc\r\n"),
    "DTSTAMP not UTC": GOOD.replace(b"DTSTAMP:20260701T023100Z", b"DTSTAMP:20260701T023100"),
    "no VTIMEZONE": GOOD.replace(b"TZID:Asia/Shanghai", b"TZID:Europe/Paris"),
    "unclosed component": GOOD.replace(b"END:VEVENT\r\n", b"", 1),
}


@pytest.mark.parametrize("name", sorted(NEGATIVES))
def test_our_checks_reject_broken_feeds(name: str) -> None:
    body = NEGATIVES[name]
    assert body != GOOD
    assert own_problems(body), name


def test_independent_parsers_reject_the_grossly_broken() -> None:
    for name in ("line without a colon", "unclosed component"):
        (js,) = icaljs([NEGATIVES[name]])
        assert js["ok"] is False, name
        with pytest.raises(Exception):  # noqa: B017, PT011 - vobject raises several kinds
            vobject.readOne(NEGATIVES[name].decode(), validate=True)


def test_byte_checks_alone_catch_a_split_character() -> None:
    assert byte_problems(NEGATIVES["split UTF-8 fold"])
    assert structure_problems(NEGATIVES["split UTF-8 fold"]) == []


def side(*agencies: str, cancelled: bool = False, sequence: int = 1) -> Seen:
    return Seen(
        cancelled=cancelled, sequence=sequence, created=STAMP, updated=STAMP,
        lead_agency_name=f"东湖区{agencies[0] if agencies else '市场监督管理局'}",
        lead_contact="0791-12345678",
        parts=tuple(AgencyPart(f"东湖区{a}", a, ("X-1",)) for a in agencies),
    )  # fmt: skip


def facts(n: int, day: date, whole: Seen, public: Seen | None = None) -> VisitFacts:
    return VisitFacts(id=n, day=day, enterprise_name="江西测试有限公司", whole=whole, public=public)


def test_an_enterprise_sees_a_visits_public_side_before_its_date_and_the_whole_after() -> None:
    """`planning.visits` makes the public side of announceable inspections alone; compose
    shows it to the enterprise until the date, and the whole visit once it has passed."""
    today = date(2026, 7, 15)
    market, fire = "市场监督管理局", "消防救援大队"
    visits = [
        facts(1, date(2026, 7, 21), side(market, fire), side(market, fire)),
        facts(2, date(2026, 7, 22), side("生态环境分局")),
        facts(4, date(2026, 7, 24), side("税务局", market, sequence=5), side(market, sequence=2)),
        facts(5, date(2026, 7, 10), side("生态环境分局")),
        facts(6, date(2026, 7, 27), side(cancelled=True)),
        facts(7, date(2026, 7, 28), side(cancelled=True), side(market, cancelled=True)),
        facts(8, date(2026, 7, 8), side(cancelled=True), side(market, cancelled=True)),
    ]
    ent = compose(kind="enterprise", name="企业", visits=visits, today=today, uid_domain="t")
    assert [(e.uid, e.summary, e.sequence) for e in sorted(ent.events, key=lambda e: e.day)] == [
        ("visit-5@t", "入企检查:生态环境分局", 1),
        ("visit-1@t", "联合检查:市场监督管理局、消防救援大队", 1),
        ("visit-4@t", "入企检查:市场监督管理局", 2),
        ("visit-7@t", "【已取消】入企检查:市场监督管理局", 1),
    ]
    assert "税务局" not in ent.events[2].description
    agency = compose(kind="agency", name="部门", visits=visits, today=today, uid_domain="t")
    assert {e.uid for e in agency.events} == {f"visit-{n}@t" for n in (1, 2, 4, 5, 6, 7)}
    assert next(e for e in agency.events if e.uid == "visit-4@t").sequence == 5
    # A cancelled visit whose plans all left it still names an agency: its lead.
    assert next(e for e in agency.events if e.uid == "visit-6@t").summary == (
        "【已取消】江西测试有限公司(东湖区市场监督管理局)"
    )
    judge(render(ent), 4)
    judge(render(agency), 6)
