"""`quietday sampling verify`: a round re-run from the database's record, and an exported
draw.json re-run by anyone (a tampered one caught, a broken one refused)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from conftest import Clock, url_of
from quietday.cli import app
from seed import AGENCIES, Seeded

runner = CliRunner()


def test_verify_reruns_a_round_from_the_database_and_from_its_export(
    client: TestClient,
    world: Seeded,
    clock: Clock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = client.post(
        "/api/v1/sampling-rounds",
        json={"name": "东湖区 第三季度", "draw_at": "2026-06-30T10:00:00+08:00"},
        headers=world.auth(),
    ).json()
    task = {
        "name": "全部企业 一半",
        "agencies": [AGENCIES["A"][0]],
        "region_prefix": "3601",
        "classes": ["U"],
        "ratios": {"U": 0.5},
        "earliest": "2026-07-01",
        "latest": "2026-07-31",
    }
    r = client.post(f"/api/v1/sampling-rounds/{made['id']}/tasks", json=task, headers=world.auth())
    assert r.status_code == 422  # 东湖区's agency cannot draw in the whole city
    task["region_prefix"] = "360102"
    r = client.post(f"/api/v1/sampling-rounds/{made['id']}/tasks", json=task, headers=world.auth())
    assert r.status_code == 201, r.text
    clock.now = datetime(2026, 6, 30, 2, 0, tzinfo=UTC)
    assert (
        client.post(f"/api/v1/sampling-rounds/{made['id']}/draw", headers=world.auth()).json()[
            "plans"
        ]
        == 2
    )  # four enterprises of 东湖区 at one half
    engine = client.app.state.engine  # type: ignore[attr-defined]
    monkeypatch.setenv("QUIETDAY_DATABASE_URL", url_of(engine))
    r = runner.invoke(app, ["sampling", "verify", str(made["id"])])
    assert r.exit_code == 0, r.output
    assert "一致" in r.stdout
    assert "重新抽取 2 家次,保存 2 家次" in r.stdout
    exported = tmp_path / "draw.json"
    document = client.get(f"/public/sampling/{made['id']}/draw.json").json()
    exported.write_text(json.dumps(document, ensure_ascii=False), "utf-8")
    r = runner.invoke(app, ["sampling", "verify", str(exported)])
    assert r.exit_code == 0, r.output
    # Another enterprise in place of a drawn one: the re-run disagrees.
    drawn = document["drawn"]["1"][AGENCIES["A"][0]]
    others = sorted(set(document["snapshot"]["tasks"][0]["population"]) - set(drawn))
    drawn[0] = others[0]
    exported.write_text(json.dumps(document, ensure_ascii=False), "utf-8")
    r = runner.invoke(app, ["sampling", "verify", str(exported)])
    assert r.exit_code == 1
    assert f"应抽未见: 任务 1 部门 {AGENCIES['A'][0]}" in r.stdout
    assert "不一致" in r.stdout
    # A seed that is not the committed one.
    document["round"]["seed"] = "0" * 64
    exported.write_text(json.dumps(document), "utf-8")
    r = runner.invoke(app, ["sampling", "verify", str(exported)])
    assert "种子与承诺值不符" in r.stdout
    exported.write_text('{"round": 1}', "utf-8")
    r = runner.invoke(app, ["sampling", "verify", str(exported)])
    assert r.exit_code == 2
    assert "[bad_document]" in r.stderr
    r = runner.invoke(app, ["sampling", "verify", "99"])
    assert r.exit_code == 2
    assert "[not_found]" in r.stderr
