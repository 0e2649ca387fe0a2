"""What the command line prints about results and attempts, and where it writes images.

Shared by ``swap``, ``jobs``, ``batch`` and ``demo``; imported only when one of them runs.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from swapkit.core.errors import SwapError
from swapkit.core.models import Attempt, SwapResult

__all__ = [
    "attempt_json",
    "dollars",
    "error_json",
    "print_attempts",
    "print_result",
    "refuse_unwritable",
    "rescue",
    "result_json",
    "save",
    "unwritable",
]


def unwritable(path: Path) -> str | None:
    """Why a file cannot be written at `path` (checked before the swap), or None."""
    if path.is_dir():
        return "it is a directory; give a file name, e.g. -o out.png"
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        return f"the directory {str(parent)!r} does not exist; create it first"
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        return "permission denied; choose another place"
    return None


def refuse_unwritable(path: Path) -> bool:
    """Print why a result cannot be written at `path` and return True; False when it can.
    Checked before anything is sent (or waited for)."""
    problem = unwritable(path)
    if problem:
        print(f"error: cannot write the result to {str(path)!r}: {problem}", file=sys.stderr)
    return problem is not None


def save(result: SwapResult, path: Path) -> tuple[Path, str | None]:
    """Write a paid result to `path`; when that fails, somewhere it fits (`rescue`).  Where it
    went, and why `path` could not be written (None when it was)."""
    try:
        return result.save(path), None
    except OSError as exc:
        return rescue(result), f"{str(path)!r} could not be written ({exc.strerror or exc})"


def rescue(result: SwapResult) -> Path:
    """Write a paid result somewhere it fits: the working directory, else the temp dir."""
    name = f"swapkit-{result.swap_id or 'result'}.{result.extension}"
    for folder in (Path.cwd(), Path(tempfile.gettempdir())):
        try:
            return result.save(folder / name)
        except OSError:
            continue
    raise SwapError(f"the swap succeeded but its image could not be written anywhere ({name})")


def dollars(amount: float | None) -> str:
    return "unknown" if amount is None else f"${amount:.3f}"


def print_result(result: SwapResult, path: Path) -> None:
    print(f"wrote {path} ({result.media_type}, {result.width}x{result.height})")
    print(f"  provider   {result.provider} (model {result.model or 'n/a'})")
    print(f"  job        {result.job_id or 'n/a'}")
    if result.processing_seconds is not None:
        print(f"  vendor     {result.processing_seconds:.2f} s of processing")
    print(f"  elapsed    {result.elapsed_seconds:.2f} s")
    print(f"  cost       {dollars(result.cost_usd)} (the whole swap: {dollars(result.spent_usd)})")
    print_attempts(result.attempts)


def print_attempts(attempts: Sequence[Attempt]) -> None:
    for attempt in attempts:
        if attempt.skipped:
            print(f"  attempt    {attempt.provider}: {attempt.reason}")
            continue
        outcome = "ok" if attempt.error is None else f"{type(attempt.error).__name__}"
        charged = {True: "charged", False: "not charged", None: "charge unknown"}[attempt.charged]
        print(f"  attempt    {attempt.provider}: {outcome} ({attempt.reason}; {charged})")


def attempt_json(attempt: Attempt) -> dict[str, Any]:
    return {
        "provider": attempt.provider,
        "model": attempt.model,
        "skipped": attempt.skipped,
        "outcome": "ok" if attempt.error is None else type(attempt.error).__name__,
        "charged": attempt.charged,
        "cost_usd": attempt.cost_usd,
        "job_id": attempt.job_id,
        "elapsed_seconds": round(attempt.elapsed_seconds, 3),
    }


def result_json(result: SwapResult, path: Path | None) -> dict[str, Any]:
    return {
        "ok": True,
        "output": str(path) if path is not None else None,
        "swap_id": result.swap_id,
        "provider": result.provider,
        "model": result.model,
        "job_id": result.job_id,
        "media_type": result.media_type,
        "width": result.width,
        "height": result.height,
        "cost_usd": result.cost_usd,
        "spent_usd": result.spent_usd,
        "elapsed_seconds": round(result.elapsed_seconds, 3),
        "attempts": [attempt_json(attempt) for attempt in result.attempts],
    }


def error_json(error: SwapError) -> dict[str, Any]:
    return {
        "ok": False,
        "swap_id": error.swap_id,
        "error": {"type": type(error).__name__, "message": str(error)},
        "spent_usd": error.spent_usd,
        "attempts": [attempt_json(attempt) for attempt in error.attempts],
    }
