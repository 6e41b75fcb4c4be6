"""``[[connectors]] type = "douyin_open"``: the official Douyin Open Platform APIs."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class DouyinOpenSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = ""
    account: str = "default"
    enabled: bool = True

    base_url: str = "https://open.douyin.com"
    client_key: str = Field(min_length=1)
    client_secret: SecretStr  # signs webhooks and identifies the app; use "env:DOUYIN_CLIENT_SECRET"
    # The authorised account. Tokens seed the token file on first start; afterwards the file wins.
    open_id: str = ""
    access_token: SecretStr | None = None
    refresh_token: SecretStr | None = None
    token_file: str = "douyin_open_tokens.json"  # relative to the working directory; chmod 0600
    refresh_before_s: float = Field(default=86_400.0, ge=60, le=14 * 86_400)
    warn_before_s: float = Field(default=3 * 86_400.0, ge=0, le=30 * 86_400)

    # Video comments to poll (item ids as the platform spells them, e.g. "@9VwW0q…==").
    item_ids: list[str] = Field(default_factory=list)
    poll_interval_s: float = Field(default=30.0, ge=0.05, le=3600)
    page_size: int = Field(default=20, ge=1, le=50)

    webhook_path: str = "/webhooks/douyin_open"
    webhook_queue_size: int = Field(default=10_000, ge=10, le=1_000_000)
    # "stored": answer Douyin only once the events are committed (it redelivers otherwise, so a
    # crash loses nothing); "queued": as soon as they are in memory. Douyin waits 5 s.
    webhook_answer_when: Literal["stored", "queued"] = "stored"
    webhook_store_timeout_s: float = Field(default=4.0, gt=0, lt=5.0)
    # Deliveries not stored in time (database down) are kept here (0600 files) until they are;
    # "" answers 503 instead and relies on Douyin's 3 redeliveries. Relative to the working directory.
    webhook_spool_dir: str = "douyin_open_webhook_spool"
    request_timeout_s: float = Field(default=10.0, gt=0, le=120)
