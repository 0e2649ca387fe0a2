"""The cases: what each one runs, how often, and what it reports.

Every case is a function from the run's `Context` to the rows of the report (`Row`),
registered in `CASES` under the name the issue's table uses.  Counts have a full value and a
``--quick`` one (a smoke run: each case once, on tiny images); ``--pairs`` overrides the
number of pairs or samples.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import sysconfig
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from . import cases, raw
from .fake_vendor import UNAVAILABLE, FakeVendor
from .images import Images
from .measure import ROOT, Pairs, Spread, block, interleave, wall_times
from .memory import MMAP_THRESHOLD

__all__ = ["CASES", "Context", "Row"]

_MS = 1000.0
_MIB = 1 / 2**20


@dataclasses.dataclass(frozen=True)
class Row:
    """One line of the report: a headline number with its spread, and the absolute medians
    of both sides behind it."""

    case: str
    label: str
    #: What `result` is, e.g. ``"time swapkit/raw"``.
    measure: str
    result: Spread
    #: The unit of `result`: ``"x"`` (a ratio), ``"ms"``, ``"x image"``, ``"requests"``.
    unit: str
    #: The floor's median, in `absolute_unit` (None when there is no floor).
    raw: float | None = None
    #: swapkit's median, in `absolute_unit`.
    swapkit: float | None = None
    absolute_unit: str = ""
    #: The issue's target for this measure.
    target: str = ""
    note: str = ""


@dataclasses.dataclass
class Context:
    """What every case may use: the images, the fake vendor, a scratch folder, the counts."""

    quick: bool
    images: Images
    vendor: FakeVendor
    scratch: Path
    #: Overrides every case's number of pairs (or samples) when set.
    pairs: int | None = None
    #: The vendors of the per-vendor cases, when not each case's own choice.
    vendors: tuple[str, ...] | None = None

    def count(self, full: int, quick: int = 1) -> int:
        """`full`, or `quick` for a smoke run."""
        return quick if self.quick else full

    def pair_count(self, full: int) -> int:
        """How many pairs (or samples): ``--pairs`` when given, else `full` (1 when quick)."""
        return self.pairs if self.pairs is not None else self.count(full)


# -- sync swaps -------------------------------------------------------------------------------


def _sync_row(
    ctx: Context,
    case: str,
    vendor: str,
    result: str,
    source: bytes,
    target: bytes,
    *,
    per_block: int,
    pairs: int,
    goal: str,
) -> Row:
    base_url = ctx.vendor.url(result)
    floor = raw.SYNC_SWAPS[vendor]
    raw_out, swapkit_out = ctx.scratch / f"raw-{vendor}.img", ctx.scratch / f"swapkit-{vendor}.img"
    with httpx.Client() as http, cases.sync_client({vendor: base_url}) as client:
        measured = interleave(
            block(lambda: floor(http, base_url, source, target, raw_out), per_block),
            block(lambda: cases.swap(client, vendor, source, target, swapkit_out), per_block),
            pairs=pairs,
        )
    return _time_row(case, vendor, measured, goal)


def _time_row(case: str, label: str, measured: Pairs, goal: str) -> Row:
    extra = measured.differences().scaled(_MS)
    return Row(
        case,
        label,
        "time swapkit/raw",
        measured.ratios(),
        "x",
        raw=Spread.of(measured.raw).median * _MS,
        swapkit=Spread.of(measured.swapkit).median * _MS,
        absolute_unit="ms/swap",
        target=goal,
        note=f"{extra.median:+.2f} ms a swap (IQR {extra.low:+.2f} to {extra.high:+.2f})",
    )


def sync_100k(ctx: Context) -> list[Row]:
    """Each vendor's swap with 100 KB images and a 100 KB result, 20 swaps a block."""
    face, scene = ctx.images.face.read_bytes(), ctx.images.scene.read_bytes()
    return [
        _sync_row(
            ctx,
            "sync-100k",
            vendor,
            "small",
            face,
            scene,
            per_block=ctx.count(20),
            pairs=ctx.pair_count(15),
            goal="<= 1.10",
        )
        for vendor in ctx.vendors or cases.VENDORS
    ]


