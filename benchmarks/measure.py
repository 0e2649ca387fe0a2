"""How the benchmarks measure: interleaved pairs, medians of ratios, fresh processes.

* **Interleaved pairs.**  The raw floor and swapkit run in turns, ``AB BA AB ...`` (the order
  flips every pair, so neither side always runs on a cache or a CPU the other just warmed),
  after a warm-up of each.  A slow stretch of a busy machine then hits both sides of a pair
  alike, and the pair's *ratio* survives it where the two absolute times do not.
* **Medians of ratios.**  Each pair gives one ratio (swapkit / raw, or the difference in
  milliseconds); the report gives their median, their interquartile range and their extremes.
* **Fresh processes** for what a process carries from one measurement to the next: start-up
  time, and peak memory (`benchmarks.memory`).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

__all__ = ["Pairs", "Spread", "block", "interleave", "wall_times"]

#: The repository root: child processes run from it, so ``-m benchmarks...`` resolves.
ROOT = Path(__file__).resolve().parent.parent


@dataclasses.dataclass(frozen=True)
class Spread:
    """The median of some samples, with their interquartile range and extremes."""

    median: float
    low: float
    high: float
    minimum: float
    maximum: float
    samples: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        if not values:
            raise ValueError("no samples")
        ordered = sorted(values)
        if len(ordered) > 1:
            low, _, high = statistics.quantiles(ordered, n=4, method="inclusive")
        else:
            low = high = ordered[0]
        return cls(statistics.median(ordered), low, high, ordered[0], ordered[-1], len(ordered))

    def scaled(self, factor: float) -> Spread:
        """The same spread in other units (seconds to milliseconds, bytes to MiB)."""
        return Spread(
            self.median * factor,
            self.low * factor,
            self.high * factor,
            self.minimum * factor,
            self.maximum * factor,
            self.samples,
        )

    @property
    def finite(self) -> bool:
        values = (self.median, self.low, self.high, self.minimum, self.maximum)
        return all(map(math.isfinite, values))


@dataclasses.dataclass(frozen=True)
class Pairs:
    """Both sides' samples, paired in the order they ran."""

    raw: list[float]
    swapkit: list[float]

    def ratios(self) -> Spread:
        """swapkit / raw, pair by pair."""
        return Spread.of([s / r for r, s in zip(self.raw, self.swapkit, strict=True)])

    def inverse_ratios(self) -> Spread:
        """raw / swapkit, pair by pair (for throughputs measured as times)."""
        return Spread.of([r / s for r, s in zip(self.raw, self.swapkit, strict=True)])

    def differences(self) -> Spread:
        """swapkit - raw, pair by pair."""
        return Spread.of([s - r for r, s in zip(self.raw, self.swapkit, strict=True)])


def block(action: Callable[[], object], count: int) -> Callable[[], float]:
    """A measurement: the seconds `count` runs of `action` take, per run."""

    def measure() -> float:
        started = time.perf_counter()
        for _ in range(count):
            action()
        return (time.perf_counter() - started) / count

    return measure


def interleave(
    raw: Callable[[], float], swapkit: Callable[[], float], *, pairs: int, warmup: int = 1
) -> Pairs:
    """Run `warmup` unrecorded pairs, then `pairs` recorded ones, ``AB BA AB ...``."""
    for _ in range(warmup):
        raw()
        swapkit()
    raws: list[float] = []
    swapkits: list[float] = []
    for index in range(pairs):
        if index % 2 == 0:
            raws.append(raw())
            swapkits.append(swapkit())
        else:
            swapkits.append(swapkit())
            raws.append(raw())
    return Pairs(raws, swapkits)


def wall_times(
    commands: Mapping[str, Sequence[str]], runs: int, *, warmup: int = 1
) -> dict[str, list[float]]:
    """The wall time of each command as a fresh process, `runs` times each, in turns."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(warmup + runs):
        for name, argv in commands.items():
            started = time.perf_counter()
            subprocess.run(argv, capture_output=True, check=True, cwd=ROOT)
            if round_ >= warmup:
                times[name].append(time.perf_counter() - started)
    return times
