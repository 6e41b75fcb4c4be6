"""Finds connector types by name: each subpackage of ``bot.connectors`` exposing ``CONNECTOR``."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from bot.connectors.base import ConnectorSpec


@cache
def connector_specs() -> dict[str, ConnectorSpec]:
    import bot.connectors as package

    specs: dict[str, ConnectorSpec] = {}
    for info in pkgutil.iter_modules(package.__path__):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        spec = getattr(module, "CONNECTOR", None)
        if isinstance(spec, ConnectorSpec):
            specs[spec.type] = spec
    return specs
