"""The ``[[connectors]] type = "bilibili"`` config entry."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)


class BilibiliSettings(BaseModel):
    """One Bilibili account watching one or more live rooms (and sending as that account)."""

    model_config = ConfigDict(extra="forbid")

    name: str = ""
    account: str = "default"
    enabled: bool = True

    rooms: list[str] = Field(min_length=1, max_length=50)  # room ids as in the URL (short ids are fine)
    # Cookies of the merchant's logged-in account; use "env:NAME". Without them danmaku arrive with
    # masked names and uid 0, and nothing can be sent.
    sessdata: SecretStr | None = None
    bili_jct: SecretStr | None = None
    buvid3: str | None = None  # fetched from www_base when not given
    uid: int | None = Field(default=None, ge=0)  # our account's uid; looked up via /nav when None

    api_base: str = "https://api.bilibili.com"
    live_api_base: str = "https://api.live.bilibili.com"
    vc_api_base: str = "https://api.vc.bilibili.com"
    www_base: str = "https://www.bilibili.com"
    ws_scheme: Literal["wss", "ws"] = "wss"
    user_agent: str = DEFAULT_USER_AGENT  # the danmaku token is tied to the UA
    wbi_sign: bool = True  # sign getDanmuInfo (mandatory on the real platform since 2025-05)

    heartbeat_s: float = Field(default=30.0, gt=0, le=300)
    auth_timeout_s: float = Field(default=5.0, gt=0, le=60)
    receive_timeout_s: float | None = Field(default=None, gt=0, le=600)  # default heartbeat_s + 5
    silence_s: float | None = Field(default=None, gt=0, le=3600)  # no events while live → reconnect
    http_timeout_s: float = Field(default=10.0, gt=0, le=120)
    reconnect_initial_s: float = Field(default=1.0, gt=0, le=600)
    reconnect_max_s: float = Field(default=60.0, gt=0, le=3600)
    max_malformed_in_a_row: int = Field(default=20, ge=1, le=10_000)

    danmaku_max_chars: int = Field(default=20, ge=1, le=40)  # 20 by default; 30-40 for high UL accounts
    rate_limited_retry_s: float = Field(default=5.0, gt=0, le=3600)  # when 10030/10031 give no delay
    blocked_retry_s: float = Field(default=60.0, gt=0, le=86_400)  # HTTP 412 (risk control)
    echo_window_s: float = Field(default=120.0, gt=0, le=3600)
    credential_warn_days: float = Field(default=7.0, ge=0, le=365)

    @field_validator("rooms")
    @classmethod
    def _numeric_rooms(cls, rooms: list[str]) -> list[str]:
        cleaned = [str(room).strip() for room in rooms]
        for room in cleaned:
            if not room.isdigit() or len(room) > 20:
                raise ValueError(f"room id {room!r} must be the number from live.bilibili.com/<id>")
        if len(set(cleaned)) != len(cleaned):
            raise ValueError("room ids must be unique")
        return cleaned

    @field_validator("api_base", "live_api_base", "vc_api_base", "www_base")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @property
    def effective_receive_timeout_s(self) -> float:
        return self.receive_timeout_s if self.receive_timeout_s is not None else self.heartbeat_s + 5
