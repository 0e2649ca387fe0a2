"""``python -m benchmarks``: swapkit against hand-written httpx, one command.

Starts the fake vendor (`benchmarks.fake_vendor`) in its own process, builds the images, runs
the cases (`benchmarks.suite`, all of them or those named with ``--case``), prints a table and,
with ``--json PATH``, writes every figure with the machine it came from.  ``--quick`` is the
smoke run CI uses: each case once, on tiny images; its numbers mean nothing.  See
``benchmarks/README.md`` for the method.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from .cases import VENDORS
from .fake_vendor import FakeVendor
from .images import Images, Sizes
from .report import as_json, machine, table
from .suite import CASES, Context, Row

__all__ = ["main"]


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="swapkit against hand-written httpx, interleaved, medians of ratios.",
    )
    parser.add_argument(
        "--case",
        action="append",
        choices=list(CASES),
        metavar="NAME",
        help=f"run this case (repeatable; default: all): {', '.join(CASES)}",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: each case once, tiny images"
    )
    parser.add_argument(
        "--pairs", type=int, metavar="N", help="pairs (or samples) per case, overriding each"
    )
    parser.add_argument(
        "--vendor",
        action="append",
        choices=list(VENDORS),
        metavar="NAME",
        help="the vendors of sync-100k and async-1000x50 (repeatable; default: all four, "
        "and Prospolabs alone for async-1000x50)",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    arguments = parser.parse_args(argv)
    if arguments.pairs is not None and arguments.pairs < 1:
        parser.error("--pairs must be 1 or more")
    return arguments


def main(argv: list[str] | None = None) -> None:
    """Run the selected cases and report them."""
    arguments = _arguments(argv)
    selected = arguments.case or list(CASES)
    about = machine()
    print(
        f"{about['cpu']}, {about['usable_cpus']} of {about['cpus']} CPUs usable, "
        f"load {' '.join(map(str, about['load_average']))}; {about['python']}; "
        f"swapkit {about['swapkit_commit']}"
        + ("; QUICK run: the numbers mean nothing" if arguments.quick else ""),
        file=sys.stderr,
    )
    rows: list[Row] = []
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="swapkit-bench-") as folder:
        images = Images(Path(folder), Sizes.quick() if arguments.quick else Sizes.full())
        scratch = Path(folder) / "out"
        scratch.mkdir()
        results = {"small": images.small_result, "11mp": images.photo_result}
        with FakeVendor(results) as vendor:
            vendors = tuple(arguments.vendor) if arguments.vendor else None
            context = Context(arguments.quick, images, vendor, scratch, arguments.pairs, vendors)
            for name in selected:
                print(f"running {name} ...", file=sys.stderr, flush=True)
                started = time.perf_counter()
                rows += CASES[name](context)
                seconds[name] = round(time.perf_counter() - started, 2)
    print(table(rows))
    if arguments.json is not None:
        document = as_json(
            rows,
            machine=about,
            load_average_after=[round(load, 2) for load in os.getloadavg()],
            quick=arguments.quick,
            cases=selected,
            seconds=seconds,
        )
        arguments.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
