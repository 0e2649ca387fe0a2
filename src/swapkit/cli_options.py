"""Options and helpers the ``swapkit`` commands share (kept free of the client stack)."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

import click

__all__ = ["parse_options", "provider_options", "show_retries"]

_STRATEGIES = ("ordered", "cheapest", "fastest")


class _RetryLine(logging.Handler):
    """Shows each scheduled retry (the ``retry`` records of the ``swapkit`` log) as one line."""

    def emit(self, record: logging.LogRecord) -> None:
        fields = record.__dict__
        if fields.get("event") != "retry":
            return
        print(
            f"  retry      #{fields.get('retry')} of {fields.get('what')} in "
            f"{fields.get('wait_seconds')} s after {fields.get('outcome')}",
            file=sys.stderr,
        )


def show_retries() -> None:
    logger = logging.getLogger("swapkit")
    if not any(isinstance(handler, _RetryLine) for handler in logger.handlers):
        handler = _RetryLine(logging.DEBUG)
        logger.addHandler(handler)
        if logger.level == logging.NOTSET or logger.level > logging.DEBUG:
            logger.setLevel(logging.DEBUG)


def provider_options(command: Any) -> Any:
    """``-p/--provider`` (repeatable) and ``--strategy``."""
    command = click.option(
        "--strategy",
        type=click.Choice(_STRATEGIES),
        default=None,
        help="the order providers are tried in (default: the configuration's, else ordered)",
    )(command)
    return click.option(
        "-p",
        "--provider",
        "providers",
        multiple=True,
        metavar="NAME",
        help="provider to use; repeat for a fallback order (default: every installed one)",
    )(command)


def parse_options(values: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``provider.key=value`` pairs as a request's `options` (values read as JSON when they
    are JSON, else kept as text)."""
    options: dict[str, dict[str, Any]] = {}
    for text in values:
        name, eq, raw = text.partition("=")
        provider, dot, key = name.partition(".")
        if not eq or not dot or not provider or not key:
            raise click.BadParameter(
                f"{text!r}: write it as provider.key=value, e.g. eventstation.gender=female",
                param_hint="--option",
            )
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        options.setdefault(provider, {})[key] = value
    return options
