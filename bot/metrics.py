"""Running figures of one worker: rates, backlog, latencies, outcomes. Read by the terminal
view, the dashboard and ``/metrics``; written only by the pipeline and the senders."""

from __future__ import annotations

import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field


@dataclass
class Metrics:
    started_at: float = field(default_factory=time.time)
    messages_read: int = 0
    events_read: int = 0
    duplicates: int = 0
    leads_new: int = 0
    lead_messages: int = 0
    batches: int = 0
    db_errors: int = 0
    db_conflicts: int = 0  # deadlocks / serialization failures between workers, retried
    db_available: bool = True
    sent: Counter[str] = field(default_factory=Counter)  # by kind
    send_failures: Counter[str] = field(default_factory=Counter)  # by error type
    decided: Counter[str] = field(default_factory=Counter)  # action status at decision time
    suppressed: Counter[str] = field(default_factory=Counter)  # by reason
    backlog: int = 0
    stage_seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))  # wall time per pipeline stage (match/decide/write)
    _latencies: deque[float] = field(default_factory=lambda: deque(maxlen=20_000))
    _arrivals: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=600))
    _lead_arrivals: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=600))

    def observe_latency(self, seconds: float) -> None:
        self._latencies.append(seconds)

    def latency_percentile(self, q: float) -> float | None:
        if not self._latencies:
            return None
        ordered = sorted(self._latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def note_arrivals(self, count: int, now: float | None = None) -> None:
        self._arrivals.append((time.time() if now is None else now, count))

    def rate(self, window_s: float = 10.0, now: float | None = None) -> float:
        now = time.time() if now is None else now
        total = sum(n for t, n in self._arrivals if now - t <= window_s)
        return total / window_s

    def note_leads(self, count: int, now: float | None = None) -> None:
        if count:
            self._lead_arrivals.append((time.time() if now is None else now, count))

    def leads_per_minute(self, window_s: float = 60.0, now: float | None = None) -> float:
        now = time.time() if now is None else now
        total = sum(n for t, n in self._lead_arrivals if now - t <= window_s)
        return total * 60.0 / window_s
