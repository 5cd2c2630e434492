"""The agency pages (/agency) over HTTP on SQLite and PostgreSQL: sign-in with the agency's key
(supervisor and approver keys refused), CSRF and same-origin, sign-out ending the session on the
server; a sheet with errors refused whole with every problem (row, Chinese column, message) and
marked back, then imported once fixed; the plans' filters, export, edit and cancel; the month
and inspectors sent on a visit; the enterprise search by name, code and pinyin initials; hostile
input answered 4xx."""

from __future__ import annotations

import io
import re

from fastapi.testclient import TestClient
from openpyxl import load_workbook

from conftest import Clock
from flows import as_csv, published, row
from quietday.persistence import Engine, session_scope
from quietday.persistence.audit import AuditRepository
from quietday.planning.keys import create_key
from seed import AGENCIES, Seeded

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
RED = "FFFFC7CE"


def sign_in(fc: TestClient, key: str) -> str:
    form = fc.get("/agency/login")
    token = CSRF.search(form.text)
    assert token is not None
    r = fc.post("/agency/login", data={"key": key, "csrf": token.group(1)})
    assert r.status_code == 200, r.text
    assert r.url.path == "/agency/plans"
    found = CSRF.search(r.text)
    assert found is not None
    return found.group(1)


def upload(fc: TestClient, csrf: str, name: str, content: bytes) -> tuple[str, str]:
    r = fc.post("/agency/upload", data={"csrf": csrf}, files={"file": (name, content)})
    assert r.status_code == 200, r.text
    assert r.url.path.startswith("/agency/uploads/")
    return r.url.path, r.text


def audited(engine: Engine, subject: str) -> list[str]:
    """The actions logged on `subject` by a signed-in clerk of the agency pages."""
    with session_scope(engine) as s:
        rows = AuditRepository(s).page(after=0, limit=100, action_prefix=None, subject=subject)
        return [r.action for r in rows if r.actor.endswith("agency-pages")]


def plan_count(fc: TestClient, world: Seeded) -> int:
    return len(fc.get("/api/v1/plans?limit=500", headers=world.auth("A")).json()["items"])


def test_sign_in_refuses_other_keys_checks_csrf_and_sign_out_ends_it(
    fc: TestClient, world: Seeded, engine: Engine
) -> None:
    assert fc.get("/agency/plans").url.path == "/agency/login"
    form = fc.get("/agency/login")
    assert "default-src 'self'" in form.headers["content-security-policy"]
    token = CSRF.search(form.text)
    assert token is not None
    r = fc.post("/agency/login", data={"key": world.supervisor, "csrf": token.group(1)})
    assert r.status_code == 403
    assert "监督密钥请登录监督看板" in r.text
    with session_scope(engine, actor="test") as s:
        approver = create_key(s, role="approver", agency_id=AGENCIES["A"][0])[1]
    token = CSRF.search(r.text)
    assert token is not None
    r = fc.post("/agency/login", data={"key": approver, "csrf": token.group(1)})
    assert r.status_code == 403
    assert "审批密钥" in r.text
    token = CSRF.search(r.text)
    assert token is not None
    r = fc.post("/agency/login", data={"key": "qd_nonsense", "csrf": token.group(1)})
    assert r.status_code == 401
    # A forged login form (no matching cookie token), or a post from another site.
    r = fc.post("/agency/login", data={"key": world.keys["A"], "csrf": "forged"})
    assert r.status_code == 403
    csrf = sign_in(fc, world.keys["A"])
    assert fc.cookies.get("qd_agency")
    copy = fc.cookies.get("qd_agency")
    r = fc.post("/agency/logout", data={"csrf": csrf}, headers={"Origin": "https://evil.test"})
    assert r.status_code == 403
    r = fc.post("/agency/logout", data={"csrf": "wrong"})
    assert r.status_code == 403
    assert fc.post("/agency/logout", data={"csrf": csrf}).url.path == "/agency/login"
    # The server ended the session: a copy of the cookie opens nothing.
    fc.cookies.set("qd_agency", str(copy), path="/agency")
    assert fc.get("/agency/plans").url.path == "/agency/login"


