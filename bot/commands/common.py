"""Helpers shared by CLI commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.config import LoadedConfig, load_config, parse_settings


def config_with_db(args: argparse.Namespace) -> LoadedConfig:
    """The config, with ``--db`` (URL or SQLite path) overriding the database if given."""
    config = load_config(args.config)
    override = getattr(args, "db", None)
    if not override:
        return config
    url = override if "://" in override else f"sqlite+aiosqlite:///{Path(override).resolve()}"
    data = config.settings.model_dump(mode="json", exclude={"connectors"})
    data["database"]["url"] = url
    data["web"].pop("token", None)
    settings, _ = parse_settings(data, str(config.path or "defaults"))
    return LoadedConfig(settings, config.path, config.connectors)
