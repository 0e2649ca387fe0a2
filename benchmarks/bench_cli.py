"""How long ``swapkit --help`` takes: the CLI imports the client stack only when a command runs.

Run: ``python benchmarks/bench_cli.py``.  Prints the median and worst of 15 runs of
``swapkit --help`` and of ``swapkit --version`` as fresh processes (the target is under 150 ms).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time


def _time(argv: list[str], runs: int = 15) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "swapkit", *argv], capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    for argv in (["--help"], ["--version"], ["batch", "--help"]):
        times = _time(argv)
        print(
            f"swapkit {' '.join(argv):<14} median {statistics.median(times) * 1000:6.1f} ms  "
            f"worst {max(times) * 1000:6.1f} ms"
        )


if __name__ == "__main__":
    main()