def test_a_sheet_with_errors_is_refused_whole_marked_back_and_imported_once_fixed(
    fc: TestClient, world: Seeded, engine: Engine
) -> None:
    csrf = sign_in(fc, world.keys["A"])
    rows = [row(world, k) for k in range(4)]
    rows[0][5] = "2026-13-01"  # 最早日期
    rows[2][3] = "随便检查"  # 检查类型
    rows[3][2] = "91360000MA0000000X"  # 统一社会信用代码
    path, text = upload(fc, csrf, "计划.csv", as_csv(rows))
    assert plan_count(fc, world) == 0
    assert "未导入" in text
    table = re.findall(r"<tr><td>(\d+)</td><td>([^<]+)</td><td>([^<]+)</td></tr>", text)
    assert [(int(line), column) for line, column, _ in table] == [
        (2, "最早日期"),
        (4, "检查类型"),
        (5, "统一社会信用代码"),
    ]
    assert all(not message.startswith("第") for _, _, message in table)
    r = fc.get(f"{path}/marked.xlsx")
    assert r.status_code == 200
    assert "attachment" in r.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(r.content)).worksheets[0]
    marked = {
        c.coordinate
        for line in sheet.iter_rows()
        for c in line
        if c.fill.fgColor.rgb == RED and c.comment is not None
    }
    assert marked == {"F2", "D4", "C5"}
    # Fixed, it goes in whole.
    rows[0][5], rows[2][3], rows[3][2] = "2026-07-01", "日常检查", world.enterprises[3]
    path, text = upload(fc, csrf, "计划.csv", as_csv(rows))
    assert "已全部导入" in text
    assert "新增 4 条" in text
    assert plan_count(fc, world) == 4
    assert fc.get(f"{path}/marked.xlsx").status_code == 404
    # Another agency reads nothing of it.
    other = TestClient(fc.app)
    sign_in(other, world.keys["B"])
    assert other.get(path).status_code == 404
    # Hostile: the wrong type, a forged token, an oversized body.
    r = fc.post("/agency/upload", data={"csrf": csrf}, files={"file": ("x.pdf", b"%PDF")})
    assert r.status_code == 422
    assert "CSV 或 XLSX" in r.text
    r = fc.post("/agency/upload", data={"csrf": "nope"}, files={"file": ("x.csv", b"a")})
    assert r.status_code == 403
    huge = b"x" * (fc.app.state.settings.max_upload_bytes + 1)  # type: ignore[attr-defined]
    r = fc.post("/agency/upload", data={"csrf": csrf}, files={"file": ("x.csv", huge)})
    assert r.status_code == 413
    assert fc.get("/agency/uploads/not..a..token").status_code == 422
    assert plan_count(fc, world) == 4


