"""The ``swapkit`` command, on click: ``swap``, ``batch``, ``jobs``, ``ledger``, ``providers``,
``templates``, ``sandbox serve`` and ``demo``.

Each command imports the client stack only when it runs, so ``swapkit --help`` and shell
completion stay quick.  Jobs and the ledger live in `swapkit.cli_jobs`, batches in
`swapkit.cli_batch`, the demo in `swapkit.cli_demo`, shared printing in `swapkit.cli_output`.

Exit codes: 0 success; 1 the swap failed for a reason outside the caller's control (a vendor
outage, a timeout, every provider failed; for ``batch``: some item failed); 2 the command,
configuration or input is wrong (bad arguments, a missing key, a file that is not an image, an
output path that cannot be written, a port that is taken, or an input the vendor refused, such
as a photo with no face: every `InvalidRequest`); 3 the swap succeeded (and was paid for) but
the image could not be written to ``-o``, so it was written elsewhere, under the name the error
line gives.  Errors print one ``error:`` line that says what to do, never a traceback.

Shell completion is click's: ``eval "$(_SWAPKIT_COMPLETE=bash_source swapkit)"`` (or
``zsh_source``, ``fish_source``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from swapkit.cli_batch import batch_command
from swapkit.cli_jobs import jobs_group, ledger_group, ledger_options, ledger_path
from swapkit.cli_options import parse_options, provider_options, show_retries

__all__ = ["cli", "main", "run", "show_retries"]

_STYLES = ("realistic", "cartoon")
_QUALITIES = ("fast", "standard", "high", "max")
_FORMATS = ("jpeg", "png", "webp")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (never raises, never prints a traceback)."""
    try:
        code = cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="swapkit",
            standalone_mode=False,
        )
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return int(exc.exit_code)
    except (click.Abort, KeyboardInterrupt):
        return 130
    except Exception as exc:
        from swapkit.core.errors import (
            ConfigurationError,
            InvalidRequest,
            NoEligibleProvider,
            SwapError,
        )

        if not isinstance(exc, SwapError):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigurationError | InvalidRequest | NoEligibleProvider) else 1
    return code if isinstance(code, int) else 0


def run() -> None:
    """The ``swapkit`` console script."""
    sys.exit(main())


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("swapkit")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="swapkit", prog_name="swapkit", message="%(prog)s %(version)s")
def cli() -> None:
    """One face-swap API over several vendors."""


