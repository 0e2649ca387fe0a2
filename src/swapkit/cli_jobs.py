"""The command line's jobs and ledger commands: ``swapkit jobs``, ``jobs show``, ``jobs wait``
and ``ledger purge``, and the ledger options every command shares.

The CLI keeps a ledger by default (``SWAPKIT_LEDGER``, else ``ledger.db`` in the user's data
directory, as `platformdirs` finds it), so a swap started from the command line can be looked
up, waited for and never paid twice; ``--no-ledger`` turns it off for one command.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import platformdirs

from swapkit.core.client import SwapClient
from swapkit.core.errors import ConfigurationError
from swapkit.core.jobs import JobStatus

__all__ = ["add_commands", "add_ledger_options", "ledger_of", "parse_age"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def default_ledger() -> Path:
    """``SWAPKIT_LEDGER``, else ``ledger.db`` in the user's data directory."""
    configured = os.environ.get("SWAPKIT_LEDGER")
    if configured:
        return Path(configured)
    return Path(platformdirs.user_data_dir("swapkit")) / "ledger.db"


def add_ledger_options(parser: argparse.ArgumentParser) -> None:
    """``--ledger PATH`` and ``--no-ledger``."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--ledger", type=Path, help="the ledger file (default: SWAPKIT_LEDGER or the data dir)"
    )
    group.add_argument("--no-ledger", action="store_true", help="keep no record of this swap")


def ledger_of(args: argparse.Namespace) -> Path | None:
    """The ledger a command uses (None with ``--no-ledger``)."""
    if getattr(args, "no_ledger", False):
        return None
    return getattr(args, "ledger", None) or default_ledger()


def parse_age(text: str) -> float:
    """Seconds in ``90s``, ``30m``, ``12h``, ``7d`` or ``2w``; `ConfigurationError` otherwise."""
    found = re.fullmatch(r"(\d{1,6})([smhdw])", text.strip())
    if found is None:
        raise ConfigurationError(
            f"--older-than takes a number and a unit (s, m, h, d or w), like 7d, not {text!r}"
        )
    return int(found[1]) * _UNITS[found[2]]


def add_commands(commands: Any) -> None:
    """Register ``jobs`` and ``ledger`` on the CLI's sub-command parser."""
    jobs = commands.add_parser("jobs", help="recent jobs in the ledger; show one; wait for one")
    add_ledger_options(jobs)
    jobs.add_argument("--state", choices=["queued", "running", "succeeded", "failed", "unknown"])
    jobs.add_argument("--limit", type=int, default=20)
    jobs.set_defaults(run=_list)
    actions = jobs.add_subparsers(metavar="ACTION")
    show = actions.add_parser("show", help="one job and every attempt it made")
    show.add_argument("job_id")
    add_ledger_options(show)
    show.set_defaults(run=_show)
    wait = actions.add_parser("wait", help="wait for a job and write its result")
    wait.add_argument("job_id", help="a job id, or a job token")
    wait.add_argument("-o", "--output", type=Path, required=True)
    wait.add_argument("-p", "--provider", action="append", dest="providers", metavar="NAME")
    wait.add_argument("--timeout", type=float, metavar="SECONDS")
    add_ledger_options(wait)
    wait.set_defaults(run=_wait)

    ledger = commands.add_parser("ledger", help="the ledger file")
    ledger_actions = ledger.add_subparsers(required=True, metavar="ACTION")
    purge = ledger_actions.add_parser("purge", help="forget finished jobs older than an age")
    purge.add_argument("--older-than", required=True, metavar="AGE", help="like 7d, 12h, 30m")
    add_ledger_options(purge)
    purge.set_defaults(run=_purge)


def _client(args: argparse.Namespace, providers: Any = None) -> SwapClient:
    path = ledger_of(args)
    if path is None:
        raise ConfigurationError("this command reads the ledger; drop --no-ledger")
    return SwapClient(providers=providers, ledger=path)


def _list(args: argparse.Namespace) -> int:
    with _client(args, providers=_any_provider()) as client:
        statuses = client.jobs(state=args.state, limit=args.limit)
    if not statuses:
        print("no jobs" + (f" {args.state}" if args.state else "") + " in the ledger")
        return 0
    print(f"{'job':<37} {'state':<10} {'provider':<13} {'spent':>9}  updated")
    for status in statuses:
        print(
            f"{status.id:<37} {status.state:<10} {status.provider or '-':<13} "
            f"{_money(status.spent_usd):>9}  {_time(status.updated_at)}"
        )
    return 0


def _show(args: argparse.Namespace) -> int:
    with _client(args, providers=_any_provider()) as client:
        status = client.job(args.job_id).status()
    print(f"job        {status.id}")
    print(f"state      {status.state}")
    print(f"provider   {status.provider or '-'} (vendor job {status.vendor_job_id or '-'})")
    print(f"spent      {_money(status.spent_usd)}")
    print(f"created    {_time(status.created_at)}")
    print(f"updated    {_time(status.updated_at)}")
    for attempt in status.attempts:
        charged = {True: "charged", False: "not charged", None: "charge unknown"}[attempt.charged]
        ended = (
            "ok" if attempt.error is None else f"{type(attempt.error).__name__}: {attempt.error}"
        )
        if attempt.skipped:
            print(f"  attempt  {attempt.provider}: {attempt.reason}")
            continue
        print(f"  attempt  {attempt.provider} ({charged}, {_money(attempt.cost_usd)}): {ended}")
    return 0


def _wait(args: argparse.Namespace) -> int:
    with _client(args, providers=args.providers) as client:
        result = client.job(args.job_id).wait(timeout=args.timeout)
    result.save(args.output)
    print(f"wrote {args.output} ({result.media_type}, {result.width}x{result.height})")
    print(f"  job        {result.swap_id}")
    print(f"  provider   {result.provider}")
    print(f"  spent      {_money(result.spent_usd)}")
    return 0


def _purge(args: argparse.Namespace) -> int:
    age = parse_age(args.older_than)
    with _client(args, providers=_any_provider()) as client:
        removed = client.ledger.purge(time.time() - age)
    print(
        f"forgot {removed} finished job{'s' if removed != 1 else ''} older than {args.older_than}"
    )
    return 0


def _any_provider() -> list[str]:
    """Reading the ledger needs no vendor; any installed provider makes a valid client."""
    from swapkit.core.plugins import installed_providers

    return list(installed_providers())[:1]


def _money(amount: float | None) -> str:
    return "unknown" if amount is None else f"${amount:.3f}"


def _time(when: datetime | None) -> str:
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S") if when else "-"


def job_line(status: JobStatus) -> str:
    """One line for a submitted job (``swapkit swap --submit``)."""
    return f"submitted {status.id} ({status.state} at {status.provider or '-'})"
