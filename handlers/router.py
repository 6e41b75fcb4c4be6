"""A tiny router: one small function per reaction, registered declaratively.

Like aiogram's observers: each event kind has a list of (filters, handler). A handler is a
plain function that returns the actions it proposes; the filters in front of it decide
whether it runs at all, and the caps/outbox after it decide whether anything is sent.
Handlers are pure: they read the event, the match and the context, and return records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from handlers.events import Event
from storage.records import ActionRecord

Filter = Callable[[Any, Any], bool]  # (event, context) -> run the handler?
Handler = Callable[[Any, Any], Iterable[ActionRecord]]


@dataclass
class Route:
    event_type: type
    handler: Handler
    filters: tuple[Filter, ...] = ()


@dataclass
class Router:
    routes: list[Route] = field(default_factory=list)

    def on(self, event_type: type, *filters: Filter) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes.append(Route(event_type, handler, filters))
            return handler

        return register

    def include(self, other: Router) -> None:
        self.routes.extend(other.routes)

    def dispatch(self, event: Event, context: Any) -> list[ActionRecord]:
        actions: list[ActionRecord] = []
        for route in self.routes:
            if isinstance(event, route.event_type) and all(check(event, context) for check in route.filters):
                actions.extend(route.handler(event, context))
        return actions