def sync_5mb_input(ctx: Context) -> list[Row]:
    """Prospolabs with a 5 MB source and a 5 MB target (a 100 KB result)."""
    face, scene = ctx.images.large_face.read_bytes(), ctx.images.large_scene.read_bytes()
    row = _sync_row(
        ctx,
        "sync-5mb-input",
        "prospolabs",
        "small",
        face,
        scene,
        per_block=ctx.count(2),
        pairs=ctx.pair_count(11),
        goal="<= 1.05",
    )
    return [row]


def sync_11mp_result(ctx: Context) -> list[Row]:
    """Prospolabs with 100 KB images and an 11 MP (about 5 MB) result to download."""
    face, scene = ctx.images.face.read_bytes(), ctx.images.scene.read_bytes()
    row = _sync_row(
        ctx,
        "sync-11mp-result",
        "prospolabs",
        "11mp",
        face,
        scene,
        per_block=ctx.count(2),
        pairs=ctx.pair_count(11),
        goal="<= 1.10",
    )
    return [row]


# -- async throughput -------------------------------------------------------------------------


async def _throughput(
    swap: Callable[[Path], Awaitable[None]], swaps: int, concurrency: int, scratch: Path
) -> float:
    """Seconds for `swaps` swaps by `concurrency` workers, after one warm-up round each."""
    await asyncio.gather(*(swap(scratch / f"warm-{n}.img") for n in range(concurrency)))
    todo = iter(range(swaps))

    async def worker(index: int) -> None:
        out = scratch / f"out-{index}.img"
        for _ in todo:
            await swap(out)

    started = time.perf_counter()
    await asyncio.gather(*(worker(index) for index in range(concurrency)))
    return time.perf_counter() - started


def async_1000x50(ctx: Context) -> list[Row]:
    """1,000 swaps at concurrency 50: throughput, swapkit against the floor.

    Prospolabs only unless ``--vendor`` says otherwise (a run takes seconds of CPU: httpx's
    async client needs several times the CPU per request of its sync one); the quick run
    takes every vendor, so that every async floor is exercised.
    """
    swaps, concurrency = ctx.count(1000, 10), ctx.count(50, 5)
    vendors = ctx.vendors or (cases.VENDORS if ctx.quick else ("prospolabs",))
    face, scene = ctx.images.face.read_bytes(), ctx.images.scene.read_bytes()
    base_url = ctx.vendor.url("small")
    rows = []
    for vendor in vendors:
        floor = raw.ASYNC_SWAPS[vendor]

        async def raw_run(floor: raw.AsyncSwap = floor) -> float:
            async with httpx.AsyncClient() as http:
                return await _throughput(
                    lambda out: floor(http, base_url, face, scene, out),
                    swaps,
                    concurrency,
                    ctx.scratch,
                )

        async def swapkit_run(vendor: str = vendor) -> float:
            async with cases.async_client({vendor: base_url}) as client:
                return await _throughput(
                    lambda out: cases.aswap(client, vendor, face, scene, out),
                    swaps,
                    concurrency,
                    ctx.scratch,
                )

        measured = interleave(
            lambda: asyncio.run(raw_run()),
            lambda: asyncio.run(swapkit_run()),
            pairs=ctx.pair_count(3),
            warmup=0,
        )
        rows.append(
            Row(
                "async-1000x50",
                vendor,
                "throughput swapkit/raw",
                measured.inverse_ratios(),
                "x",
                raw=swaps / Spread.of(measured.raw).median,
                swapkit=swaps / Spread.of(measured.swapkit).median,
                absolute_unit="swaps/s",
                target=">= 0.90",
                note=f"{swaps} swaps, {concurrency} at a time",
            )
        )
    return rows


# -- memory -----------------------------------------------------------------------------------


def _memory_sample(
    ctx: Context, impl: str, vendor: str, base_url: str, source: Path, target: Path
) -> dict[str, Any]:
    argv = [
        sys.executable,
        "-m",
        "benchmarks.memory",
        f"--impl={impl}",
        f"--vendor={vendor}",
        f"--base-url={base_url}",
        f"--source={source}",
        f"--target={target}",
        f"--out={ctx.scratch / f'memory-{impl}.img'}",
    ]
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD)}
    done = subprocess.run(argv, capture_output=True, check=True, cwd=ROOT, env=env, text=True)
    sample: dict[str, Any] = json.loads(done.stdout)
    return sample


