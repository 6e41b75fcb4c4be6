"""``[[connectors]] type = "youtube"``: YouTube Data API v3 live chat and video comments.

Credentials, from least to most capable:

- ``api_key``: reads public chats and comments; cannot send.
- ``access_token``: an OAuth bearer token; reads and sends until it expires (Google: 1 hour).
- ``refresh_token`` + ``client_id`` + ``client_secret``: the connector gets and renews access
  tokens itself, so it runs for days; ``token_file`` keeps the current one across restarts.

Secrets are best given as ``"env:NAME"`` (resolved by ``bot.config``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class YouTubeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = ""
    account: str = "default"
    enabled: bool = True

    base_url: str = "https://www.googleapis.com/youtube/v3"
    api_key: SecretStr | None = None  # enough for reading public chats and comments
    access_token: SecretStr | None = None  # OAuth bearer (scope youtube.force-ssl); needed to send
    access_token_expires_at: float | None = None  # unix s, when known: warned ahead of time
    own_channel_id: str = ""  # our channel: its chat lines are never answered

    # OAuth refresh (installed-app or web client from the Google Cloud console).
    client_id: str = ""
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = None  # long-lived; from the consent flow with access_type=offline
    token_url: str = "https://oauth2.googleapis.com/token"
    token_file: str | None = None  # current access token + expiry (0600), reused after a restart
    refresh_before_s: float = Field(default=300.0, ge=30, le=3000)  # renew when less than this is left

    live_chat_ids: list[str] = Field(default_factory=list)
    video_ids: list[str] = Field(default_factory=list)

    min_poll_interval_s: float = Field(default=1.0, ge=0.01, le=600)
    max_results: int = Field(default=500, ge=200, le=2000)
    comment_poll_interval_s: float = Field(default=60.0, ge=0.01, le=86_400)
    comment_backfill: int = Field(default=20, ge=0, le=100)  # newest comments taken on the first start
    comment_max_pages: int = Field(default=5, ge=1, le=100)

    daily_quota_units: int = Field(default=10_000, ge=1, le=10_000_000)
    reserve_units: int = Field(default=1_000, ge=0)  # kept for sends; pollers slow down instead
    # Pollers pace their share of the quota to last this long (or until midnight Pacific if sooner).
    quota_horizon_s: float = Field(default=4 * 3600.0, ge=60, le=86_400)
    request_timeout_s: float = Field(default=10.0, gt=0, le=120)

    @model_validator(mode="after")
    def _credentials(self) -> YouTubeSettings:
        if self.refresh_token is not None:
            missing = [key for key, value in (("client_id", self.client_id), ("client_secret", self.client_secret))
                       if not value]
            if missing:
                raise ValueError(f"refresh_token needs {' and '.join(missing)} too (the OAuth client it was issued to)")
        else:
            if self.client_id or self.client_secret is not None:
                raise ValueError("client_id/client_secret are only used with refresh_token: set refresh_token too")
            if self.token_file is not None:
                raise ValueError("token_file keeps refreshed access tokens: it needs refresh_token")
        if self.api_key is None and self.access_token is None and self.refresh_token is None:
            raise ValueError("set api_key (read only), refresh_token (read and send, renewed) or access_token")
        return self