def test_plans_filters_export_edit_and_cancel(
    fc: TestClient, world: Seeded, clock: Clock, engine: Engine
) -> None:
    ids = published(fc, world)
    csrf = sign_in(fc, world.keys["A"])
    page = fc.get("/agency/plans")
    assert page.status_code == 200
    shown = set(map(int, re.findall(r'data-plan="(\d+)"', page.text)))
    assert shown == {ids["joint_a"], ids["case"], ids["alone"]}
    # The joint visit: B is the partner, the lead agency named.
    assert AGENCIES["B"][1] in page.text
    assert "联合" in page.text
    by_name = fc.get("/agency/plans", params={"q": "测试2号"})
    assert set(map(int, re.findall(r'data-plan="(\d+)"', by_name.text))) == {ids["case"]}
    by_code = fc.get("/agency/plans", params={"q": world.enterprises[3]})
    assert set(map(int, re.findall(r'data-plan="(\d+)"', by_code.text))) == {ids["alone"]}
    kind = fc.get("/agency/plans", params={"kind": "case", "status": "published"})
    assert set(map(int, re.findall(r'data-plan="(\d+)"', kind.text))) == {ids["case"]}
    window = fc.get("/agency/plans", params={"from": "2026-07-23", "to": "2026-07-31"})
    assert set(map(int, re.findall(r'data-plan="(\d+)"', window.text))) == {ids["alone"]}
    for bad in ({"status": "nope"}, {"from": "2026-02-30"}, {"cursor": "!!"}, {"kind": "x"}):
        assert fc.get("/agency/plans", params=bad).status_code == 422
    r = fc.get("/agency/plans.xlsx", params={"kind": "routine"})
    assert r.status_code == 200
    sheet = load_workbook(io.BytesIO(r.content)).worksheets[0]
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][:4] == ("计划编号", "外部编号", "统一社会信用代码", "企业名称")
    assert {v[0] for v in values[1:]} == {ids["joint_a"], ids["alone"]}
    joint = next(v for v in values[1:] if v[0] == ids["joint_a"])
    assert joint[9] == "已排定"
    assert joint[10] == "2026-07-21"
    assert joint[11] == AGENCIES["B"][1]
    # Edit: a window the rules refuse (latest before earliest) is shown in Chinese.
    r = fc.post(
        f"/agency/plans/{ids['alone']}",
        data={"csrf": csrf, "items": "SCJG-0101", "earliest": "2026-09-10",
              "latest": "2026-09-01", "priority": "2"},
    )  # fmt: skip
    assert r.status_code == 422
    assert 'role="alert"' in r.text
    r = fc.post(
        f"/agency/plans/{ids['alone']}",
        data={"csrf": csrf, "items": "SCJG-0101、SCJG-0103", "earliest": "2026-09-01",
              "latest": "2026-09-30", "priority": "4"},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    assert "已保存修改" in r.text
    got = fc.get(f"/api/v1/plans/{ids['alone']}", headers=world.auth("A")).json()
    assert got["items"] == ["SCJG-0101", "SCJG-0103"]
    assert got["priority"] == 4
    assert got["status"] == "submitted"  # left its visit, waits for the next run
    assert fc.post(f"/agency/plans/{ids['alone']}", data={"csrf": "x"}).status_code == 403
    r = fc.post(f"/agency/plans/{ids['case']}/cancel", data={"csrf": csrf})
    assert r.status_code == 200
    assert "已撤销" in r.text
    got = fc.get(f"/api/v1/plans/{ids['case']}", headers=world.auth("A")).json()
    assert got["status"] == "cancelled"
    # Not A's plan: the same 404 as a missing one.
    assert fc.get(f"/agency/plans/{ids['joint_b']}").status_code == 404
    assert audited(engine, f"plan:{ids['alone']}") == ["plan.update"]
    assert audited(engine, f"plan:{ids['case']}") == ["plan.cancel"]


def test_the_month_and_inspectors_sent_on_a_visit(
    fc: TestClient, world: Seeded, inspectors: None, engine: Engine
) -> None:
    published(fc, world)
    csrf = sign_in(fc, world.keys["A"])
    month = fc.get("/agency/month", params={"month": "2026-07"})
    assert month.status_code == 200
    visits = list(map(int, re.findall(r'data-visit="(\d+)"', month.text)))
    assert len(visits) == 3
    assert month.text.count('class="visit joint') == 1
    assert "A-001" in month.text
    joint = int(re.findall(r'class="visit joint[^"]*" href="/agency/visits/(\d+)"', month.text)[0])
    ids = dict(
        re.findall(r'value="(\d+)"[^>]*> 执法员(A-00\d)', fc.get(f"/agency/visits/{joint}").text)
    )
    ids = {v: k for k, v in ids.items()}
    r = fc.post(
        f"/agency/visits/{joint}/inspectors", data={"csrf": csrf, "inspector": [ids["A-001"]]}
    )
    assert r.status_code == 422
    assert "至少 2 名" in r.text
    chosen = [ids["A-001"], ids["A-002"]]
    r = fc.post(f"/agency/visits/{joint}/inspectors", data={"csrf": csrf, "inspector": chosen})
    assert r.status_code == 200, r.text
    assert "已指派" in r.text
    assert audited(engine, f"visit:{joint}") == ["visit.inspectors"]
    only = fc.get("/agency/month", params={"month": "2026-07", "inspector": ids["A-001"]})
    assert re.findall(r'data-visit="(\d+)"', only.text) == [str(joint)]
    # B's inspectors cannot be sent by A; a visit without A is not A's.
    other = TestClient(fc.app)
    sign_in(other, world.keys["C"])
    assert other.get(f"/agency/visits/{joint}").status_code == 404
    for bad in ({"month": "2026-13"}, {"month": "x"}, {"inspector": "0"}, {"inspector": "a"}):
        assert fc.get("/agency/month", params=bad).status_code == 422


def test_enterprise_search_by_name_code_and_pinyin_initials(fc: TestClient, world: Seeded) -> None:
    sign_in(fc, world.keys["A"])
    found = fc.get("/agency/enterprises", params={"q": "测试3号"}).json()
    assert [e["id"] for e in found] == [world.enterprises[2]]
    # 江西测试… -> jxcs: every seeded enterprise.
    found = fc.get("/agency/enterprises", params={"q": "JXCS"}).json()
    assert {e["id"] for e in found} == set(world.enterprises)
    found = fc.get("/agency/enterprises", params={"q": world.enterprises[1][:12]}).json()
    assert world.enterprises[1] in {e["id"] for e in found}
    assert fc.get("/agency/enterprises", params={"q": "%"}).json() == []
    assert fc.get("/agency/enterprises", params={"q": "x" * 51}).status_code == 422
    api = fc.get("/api/v1/enterprises", params={"q": "jxcs5"}, headers=world.auth("A"))
    assert api.status_code == 200
    assert [e["id"] for e in api.json()["items"]] == [world.enterprises[4]]


def test_an_unreadable_csv_is_refused_with_its_reason(fc: TestClient, world: Seeded) -> None:
    """Bytes neither UTF-8 nor GB18030 once answered 500 (the marked copy read the file again)."""
    csrf = sign_in(fc, world.keys["A"])
    path, text = upload(fc, csrf, "计划.csv", b"\xff\xfe\x00\x01" * 1000)
    assert "CSV 文件编码无法识别" in text
    r = fc.get(f"{path}/marked.xlsx")
    assert r.status_code == 200
    listing = load_workbook(io.BytesIO(r.content)).worksheets[1]
    assert [c.value for c in listing[2]][:2] == ["file", "bad_encoding"]
    assert plan_count(fc, world) == 0