def _memory_rows(
    ctx: Context,
    case: str,
    vendor: str,
    result: str,
    source: Path,
    target: Path,
    *,
    reference_bytes: int,
    reference: str,
    per_image: bool,
    goal: str,
) -> list[Row]:
    base_url = ctx.vendor.url(result)
    samples: dict[str, list[dict[str, Any]]] = {"raw": [], "swapkit": []}
    for index in range(ctx.pair_count(3)):
        order = ("raw", "swapkit") if index % 2 == 0 else ("swapkit", "raw")
        for impl in order:
            samples[impl].append(_memory_sample(ctx, impl, vendor, base_url, source, target))
    rows = []
    for key, measure in (("rss_extra", "peak RSS"), ("traced_peak", "tracemalloc peak")):
        measured = Pairs(
            [float(s[key]) for s in samples["raw"]], [float(s[key]) for s in samples["swapkit"]]
        )
        raw_bytes, swapkit_bytes = Spread.of(measured.raw), Spread.of(measured.swapkit)
        versus_raw = measured.ratios()
        of_image = Spread.of([value / reference_bytes for value in measured.swapkit])
        note = (
            f"{reference} {reference_bytes * _MIB:.1f} MiB; raw "
            f"{raw_bytes.median / reference_bytes:.3g}x it, swapkit "
            f"{swapkit_bytes.median / reference_bytes:.3g}x it"
        )
        if per_image:
            headline, unit = of_image, f"x {reference}"
            note += f"; swapkit/raw {versus_raw.median:.3g}"
        else:
            headline, unit = versus_raw, "x raw"
        method = samples["swapkit"][0]["rss_method"] if key == "rss_extra" else "tracemalloc"
        rows.append(
            Row(
                case,
                measure,
                f"peak extra memory ({method})",
                headline,
                unit,
                raw=raw_bytes.median * _MIB,
                swapkit=swapkit_bytes.median * _MIB,
                absolute_unit="MiB",
                target=goal if key == "rss_extra" else "",
                note=note,
            )
        )
    return rows


def memory_50mib(ctx: Context) -> list[Row]:
    """DeepSwapAI (the vendor that takes 50 MB) with one 50 MiB image as source and target."""
    huge = ctx.images.huge
    return _memory_rows(
        ctx,
        "memory-50mib",
        "deepswapai",
        "small",
        huge,
        huge,
        reference_bytes=huge.stat().st_size,
        reference="image",
        per_image=True,
        goal="<= 0.5 x image",
    )


def memory_11mp_result(ctx: Context) -> list[Row]:
    """Prospolabs with 100 KB images and an 11 MP result."""
    return _memory_rows(
        ctx,
        "memory-11mp-result",
        "prospolabs",
        "11mp",
        ctx.images.face,
        ctx.images.scene,
        reference_bytes=ctx.images.photo_result.stat().st_size,
        reference="result",
        per_image=False,
        goal="<= 1.2 x raw",
    )


# -- failover ---------------------------------------------------------------------------------


def _failover_rows(ctx: Context, case: str, primary_url: str, what: str) -> list[Row]:
    face, scene = ctx.images.face.read_bytes(), ctx.images.scene.read_bytes()
    secondary = ctx.vendor.url("small")
    out = ctx.scratch / "failover.img"

    def first_swap(base_urls: Mapping[str, str]) -> Callable[[], float]:
        def measure() -> float:
            # a fresh client each time: its breaker has not yet learnt the primary is down
            with cases.sync_client(base_urls) as client:
                started = time.perf_counter()
                cases.swap(client, "deepswapai", face, scene, out)
                return time.perf_counter() - started

        return measure

    measured = interleave(
        first_swap({"deepswapai": secondary}),
        first_swap({"prospolabs": primary_url, "deepswapai": secondary}),
        pairs=ctx.pair_count(9),
        warmup=ctx.count(1, 0),
    )
    extra = measured.differences().scaled(_MS)
    return [
        Row(
            case,
            what,
            "extra ms of a dead primary",
            extra,
            "ms",
            raw=Spread.of(measured.raw).median * _MS,
            swapkit=Spread.of(measured.swapkit).median * _MS,
            absolute_unit="ms/swap",
            target="<= 5 ms",
            note="raw: swapkit straight to the secondary; swapkit: primary first, fresh client",
        )
    ]


