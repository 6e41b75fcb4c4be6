"""The end-of-run summary a host or a newcomer reads (demo, run, replay)."""

from __future__ import annotations

from typing import Any

from bot.metrics import Metrics


def format_summary(metrics: Metrics, counts: dict[str, Any], database: str) -> str:
    decided = metrics.decided
    p50 = metrics.latency_percentile(0.5)
    p99 = metrics.latency_percentile(0.99)
    lines = [
        "── leadbot summary ─────────────────────────────",
        f"messages read        {metrics.messages_read}  (duplicates skipped: {metrics.duplicates})",
        f"messages in database {counts['messages']}",
        f"leads                {counts['leads']}",
    ]
    by_intent = counts.get("leads_by_intent", {})
    for intent in ("price", "link", "stock", "spec", "shipping", "ordered", "want"):
        if by_intent.get(intent):
            lines.append(f"  {intent:<18} {by_intent[intent]}")
    sent = counts.get("sent_by_kind", {})
    by_status = counts.get("actions_by_status", {})
    lines.append(f"replies sent         {sum(sent.values())}  {dict(sent) if sent else ''}".rstrip())
    if by_status.get("delivered") or by_status.get("undelivered"):
        lines.append(
            f"  delivered (echoed) {by_status.get('delivered', 0)}   undelivered {by_status.get('undelivered', 0)}"
            + (f"   awaiting echo {by_status['sent']}" if by_status.get("sent") else "")
        )
    if by_status.get("shadow"):
        lines.append(f"decided in shadow    {by_status['shadow']} (nothing sent)")
    suppressed = counts.get("suppressed_by_reason", {})
    lines.append(f"suppressed / skipped {sum(suppressed.values())}")
    for reason, count in sorted(suppressed.items(), key=lambda item: -item[1])[:8]:
        lines.append(f"  {count:>6}  {reason}")
    for status in ("pending", "sending", "failed"):
        if by_status.get(status):
            lines.append(f"{status:<20} {by_status[status]}")
    if p50 is not None and p99 is not None:
        lines.append(f"decision latency     p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")
    if decided:
        lines.append(f"decided this run     {dict(decided)}")
    lines.append(f"database             {database}")
    return "\n".join(lines)
