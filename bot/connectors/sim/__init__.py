"""The built-in simulator platform: leadbot's own JSON chat protocol, for demos and tests."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from bot.connectors.base import Connector, ConnectorHealth, ConnectorSpec
from bot.connectors.common import EchoTracker, ReconnectPolicy
from bot.connectors.sim.client import SimRoomSource, SimSender
from bot.connectors.sim.simulator import OWN_USER_ID


class SimSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = ""
    account: str = "default"
    enabled: bool = True
    base_url: str = Field(default="http://127.0.0.1:8900", pattern=r"^https?://")
    rooms: list[str] = Field(default_factory=lambda: ["room-1"], min_length=1)
    # Spacing between two sends of this account (the simulator's own "too fast" limit is 0).
    min_interval_s: float = Field(default=0.05, ge=0, le=3600)
    # Reconnect when a live room is silent this long (watchdog); 0 disables.
    silence_s: float = Field(default=60.0, ge=0)
    # End the source when the room's live ends (demo/tests); false keeps waiting for the next live.
    stop_at_live_end: bool = True


def build(settings: BaseModel, account: str) -> Connector:
    assert isinstance(settings, SimSettings)
    health = ConnectorHealth()
    echo = EchoTracker(own_user_ids={OWN_USER_ID})
    policy = ReconnectPolicy(initial_s=0.2, max_s=5.0)
    sources = [
        SimRoomSource(
            settings.base_url, room, account, health, echo, policy, settings.silence_s or None, settings.stop_at_live_end
        )
        for room in settings.rooms
    ]
    sender = SimSender(settings.base_url, echo, settings.min_interval_s)
    return Connector(
        name=settings.name or "sim",
        platform="sim",
        sources=sources,
        sender=sender,
        account=account,
        health=health,
        closers=[sender.aclose],
    )


def simulator_connector_config(base_url: str, rooms: list[str]) -> dict[str, object]:
    return {"type": "sim", "name": "sim", "base_url": base_url, "rooms": rooms}


CONNECTOR = ConnectorSpec(type="sim", settings_model=SimSettings, build=build, description="built-in simulator")
