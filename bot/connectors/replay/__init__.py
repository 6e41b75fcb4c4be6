"""Recorded chat as a connector (``type = "replay"``): the corpora formats and our JSONL."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.connectors.base import Connector, ConnectorSpec
from bot.connectors.replay.source import JsonlSender, ReplaySource


class ReplaySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = ""
    account: str = "default"
    enabled: bool = True
    path: str = Field(min_length=1)  # recording to play (relative to the working directory)
    format: Literal["events", "bilibili_xml", "livechat", "ecd", "reviews", "lines"] | None = None
    room: str = "replay"
    rate: float = Field(default=0.0, ge=0, le=1_000_000)  # messages per second; 0 = not rate-paced
    speed: float = Field(default=0.0, ge=0, le=10_000)  # × the recording's own timing; 0 = as fast as possible
    sends_file: str = "replay_sends.jsonl"  # replies are appended here instead of a platform


def build(settings: BaseModel, account: str) -> Connector:
    assert isinstance(settings, ReplaySettings)
    path = Path(settings.path).expanduser()
    source = ReplaySource(path, settings.format, settings.room, account, rate=settings.rate, speed=settings.speed)
    return Connector(
        name=settings.name or "replay",
        platform="replay",
        sources=[source],
        sender=JsonlSender(Path(settings.sends_file).expanduser()),
        account=account,
    )


CONNECTOR = ConnectorSpec(type="replay", settings_model=ReplaySettings, build=build, description="recorded chat")