@cli.command()
@click.argument("source")
@click.argument("target", required=False)
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), required=True, help="where to write it"
)
@provider_options
@click.option("--template", metavar="ID", help="a vendor template receives the face (no TARGET)")
@click.option("--max-cost", type=float, metavar="USD", help="skip dearer providers")
@click.option("--style", type=click.Choice(_STYLES))
@click.option("--quality", type=click.Choice(_QUALITIES))
@click.option("--format", "output_format", type=click.Choice(_FORMATS))
@click.option("--output-quality", type=int, metavar="10-100")
@click.option("--prompt")
@click.option("--face-index", type=int)
@click.option("--deadline", type=float, metavar="SECONDS", help="end-to-end bound")
@click.option(
    "--option",
    "vendor_options",
    multiple=True,
    metavar="PROVIDER.KEY=VALUE",
    help="a vendor's own field, e.g. eventstation.gender=female (repeatable)",
)
@click.option("--webhook-url", metavar="URL", help="where the vendor reports the finished job")
@click.option("--idempotency-key", metavar="KEY", help="the same key never pays twice")
@click.option(
    "--submit", is_flag=True, help="print the job id once a vendor accepted it, and return"
)
@click.option("--json", "as_json", is_flag=True, help="print the result as one JSON object")
@ledger_options
def swap(
    source: str,
    target: str | None,
    output: Path,
    providers: tuple[str, ...],
    strategy: str | None,
    template: str | None,
    max_cost: float | None,
    vendor_options: tuple[str, ...],
    webhook_url: str | None,
    idempotency_key: str | None,
    submit: bool,
    as_json: bool,
    ledger: Path | None,
    no_ledger: bool,
    **fields: Any,
) -> int:
    """Swap the face from SOURCE into TARGET (or into a vendor --template)."""
    from swapkit.cli_jobs import job_line
    from swapkit.cli_output import refuse_unwritable, save
    from swapkit.core.client import SwapClient
    from swapkit.core.models import Template

    if target is not None and template is not None:
        raise click.UsageError("give a TARGET image or a --template ID, not both")
    if target is None and template is None and fields.get("prompt") is None:
        raise click.UsageError("give a TARGET image, a --template ID or a --prompt")
    request: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}
    request["target"] = Template(template) if template is not None else target
    if max_cost is not None:
        request["max_cost_usd"] = max_cost
    if vendor_options:
        request["options"] = parse_options(vendor_options)
    if webhook_url is not None:
        request["webhook_url"] = webhook_url
    if refuse_unwritable(output):  # found before anything is sent, or paid for
        return 2
    show_retries()
    path = ledger_path(ledger, no_ledger)
    with SwapClient(providers=list(providers) or None, strategy=strategy, ledger=path) as client:
        if submit:
            job = client.submit(source=source, idempotency_key=idempotency_key, **request)
            status = job.status()
            if as_json:
                print(json.dumps({"job_id": job.id, "state": status.state}))
                return 0
            print(job_line(status))
            where = f" --ledger {path}" if path is not None else ""
            print(f"  collect it with: swapkit jobs wait {job.id} -o {output}{where}")
            return 0
        result = client.swap(source=source, idempotency_key=idempotency_key, **request)
    written, problem = save(result, output)
    if problem:
        print(
            f"error: the swap succeeded but {problem}; the image was saved as "
            f"{str(written)!r} instead",
            file=sys.stderr,
        )
    _show(result, written, as_json)
    return 3 if problem else 0
    return 0


def _show(result: Any, path: Path, as_json: bool) -> None:
    from swapkit.cli_output import print_result, result_json

    if as_json:
        print(json.dumps(result_json(result, path)))
    else:
        print_result(result, path)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="print one JSON object per provider")
def providers(as_json: bool) -> int:
    """The installed providers: capabilities, and the settings in effect (and their source)."""
    from swapkit.core.errors import ConfigurationError
    from swapkit.core.plugins import installed_providers

    rows = []
    for name, provider_class in installed_providers().items():
        caps = provider_class.capabilities
        try:
            problem = provider_class().missing_configuration()
        except ConfigurationError as exc:
            problem = str(exc)
        rows.append((name, provider_class, caps, problem, _effective_settings(provider_class)))
    if as_json:
        for name, provider_class, caps, problem, settings in rows:
            print(
                json.dumps(
                    {
                        "name": name,
                        "display_name": provider_class.display_name,
                        "configured": problem is None,
                        "problem": problem,
                        "price_usd": caps.default_price_usd,
                        "settings": {
                            key: {"value": value, "from": source}
                            for key, (value, source) in settings.items()
                        },
                    }
                )
            )
        return 0
    for index, (name, provider_class, caps, problem, settings) in enumerate(rows):
        limit = f"{caps.max_image_bytes / 2**20:.0f} MB" if caps.max_image_bytes else "unknown"
        price = (
            "unknown (set price_usd)"
            if caps.default_price_usd is None
            else f"${caps.default_price_usd} per swap"
        )
        inputs = ", ".join(sorted(caps.input_kinds))
        if "bytes" not in caps.input_kinds and caps.uploads:
            inputs += " (local images are uploaded first)"
        webhooks = " + webhooks" if caps.webhooks else ""
        if index:
            print()
        print(f"{name}  ({provider_class.display_name})")
        print(f"  configured  {'yes' if problem is None else 'no: ' + problem}")
        print(f"  targets     {', '.join(sorted(caps.target_kinds))}")
        print(f"  inputs      {inputs}")
        print(f"  styles      {', '.join(sorted(caps.styles)) or 'none (the template decides)'}")
        print(f"  formats     {', '.join(sorted(caps.output_formats))}")
        print(f"  modes       {', '.join(sorted(caps.modes))}{webhooks}")
        print(f"  face index  {'yes' if caps.face_index else 'no'}")
        print(f"  max image   {limit}")
        print(f"  list price  {price}")
        print("  settings")
        for key, (value, source) in settings.items():
            print(f"    {key:<17} {value!s:<32} ({source})")
    return 0


