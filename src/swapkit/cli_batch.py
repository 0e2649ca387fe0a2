"""``swapkit batch FILE.jsonl -o DIR``: many swaps from a file, one request per line.

Each line is a JSON object with the fields of ``swapkit swap`` (``source``, ``target`` or
``template``, ``style``, ``quality``, ``format``, ``output_quality``, ``prompt``,
``face_index``, ``deadline``, ``max_cost_usd``, ``options``, ``webhook_url``) and, optionally,
``key`` (the item's name: its output file and, in a named batch, its idempotency key; default
``line-N``).  Local paths are relative to the file's folder.  The whole file is read and checked
(JSON, fields, that every local image exists) before anything is sent.

On a terminal the command shows a progress bar and a line per item; otherwise (or with
``--json``) it prints one JSON object per item on stdout.  A summary table (per provider: items,
failures, spend) ends the run, on stderr when stdout carries JSON.  Exit code 0 when every item
succeeded, 1 when any failed, 2 when the file or an option is wrong (nothing was sent), 3 when
every swap succeeded but some image could not be written under DIR (it was saved elsewhere).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from swapkit.cli_jobs import ledger_options, ledger_path
from swapkit.cli_options import provider_options, show_retries

if TYPE_CHECKING:
    from swapkit.core.batch import BatchItem

__all__ = ["batch_command", "read_batch_file"]

#: The largest batch file read (bytes): far above any real batch, well below any harm.
MAX_FILE_BYTES = 64 * 2**20
_FIELDS = {
    "source",
    "target",
    "template",
    "style",
    "quality",
    "format",
    "output_format",
    "output_quality",
    "prompt",
    "face_index",
    "deadline",
    "max_cost_usd",
    "options",
    "webhook_url",
    "key",
}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class BatchFileError(click.ClickException):
    """The batch file cannot be used; nothing was sent."""

    exit_code = 2


def read_batch_file(path: Path) -> dict[str, dict[str, Any]]:
    """The file's requests, by key, with local paths made absolute; `BatchFileError` naming the
    line for anything wrong."""
    from swapkit.core.images import is_file_reference
    from swapkit.core.models import Template

    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise BatchFileError(f"{path} is {size} bytes; a batch file may hold at most 64 MiB")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BatchFileError(f"no batch file at {str(path)!r}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BatchFileError(f"cannot read {str(path)!r}: {exc}") from None
    folder = path.resolve().parent
    requests: dict[str, dict[str, Any]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path.name} line {number}"
        try:
            fields = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BatchFileError(f"{where} is not JSON ({exc.msg})") from None
        except ValueError:  # a number too long to convert
            raise BatchFileError(f"{where} is not JSON swapkit can read") from None
        if not isinstance(fields, dict):
            raise BatchFileError(f"{where} must be a JSON object of swap fields")
        unknown = sorted(set(fields) - _FIELDS)
        if unknown:
            raise BatchFileError(
                f"{where}: unknown field(s) {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(sorted(_FIELDS))}"
            )
        key = fields.pop("key", None)
        key = f"line-{number}" if key is None else str(key)
        if not key or len(key) > 200:
            raise BatchFileError(f"{where}: a key is 1 to 200 characters")
        if key in requests:
            raise BatchFileError(f"{where}: the key {key!r} is used twice")
        if "format" in fields:
            fields["output_format"] = fields.pop("format")
        template = fields.pop("template", None)
        if template is not None:
            if "target" in fields:
                raise BatchFileError(f"{where}: give a target or a template, not both")
            fields["target"] = Template(str(template))
        for name in ("source", "target"):
            value = fields.get(name)
            if isinstance(value, str) and is_file_reference(value):
                local = folder / value
                if not local.is_file():
                    raise BatchFileError(
                        f"{where}: the {name} {value!r} is not a file (paths are relative to "
                        f"{str(folder)!r})"
                    )
                fields[name] = local
        requests[key] = fields
    if not requests:
        raise BatchFileError(f"{path} holds no requests (one JSON object per line)")
    return requests


@click.command("batch")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "-o",
    "--output-dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="where to write the images (created if missing)",
)
@provider_options
@click.option(
    "--concurrency", type=click.IntRange(1, 256), default=8, show_default=True, help="at once"
)
@click.option("--max-total-usd", type=float, metavar="USD", help="stop sending once spent")
@click.option(
    "--name", help="name the batch: running it again skips what is done, pays nothing twice"
)
@click.option("--resume", is_flag=True, help="name the batch after FILE (or --name) and resume it")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per item on stdout")
@ledger_options
def batch_command(
    file: Path,
    output_dir: Path,
    providers: tuple[str, ...],
    strategy: str | None,
    concurrency: int,
    max_total_usd: float | None,
    name: str | None,
    resume: bool,
    as_json: bool,
    ledger: Path | None,
    no_ledger: bool,
) -> int:
    """Run the swaps in FILE.jsonl (one request per line), writing the images to DIR."""
    from swapkit.core.client import SwapClient

    requests = read_batch_file(file)
    if resume and name is None:
        name = file.stem
    path = ledger_path(ledger, no_ledger)
    if name is not None and path is None:
        raise click.UsageError("a named (resumable) batch needs the ledger; drop --no-ledger")
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BatchFileError(f"cannot create {str(output_dir)!r}: {exc.strerror or exc}") from None
    show_retries()
    terminal = not as_json and sys.stdout.isatty()
    with SwapClient(providers=list(providers) or None, strategy=strategy, ledger=path) as client:
        report = _Report(output_dir, len(requests), terminal)
        with report:
            for item in client.batch(
                requests,
                concurrency=concurrency,
                max_total_usd=max_total_usd,
                name=name,
                on_progress=report.progress,
            ):
                report.item(item)
    report.summary()
    if report.failed:
        return 1
    return 3 if report.rescued else 0


class _Report:
    """What the batch shows: a live bar and item lines on a terminal, else JSON lines."""

    def __init__(self, folder: Path, total: int, terminal: bool) -> None:
        from rich.console import Console

        self.folder = folder
        self.total = total
        self.terminal = terminal
        self.items: list[BatchItem] = []
        self.failed = 0
        self.rescued = 0
        self.console = Console(stderr=not terminal, highlight=False)
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> _Report:
        if self.terminal:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._bar = Progress(
                TextColumn("[bold]swapping"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[status]}"),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task("batch", total=self.total, status="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def progress(self, progress: Any) -> None:
        if self._bar is None:
            return
        status = (
            f"running {progress.running} · failed {progress.failed} · ${progress.spent_usd:.2f}"
        )
        self._bar.update(self._task, completed=progress.finished, status=status)

    def item(self, item: BatchItem) -> None:
        from swapkit.cli_output import attempt_json, save

        self.items.append(item)
        written: Path | None = None
        problem = None
        if item.result is not None:
            safe = _UNSAFE.sub("_", item.key)[:120] or "item"
            written, problem = save(item.result, self.folder / f"{safe}.{item.result.extension}")
            if problem is not None:
                self.rescued += 1
        else:
            self.failed += 1
        if self.terminal:
            spent = "unknown" if item.spent_usd is None else f"${item.spent_usd:.3f}"
            again = " (resumed)" if item.resumed else ""
            if item.error is not None:
                line = f"[red]failed[/] {item.key}: {type(item.error).__name__}: {item.error}"
            else:
                line = f"[green]ok[/]     {item.key} → {written} ({item.provider}, {spent}){again}"
            self.console.print(line, markup=True, soft_wrap=True)
            if problem:
                self.console.print(f"[yellow]{problem}; saved as {written}[/]")
            return
        record: dict[str, Any] = {
            "index": item.index,
            "key": item.key,
            "ok": item.ok,
            "swap_id": item.swap_id,
            "provider": item.provider,
            "output": str(written) if written is not None else None,
            "spent_usd": item.spent_usd,
            "resumed": item.resumed,
            "attempts": [attempt_json(attempt) for attempt in item.attempts],
        }
        if item.error is not None:
            record["error"] = {"type": type(item.error).__name__, "message": str(item.error)}
        if problem:
            record["write_error"] = problem
        print(json.dumps(record), flush=True)

    def summary(self) -> None:
        from rich.table import Table

        from swapkit.core.batch import summarize

        table = Table(title="batch summary", title_justify="left")
        table.add_column("provider")
        table.add_column("items", justify="right")
        table.add_column("failures", justify="right")
        table.add_column("spent", justify="right")
        rows = summarize(self.items)
        for row in rows:
            spent = f"${row.spent_usd:.3f}" + (
                f" + {row.unpriced} unpriced" if row.unpriced else ""
            )
            table.add_row(row.provider, str(row.items), str(row.failures), spent)
        total = sum(row.spent_usd for row in rows)
        table.add_row("[bold]total", str(len(self.items)), str(self.failed), f"[bold]${total:.3f}")
        self.console.print(table)
