"""The command line's jobs and ledger commands: ``swapkit jobs``, ``jobs show``, ``jobs wait``
and ``ledger purge``, and the ledger options every command shares.

The CLI keeps a ledger by default (``SWAPKIT_LEDGER``, else the configuration file's ``ledger``,
else ``ledger.db`` in the user's data directory, as `platformdirs` finds it), so a swap started
from the command line can be looked up, waited for and never paid twice; ``--no-ledger`` turns
it off for one command.
"""

from __future__ import annotations

import os
import re
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from swapkit.core.client import SwapClient
    from swapkit.core.jobs import JobStatus

__all__ = [
    "default_ledger",
    "job_line",
    "jobs_group",
    "ledger_group",
    "ledger_options",
    "ledger_path",
    "parse_age",
]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_STATES = ("queued", "running", "succeeded", "failed", "unknown")


def default_ledger() -> Path:
    """``SWAPKIT_LEDGER``, else the configuration file's ``ledger``, else ``ledger.db`` in the
    user's data directory."""
    configured = os.environ.get("SWAPKIT_LEDGER")
    if configured:
        return Path(configured)
    from swapkit.core.config import load_config

    from_file = load_config().ledger
    if from_file:
        return Path(from_file)
    import platformdirs

    return Path(platformdirs.user_data_dir("swapkit")) / "ledger.db"


def ledger_options(command: Any) -> Any:
    """``--ledger PATH`` and ``--no-ledger``."""
    command = click.option("--no-ledger", is_flag=True, help="keep no record of this work")(command)
    return click.option(
        "--ledger",
        type=click.Path(path_type=Path, dir_okay=False),
        help="the ledger file (default: SWAPKIT_LEDGER or the data dir)",
    )(command)


def ledger_path(ledger: Path | None, no_ledger: bool) -> Path | None:
    """The ledger a command uses (None with ``--no-ledger``)."""
    if no_ledger and ledger is not None:
        raise click.UsageError("--ledger and --no-ledger cannot be used together")
    if no_ledger:
        return None
    return ledger or default_ledger()


def parse_age(text: str) -> float:
    """Seconds in ``90s``, ``30m``, ``12h``, ``7d`` or ``2w``; `ConfigurationError` otherwise."""
    from swapkit.core.errors import ConfigurationError

    found = re.fullmatch(r"(\d{1,6})([smhdw])", text.strip())
    if found is None:
        raise ConfigurationError(
            f"--older-than takes a number and a unit (s, m, h, d or w), like 7d, not {text!r}"
        )
    return int(found[1]) * _UNITS[found[2]]


def _client(ledger: Path | None, no_ledger: bool, providers: Any = "any") -> SwapClient:
    """A client on the ledger; reading it needs no vendor, so by default any one provider."""
    from swapkit.core.client import SwapClient
    from swapkit.core.errors import ConfigurationError

    path = ledger_path(ledger, no_ledger)
    if path is None:
        raise ConfigurationError("this command reads the ledger; drop --no-ledger")
    return SwapClient(providers=_any_provider() if providers == "any" else providers, ledger=path)


@click.group("jobs", invoke_without_command=True)
@click.option("--state", type=click.Choice(_STATES))
@click.option("--limit", type=int, default=20, show_default=True)
@ledger_options
@click.pass_context
def jobs_group(
    ctx: click.Context, state: str | None, limit: int, ledger: Path | None, no_ledger: bool
) -> int:
    """Recent jobs in the ledger; ``show`` one; ``wait`` for one."""
    ctx.obj = {"ledger": ledger, "no_ledger": no_ledger}
    if ctx.invoked_subcommand is not None:
        return 0
    with _client(ledger, no_ledger) as client:
        statuses = client.jobs(state=state, limit=limit)
    if not statuses:
        print("no jobs" + (f" {state}" if state else "") + " in the ledger")
        return 0
    print(f"{'job':<37} {'state':<10} {'provider':<13} {'spent':>9}  updated")
    for status in statuses:
        print(
            f"{status.id:<37} {status.state:<10} {status.provider or '-':<13} "
            f"{_money(status.spent_usd):>9}  {_time(status.updated_at)}"
        )
    return 0


def _inherited(
    ctx: click.Context, ledger: Path | None, no_ledger: bool
) -> tuple[Path | None, bool]:
    parent = ctx.obj or {}
    return ledger or parent.get("ledger"), no_ledger or bool(parent.get("no_ledger"))


@jobs_group.command("show")
@click.argument("job_id")
@ledger_options
@click.pass_context
def show(ctx: click.Context, job_id: str, ledger: Path | None, no_ledger: bool) -> int:
    """One job and every attempt it made."""
    with _client(*_inherited(ctx, ledger, no_ledger)) as client:
        status = client.job(job_id).status()
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


@jobs_group.command("wait")
@click.argument("job_id")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True)
@click.option("-p", "--provider", "providers", multiple=True, metavar="NAME")
@click.option("--timeout", type=float, metavar="SECONDS")
@ledger_options
@click.pass_context
def wait(
    ctx: click.Context,
    job_id: str,
    output: Path,
    providers: tuple[str, ...],
    timeout: float | None,
    ledger: Path | None,
    no_ledger: bool,
) -> int:
    """Wait for a job (by id or token) and write its result."""
    import sys

    from swapkit.cli_options import show_retries
    from swapkit.cli_output import refuse_unwritable, save

    if refuse_unwritable(output):  # found before waiting
        return 2
    show_retries()
    with _client(*_inherited(ctx, ledger, no_ledger), providers=list(providers) or None) as client:
        result = client.job(job_id).wait(timeout=timeout)
    output, problem = save(result, output)
    if problem:
        print(
            f"error: the job succeeded but {problem}; the image was saved as "
            f"{str(output)!r} instead",
            file=sys.stderr,
        )
    print(f"wrote {output} ({result.media_type}, {result.width}x{result.height})")
    print(f"  job        {result.swap_id}")
    print(f"  provider   {result.provider}")
    print(f"  spent      {_money(result.spent_usd)}")
    return 3 if problem else 0


@click.group("ledger")
def ledger_group() -> None:
    """The ledger file."""


@ledger_group.command("purge")
@click.option("--older-than", required=True, metavar="AGE", help="like 7d, 12h, 30m")
@ledger_options
def purge(older_than: str, ledger: Path | None, no_ledger: bool) -> int:
    """Forget finished jobs older than an age."""
    age = parse_age(older_than)
    with _client(ledger, no_ledger) as client:
        removed = client.ledger.purge(time.time() - age)
    print(f"forgot {removed} finished job{'s' if removed != 1 else ''} older than {older_than}")
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
