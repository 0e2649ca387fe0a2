"""The benchmark suite still runs: every case once on tiny images (``--quick``).

Only that each case reports finite numbers is checked, never a timing: CI machines are too
noisy for that, and the figures belong to ``benchmarks/README.md``.  The suite runs as its own
process, as ``python -m benchmarks`` does, so stamina's testing switch (on in this test
session) does not change what it runs; its fake vendor listens on loopback.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _numbers(row: dict[str, Any]) -> list[float]:
    values = [row["result"][key] for key in ("median", "low", "high", "minimum", "maximum")]
    return values + [row[key] for key in ("raw", "swapkit") if row[key] is not None]


@pytest.mark.block_network(allowed_hosts=[r"127\.0\.0\.1", "localhost"])
def test_every_case_runs_and_reports_finite_numbers(tmp_path: Path) -> None:
    report = tmp_path / "benchmarks.json"
    subprocess.run(
        [sys.executable, "-W", "error", "-m", "benchmarks", "--quick", f"--json={report}"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    document = json.loads(report.read_text(encoding="utf-8"))
    rows = document["rows"]
    assert {row["case"] for row in rows} == set(document["cases"])
    assert len(document["cases"]) == 10
    for row in rows:
        assert row["result"]["samples"] >= 1, row
        assert all(map(math.isfinite, _numbers(row))), row
