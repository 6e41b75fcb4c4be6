"""Serve an aiohttp application on host:port from inside the worker's event loop.

The dashboard and the webhook listener both run this way (``leadbot run`` serves them next to
the pipeline); port 0 picks a free port, and the bound one is reported back.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from aiohttp.log import access_logger


@dataclass
class RunningSite:
    runner: web.AppRunner
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        await self.runner.cleanup()


async def serve(app: web.Application, host: str, port: int, *, access_log: bool = True) -> RunningSite:
    """Start serving ``app``; ``OSError`` when the address cannot be bound (the runner is cleaned up)."""
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=2.0, access_log=access_logger if access_log else None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    sockets = getattr(site._server, "sockets", None) or []
    bound = int(sockets[0].getsockname()[1]) if sockets else port
    return RunningSite(runner, host, bound)
