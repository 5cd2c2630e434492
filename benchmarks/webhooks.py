"""webhooks: what the outbox adds to publishing a ~10,000-plan quarter (the same deterministic
run published in PostgreSQL without endpoints and with an integrator's endpoint and one per
agency), and delivery throughput to a local receiver (one deliverer, 8 POSTs at a time)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from benchmarks.harness import Echo, eve, fresh_database
from quietday.config import Settings
from quietday.generate import GeneratorConfig, generate
from quietday.persistence import make_engine, session_scope
from quietday.persistence.registry import AgencyRepository
from quietday.persistence.webhooks import WebhookRepository
from quietday.planning.keys import Actor, create_key
from quietday.planning.province import CLI, load_province
from quietday.planning.runs import RunRequest, create_run, execute_run, publish_run
from quietday.planning.webhooks import Deliverer, create_endpoint

# About 1.8 plans per enterprise a quarter: some 10,000 plans.
WEBHOOKS = GeneratorConfig(enterprises=5_600, seed=3, horizon="quarter", counties=2)


class _Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


def _publish(out: Path, name: str, *, endpoints: bool) -> dict[str, Any]:
    instance = generate(WEBHOOKS)
    url = fresh_database(out, name, pg=True)
    engine = make_engine(url)
    with session_scope(engine, actor=CLI) as session:
        load_province(session, instance)
        key, _ = create_key(session, role="supervisor", label="bench")
        actor = Actor(key_id=int(key.id or 0), role="supervisor", agency_id=None)
        agencies = [a.id for a in AgencyRepository(session).list()]
        if endpoints:
            create_endpoint(session, actor, url="http://127.0.0.1:9/all", local=True)
            for agency in agencies:
                create_endpoint(
                    session, actor, url="http://127.0.0.1:9/a", agency_id=agency, local=True
                )
        request = RunRequest(
            horizon_start=instance.horizon.start,
            horizon_end=instance.horizon.end,
            time_limit=10,
            workers=1,
            deterministic=True,
        )
        run = create_run(
            session, actor, request, today=eve(instance.horizon), max_time_limit=60, max_workers=1
        )
        run_id = int(run.id or 0)
    execute_run(engine, run_id)
    t0 = time.perf_counter()
    with session_scope(engine, actor=CLI) as session:
        report = publish_run(session, run_id, today=eve(instance.horizon))
    seconds = time.perf_counter() - t0
    with session_scope(engine) as session:
        deliveries = sum(WebhookRepository(session).counts().values())
    engine.dispose()
    return {
        "url": url,
        "publish_seconds": round(seconds, 2),
        "plans": report.published,
        "visits": report.visits,
        "agencies": len(agencies),
        "deliveries": deliveries,
    }


def _deliver(url: str) -> dict[str, Any]:
    """Every delivery of the database POSTed to a local receiver that answers 204."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE webhook_endpoint SET url = replace(url, '127.0.0.1:9', %s)",
            (f"127.0.0.1:{port}",),
        )
    deliverer = Deliverer(engine, Settings(database_url=url, webhooks_local=True), batch=200)
    t0 = time.perf_counter()
    sent = 0
    while done := deliverer.run_once():
        sent += done
    seconds = time.perf_counter() - t0
    deliverer.close()
    with session_scope(engine) as session:
        counts = WebhookRepository(session).counts()
    engine.dispose()
    server.shutdown()
    return {
        "sent": sent,
        "seconds": round(seconds, 2),
        "per_second": round(sent / seconds, 1) if seconds else 0.0,
        "succeeded": counts.get("succeeded", 0),
    }


def measure(out: Path, *, progress: Echo) -> dict[str, Any]:
    progress("发布约 10,000 项检查计划: 无 Webhook 端点……")
    plain = _publish(out, "bench_webhooks_plain", endpoints=False)
    progress("发布同一运行: 集成方端点与每个部门一个端点……")
    hooked = _publish(out, "bench_webhooks_outbox", endpoints=True)
    progress("投递到本机接收端……")
    delivered = _deliver(hooked.pop("url"))
    plain.pop("url")
    return {
        "without_endpoints": plain,
        "with_endpoints": hooked,
        "outbox_seconds": round(hooked["publish_seconds"] - plain["publish_seconds"], 2),
        "delivery": delivered,
        "bars": {"every_delivery_succeeded": delivered["succeeded"] == hooked["deliveries"]},
    }


def print_figures(a: dict[str, Any], echo: Echo) -> None:
    w, h, d = a["without_endpoints"], a["with_endpoints"], a["delivery"]
    echo(
        f"Webhook: 发布 {w['plans']:,} 项 / {w['visits']:,} 次入企 {w['publish_seconds']} 秒, "
        f"有端点时 {h['publish_seconds']} 秒(发件箱 {h['deliveries']:,} 条投递, "
        f"多 {a['outbox_seconds']} 秒); 投递 {d['sent']:,} 条 {d['seconds']} 秒, "
        f"{d['per_second']} 条/秒"
    )
