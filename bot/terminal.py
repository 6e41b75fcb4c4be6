"""``leadbot run`` on a terminal: a compact live view (rich Live) of rates, leads, replies,
caps and connector health; on a pipe or file, the plain periodic log line instead."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from bot.outbox import PAUSE_FLAG, SHADOW_FLAG

if TYPE_CHECKING:
    from bot.pipeline import Worker

log = logging.getLogger("leadbot.run")
REPORT_EVERY_S = 10.0


def render_view(worker: Worker, *, paused: bool, shadow: bool, dashboard: str | None = None) -> Group:
    m = worker.metrics
    p99 = m.latency_percentile(0.99)
    state = "PAUSED" if paused else ("SHADOW" if shadow else "sending")
    style = "bold white on red" if paused else ("bold black on yellow" if shadow else "bold white on green")
    head = Text.assemble(("leadbot ", "bold"), (f" {state} ", style), f"  up {int(time.time() - m.started_at)}s")
    if dashboard:
        head.append(f"  dashboard {dashboard}", style="cyan")
    figures = Table.grid(padding=(0, 3))
    for _ in range(6):
        figures.add_column(justify="right")
    figures.add_row("msgs/s", "backlog", "leads/min", "leads", "sent", "suppressed")
    figures.add_row(
        f"{m.rate():.1f}",
        str(m.backlog),
        f"{m.leads_per_minute():.1f}",
        str(m.leads_new),
        str(sum(m.sent.values())),
        str(sum(m.suppressed.values())),
    )
    parts: list[Table | Text] = [head, figures]
    if m.suppressed:
        caps = Table("suppressed by", "n", box=None, padding=(0, 2))
        for reason, count in m.suppressed.most_common(5):
            caps.add_row(reason, str(count))
        parts.append(caps)
    health = Table("connector", "platform", "state", "reconnects", "last error", box=None, padding=(0, 2))
    for connector in worker.connectors:
        h = connector.health
        colour = "green" if h.state == "live" else ("yellow" if h.state in ("connecting", "reconnecting", "idle") else "red")
        health.add_row(connector.name, connector.platform, Text(h.state, style=colour), str(h.reconnects), (h.last_error or "")[:60])
    parts.append(health)
    parts.append(Text(f"p99 latency {p99 * 1000:.0f} ms" if p99 is not None else "p99 latency -", style="dim"))
    return Group(*parts)


async def log_lines(worker: Worker) -> None:
    """The plain periodic line (not a terminal)."""
    while True:
        await asyncio.sleep(REPORT_EVERY_S)
        m = worker.metrics
        p99 = m.latency_percentile(0.99)
        stages = " ".join(f"{name}={seconds:.1f}s" for name, seconds in sorted(m.stage_seconds.items()))
        log.info(
            "msgs=%d rate=%.1f/s backlog=%d leads+%d sent=%d suppressed=%d p99=%s batches=%d %s",
            m.messages_read,
            m.rate(),
            m.backlog,
            m.leads_new,
            sum(m.sent.values()),
            sum(m.suppressed.values()),
            f"{p99 * 1000:.0f}ms" if p99 is not None else "-",
            m.batches,
            stages,
        )


async def live_view(worker: Worker, *, dashboard: str | None = None) -> None:
    """Redraw the view every second; log records print above it while it runs."""
    console = Console(stderr=True)
    root = logging.getLogger()
    handlers = [h for h in root.handlers if isinstance(h, logging.StreamHandler) and h.stream is sys.__stderr__]
    with Live(console=console, refresh_per_second=2, redirect_stderr=True, transient=False) as live:
        for handler in handlers:
            handler.setStream(sys.stderr)  # rich's proxy: lines go above the live view
        try:
            while True:
                paused = shadow = False
                try:
                    paused = (await worker.repository.get_flag(PAUSE_FLAG, "0")) == "1"
                    shadow = worker.options.shadow or (await worker.repository.get_flag(SHADOW_FLAG, "0")) == "1"
                except Exception:  # the view must not die with a database hiccup
                    pass
                live.update(render_view(worker, paused=paused, shadow=shadow, dashboard=dashboard))
                await asyncio.sleep(1.0)
        finally:
            for handler in handlers:
                handler.setStream(sys.__stderr__)


def reporter(worker: Worker, *, dashboard: str | None = None) -> asyncio.Task[None]:
    if sys.stderr.isatty():
        return asyncio.create_task(live_view(worker, dashboard=dashboard), name="terminal-view")
    return asyncio.create_task(log_lines(worker), name="report")
