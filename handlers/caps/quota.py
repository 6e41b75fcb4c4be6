"""Daily API quotas (YouTube Data API: 10,000 units per Pacific day; list 5, chat insert 20,
comment insert 50). Sends claim units through ``plan_claims``; reading is paced here."""

from __future__ import annotations

from handlers.settings import QuotaSettings


def poll_interval_floor_s(quota: QuotaSettings, pollers: int = 1, live_hours: float = 24.0) -> float:
    """Shortest average polling interval (seconds) that keeps ``pollers`` concurrent
    ``list`` loops, running ``live_hours`` a day, within the units not reserved for sends. Use
    ``max(pollingIntervalMillis / 1000, poll_interval_floor_s(...))``."""
    read_units = quota.daily_units - quota.send_units
    cost = quota.costs.get("list", 0)
    if cost <= 0:
        return 0.0
    polls = read_units // cost
    if polls <= 0:
        return float("inf")
    return live_hours * 3600.0 * pollers / polls
