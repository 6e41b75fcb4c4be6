"""Loading and validating ``config.toml``.

Every section is a pydantic model owned by the package that uses it; this module only
composes them, resolves secrets (``"env:NAME"`` values) and relative paths, and turns any
problem into a ``ConfigError`` whose lines name the key, the bad value and what is allowed:

    caps.reply.per_user_per_day = -1: must be >= 0
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from handlers.settings import CapsSettings, GreetingsSettings, RemindersSettings, ScheduleEntry
from keywords.settings import MatchingSettings
from replies.settings import RepliesSettings
from storage.settings import DatabaseSettings

ENV_PREFIX = "env:"


class ConfigError(Exception):
    """The configuration cannot be used. ``str()`` is meant for the user, one problem per line."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}:\n  " + "\n  ".join(problems))


class StoreSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="my store", min_length=1, max_length=200)


class PipelineSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Bounded queue between a source and the matcher; when full the source waits (never drops).
    queue_size: int = Field(default=10_000, ge=10, le=1_000_000)
    # Shadow mode: decide and record everything, send nothing.
    shadow: bool = False
    # Seconds to wait for in-flight sends when stopping before leaving them to the next start.
    drain_timeout_s: float = Field(default=10.0, ge=0, le=600)


class SenderSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    poll_interval_ms: int = Field(default=200, ge=10, le=60_000)
    max_attempts: int = Field(default=5, ge=1, le=100)
    # A claimed action whose worker died is retried after this many seconds (same idempotency key).
    claim_timeout_s: float = Field(default=60.0, gt=0, le=3600)
    # A sent message that should echo back but does not within this window is flagged undelivered.
    echo_timeout_s: float = Field(default=30.0, gt=0, le=3600)


class WorkersSettings(BaseModel):
    """Several ``leadbot run`` workers sharing one PostgreSQL database split the sources by lease."""

    model_config = ConfigDict(extra="forbid")

    # A source whose lease is not renewed for this long is taken over by another worker.
    lease_s: float = Field(default=15.0, ge=1, le=3600)
    # How often a worker renews its leases, rebalances and claims free sources (< lease_s / 2).
    renew_every_s: float = Field(default=3.0, gt=0, le=1800)
    # Upper bound on sources per worker; 0 = fair share, ceil(sources / live workers).
    max_sources_per_worker: int = Field(default=0, ge=0, le=100_000)
    # Stable worker name (unique per running process); a restarted worker with the same id
    # takes its own leases back at once. Default: hostname-pid.
    id: str = Field(default="", max_length=100)

    @model_validator(mode="after")
    def _renew_well_within_lease(self) -> WorkersSettings:
        if self.renew_every_s * 2 > self.lease_s:
            raise ValueError(
                f"renew_every_s = {self.renew_every_s:g} must be at most half of lease_s = {self.lease_s:g}, "
                "or a busy worker loses its sources between two renewals"
            )
        return self


class WebSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=0, le=65535)
    token: SecretStr | None = None  # use "env:LEADBOT_WEB_TOKEN" rather than a literal


