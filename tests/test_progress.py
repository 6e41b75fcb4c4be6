"""The progress helper: a bar on a terminal, plain log lines elsewhere (CI, pipes)."""

from __future__ import annotations

import io
import logging

import pytest

from bot.progress import progress, track


def test_without_a_terminal_it_logs_a_final_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="leadbot.progress")
    with progress("exporting leads", total=4, stream=io.StringIO(), unit="leads") as advance:
        for _ in range(4):
            advance(1)
    assert "exporting leads: done, 4/4 leads (100%)" in caplog.text


async def test_track_passes_every_item_through(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="leadbot.progress")

    async def numbers():  # type: ignore[no-untyped-def]
        for n in range(3):
            yield n

    seen = [n async for n in track(numbers(), "replaying", stream=io.StringIO())]
    assert seen == [0, 1, 2]
    assert "replaying: done, 3 items" in caplog.text
