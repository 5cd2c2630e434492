"""A Jiangxi-like province of planned inspections, reproducible from a seed.

11 cities and 100 counties (the province's real shape; county names are made up), ten agency
types per county plus three city-level agencies per city, enterprises with valid unified social
credit codes, sectors and risk classes, routine plans, special campaigns, complaint cases,
enterprise requests, exempt reasons, whitelists, blackout dates, earlier inspections as history,
pins that obey every rule and a previous draft. Capacities are sized so that some agencies are
short of days, as real ones are.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from quietday.domain.calendar import QuietPolicy
from quietday.domain.model import (
    Agency,
    AgencyId,
    Caps,
    Enterprise,
    EnterpriseId,
    HistoryEntry,
    Horizon,
    Inspection,
    InspectionId,
    Instance,
    Kind,
    Pin,
    PolicyId,
)
from quietday.domain.state import ScheduleState
from quietday.domain.uscc import ALPHABET, check_character, organisation_check
from quietday.official import as_instance_calendar, with_provisional

__all__ = ["CITIES", "GeneratorConfig", "HorizonKind", "generate", "regions"]

HorizonKind = Literal["quarter", "year"]

# (code, name, number of counties): the 11 prefecture-level cities of Jiangxi, 100 counties in all.
CITIES: tuple[tuple[str, str, int], ...] = (
    ("3601", "南昌市", 9),
    ("3602", "景德镇市", 4),
    ("3603", "萍乡市", 5),
    ("3604", "九江市", 13),
    ("3605", "新余市", 2),
    ("3606", "鹰潭市", 3),
    ("3607", "赣州市", 18),
    ("3608", "吉安市", 13),
    ("3609", "宜春市", 10),
    ("3610", "抚州市", 11),
    ("3611", "上饶市", 12),
)

# (code, county-level name, which sectors it inspects)
AGENCY_TYPES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("SCJG", "市场监督管理局", ("食品", "餐饮", "商贸", "医药", "化工", "机械", "电子", "纺织")),
    ("STHJ", "生态环境分局", ("化工", "建材", "纺织", "医药", "电子")),
    ("YJGL", "应急管理局", ("化工", "建材", "机械", "物流")),
    ("XFJY", "消防救援大队", ("餐饮", "商贸", "物流", "酒店", "化工")),
    ("SWJ", "税务局", ("商贸", "物流", "电子", "机械", "酒店")),
    ("WSJK", "卫生健康委员会", ("医药", "酒店", "餐饮")),
    ("ZJJ", "住房和城乡建设局", ("建材", "建筑")),
    ("JTYS", "交通运输局", ("物流",)),
    ("RSJ", "人力资源和社会保障局", ("建筑", "纺织", "电子", "机械")),
    ("NYNC", "农业农村局", ("食品", "农业")),
)
CITY_AGENCY_TYPES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("SCJG", "市场监督管理局稽查支队", ("食品", "医药", "化工")),
    ("STHJ", "生态环境保护综合行政执法支队", ("化工", "建材")),
    ("YJGL", "应急管理局执法支队", ("化工", "建材")),
)
SECTORS = (
    "食品", "餐饮", "商贸", "医药", "化工", "机械", "电子", "纺织", "建材", "建筑", "物流", "酒店", "农业",
)  # fmt: skip
_SECTOR_WORDS = {
    "食品": "食品", "餐饮": "餐饮管理", "商贸": "商贸", "医药": "医药", "化工": "化工",
    "机械": "机械制造", "电子": "电子科技", "纺织": "纺织", "建材": "新型建材", "建筑": "建筑工程",
    "物流": "物流", "酒店": "酒店管理", "农业": "农业开发",
}  # fmt: skip
_SYLLABLES = "安福丰宁新永泰德昌兴瑞信南修武乐平万遂崇金铜石龙宜吉峡广余会彭湖都浮分芦莲湘渝贵铅弋横玉婺鄱黎资进临乐宁于定寻信全"
_BRAND = "华鑫盛泰隆恒通达远宏瑞祥和兴旺嘉禾润德诚信源金佳美顺发宝康赣洪鄱庐井冈"
RISK_ROUTINE = {"A": 0.25, "B": 0.55, "C": 0.75, "D": 0.95}
RISK_PRIORITY = {"A": (1, 3), "B": (2, 5), "C": (4, 8), "D": (6, 10)}
EXEMPT_CASE = ("投诉举报", "投诉举报", "转办交办", "数据监测", "突发事件")
QUIET_POLICIES = (
    QuietPolicy("jx-1-20", month_days=((1, 20),)),
    QuietPolicy("gz-1-25", month_days=((1, 25),)),
    QuietPolicy("mon-thu", weekdays=frozenset({1, 2, 3, 4})),
    QuietPolicy("none"),
)


@dataclass(frozen=True, slots=True)
class GeneratorConfig:
    enterprises: int
    seed: int = 1
    horizon: HorizonKind = "quarter"
    year: int = 2026
    quarter: int = 3
    counties: int | None = None
    # How many quarters, from `quarter` on (across the year's end if need be).
    quarters: int = 1
    # Scales every plan's chance (routine, special, case, requested) and the history: 1.0 gives
    # about 1.8 inspections per enterprise a quarter, 0.28 about 2 a year.
    plan_rate: float = 1.0

    def __post_init__(self) -> None:
        if not 0 < self.plan_rate <= 1:
            raise ValueError("plan_rate must be in (0, 1]")
        if self.quarters < 1:
            raise ValueError("quarters must be at least 1")

    def horizon_dates(self) -> Horizon:
        if self.horizon == "year":
            return Horizon(date(self.year, 1, 1), date(self.year, 12, 31))
        first = date(self.year, 3 * self.quarter - 2, 1)
        after = self.year * 12 + 3 * (self.quarter + self.quarters - 1)  # the next month's index
        end = date(after // 12, after % 12 + 1, 1) - timedelta(days=1)
        return Horizon(first, end)


@dataclass(frozen=True, slots=True)
class _County:
    code: str
    name: str
    city: str
    city_name: str


@dataclass
class _Firm:
    enterprise: Enterprise
    sector: str
    risk: str
    county: _County


def _counties() -> list[_County]:
    rnd = random.Random(36)  # the province's shape does not depend on the seed
    out: list[_County] = []
    used: set[str] = set()
    for city, city_name, n in CITIES:
        for k in range(n):
            while True:
                name = rnd.choice(_SYLLABLES) + rnd.choice(_SYLLABLES)
                if name not in used and name[0] != name[1]:
                    used.add(name)
                    break
            suffix = "区" if k < 2 and n > 4 else ("市" if k == n - 1 and n > 6 else "县")
            out.append(_County(f"{city}{k + 2:02d}", name + suffix, city, city_name))
    return out


def regions(counties: int | None = None) -> list[tuple[str, str, str, str | None]]:
    """(code, name, level, parent) of the province, its cities and (the first N of) its counties."""
    chosen = _counties()[:counties] if counties else _counties()
    cities = {c.city for c in chosen}
    out: list[tuple[str, str, str, str | None]] = [("36", "江西省", "province", None)]
    out += [(code, name, "city", "36") for code, name, _ in CITIES if code in cities]
    out += [(c.code, c.name, "county", c.city) for c in chosen]
    return out


def _uscc(rnd: random.Random, region: str) -> str:
    body_chars = ALPHABET[:10] + "ABCDEFGHJKLMNPQRTUWXY"
    body = (
        "MA" + "".join(rnd.choice(body_chars) for _ in range(6))
        if rnd.random() < 0.7
        else ("".join(rnd.choice("0123456789") for _ in range(8)))
    )
    first17 = "91" + region + body + organisation_check(body)
    return first17 + check_character(first17)


def _month_ranges(h: Horizon) -> list[tuple[date, date]]:
    out = []
    d = h.start
    while d <= h.end:
        nxt = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
        out.append((d, min(h.end, nxt - timedelta(days=1))))
        d = nxt
    return out


def _quarter_ranges(h: Horizon) -> list[tuple[date, date]]:
    months = _month_ranges(h)
    return [
        (months[k][0], months[min(k + 2, len(months) - 1)][1]) for k in range(0, len(months), 3)
    ]


class _Builder:
    """Holds the random state and the growing instance while the province is made."""

    def __init__(self, cfg: GeneratorConfig) -> None:
        self.cfg = cfg
        self.rnd = random.Random(cfg.seed)
        self.horizon = cfg.horizon_dates()
        years = range(self.horizon.start.year - 1, self.horizon.end.year + 1)
        # A year without a notice in the package is planned provisionally, as the service does.
        self.calendar = as_instance_calendar(with_provisional(years)[0])
        self.counties = _counties()[: cfg.counties] if cfg.counties else _counties()
        self.agencies: dict[AgencyId, Agency] = {}
        self.agency_sectors: dict[AgencyId, tuple[str, ...]] = {}
        self.firms: list[_Firm] = []
        self.inspections: list[Inspection] = []
        self.history: list[HistoryEntry] = []
        self._seq = 0
        self._item_seq: dict[str, int] = defaultdict(int)

    def next_id(self) -> InspectionId:
        self._seq += 1
        return InspectionId(f"P-{self._seq:07d}")

    def make_agencies(self) -> None:
        cities = sorted({(c.city, c.city_name) for c in self.counties})
        for city, city_name in cities:
            for code, name, sectors in CITY_AGENCY_TYPES:
                aid = AgencyId(f"{city}00-{code}")
                self.agencies[aid] = Agency(aid, city_name + name, city, 1)
                self.agency_sectors[aid] = sectors
        for county in self.counties:
            for code, name, sectors in AGENCY_TYPES:
                aid = AgencyId(f"{county.code}-{code}")
                self.agencies[aid] = Agency(aid, county.name + name, county.code, 1)
                self.agency_sectors[aid] = sectors

    def make_firms(self) -> None:
        rnd = self.rnd
        weights = [rnd.lognormvariate(0, 0.6) for _ in self.counties]
        seen: set[str] = set()
        for n in range(self.cfg.enterprises):
            county = rnd.choices(self.counties, weights)[0]
            sector = rnd.choice(SECTORS)
            risk = rnd.choices("ABCD", (0.25, 0.45, 0.22, 0.08))[0]
            uid = _uscc(rnd, county.code)
            while uid in seen:
                uid = _uscc(rnd, county.code)
            seen.add(uid)
            policy = "gz-1-25" if county.city == "3607" else "jx-1-20"
            roll = rnd.random()
            if roll < 0.03:
                policy = "none"
            elif roll < 0.08:
                policy = "mon-thu"
            caps: dict[str, int | None] = {}
            if risk == "A":
                caps["agency_enterprise_per_year"] = 1
            elif risk == "D":
                caps.update(agency_enterprise_per_year=None, enterprise_per_month=3)
            if rnd.random() < 0.05:
                caps["min_gap_days"] = 7
            name = (
                f"江西{rnd.choice(_BRAND)}{rnd.choice(_BRAND)}{_SECTOR_WORDS[sector]}"
                f"{'有限公司' if n % 7 else '股份有限公司'}"
            )
            ent = Enterprise(
                id=EnterpriseId(uid),
                name=name,
                region=county.code,
                quiet_policy=PolicyId(policy),
                blackout=self._blackout(),
                whitelisted=risk == "A" and rnd.random() < 0.3,
                cap_overrides=caps,
            )
            self.firms.append(_Firm(ent, sector, risk, county))

    def _blackout(self) -> frozenset[date]:
        if self.rnd.random() >= 0.05:
            return frozenset()
        open_days = [d for d in self.working_days() if d.day > 20]
        return frozenset(self.rnd.sample(open_days, k=min(len(open_days), self.rnd.randint(1, 3))))

    def working_days(self) -> list[date]:
        return self.calendar.working_days(self.horizon.start, self.horizon.end)

    def agencies_for(self, firm: _Firm) -> list[AgencyId]:
        county = [
            AgencyId(f"{firm.county.code}-{c}") for c, _, s in AGENCY_TYPES if firm.sector in s
        ]
        city = [
            AgencyId(f"{firm.county.city}00-{c}")
            for c, _, s in CITY_AGENCY_TYPES
            if firm.sector in s
        ]
        return county + [a for a in city if self.rnd.random() < 0.15]

    def item(self, agency: AgencyId) -> str:
        code = agency.split("-")[1]
        self._item_seq[code] = self._item_seq[code] % 40 + 1
        return f"{code}-{self._item_seq[code]:04d}"

    def add(
        self,
        *,
        agency: AgencyId,
        enterprise: EnterpriseId,
        kind: Kind,
        window: tuple[date, date],
        priority: int,
        exempt_reason: str | None = None,
        items: tuple[str, ...] | None = None,
    ) -> None:
        self.inspections.append(
            Inspection(
                id=self.next_id(),
                agency=agency,
                enterprise=enterprise,
                kind=kind,
                earliest=window[0],
                latest=window[1],
                items=items or (self.item(agency),),
                priority=priority,
                exempt_reason=exempt_reason,
            )
        )

    def make_plans(self) -> None:
        rnd = self.rnd
        months = _month_ranges(self.horizon)
        quarters = _quarter_ranges(self.horizon)
        campaigns = self._campaigns(quarters)
        for firm in self.firms:
            ent = firm.enterprise.id
            agencies = self.agencies_for(firm)
            lo, hi = RISK_PRIORITY[firm.risk]
            for q_start, q_end in quarters:
                for agency in agencies:
                    chance = RISK_ROUTINE[firm.risk] * (0.2 if firm.enterprise.whitelisted else 1)
                    chance *= self.cfg.plan_rate
                    if rnd.random() >= chance:
                        continue
                    if rnd.random() < 0.5:
                        win = (q_start, q_end)
                    else:
                        win = rnd.choice([m for m in months if q_start <= m[0] <= q_end])
                    safety = agency.endswith(("YJGL", "STHJ")) and rnd.random() < 0.08
                    self.add(
                        agency=agency,
                        enterprise=ent,
                        kind=Kind.ROUTINE,
                        window=win,
                        priority=rnd.randint(lo, hi),
                        exempt_reason="安全生产" if safety else None,
                    )
                for agency_code, sector, c_start, c_end, item in campaigns:
                    if not q_start <= c_start <= q_end or firm.sector != sector:
                        continue
                    agency = AgencyId(f"{firm.county.code}-{agency_code}")
                    if agency in self.agencies and rnd.random() < 0.5 * self.cfg.plan_rate:
                        self.add(
                            agency=agency,
                            enterprise=ent,
                            kind=Kind.SPECIAL,
                            window=(c_start, c_end),
                            priority=rnd.randint(20, 40),
                            items=(item,),
                        )
                self._cases(firm, agencies, q_start, q_end)

    def _cases(self, firm: _Firm, agencies: Sequence[AgencyId], q_start: date, q_end: date) -> None:
        rnd = self.rnd
        span = (q_end - q_start).days
        if agencies and rnd.random() < 0.06 * self.cfg.plan_rate:
            start = q_start + timedelta(days=rnd.randint(0, max(0, span - 10)))
            exempt = rnd.choice(EXEMPT_CASE) if rnd.random() < 0.7 else None
            agency = rnd.choice(agencies)
            self.add(
                agency=agency,
                enterprise=firm.enterprise.id,
                kind=Kind.CASE,
                window=(start, min(q_end, start + timedelta(days=rnd.randint(3, 10)))),
                priority=rnd.randint(60, 100),
                exempt_reason=exempt,
            )
        if agencies and rnd.random() < 0.02 * self.cfg.plan_rate:
            start = q_start + timedelta(days=rnd.randint(0, max(0, span - 21)))
            agency = rnd.choice(agencies)
            self.add(
                agency=agency,
                enterprise=firm.enterprise.id,
                kind=Kind.REQUESTED,
                window=(start, min(q_end, start + timedelta(days=rnd.randint(14, 21)))),
                priority=30,
                exempt_reason="应企业申请" if rnd.random() < 0.5 else None,
            )

    def _campaigns(
        self, quarters: Sequence[tuple[date, date]]
    ) -> list[tuple[str, str, date, date, str]]:
        """专项检查: per quarter two province-wide campaigns, each an agency type and a sector."""
        rnd = self.rnd
        out = []
        for q_start, q_end in quarters:
            for k in range(2):
                code, _, sectors = rnd.choice(AGENCY_TYPES[:5])
                start = q_start + timedelta(days=rnd.randint(0, 40))
                end = min(q_end, start + timedelta(days=rnd.randint(21, 42)))
                out.append((code, rnd.choice(sectors), start, end, f"ZX-{q_start:%Y%m}-{k + 1}"))
        return out

    def make_history(self) -> None:
        """Capped inspections earlier in the horizon's first year (they count toward its caps)."""
        rnd = self.rnd
        start = date(self.horizon.start.year, 1, 1)
        end = self.horizon.start - timedelta(days=1)
        if end < start:
            start, end = date(start.year - 1, 10, 1), date(start.year - 1, 12, 31)
        days = [d for d in self.calendar.working_days(start, end) if d.day > 20]
        for firm in self.firms:
            for agency in self.agencies_for(firm):
                if rnd.random() < RISK_ROUTINE[firm.risk] * 0.8 * self.cfg.plan_rate:
                    kind = Kind.ROUTINE if rnd.random() < 0.85 else Kind.CASE
                    self.history.append(
                        HistoryEntry(firm.enterprise.id, agency, rnd.choice(days), kind)
                    )

    def size_capacity(self, instance: Instance) -> dict[AgencyId, Agency]:
        """Teams per agency from its load over the open days, some agencies short of days."""
        rnd = self.rnd
        load: dict[AgencyId, int] = defaultdict(int)
        for insp in self.inspections:
            load[insp.agency] += 1
        open_days = max(1, sum(1 for d in instance.working_days if d.day > 20))
        out: dict[AgencyId, Agency] = {}
        for aid, agency in self.agencies.items():
            slack = rnd.uniform(0.7, 1.6)
            cap = max(1, math.ceil(load[aid] / open_days * slack))
            closed = {}
            if rnd.random() < 0.2:
                day = rnd.choice(
                    [d for d in instance.working_days if d.day > 20] or list(instance.working_days)
                )
                closed[day] = 0
            out[aid] = Agency(aid, agency.name, agency.region, cap, closed)
        return out

    def instance(
        self,
        *,
        agencies: dict[AgencyId, Agency],
        pins: Sequence[Pin] = (),
        previous: dict[InspectionId, date] | None = None,
    ) -> Instance:
        cfg = self.cfg
        span = f"{cfg.year}" if cfg.horizon == "year" else f"{cfg.year}q{cfg.quarter}"
        if cfg.horizon == "quarter" and cfg.quarters > 1:
            span += f"-{cfg.quarters}q"
        return Instance(
            name=f"jx-{span}-{cfg.enterprises}-s{cfg.seed}",
            horizon=self.horizon,
            calendar=self.calendar,
            quiet_policies={PolicyId(p.id): p for p in QUIET_POLICIES},
            caps=Caps(agency_enterprise_per_year=2, enterprise_per_month=2),
            agencies=agencies,
            enterprises={f.enterprise.id: f.enterprise for f in self.firms},
            inspections=tuple(self.inspections),
            history=tuple(self.history),
            pinned=tuple(pins),
            previous=previous or {},
        )

    def pins_and_previous(self, base: Instance) -> tuple[list[Pin], dict[InspectionId, date]]:
        """Published visits that obey every rule (placed through the rule state), and a draft."""
        rnd = self.rnd
        state = ScheduleState(base)
        pins: list[Pin] = []
        previous: dict[InspectionId, date] = {}
        first_month_end = _month_ranges(self.horizon)[0][1]
        for insp in base.inspections:
            days = base.open_days(insp)
            white = base.enterprises[insp.enterprise].whitelisted and insp.kind == Kind.ROUTINE
            if not days or white:
                continue
            roll = rnd.random()
            if (
                roll < 0.05
                and insp.kind in (Kind.ROUTINE, Kind.SPECIAL)
                and days[0] <= first_month_end
            ):
                fits = [d for d in days if state.allows(insp, d)]
                if fits:
                    day = rnd.choice(fits)
                    state.place(insp, day)
                    pins.append(Pin(insp.id, day))
            elif roll < 0.15:
                previous[insp.id] = rnd.choice(days)
        return pins, previous


