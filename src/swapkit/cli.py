"""The ``swapkit`` command: ``swap``, ``jobs``, ``ledger``, ``providers``, ``sandbox serve`` and
``demo``.

Jobs and the ledger (``swapkit jobs``, ``jobs show``, ``jobs wait``, ``ledger purge``,
``swap --submit``) live in `swapkit.cli_jobs`.

Exit codes: 0 success; 1 the swap failed for a reason outside the caller's control (a vendor
outage, a timeout, every provider failed); 2 the command, configuration or input is wrong
(bad arguments, a missing key, a file that is not an image, an output path that cannot be
written, a port that is taken, or an input the vendor refused, such as a photo with no face:
every `InvalidRequest`); 3 the swap succeeded (and was paid for) but the image could not be
written to ``-o``, so it was written elsewhere, under the name the error line gives.  Errors
print one ``error:`` line that says what to do, never a traceback.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from swapkit.cli_jobs import add_commands, add_ledger_options, job_line, ledger_of
from swapkit.core.client import SwapClient
from swapkit.core.errors import (
    ConfigurationError,
    InvalidRequest,
    NoEligibleProvider,
    OutcomeUnknown,
    SwapError,
)
from swapkit.core.models import Attempt, SwapResult
from swapkit.core.plugins import installed_providers

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    _show_retries()
    try:
        return int(args.run(args))
    except (ConfigurationError, InvalidRequest, NoEligibleProvider) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SwapError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


class _RetryLine(logging.Handler):
    """Shows stamina's scheduled retries as one readable line each."""

    def emit(self, record: logging.LogRecord) -> None:
        fields = record.__dict__
        print(
            f"  retry      #{fields.get('stamina.retry_num')} in "
            f"{fields.get('stamina.wait_for')} s after {fields.get('stamina.caused_by')}",
            file=sys.stderr,
        )


def _show_retries() -> None:
    logger = logging.getLogger("stamina")
    if not any(isinstance(handler, _RetryLine) for handler in logger.handlers):
        logger.addHandler(_RetryLine())
        logger.propagate = False


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="swapkit", description="One face-swap API over several vendors."
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    swap = commands.add_parser("swap", help="swap the face from SOURCE into TARGET")
    swap.add_argument("source", help="the face: a path, an http(s) URL or a data: URI")
    swap.add_argument("target", help="the image that receives the face")
    swap.add_argument("-o", "--output", required=True, type=Path, help="where to write the result")
    swap.add_argument(
        "-p",
        "--provider",
        action="append",
        dest="providers",
        metavar="NAME",
        help="provider to use; repeat for a fallback order (default: every installed one)",
    )
    swap.add_argument(
        "--strategy",
        choices=["ordered", "cheapest", "fastest"],
        default="ordered",
        help="the order providers are tried in (default: the order given)",
    )
    swap.add_argument("--max-cost", type=float, metavar="USD", help="skip dearer providers")
    swap.add_argument("--style", choices=["realistic", "cartoon"])
    swap.add_argument("--quality", choices=["fast", "standard", "high", "max"])
    swap.add_argument("--format", dest="output_format", choices=["jpeg", "png", "webp"])
    swap.add_argument("--output-quality", type=int, metavar="10-100")
    swap.add_argument("--prompt")
    swap.add_argument("--face-index", type=int)
    swap.add_argument("--deadline", type=float, metavar="SECONDS", help="end-to-end bound")
    swap.add_argument(
        "--idempotency-key", metavar="KEY", help="the same key never pays for the swap twice"
    )
    swap.add_argument(
        "--submit",
        action="store_true",
        help="print the job id once a vendor accepted the swap, and return (then: jobs wait)",
    )
    add_ledger_options(swap)
    swap.set_defaults(run=_swap)

    providers = commands.add_parser("providers", help="list installed providers")
    providers.set_defaults(run=_providers)

    add_commands(commands)

    sandbox = commands.add_parser("sandbox", help="the local vendor emulator")
    sandbox_commands = sandbox.add_subparsers(required=True, metavar="COMMAND")
    serve = sandbox_commands.add_parser("serve", help="serve the sandbox on loopback")
    serve.add_argument("--host", default="127.0.0.1", help="a loopback address")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument(
        "--job-seconds", type=float, default=2.0, help="how long async jobs take (seconds)"
    )
    serve.set_defaults(run=_sandbox_serve)

    demo = commands.add_parser("demo", help="run swaps against the embedded sandbox")
    demo.add_argument(
        "-o", "--output-dir", type=Path, default=Path("swapkit-demo"), help="where to write images"
    )
    demo.add_argument(
        "--job-seconds", type=float, default=1.0, help="how long the sandbox's async jobs take"
    )
    demo.set_defaults(run=_demo)
    return parser