def failover_refused(ctx: Context) -> list[Row]:
    """A primary whose port refuses connections, then DeepSwapAI."""
    return _failover_rows(ctx, "failover-refused", ctx.vendor.refused_url, "refused primary")


def failover_503(ctx: Context) -> list[Row]:
    """A primary answering 503, then DeepSwapAI; and how many requests still reach the
    primary from one client once its breaker has had time to open."""
    rows = _failover_rows(ctx, "failover-503", ctx.vendor.unavailable_url, "503 primary")
    face, scene = ctx.images.face.read_bytes(), ctx.images.scene.read_bytes()
    urls = {"prospolabs": ctx.vendor.unavailable_url, "deepswapai": ctx.vendor.url("small")}
    per_swap = []
    with cases.sync_client(urls) as client:
        for _ in range(ctx.count(10, 2)):
            before = ctx.vendor.stats().get(UNAVAILABLE, 0)
            cases.swap(client, "deepswapai", face, scene, ctx.scratch / "failover.img")
            per_swap.append(ctx.vendor.stats().get(UNAVAILABLE, 0) - before)
    last = per_swap[-3:]
    rows.append(
        Row(
            "failover-503",
            "breaker",
            f"requests to the primary in the last {len(last)} of {len(per_swap)} swaps",
            Spread.of([float(sum(last))]),
            "requests",
            target="0 once open",
            note="per swap: " + " ".join(map(str, per_swap)),
        )
    )
    return rows


# -- start-up ---------------------------------------------------------------------------------


def _cli() -> list[str]:
    script = Path(sysconfig.get_path("scripts")) / "swapkit"
    return [str(script)] if script.exists() else [sys.executable, "-m", "swapkit"]


def _wall_rows(
    ctx: Context,
    case: str,
    commands: Mapping[str, list[str]],
    goals: Mapping[str, str],
    reference: str | None = None,
) -> list[Row]:
    """Rows for fresh-process wall times, each against the interpreter doing nothing (the raw
    column) and, when given, against the `reference` command too (in the note)."""
    floor = "python -c pass"
    times = wall_times(
        {floor: [sys.executable, "-c", "pass"], **commands},
        ctx.count(15),
        warmup=ctx.count(1, 0),
    )
    medians = {name: Spread.of(values).median * _MS for name, values in times.items()}
    rows = []
    for name in commands:
        measured = Spread.of(times[name]).scaled(_MS)
        note = f"{measured.median - medians[floor]:+.0f} ms over the interpreter"
        if reference is not None and name != reference:
            note += f", {measured.median - medians[reference]:+.0f} ms over {reference}"
        rows.append(
            Row(
                case,
                name,
                "wall ms, fresh process",
                measured,
                "ms",
                raw=medians[floor],
                swapkit=measured.median,
                absolute_unit="ms",
                target=goals.get(name, ""),
                note=note,
            )
        )
    return rows


def cli_help(ctx: Context) -> list[Row]:
    """``swapkit --help`` (the installed script), as a fresh process."""
    commands = {"swapkit --help": [*_cli(), "--help"]}
    return _wall_rows(ctx, "cli-help", commands, {"swapkit --help": "<= 150 ms"})


def import_time(ctx: Context) -> list[Row]:
    """``import swapkit`` and a first `SwapClient`, beside ``import httpx``."""
    first_client = (
        "from swapkit import SwapClient; "
        "SwapClient(providers={'prospolabs': {'api_key': 'k'}}, config=False).close()"
    )
    commands = {
        "import httpx": [sys.executable, "-c", "import httpx"],
        "import swapkit": [sys.executable, "-c", "import swapkit"],
        "first SwapClient": [sys.executable, "-c", first_client],
    }
    goals = {"import swapkit": "<= 80 ms"}
    return _wall_rows(ctx, "import", commands, goals, reference="import httpx")


#: Every case, by the name ``--case`` takes, in the order they run.
CASES: Mapping[str, Callable[[Context], list[Row]]] = {
    "sync-100k": sync_100k,
    "sync-5mb-input": sync_5mb_input,
    "sync-11mp-result": sync_11mp_result,
    "async-1000x50": async_1000x50,
    "memory-50mib": memory_50mib,
    "memory-11mp-result": memory_11mp_result,
    "failover-refused": failover_refused,
    "failover-503": failover_503,
    "cli-help": cli_help,
    "import": import_time,
}
