"""The public page's paragraph (`templates/public/_sampling_method.html`) is all a stranger has of
the draw. Re-implemented here from that text alone (hashlib and arithmetic, nothing of
quietday's sampling code), it must give the sample `domain.sampling.draw` gives: coordinated,
independent, an unannounced task's own numbers, and a window start. (An outside review found
the text and the code apart once; this keeps them together.)"""

from __future__ import annotations

import hashlib
import math

import pytest

from quietday.domain.sampling import Coordination, Request, draw

LEAD = "361005-SCJG"
POPULATION = {f"9136{k:014d}": "ABCD"[k % 4] for k in range(400)}
RATIOS = {"A": 0.033, "B": 0.051, "C": 0.107, "D": 0.213}


def _fraction(text: str) -> int:
    """SHA-256 of the text, its first 8 bytes (big-endian) as an integer of 2**64."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def _as_published(seed: str, sequence: str, start: float) -> list[str]:
    """The paragraph: per class, floor(pN) plus one when the size number falls below the
    fraction; the enterprises whose numbers follow the window's start (mod 1), ties by code."""
    origin = int(start * 2**64)
    chosen: list[str] = []
    for cls in sorted(RATIOS):
        members = [e for e, c in POPULATION.items() if c == cls]
        exact = RATIOS[cls] * len(members)
        size = _fraction(f"quietday-draw-v1|{seed}|size|{LEAD}|{cls}") / 2**64
        n = math.floor(exact) + (1 if size < exact - math.floor(exact) else 0)
        ranked = sorted(
            members,
            key=lambda e: ((_fraction(f"quietday-draw-v1|{seed}|prn|{sequence}|{e}") - origin)
                           % 2**64, e),
        )  # fmt: skip
        chosen += ranked[:n]
    return sorted(chosen)


@pytest.mark.parametrize(
    ("coordination", "stream", "sequence"),
    [
        (Coordination.COORDINATED, None, ""),
        (Coordination.INDEPENDENT, None, LEAD),
        (Coordination.COORDINATED, "unannounced:7", "unannounced:7"),
        (Coordination.INDEPENDENT, "unannounced:7", "unannounced:7"),
    ],
)
@pytest.mark.parametrize("start", [0.0, 0.37])
def test_the_public_text_reproduces_the_draw(
    coordination: Coordination, stream: str | None, sequence: str, start: float
) -> None:
    request = Request(agency=LEAD, population=POPULATION, ratios=RATIOS, stream=stream)
    for seed in (f"{k:064x}" for k in range(10)):
        got = draw(request, seed=seed, coordination=coordination, start=start)
        assert got == _as_published(seed, sequence, start), seed


def test_an_unannounced_task_does_not_nest_in_an_announced_one() -> None:
    """Coordinated, a smaller sample lies inside a larger one over the same population; an
    unannounced task's own numbers make its overlap with an announced task's chance alone."""
    population = {f"F{i:04d}": "B" for i in range(2000)}
    announced = Request("A", population, {"B": 0.3})
    hidden = Request("B", population, {"B": 0.1}, stream="unannounced:9")
    wide = set(draw(announced, seed="s"))
    shared = Request("B", population, {"B": 0.1})
    assert set(draw(shared, seed="s")) <= wide
    inside = len(set(draw(hidden, seed="s")) & wide)
    assert 40 <= inside <= 80  # about 0.3 x 200 = 60, not 200