@dataclass(frozen=True, slots=True)
class Profile:
    """What a registry knows of a generated enterprise beyond the instance: its trade (行业)
    and its credit-risk class (A-D)."""

    enterprise: EnterpriseId
    sector: str
    risk: str


@dataclass(frozen=True, slots=True)
class Registry:
    """A generated province's registry as `generate` makes it (same config, same firms):
    each enterprise's profile and the trades each agency inspects."""

    profiles: dict[EnterpriseId, Profile]
    agency_sectors: dict[AgencyId, tuple[str, ...]]


def registry(cfg: GeneratorConfig) -> Registry:
    """The registry behind `generate(cfg)`: the same enterprises with their trades and classes."""
    b = _Builder(cfg)
    b.make_agencies()
    b.make_firms()
    return Registry(
        profiles={f.enterprise.id: Profile(f.enterprise.id, f.sector, f.risk) for f in b.firms},
        agency_sectors=dict(b.agency_sectors),
    )


def generate(cfg: GeneratorConfig, *, on_step: Callable[[str], None] | None = None) -> Instance:
    """A reproducible province instance: the same config gives the same instance."""
    step = on_step or (lambda _msg: None)
    b = _Builder(cfg)
    b.make_agencies()
    b.make_firms()
    step(f"企业 {len(b.firms)} 家")
    b.make_plans()
    step(f"检查计划 {len(b.inspections)} 项")
    b.make_history()
    draft = b.instance(agencies=b.agencies)
    agencies = b.size_capacity(draft)
    sized = b.instance(agencies=agencies)
    pins, previous = b.pins_and_previous(sized)
    step(f"已发布 {len(pins)} 项, 上一版草稿 {len(previous)} 项")
    return b.instance(agencies=agencies, pins=pins, previous=previous)
