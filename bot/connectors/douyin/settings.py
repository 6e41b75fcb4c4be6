"""``[[connectors]] type = "douyin"``: Douyin web live rooms (reverse-engineered webcast push).

Example::

    [[connectors]]
    type = "douyin"
    name = "douyin-main"
    rooms = ["646454278948"]              # web_rid: the number in live.douyin.com/<web_rid>
    sessionid = "env:DOUYIN_SESSIONID"    # only for sending (unverified against the real site)
    own_user_id = "1234567890"            # our account's uid, so echoes are never answered
"""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from bot.connectors.douyin.signer import DEFAULT_USER_AGENT

_WEB_RID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # real ones are digits; simulators may use names


class DouyinSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = ""
    account: str = "default"
    enabled: bool = True

    rooms: list[str] = Field(min_length=1, description="web_rid of each live room")
    live_base_url: str = "https://live.douyin.com"  # room page, im/fetch, room chat send
    ws_base_url: str = "wss://webcast100-ws-web-lq.douyin.com"  # push WebSocket host
    user_agent: str = Field(default=DEFAULT_USER_AGENT, min_length=10)
    room_info_ttl_s: float = Field(default=600.0, ge=0, le=86_400)  # reuse the room page on reconnects
    prefetch: bool = True  # GET /webcast/im/fetch/ for a fresh cursor before connecting

    heartbeat_s: float = Field(default=10.0, ge=1.0, le=60.0)
    silence_s: float = Field(default=70.0, ge=2.0, le=3600.0)  # no frame at all for this long → reconnect
    connect_timeout_s: float = Field(default=15.0, gt=0, le=120)
    reconnect_initial_s: float = Field(default=1.0, gt=0, le=60)
    reconnect_max_s: float = Field(default=60.0, gt=0, le=3600)

    sessionid: SecretStr | None = None  # logged-in web cookie; None = read-only connector
    sessionid_expires_at: datetime | None = None  # warn ahead of time when known
    own_user_id: str = ""
    send_timeout_s: float = Field(default=10.0, gt=0, le=120)
    max_text_chars: int = Field(default=50, ge=1, le=500)

    @field_validator("rooms")
    @classmethod
    def _web_rids(cls, value: list[str]) -> list[str]:
        for rid in value:
            if not _WEB_RID.fullmatch(rid):
                raise ValueError(f"room {rid!r} must be the web_rid of live.douyin.com/<web_rid> (digits)")
        if len(set(value)) != len(value):
            raise ValueError("rooms must not repeat")
        return value

    @field_validator("live_base_url", "ws_base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://", "ws://", "wss://")):
            raise ValueError("must start with http(s):// or ws(s)://")
        return value.rstrip("/")
