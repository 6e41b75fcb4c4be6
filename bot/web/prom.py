"""``/metrics``: the live figures in the Prometheus text exposition format (written by hand:
a dozen gauges and counters do not need a dependency).

Allowed without login from 127.0.0.1/::1 (a local scraper); from elsewhere it needs
``Authorization: Bearer <web token>``."""

from __future__ import annotations

from aiohttp import web

from bot.web.context import CONTEXT
from bot.web.live import snapshot


def _label(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def exposition(stats: dict[str, object]) -> str:
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: list[tuple[dict[str, object], float]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            text = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
            lines.append(f"{name}{{{text}}} {float(value)}" if text else f"{name} {float(value)}")

    def number(key: str) -> float:
        value = stats.get(key)
        return float(value) if isinstance(value, int | float) else 0.0

    metric("leadbot_messages_per_second", "gauge", "Chat messages read per second (10 s window).", [({}, number("messages_per_s"))])
    metric("leadbot_leads_per_minute", "gauge", "New leads per minute (60 s window).", [({}, number("leads_per_min"))])
    if stats.get("backlog") is not None:
        metric("leadbot_backlog", "gauge", "Events waiting between the sources and the matcher.", [({}, number("backlog"))])
    metric("leadbot_messages_total", "counter", "Chat messages read.", [({}, number("messages_total"))])
    metric("leadbot_leads_new_total", "counter", "New leads captured.", [({}, number("leads_new"))])
    sent = stats.get("sent") or {}
    assert isinstance(sent, dict)
    metric("leadbot_sent_total", "counter", "Messages sent, by kind.", [({"kind": k}, v) for k, v in sent.items()])
    suppressed = stats.get("suppressed") or {}
    assert isinstance(suppressed, dict)
    metric(
        "leadbot_suppressed_total",
        "counter",
        "Decisions not sent, by reason (caps, no template ...).",
        [({"reason": k}, v) for k, v in suppressed.items()],
    )
    failures = stats.get("send_failures") or {}
    assert isinstance(failures, dict)
    metric("leadbot_send_failures_total", "counter", "Failed send attempts, by error.", [({"error": k}, v) for k, v in failures.items()])
    metric("leadbot_paused", "gauge", "1 when sending is paused (kill switch).", [({}, 1.0 if stats.get("paused") else 0.0)])
    metric("leadbot_shadow", "gauge", "1 in shadow mode (decide, send nothing).", [({}, 1.0 if stats.get("shadow") else 0.0)])
    if stats.get("latency_p99_ms") is not None:
        metric("leadbot_latency_p99_seconds", "gauge", "Read-to-decided latency, 99th percentile.", [({}, number("latency_p99_ms") / 1000)])
    connectors = stats.get("connectors") or []
    assert isinstance(connectors, list)
    metric(
        "leadbot_connector_up",
        "gauge",
        "1 when the connector is live.",
        [({"connector": c["name"], "platform": c["platform"], "state": c["state"]}, 1.0 if c["state"] == "live" else 0.0) for c in connectors],
    )
    metric(
        "leadbot_connector_reconnects_total",
        "counter",
        "Reconnects per connector.",
        [({"connector": c["name"], "platform": c["platform"]}, c["reconnects"]) for c in connectors],
    )
    return "\n".join(lines) + "\n"


async def metrics_endpoint(request: web.Request) -> web.StreamResponse:
    stats = await snapshot(request.app[CONTEXT])
    return web.Response(text=exposition(stats), content_type="text/plain", charset="utf-8", headers={"X-Content-Type-Options": "nosniff"})
