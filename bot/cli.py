"""``leadbot`` command line: one subcommand module per job under ``bot/commands``.

Each module in ``bot.commands`` exposes ``register(subparsers)``; this file only discovers
them, parses the arguments and turns a broken config into exit code 2 with a clear message.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import pkgutil
import sys
from collections.abc import Sequence

from bot import eventloop
from bot.config import ConfigError

EXIT_CONFIG = 2
DESCRIPTION = (
    "Watch live-commerce chat and video comments, capture purchase-intent leads and answer them "
    "within the caps that keep an account safe. Start with `leadbot demo`; `leadbot run` reads "
    "the platforms named in config.toml."
)


def build_parser() -> argparse.ArgumentParser:
    import bot.commands as commands

    parser = argparse.ArgumentParser(prog="leadbot", description=DESCRIPTION)
    parser.add_argument(
        "-c",
        "--config",
        default=os.environ.get("LEADBOT_CONFIG", "config.toml"),
        help="path of config.toml (default: ./config.toml or $LEADBOT_CONFIG)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from bot.logs import setup_logging

    setup_logging(verbose=args.verbose)
    try:
        result = args.handler(args)
        if asyncio.iscoroutine(result):
            result = eventloop.run(result)
        return int(result or 0)
    except ConfigError as error:
        print(f"leadbot: config error: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    finally:
        logging.shutdown()


if __name__ == "__main__":
    raise SystemExit(main())