def _swap(args: argparse.Namespace) -> int:
    fields: dict[str, Any] = {
        name: getattr(args, name)
        for name in (
            "style",
            "quality",
            "output_format",
            "output_quality",
            "prompt",
            "face_index",
            "deadline",
        )
        if getattr(args, name) is not None
    }
    if args.max_cost is not None:
        fields["max_cost_usd"] = args.max_cost
    output: Path = args.output
    problem = _unwritable(output)
    if problem:  # found before anything is sent, or paid for
        print(f"error: cannot write the result to {str(output)!r}: {problem}", file=sys.stderr)
        return 2
    ledger = ledger_of(args)
    key = args.idempotency_key
    with SwapClient(providers=args.providers, strategy=args.strategy, ledger=ledger) as client:
        if args.submit:
            job = client.submit(
                source=args.source, target=args.target, idempotency_key=key, **fields
            )
            print(job_line(job.status()))
            where = f" --ledger {ledger}" if ledger is not None else ""
            print(f"  collect it with: swapkit jobs wait {job.id} -o {output}{where}")
            return 0
        result = client.swap(source=args.source, target=args.target, idempotency_key=key, **fields)
    try:
        result.save(output)
    except OSError as exc:
        rescued = _rescue(result)
        print(
            f"error: the swap succeeded but {str(output)!r} could not be written "
            f"({exc.strerror or exc}); the image was saved as {str(rescued)!r} instead",
            file=sys.stderr,
        )
        _print_result(result, rescued)
        return 3
    _print_result(result, output)
    return 0


def _unwritable(path: Path) -> str | None:
    """Why a file cannot be written at `path` (checked before the swap), or None."""
    if path.is_dir():
        return "it is a directory; give a file name, e.g. -o out.png"
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        return f"the directory {str(parent)!r} does not exist; create it first"
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        return "permission denied; choose another place"
    return None


def _rescue(result: SwapResult) -> Path:
    """Write a paid result somewhere it fits: the working directory, else the temp dir."""
    name = f"swapkit-{result.swap_id or 'result'}.{result.extension}"
    for folder in (Path.cwd(), Path(tempfile.gettempdir())):
        try:
            return result.save(folder / name)
        except OSError:
            continue
    raise SwapError(f"the swap succeeded but its image could not be written anywhere ({name})")


def _print_result(result: SwapResult, path: Path) -> None:
    print(f"wrote {path} ({result.media_type}, {result.width}x{result.height})")
    print(f"  provider   {result.provider} (model {result.model or 'n/a'})")
    print(f"  job        {result.job_id or 'n/a'}")
    if result.processing_seconds is not None:
        print(f"  vendor     {result.processing_seconds:.2f} s of processing")
    print(f"  elapsed    {result.elapsed_seconds:.2f} s")
    print(
        f"  cost       {_dollars(result.cost_usd)} (the whole swap: {_dollars(result.spent_usd)})"
    )
    _print_attempts(result.attempts)


def _print_attempts(attempts: Sequence[Attempt]) -> None:
    for attempt in attempts:
        if attempt.skipped:
            print(f"  attempt    {attempt.provider}: {attempt.reason}")
            continue
        outcome = "ok" if attempt.error is None else f"{type(attempt.error).__name__}"
        charged = {True: "charged", False: "not charged", None: "charge unknown"}[attempt.charged]
        print(f"  attempt    {attempt.provider}: {outcome} ({attempt.reason}; {charged})")


def _dollars(amount: float | None) -> str:
    return "unknown" if amount is None else f"${amount:.3f}"


def _providers(args: argparse.Namespace) -> int:
    for index, (name, provider_class) in enumerate(installed_providers().items()):
        caps = provider_class.capabilities
        try:
            problem = provider_class().missing_configuration()
        except ConfigurationError as exc:
            problem = str(exc)
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
    return 0


def _sandbox_serve(args: argparse.Namespace) -> int:
    from swapkit.sandbox import Sandbox, serve_forever

    def ready(url: str) -> None:
        print(f"swapkit sandbox on {url}  (Ctrl-C to stop)")
        for name, vendor in sandbox.vendors.items():
            keys = ", ".join(vendor.default_api_keys)
            print(f"  {name:<12} base_url={url}/{name}  key={keys}")

    with Sandbox(job_seconds=args.job_seconds) as sandbox:
        try:
            serve_forever(args.host, args.port, sandbox=sandbox, ready=ready)
        except ValueError as exc:  # not a loopback address
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:
            print(
                f"error: cannot listen on {args.host}:{args.port} ({exc.strerror or exc}); "
                "pick another --port, or stop what uses it",
                file=sys.stderr,
            )
            return 2
    return 0


