"""The command line's event loop: uvloop when installed, the standard loop on request, and a
clear error for a value that names neither."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from bot import eventloop
from bot.cli import EXIT_CONFIG, main
from bot.config import ConfigError


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_auto_runs_on_uvloop_when_it_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("uvloop")
    monkeypatch.delenv(eventloop.ENV, raising=False)
    assert eventloop.run(_loop_module()).startswith("uvloop")


def test_asyncio_asked_for_runs_the_standard_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(eventloop.ENV, " AsyncIO ")
    assert eventloop.run(_loop_module()).startswith("asyncio.")


def test_without_uvloop_auto_falls_back_and_uvloop_asked_for_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop now raises ImportError
    assert eventloop.loop_factory("auto") is None
    with pytest.raises(ConfigError, match="uvloop is not installed"):
        eventloop.loop_factory("uvloop")


def test_an_unknown_loop_is_a_config_error_and_the_command_does_not_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(eventloop.ENV, "trio")
    database = tmp_path / "never.db"
    code = main(["leads", "list", "--db", str(database)])
    err = capsys.readouterr().err
    assert code == EXIT_CONFIG
    assert "LEADBOT_EVENT_LOOP" in err and "'trio' is not an event loop" in err
    assert not database.exists()  # refused before the command touched anything