def _effective_settings(provider_class: Any) -> dict[str, tuple[Any, str]]:
    """Each setting's value in effect (secrets masked) and where it came from."""
    import typing

    from pydantic import SecretStr

    from swapkit.core.config import load_config
    from swapkit.core.settings import setting_sources

    config = load_config()
    settings_class = provider_class.settings_class
    values, sources = setting_sources(
        settings_class,
        provider_class.name,
        {},
        aliases=provider_class.env_aliases,
        file=config.provider_settings(provider_class.name),
        file_source=config.source,
    )
    shown: dict[str, tuple[Any, str]] = {}
    for key, field in settings_class.model_fields.items():
        value = values.get(key, field.default)
        secret = field.annotation is SecretStr or SecretStr in typing.get_args(field.annotation)
        if secret and value:
            value = "****"
        shown[key] = (value, sources.get(key, "default"))
    return shown


@cli.command()
@click.argument("provider")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object per template")
def templates(provider: str, as_json: bool) -> int:
    """The templates (scenes) PROVIDER offers, for ``swap SOURCE --template ID``."""
    from swapkit.core.client import SwapClient

    with SwapClient(providers=[provider]) as client:
        found = client.list_templates(provider)
    for template in found:
        if as_json:
            print(json.dumps({"id": template.id, "name": template.name, "provider": provider}))
        else:
            print(f"{template.id:<24} {template.name or ''}")
    if not found and not as_json:
        print(f"{provider} lists no templates")
    return 0


@cli.group()
def sandbox() -> None:
    """The local vendor emulator."""


@sandbox.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="a loopback address")
@click.option("--port", type=int, default=8765, show_default=True)
@click.option(
    "--job-seconds", type=float, default=2.0, show_default=True, help="how long async jobs take"
)
def serve(host: str, port: int, job_seconds: float) -> int:
    """Serve the sandbox on loopback.

    Every installed vendor is served, plugin emulators (the ``swapkit.sandbox`` entry points)
    included; set SWAPKIT_SANDBOX_DISABLE_PLUGINS=1 to serve the built-in vendors only.
    """
    from swapkit.sandbox import Sandbox, serve_forever

    def ready(url: str) -> None:
        print(f"swapkit sandbox on {url}  (Ctrl-C to stop)")
        for name, vendor in emulator.vendors.items():
            keys = ", ".join(vendor.default_api_keys)
            print(f"  {name:<12} base_url={url}/{name}  key={keys}")

    try:
        emulator = Sandbox(job_seconds=job_seconds)
    except ValueError as exc:  # a broken plugin emulator, named in the message
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with emulator:
        try:
            serve_forever(host, port, sandbox=emulator, ready=ready)
        except ValueError as exc:  # not a loopback address
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:
            print(
                f"error: cannot listen on {host}:{port} ({exc.strerror or exc}); "
                "pick another --port, or stop what uses it",
                file=sys.stderr,
            )
            return 2
    return 0


@cli.command()
@click.option(
    "-o",
    "--output-dir",
    type=click.Path(path_type=Path),
    default=Path("swapkit-demo"),
    show_default=True,
    help="where to write images",
)
@click.option(
    "--job-seconds",
    type=float,
    default=1.0,
    show_default=True,
    help="how long the sandbox's async jobs take",
)
def demo(output_dir: Path, job_seconds: float) -> int:
    """Run swaps against the embedded sandbox."""
    from swapkit.cli_demo import run_demo

    show_retries()
    return run_demo(output_dir, job_seconds)


cli.add_command(batch_command)
cli.add_command(jobs_group)
cli.add_command(ledger_group)


if __name__ == "__main__":  # pragma: no cover
    run()
