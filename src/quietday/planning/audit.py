"""The tamper-evident audit log: every state change appended with its actor, time and what
changed, each entry carrying the SHA-256 of the one before; `verify` finds any entry altered,
removed or reordered, and with an anchor (a seq and hash written down earlier) a cut-off tail.

The hash of an entry is SHA-256 over the canonical JSON (sorted keys, UTF-8, no spaces) of
{seq, at (ISO 8601 UTC), actor, action, subject, changes, prev_hash}. Bulk operations record a
summary whose `sha256` is over the canonical JSON array of the rows they created (`RowDigest`).
Secrets (API keys, feed tokens and their hashes) never enter the log.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from quietday.domain.text import ascii_int
from quietday.errors import InputError, Problem
from quietday.persistence import Session, make_engine, session_scope
from quietday.persistence.audit import AuditRepository
from quietday.persistence.tables import AuditRow, utcnow

__all__ = [
    "GENESIS",
    "ActorMissingError",
    "AuditProblem",
    "AuditReport",
    "RowDigest",
    "canonical",
    "diff",
    "entry_hash",
    "feed_actor",
    "head",
    "head_of",
    "page",
    "parse_anchor",
    "plain",
    "record",
    "verify",
    "verify_database",
]

GENESIS = "0" * 64
_MAX_PROBLEMS = 1000
_WINDOW = 4096


class ActorMissingError(RuntimeError):
    """A state change was recorded on a session nobody named an actor for (a programming error:
    set `session_scope(engine, actor=...)` or the API's authentication)."""


def plain(value: Any) -> Any:
    """`value` as JSON-native data: dates and times as ISO 8601 (times in UTC), tuples as lists."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [plain(v) for v in value]
        return sorted(items, key=canonical) if isinstance(value, set | frozenset) else items
    return value


def canonical(value: Any) -> str:
    return json.dumps(
        plain(value), sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )


def entry_hash(
    *,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    subject: str,
    changes: Mapping[str, Any],
    prev_hash: str,
) -> str:
    document = {
        "seq": seq,
        "at": at,
        "actor": actor,
        "action": action,
        "subject": subject,
        "changes": changes,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical(document).encode("utf-8")).hexdigest()


def _row_hash(row: AuditRow, seq: int) -> str:
    return entry_hash(
        seq=seq,
        at=row.at,
        actor=row.actor,
        action=row.action,
        subject=row.subject,
        changes=row.changes,
        prev_hash=row.prev_hash,
    )


def record(session: Session, action: str, subject: str, changes: Mapping[str, Any]) -> AuditRow:
    """Append one entry in the caller's transaction, as its last write (the head stays locked
    until the transaction ends). The actor is `session.info["actor"]`. A new kind of change
    calls it once, e.g. `record(session, "check_in.create", f"check_in:{row.id}", {...})`."""
    actor = session.info.get("actor")
    if not isinstance(actor, str) or not actor:
        raise ActorMissingError(f"no actor on the session recording {action} {subject}")
    data: dict[str, Any] = json.loads(canonical(changes))
    repo = AuditRepository(session)
    seq, prev_hash = repo.advance_head()
    at = utcnow()
    digest = entry_hash(
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        subject=subject,
        changes=data,
        prev_hash=prev_hash,
    )
    row = repo.append(
        AuditRow(
            seq=seq,
            at=at,
            actor=actor,
            action=action,
            subject=subject,
            changes=data,
            prev_hash=prev_hash,
            hash=digest,
        )
    )
    repo.set_head_hash(seq, digest)
    return row


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """{"before": {...}, "after": {...}} of the fields whose values differ."""
    changed = sorted(k for k in after if plain(before.get(k)) != plain(after.get(k)))
    return {
        "before": {k: plain(before.get(k)) for k in changed},
        "after": {k: plain(after.get(k)) for k in changed},
    }


@dataclass
class RowDigest:
    """The summary of a bulk change: how many rows, their id range, and the SHA-256 of the
    canonical JSON array of the rows, computed as they stream past (memory stays flat)."""

    count: int = 0
    first_id: Any = None
    last_id: Any = None
    _hash: Any = field(default_factory=hashlib.sha256)

    def add(self, row_id: Any, row: Mapping[str, Any]) -> None:
        self._hash.update(b"," if self.count else b"[")
        self._hash.update(canonical(row).encode("utf-8"))
        self.count += 1
        if self.first_id is None:
            self.first_id = row_id
        self.last_id = row_id

    def add_all(self, rows: Iterable[tuple[Any, Mapping[str, Any]]]) -> None:
        for row_id, row in rows:
            self.add(row_id, row)

    def summary(self) -> dict[str, Any]:
        final = self._hash.copy()
        final.update(b"]" if self.count else b"[]")
        return {
            "count": self.count,
            "first_id": self.first_id,
            "last_id": self.last_id,
            "sha256": final.hexdigest(),
        }


def feed_actor(kind: str, subject_id: str, token_id: int) -> str:
    """The actor name of someone acting through a calendar subscription (e.g. an enterprise)."""
    return f"{kind}:{subject_id} (feed token {token_id})"


@dataclass(frozen=True, slots=True)
class AuditProblem:
    """One thing wrong with the log: a stable code, the seq it concerns, a Chinese sentence."""

    code: str
    seq: int
    message: str


@dataclass(frozen=True, slots=True)
class AuditReport:
    entries: int
    head_seq: int
    head_hash: str
    problems: list[AuditProblem]
    omitted: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def head(session: Session) -> tuple[int, str]:
    """The chain head (seq, hash): what a supervisor writes down as an anchor."""
    return AuditRepository(session).head()


def parse_anchor(text: str) -> tuple[int, str]:
    """`SEQ:HASH` as written by `quietday audit head`."""
    seq, sep, digest = text.strip().partition(":")
    digest = digest.lower()
    if (
        not sep
        or ascii_int(seq, maximum=2**63 - 1) is None
        or len(digest) != 64
        or any(c not in "0123456789abcdef" for c in digest)
    ):
        raise InputError([Problem("bad_anchor", "anchor", "锚点应为 序号:哈希(64 位十六进制)")])
    return int(seq), digest


@dataclass
class _Verifier:
    """The chain read once in seq order. An entry whose hash fails at its place but holds at the
    place its prev_hash points to was moved there (reordered); otherwise it was altered."""

    problems: list[AuditProblem] = field(default_factory=list)
    entries: int = 0
    last_seq: int = 0
    last_hash: str = GENESIS
    last_valid: bool = True
    # stored hash -> the seq that entry was written at, for the last _WINDOW entries
    placed: dict[str, int] = field(default_factory=dict)
    # prev_hash -> entries whose hash fails at their seq, waiting for the entry they follow
    waiting: dict[str, list[AuditRow]] = field(default_factory=dict)
    held: int = 0
    omitted: int = 0  # problems beyond _MAX_PROBLEMS: counted, not kept (memory stays bounded)

    def report(self, code: str, seq: int, message: str) -> None:
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(AuditProblem(code, seq, message))
        else:
            self.omitted += 1

    def _place(self, digest: str, seq: int) -> None:
        """An entry with hash `digest` was written at `seq`: entries waiting to follow it are
        checked at seq + 1 (iteratively: a long reversed run must not recurse)."""
        todo = [(digest, seq)]
        while todo:
            digest, seq = todo.pop()
            self.placed[digest] = seq
            if len(self.placed) > _WINDOW:
                del self.placed[next(iter(self.placed))]
            for moved in self.waiting.pop(digest, []):
                self.held -= 1
                if self._moved(moved, seq + 1):
                    todo.append((moved.hash, seq + 1))

    def _moved(self, row: AuditRow, original: int) -> bool:
        """Report `row` as moved from `original` if its hash holds there, else as altered."""
        if _row_hash(row, original) == row.hash:
            self.report(
                "reordered", row.seq, f"第 {row.seq} 条记录的内容原本是第 {original} 条(顺序被调换)"
            )
            return True
        self._altered(row)
        return False

    def _altered(self, row: AuditRow) -> None:
        self.report("altered", row.seq, f"第 {row.seq} 条记录被改动(哈希不符)")

    def see(self, row: AuditRow) -> None:
        self.entries += 1
        expected = self.last_seq + 1
        if row.seq != expected:
            last = row.seq - 1
            span = f"第 {expected} 条" if last == expected else f"第 {expected} 至 {last} 条"
            self.report("removed", expected, f"{span}记录缺失(被删除)")
        if _row_hash(row, row.seq) == row.hash:
            if row.seq == expected and self.last_valid and row.prev_hash != self.last_hash:
                self.report(
                    "altered",
                    self.last_seq,
                    f"第 {self.last_seq} 条记录被改动(与第 {row.seq} 条记录的链接不符)",
                )
            self._place(row.hash, row.seq)
            self.last_valid = True
        else:
            self.last_valid = False
            before = self.placed.get(row.prev_hash)
            if before is not None:
                if self._moved(row, before + 1):
                    self._place(row.hash, before + 1)
            elif self.held < _WINDOW:
                self.waiting.setdefault(row.prev_hash, []).append(row)
                self.held += 1
            else:
                self._altered(row)
        self.last_seq, self.last_hash = row.seq, row.hash

    def finish(self) -> None:
        for rows in self.waiting.values():
            for row in rows:
                self._altered(row)
        self.waiting.clear()


def verify(session: Session, anchor: tuple[int, str] | None = None) -> AuditReport:
    """Read the whole chain up to its head (entries appended meanwhile are left for next time)
    and report every problem, in seq order."""
    repo = AuditRepository(session)
    head_seq, head_hash = repo.head()
    check = _Verifier()
    anchor_hash: str | None = None
    for row in repo.stream(upto=max(head_seq, anchor[0] if anchor else 0)):
        if anchor is not None and row.seq == anchor[0]:
            anchor_hash = row.hash
        if row.seq <= head_seq:
            check.see(row)
    check.finish()
    if check.last_seq < head_seq:
        span = (
            f"第 {head_seq} 条"
            if check.last_seq + 1 == head_seq
            else f"第 {check.last_seq + 1} 至 {head_seq} 条"
        )
        check.report("removed", check.last_seq + 1, f"{span}记录缺失(链头记到第 {head_seq} 条)")
    elif check.last_hash != head_hash:
        check.report("head_mismatch", head_seq, f"链头哈希与第 {head_seq} 条记录不符")
    if anchor is not None and anchor_hash != anchor[1]:
        gone = anchor[0] > head_seq or anchor_hash is None
        check.report(
            "anchor_mismatch",
            anchor[0],
            f"锚点第 {anchor[0]} 条"
            + ("已不在日志中(日志末尾被截断)" if gone else "的哈希与记录的锚点不符"),
        )
    problems = sorted(check.problems, key=lambda p: (p.seq, p.code))
    return AuditReport(check.entries, head_seq, head_hash, problems, check.omitted)


def verify_database(database_url: str, anchor: str | None = None) -> AuditReport:
    """`verify` on the database at `database_url` (`quietday audit verify`)."""
    point = parse_anchor(anchor) if anchor is not None else None
    engine = make_engine(database_url)
    try:
        with session_scope(engine) as session:
            return verify(session, point)
    finally:
        engine.dispose()


def head_of(database_url: str) -> tuple[int, str]:
    """The chain head of the database at `database_url` (`quietday audit head`)."""
    engine = make_engine(database_url)
    try:
        with session_scope(engine) as session:
            return head(session)
    finally:
        engine.dispose()


def page(
    session: Session, *, after: int, limit: int, action: str | None, subject: str | None
) -> tuple[list[AuditRow], int | None]:
    """Entries after seq `after` (filtered by action prefix and subject), and the next `after`."""
    rows = list(
        AuditRepository(session).page(
            after=after, limit=limit + 1, action_prefix=action, subject=subject
        )
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].seq if more and rows else None)
