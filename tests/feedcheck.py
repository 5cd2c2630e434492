"""Independent judges of a calendar feed: our own byte and structure checks (what no parser
checks), Mozilla ical.js (Node), vobject with validation, and the `ical` package."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import vobject
from ical.calendar_stream import IcsCalendarStream

JS = Path(__file__).parent / "js"
_DURATION = re.compile(r"^P(?:\d+W|(?:\d+D)?(?:T(?:\d+H)?(?:\d+M)?(?:\d+S)?)?)$")
_UTC = re.compile(r"^\d{8}T\d{6}Z$")
_CONTENT_LINE = re.compile(
    r'^[A-Za-z0-9-]+(;[A-Za-z0-9-]+=("[^"]*"|[^";:,]*)(,("[^"]*"|[^";:,]*))*)*:'
)


def byte_problems(body: bytes) -> list[str]:
    """Line structure: UTF-8 per physical line, CRLF only, at most 75 octets, no BOM."""
    out: list[str] = []
    if body.startswith(b"\xef\xbb\xbf"):
        out.append("BOM")
    if not body.endswith(b"\r\n"):
        out.append("does not end with CRLF")
    lines = body.split(b"\r\n")[:-1]
    for n, line in enumerate(lines, 1):
        if b"\n" in line or b"\r" in line:
            out.append(f"line {n}: bare CR or LF")
        if len(line) > 75:
            out.append(f"line {n}: {len(line)} octets")
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            out.append(f"line {n}: not UTF-8 on its own (a fold splits a character)")
    return out


def _unfold(body: bytes) -> list[str]:
    text = body.decode("utf-8", errors="replace").replace("\r\n ", "").replace("\r\n\t", "")
    return [line for line in text.split("\r\n") if line]


def _split(line: str) -> tuple[str, dict[str, str], str]:
    head, _, value = line.partition(":")
    name, *params = head.split(";")
    return name.upper(), dict(p.split("=", 1) for p in params if "=" in p), value


def structure_problems(body: bytes) -> list[str]:
    """What RFC 5545/7986 and the clients need, beyond what the parsers check."""
    out: list[str] = []
    stack: list[str] = []
    cal: dict[str, list[tuple[dict[str, str], str]]] = {}
    events: list[dict[str, tuple[dict[str, str], str]]] = []
    zones: list[dict[str, str]] = []
    for line in _unfold(body):
        if not _CONTENT_LINE.match(line):
            out.append(f"not a content line: {line[:40]!r}")
            continue
        name, params, value = _split(line)
        if name == "BEGIN":
            stack.append(value)
            if value == "VEVENT":
                events.append({})
            elif value == "VTIMEZONE":
                zones.append({})
            continue
        if name == "END":
            if not stack or stack.pop() != value:
                out.append(f"END:{value} does not close its component")
            continue
        where = stack[-1] if stack else ""
        if where == "VCALENDAR":
            cal.setdefault(name, []).append((params, value))
        elif where == "VEVENT":
            events[-1][name] = (params, value)
        elif where == "VTIMEZONE":
            zones[-1][name] = value
    if stack:
        out.append(f"unclosed {stack}")
    for key in (
        "VERSION",
        "PRODID",
        "NAME",
        "X-WR-CALNAME",
        "X-WR-TIMEZONE",
        "REFRESH-INTERVAL",
        "X-PUBLISHED-TTL",
    ):
        if key not in cal:
            out.append(f"calendar lacks {key}")
    for key in ("METHOD", "UID"):
        if key in cal:
            out.append(f"calendar has {key}")
    if "REFRESH-INTERVAL" in cal:
        params, value = cal["REFRESH-INTERVAL"][0]
        if params.get("VALUE") != "DURATION" or not _DURATION.match(value):
            out.append(f"REFRESH-INTERVAL {params} {value}")
    if "X-PUBLISHED-TTL" in cal and not _DURATION.match(cal["X-PUBLISHED-TTL"][0][1]):
        out.append(f"X-PUBLISHED-TTL {cal['X-PUBLISHED-TTL'][0][1]}")
    if [z.get("TZID") for z in zones] != ["Asia/Shanghai"]:
        out.append(f"VTIMEZONE {[z.get('TZID') for z in zones]}")
    if any("COMMENT" in z for z in zones):
        out.append("COMMENT directly in VTIMEZONE")
    uids = [e.get("UID", ({}, ""))[1] for e in events]
    if len(set(uids)) != len(uids):
        out.append("duplicate UID")
    for e in events:
        uid = e.get("UID", ({}, "?"))[1]
        for key in (
            "UID",
            "DTSTAMP",
            "LAST-MODIFIED",
            "SEQUENCE",
            "DTSTART",
            "DTEND",
            "SUMMARY",
            "STATUS",
        ):
            if key not in e:
                out.append(f"{uid}: no {key}")
        for key in ("DTSTAMP", "LAST-MODIFIED"):
            if key in e and not _UTC.match(e[key][1]):
                out.append(f"{uid}: {key} not in UTC")
        if "DTSTART" in e and "DTEND" in e:
            (sp, sv), (ep, ev) = e["DTSTART"], e["DTEND"]
            if sp.get("VALUE") != "DATE" or ep.get("VALUE") != "DATE":
                out.append(f"{uid}: not an all-day event")
            elif not ev > sv:
                out.append(f"{uid}: DTEND {ev} not after DTSTART {sv}")
        if "STATUS" in e and e["STATUS"][1] not in ("CONFIRMED", "CANCELLED"):
            out.append(f"{uid}: STATUS {e['STATUS'][1]}")
    return out


def own_problems(body: bytes) -> list[str]:
    return byte_problems(body) + structure_problems(body)


@dataclass(frozen=True)
class Parsed:
    icaljs: dict[str, Any]
    vobject_events: int
    ical_events: int


def icaljs(bodies: list[bytes]) -> list[dict[str, Any]]:
    """Parse feeds with ical.js in one Node process."""
    payload = json.dumps([b.decode("utf-8", errors="replace") for b in bodies])
    done = subprocess.run(
        ["node", str(JS / "parse.mjs")],
        input=payload,
        capture_output=True,
        text=True,
        check=True,
        cwd=JS,
    )
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


def parse_everywhere(body: bytes) -> Parsed:
    """Every independent parser, each required to succeed."""
    (js,) = icaljs([body])
    assert js["ok"], js
    text = body.decode("utf-8")
    cal = vobject.readOne(text, validate=True)
    vevents = len(getattr(cal, "vevent_list", []))
    parsed = IcsCalendarStream.calendar_from_ics(text)
    return Parsed(icaljs=js, vobject_events=vevents, ical_events=len(parsed.events))


def event_count(body: bytes) -> int:
    return body.count(b"BEGIN:VEVENT\r\n")


def day(text: str) -> date:
    return date.fromisoformat(text)
