"""A small registry for database and API tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from quietday.domain.uscc import check_character, organisation_check
from quietday.persistence import Engine, session_scope
from quietday.planning.keys import create_key
from quietday.planning.registry import (
    create_agency,
    create_enterprise,
    ensure_region,
    put_policy,
    set_caps,
)

SEEDER = "test:seed"


def uscc(region: str, n: int) -> str:
    body = f"MA{n:06d}"
    first17 = "91" + region + body + organisation_check(body)
    return first17 + check_character(first17)


@dataclass
class Seeded:
    supervisor: str
    keys: dict[str, str] = field(default_factory=dict)
    enterprises: list[str] = field(default_factory=list)

    def auth(self, who: str = "supervisor") -> dict[str, str]:
        key = self.supervisor if who == "supervisor" else self.keys[who]
        return {"Authorization": f"Bearer {key}"}


AGENCIES = {"A": ("360102-SCJG", "东湖区市场监督管理局", "360102"),
            "B": ("360102-XFJY", "东湖区消防救援大队", "360102"),
            "C": ("360103-SCJG", "西湖区市场监督管理局", "360103")}  # fmt: skip


def seed(engine: Engine, *, enterprises: int = 6, capacity: int = 3) -> Seeded:
    with session_scope(engine, actor=SEEDER) as s:
        ensure_region(s, code="36", name="江西省", level="province")
        ensure_region(s, code="3601", name="南昌市", level="city", parent_code="36")
        ensure_region(s, code="360102", name="东湖区", level="county", parent_code="3601")
        ensure_region(s, code="360103", name="西湖区", level="county", parent_code="3601")
        put_policy(s, policy_id="jx-1-20", name="每月1-20日", month_days=[[1, 20]])
        put_policy(s, policy_id="none", name="无安静日")
        set_caps(s, {"agency_enterprise_per_year": 2, "enterprise_per_month": 2})
        for agency_id, name, region in AGENCIES.values():
            create_agency(
                s, agency_id=agency_id, name=name, region_code=region, daily_capacity=capacity
            )
        out = Seeded(supervisor=create_key(s, role="supervisor")[1])
        for letter, (agency_id, _, _) in AGENCIES.items():
            out.keys[letter] = create_key(s, role="agency", agency_id=agency_id)[1]
        for n in range(enterprises):
            region = "360102" if n % 3 else "360103"
            eid = uscc(region, n + 1)
            create_enterprise(
                s,
                enterprise_id=eid,
                name=f"江西测试{n + 1}号有限公司",
                region_code=region,
                quiet_policy_id="jx-1-20",
            )
            out.enterprises.append(eid)
    return out