def _demo(args: argparse.Namespace) -> int:
    from swapkit.sandbox import Fault, Sandbox

    out: Path = args.output_dir
    out.mkdir(parents=True, exist_ok=True)
    face, scene = _demo_images()
    (out / "face.png").write_bytes(face)
    (out / "scene.png").write_bytes(scene)
    with Sandbox(job_seconds=args.job_seconds) as sandbox, sandbox.serve() as server:
        settings = {"api_key": "prsp-sandbox", "base_url": server.base_url("prospolabs")}
        print(f"sandbox running at {server.url}; prospolabs points at it\n")
        with SwapClient(providers={"prospolabs": settings}) as client:
            print("1. a realistic swap on the blocking endpoint")
            result = client.swap(source=out / "face.png", target=out / "scene.png")
            _print_result(result, result.save(out / f"realistic.{result.extension}"))

            print("\n2. a cartoon swap on the async endpoint (long deadline), polled to the end")
            result = client.swap(
                source=out / "face.png",
                target=out / "scene.png",
                style="cartoon",
                output_format="png",
                deadline=600,
            )
            _print_result(result, result.save(out / f"cartoon.{result.extension}"))

            print("\n3. the vendor answers 503 once; swapkit retries the refunded failure")
            sandbox.faults.add(Fault(provider="prospolabs", status=503, times=1))
            result = client.swap(source=out / "face.png", target=out / "scene.png", quality="fast")
            _print_result(result, result.save(out / f"fast.{result.extension}"))

            print("\n4. a flat grey 'face': the vendor finds no face, and says so")
            try:
                client.swap(source=_flat_image(), target=out / "scene.png")
            except SwapError as exc:
                print(f"  {type(exc).__name__}: {exc}")

        acedata = {"api_key": "acedata-sandbox", "base_url": server.base_url("acedata")}
        with SwapClient(providers={"acedata": acedata}) as client:
            print("\n5. AceDataCloud takes URLs only: the local images are uploaded first")
            result = client.swap(source=out / "face.png", target=out / "scene.png")
            uploads = sum("/files/upload" in r.path for r in sandbox.requests)
            print(f"  uploaded   {uploads} images to the vendor's /files/upload")
            _print_result(result, result.save(out / f"acedata.{result.extension}"))

        eventstation = {"api_key": "es-sandbox", "base_url": server.base_url("eventstation")}
        with SwapClient(providers={"eventstation": eventstation}) as client:
            print("\n6. EventStation puts the face into one of its own templates")
            templates = client.list_templates("eventstation")
            print("  templates  " + ", ".join(f"{t.id} {t.name}" for t in templates))
            result = client.swap(
                source=out / "face.png",
                target=templates[0],
                options={"eventstation": {"gender": "female", "ratio": "square"}},
            )
            _print_result(result, result.save(out / f"template.{result.extension}"))

        deepswapai = {"api_key": "ds-sandbox", "base_url": server.base_url("deepswapai")}
        both = {"prospolabs": settings, "deepswapai": deepswapai}
        with SwapClient(providers=both) as client:
            print("\n7. Prospolabs is down (503 on every try); the swap fails over to DeepSwapAI")
            sandbox.faults.add(Fault(provider="prospolabs", status=503, times=10))
            result = client.swap(source=out / "face.png", target=out / "scene.png")
            _print_result(result, result.save(out / f"failover.{result.extension}"))
            sandbox.faults.clear()

            print(
                "\n8. the connection drops after Prospolabs took the swap: the outcome is "
                "unknown, so\n   swapkit does not buy the same swap again from DeepSwapAI"
            )
            sandbox.faults.add(
                Fault(provider="prospolabs", kind="drop", after_processing=True, times=1)
            )
            try:
                client.swap(source=out / "face.png", target=out / "scene.png")
            except OutcomeUnknown as exc:
                print(f"  {type(exc).__name__}: {exc.message}")
                print(f"  spent      {_dollars(exc.spent_usd)} at most")
                _print_attempts(exc.attempts)

        priced = {
            "prospolabs": {**settings, "price_usd": 0.05},
            "deepswapai": {**deepswapai, "price_usd": 0.01},
            "acedata": {**acedata, "price_usd": 0.02},
        }
        with SwapClient(providers=priced, strategy="cheapest") as client:
            print("\n9. cost routing: the cheapest vendor first, under a budget of $0.03")
            result = client.swap(
                source=out / "face.png", target=out / "scene.png", max_cost_usd=0.03
            )
            _print_result(result, result.save(out / f"cheapest.{result.extension}"))
    return 0


def _demo_images() -> tuple[bytes, bytes]:
    from PIL import Image, ImageDraw

    face = Image.new("RGB", (256, 256), (245, 222, 179))
    draw = ImageDraw.Draw(face)
    draw.ellipse((48, 32, 208, 224), fill=(255, 205, 160), outline=(120, 80, 40), width=4)
    draw.ellipse((90, 100, 110, 120), fill=(40, 40, 40))
    draw.ellipse((146, 100, 166, 120), fill=(40, 40, 40))
    draw.arc((92, 140, 164, 190), start=10, end=170, fill=(160, 40, 40), width=5)
    scene = Image.new("RGB", (512, 384), (90, 150, 210))
    draw = ImageDraw.Draw(scene)
    draw.rectangle((0, 280, 512, 384), fill=(70, 160, 80))
    draw.ellipse((380, 30, 460, 110), fill=(250, 220, 60))
    draw.rectangle((200, 150, 312, 300), fill=(200, 60, 60))
    draw.ellipse((206, 60, 306, 160), fill=(240, 200, 170))
    return _png(face), _png(scene)


def _flat_image() -> bytes:
    from PIL import Image

    return _png(Image.new("RGB", (128, 128), (128, 128, 128)))


def _png(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
