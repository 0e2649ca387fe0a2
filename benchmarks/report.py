"""The report: the machine the figures came from, a table for the terminal, a JSON document."""

from __future__ import annotations

import dataclasses
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from importlib import metadata
from typing import Any

from .measure import ROOT
from .suite import Row

__all__ = ["as_json", "machine", "table"]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], capture_output=True, text=True, check=True, cwd=ROOT, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, Any]:
    """Where and on what the figures were taken (the load average says how busy it was)."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    commit = _git("rev-parse", "--short", "HEAD")
    if _git("status", "--porcelain", "--", "src"):
        commit += " + uncommitted changes in src/"
    return {
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "usable_cpus": usable,
        "load_average": [round(load, 2) for load in os.getloadavg()],
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "swapkit_commit": commit,
        "versions": {name: _version(name) for name in ("httpx", "httpcore", "pillow", "swapkit")},
        "executable": sys.executable,
    }


def _ratio(value: float) -> str:
    return f"{value:.3f}" if abs(value) < 0.1 else f"{value:.2f}"


def _number(value: float, unit: str) -> str:
    if unit == "x":
        return f"{_ratio(value)}x"
    if unit.startswith("x "):
        return f"{_ratio(value)}{unit}"
    if unit == "ms":
        return f"{value:.1f} ms"
    return f"{value:g} {unit}"


def _range(low: float, high: float, unit: str) -> str:
    if unit.startswith("x"):
        return f"{_ratio(low)} - {_ratio(high)}"
    if unit == "ms":
        return f"{low:.1f} - {high:.1f}"
    return f"{low:g} - {high:g}"


def _absolute(value: float | None, unit: str) -> str:
    if value is None:
        return ""
    digits = 0 if value >= 100 else 1 if value >= 10 else 2
    return f"{value:.{digits}f} {unit}"


def table(rows: Sequence[Row]) -> str:
    """The rows as an aligned text table, notes below each case's rows."""
    header = ("case", "what", "measure", "median", "IQR", "min - max", "raw", "swapkit", "target")
    lines: list[tuple[str, ...]] = [header]
    notes: list[str] = []
    for row in rows:
        result = row.result
        lines.append(
            (
                row.case,
                row.label,
                row.measure,
                _number(row.result.median, row.unit),
                _range(result.low, result.high, row.unit),
                _range(result.minimum, result.maximum, row.unit),
                _absolute(row.raw, row.absolute_unit),
                _absolute(row.swapkit, row.absolute_unit),
                row.target,
            )
        )
        if row.note:
            notes.append(f"  {row.case} / {row.label}: {row.note}")
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    text = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    ]
    text.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join([*text, "", "notes:", *notes])


def as_json(rows: Sequence[Row], **fields: Any) -> dict[str, Any]:
    """The run as a JSON-ready document: `fields` (machine, options, ...) and the rows."""
    return {**fields, "rows": [dataclasses.asdict(row) for row in rows]}
