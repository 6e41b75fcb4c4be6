"""``[matching]`` section of config.toml."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MatchingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Built-in default lists shipped in keywords/lists/ are always loaded first unless disabled.
    use_default_lists: bool = True
    # The merchant's own TOML lists, layered over the defaults (paths relative to config.toml).
    extra_lists: list[str] = Field(default_factory=list)
    # Product catalogue (name, aliases, link number, price, stock) used to resolve "3号链接".
    products: str | None = "products.toml"
    # How often the running agent checks list files for edits (seconds).
    reload_interval_s: float = Field(default=2.0, gt=0, le=3600)
    # Messages scoring below this are not leads.
    min_score: float = Field(default=0.5, ge=0, le=1)