class WebhooksSettings(BaseModel):
    """Where platforms deliver webhooks (Douyin Open: DMs, follows, comment replies). Served by
    ``leadbot run`` only when a connector has webhook routes; separate from the dashboard because
    it must be reachable by the platform (behind your HTTPS reverse proxy) and authenticates each
    call by its signature, not by the dashboard token."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8766, ge=0, le=65535)


class ConnectorEntry(BaseModel):
    """The common part of a ``[[connectors]]`` entry; the rest is validated by the connector."""

    model_config = ConfigDict(extra="allow")

    type: str
    name: str = ""
    account: str = "default"
    enabled: bool = True

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        from bot.connectors.registry import connector_specs

        known = sorted(connector_specs())
        if value not in known:
            raise ValueError(f"unknown connector type; allowed: {', '.join(known) or '(none installed)'}")
        return value


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    store: StoreSettings = Field(default_factory=StoreSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    matching: MatchingSettings = Field(default_factory=MatchingSettings)
    caps: CapsSettings = Field(default_factory=CapsSettings)
    greetings: GreetingsSettings = Field(default_factory=GreetingsSettings)
    reminders: RemindersSettings = Field(default_factory=RemindersSettings)
    schedule: list[ScheduleEntry] = Field(default_factory=list)
    replies: RepliesSettings = Field(default_factory=RepliesSettings)
    sender: SenderSettings = Field(default_factory=SenderSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    webhooks: WebhooksSettings = Field(default_factory=WebhooksSettings)
    workers: WorkersSettings = Field(default_factory=WorkersSettings)
    connectors: list[ConnectorEntry] = Field(default_factory=list)


@dataclass(frozen=True)
class LoadedConfig:
    settings: Settings
    path: Path | None  # None when built from defaults
    connectors: list[tuple[ConnectorEntry, BaseModel]]  # (common part, connector-specific settings)

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    def resolve_path(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.base_dir / path)

    @property
    def database_url(self) -> str:
        return resolve_sqlite_url(self.settings.database.url, self.base_dir)


def resolve_sqlite_url(url: str, base_dir: Path) -> str:
    """Make a relative SQLite path relative to the config file, not to the current directory."""
    prefix = "sqlite+aiosqlite:///"
    if url.startswith(prefix):
        raw = url[len(prefix) :]
        if raw and raw != ":memory:" and not raw.startswith("/"):
            return prefix + str((base_dir / raw).resolve())
    return url


def _resolve_env(value: Any, key: str, problems: list[str]) -> Any:
    """Replace every ``"env:NAME"`` string by the environment variable's value."""
    if isinstance(value, dict):
        return {k: _resolve_env(v, f"{key}.{k}" if key else k, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_env(v, f"{key}[{i}]", problems) for i, v in enumerate(value)]
    if isinstance(value, str) and value.startswith(ENV_PREFIX):
        name = value[len(ENV_PREFIX) :]
        if name not in os.environ:
            problems.append(f"{key} = {value!r}: environment variable {name} is not set")
            return None
        return os.environ[name]
    return value


def format_validation_error(error: ValidationError, prefix: str = "") -> list[str]:
    """One line per problem: ``dotted.key = bad value: what is allowed``."""
    lines = []
    for item in error.errors():
        parts: list[str] = []
        for loc in item["loc"]:
            if isinstance(loc, int):
                parts.append(f"[{loc}]")
            else:
                parts.append(("." if parts else "") + str(loc))
        key = prefix + "".join(parts)
        lines.append(f"{key} = {_show(item.get('input'), item['type'])}: {_describe(item)}")
    return lines


def _show(value: Any, kind: str) -> str:
    if kind == "missing":
        return "(missing)"
    if isinstance(value, dict):
        return "{...}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _describe(item: Any) -> str:
    kind: str = item["type"]
    ctx = item.get("ctx") or {}
    if kind == "greater_than_equal":
        return f"must be >= {ctx['ge']}"
    if kind == "greater_than":
        return f"must be > {ctx['gt']}"
    if kind == "less_than_equal":
        return f"must be <= {ctx['le']}"
    if kind == "less_than":
        return f"must be < {ctx['lt']}"
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; see config.toml for the allowed keys)"
    if kind == "missing":
        return "required key is missing"
    if kind in {"int_type", "int_parsing", "int_from_float"}:
        return "must be a whole number"
    if kind in {"float_type", "float_parsing"}:
        return "must be a number"
    if kind in {"bool_type", "bool_parsing"}:
        return "must be true or false"
    if kind in {"string_type"}:
        return "must be a string"
    if kind == "string_too_short":
        return f"must have at least {ctx.get('min_length')} character(s)"
    if kind == "string_too_long":
        return f"must have at most {ctx.get('max_length')} characters"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}"
    if kind == "value_error":
        return str(ctx.get("error", item["msg"]))
    return str(item["msg"])


def parse_settings(data: dict[str, Any], source: str = "config") -> tuple[Settings, list[str]]:
    problems: list[str] = []
    resolved = _resolve_env(data, "", problems)
    try:
        settings = Settings.model_validate(resolved)
    except ValidationError as error:
        problems.extend(format_validation_error(error))
        raise ConfigError(source, problems) from None
    if problems:
        raise ConfigError(source, problems)
    return settings, problems


def connector_settings(settings: Settings, source: str) -> list[tuple[ConnectorEntry, BaseModel]]:
    from bot.connectors.registry import connector_specs

    specs = connector_specs()
    problems: list[str] = []
    built: list[tuple[ConnectorEntry, BaseModel]] = []
    names: set[str] = set()
    for index, entry in enumerate(settings.connectors):
        spec = specs[entry.type]
        extra = dict(entry.model_extra or {})
        extra.update({"name": entry.name, "account": entry.account, "enabled": entry.enabled})
        fields = spec.settings_model.model_fields
        payload = {k: v for k, v in extra.items() if k in fields or k not in {"name", "account", "enabled"}}
        try:
            built.append((entry, spec.settings_model.model_validate(payload)))
        except ValidationError as error:
            problems.extend(format_validation_error(error, prefix=f"connectors[{index}]."))
        name = entry.name or f"{entry.type}-{index}"
        if name in names:
            problems.append(f"connectors[{index}].name = {name!r}: must be unique among connectors")
        names.add(name)
    if problems:
        raise ConfigError(source, problems)
    return built


def load_config(path: str | os.PathLike[str] | None, *, must_exist: bool = False) -> LoadedConfig:
    """Read, validate and resolve a config file. Missing file → defaults (unless ``must_exist``)."""
    if path is None:
        settings, _ = parse_settings({}, "defaults")
        return LoadedConfig(settings, None, [])
    file = Path(path)
    if not file.exists():
        if must_exist:
            raise ConfigError(str(file), ["file not found"])
        settings, _ = parse_settings({}, "defaults")
        return LoadedConfig(settings, None, [])
    try:
        raw = file.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(str(file), [f"not UTF-8 text (byte {error.start})"]) from None
    except OSError as error:
        raise ConfigError(str(file), [f"cannot read: {error.strerror}"]) from None
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(str(file), [f"invalid TOML: {error}"]) from None
    settings, _ = parse_settings(data, str(file))
    connectors = connector_settings(settings, str(file))
    return LoadedConfig(settings, file.resolve(), connectors)
