"""双随机 draws: permanent random numbers and order sampling, coordinated or independent.

Every enterprise of a draw gets a permanent random number (PRN) from the draw's seed and its
code: SHA-256 of both, the first 64 bits read as a fraction of 2**64. Within a stratum (one
credit-risk class of an agency's population, of N enterprises) an agency with ratio p takes n
enterprises: floor(p N), or one more with probability frac(p N) (decided by a number of the
seed, the agency and the stratum). It takes those whose numbers come first from its window's `start`
(sequential Poisson sampling with equal sizes, i.e. order sampling): given n, a simple random
sample without replacement, so each enterprise's inclusion probability is E[n] / N = p exactly.
The size number is the agency's own in both modes, so an agency's sample sizes do not depend on
the coordination, and agencies do not all round up (or down) together.

- **Coordinated** draws give every agency the same numbers and the same start, so where two
  populations meet the sample of the agency with the smaller ratio lies inside the other's:
  the samples overlap as much as their ratios allow, and the solver can merge them into joint
  visits.
- **Independent** draws (what each agency's own platform does) give each agency its own
  numbers: two samples overlap only by chance.
- A request may name a **stream** of its own, which it draws from in either mode (an
  unannounced task: the samples of announced tasks must tell nothing of it).

A draw is reproducible from its seed, its population and its ratios alone; the seed is fixed
before the draw and published with its commitment (`commitment`), so anyone can re-run it.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "RISK_CLASSES",
    "Coordination",
    "Request",
    "commitment",
    "draw",
    "draw_all",
    "number",
    "sample_size",
    "strata_of",
]

RISK_CLASSES = ("A", "B", "C", "D")
_SCALE = 1 << 64
_DOMAIN = "quietday-draw-v1"


class Coordination(StrEnum):
    """How the numbers of several agencies' draws relate."""

    COORDINATED = "coordinated"
    INDEPENDENT = "independent"


@dataclass(frozen=True, slots=True)
class Request:
    """One agency's draw: its population (enterprise -> stratum, e.g. its risk class) and the
    share of each stratum it inspects (a stratum without a ratio is not drawn from)."""

    agency: str
    population: Mapping[str, str]
    ratios: Mapping[str, float]
    # Numbers of its own whatever the coordination, under this name: an unannounced task's
    # sample must not be told by the announced samples it would otherwise nest in.
    stream: str | None = None

    def __post_init__(self) -> None:
        for stratum, ratio in self.ratios.items():
            if not 0.0 <= ratio <= 1.0 or math.isnan(ratio):
                raise ValueError(f"ratio of {stratum!r} must lie in [0, 1], not {ratio}")


def _bits(seed: str, *parts: str) -> int:
    text = "|".join((_DOMAIN, seed, *parts))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def number(seed: str, enterprise: str, *, stream: str = "") -> float:
    """The enterprise's permanent random number in [0, 1) under this seed (and stream: an
    agency's own numbers in an independent draw, '' for the shared ones)."""
    return _bits(seed, "prn", stream, enterprise) / _SCALE


def commitment(seed: str) -> str:
    """The SHA-256 commitment to a seed, published before the draw: once the seed is shown,
    anyone can check that it is the one committed to."""
    return hashlib.sha256(f"{_DOMAIN}|seed|{seed}".encode()).hexdigest()


def sample_size(*, ratio: float, size: int, chance: float) -> int:
    """How many of a stratum of `size` to take at `ratio`: floor(ratio * size), plus one when
    `chance` (uniform in [0, 1)) falls below the fractional part, so the mean is ratio * size."""
    exact = ratio * size
    whole = math.floor(exact)
    return min(size, whole + (1 if chance < exact - whole else 0))


def draw(
    request: Request,
    *,
    seed: str,
    coordination: Coordination = Coordination.COORDINATED,
    start: float = 0.0,
) -> list[str]:
    """The enterprises one agency draws, sorted by code.

    `start` in [0, 1) moves the window along the numbers (read as a circle): the sample is the
    n enterprises whose numbers follow it, so periods with starts far apart draw samples that
    overlap only where one window's n numbers reach past the other's start (rotation)."""
    if not 0.0 <= start < 1.0:
        raise ValueError(f"start must lie in [0, 1), not {start}")
    stream = request.stream
    if stream is None:
        stream = "" if coordination == Coordination.COORDINATED else request.agency
    origin = int(start * _SCALE)
    strata: dict[str, list[str]] = {}
    for enterprise, stratum in request.population.items():
        if request.ratios.get(stratum):
            strata.setdefault(stratum, []).append(enterprise)
    chosen: list[str] = []
    for stratum, members in sorted(strata.items()):
        chance = _bits(seed, "size", request.agency, stratum) / _SCALE
        n = sample_size(ratio=request.ratios[stratum], size=len(members), chance=chance)
        ranked = sorted(
            members, key=lambda e: ((_bits(seed, "prn", stream, e) - origin) % _SCALE, e)
        )
        chosen.extend(ranked[:n])
    return sorted(chosen)


def draw_all(
    requests: Sequence[Request],
    *,
    seed: str,
    coordination: Coordination = Coordination.COORDINATED,
    start: float = 0.0,
) -> dict[str, list[str]]:
    """Every agency's draw, by agency, under one seed."""
    return {r.agency: draw(r, seed=seed, coordination=coordination, start=start) for r in requests}


def strata_of(classes: Mapping[str, str | None], enterprises: Iterable[str]) -> dict[str, str]:
    """A population keyed by credit-risk class ('' for an enterprise not yet classified)."""
    return {e: classes.get(e) or "" for e in enterprises}
