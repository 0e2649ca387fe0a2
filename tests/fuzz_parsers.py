"""Throw mutated vendor bodies at every parser entry point of every provider, outside the suite.

    python -m tests.fuzz_parsers [BODIES_PER_ENTRY_POINT] [SEED]

Each body starts from a genuine answer of the vendor (the seeds in `tests.test_hostile`), with
fields replaced by hostile values, removed, cut short, nested deep, given huge numbers or sent
in another charset.  Anything but a swapkit error is counted by its root cause (the exception
and the line it came from) and printed with an example, and so is any call slower than 10 ms.
The suite drives the same entry points through hypothesis on a smaller budget
(`tests/test_hostile.py`).
"""

from __future__ import annotations

import collections
import json
import random
import sys
import time
import traceback
from typing import Any

from swapkit import errors

from .test_hostile import ENTRY_POINTS, ERROR_STATUSES, PROVIDERS, SEEDS, _response

HOSTILE: list[Any] = [None, True, 0, -1, 1e999, float("nan"), 10**5000, "1" * 5000, "no " * 16000,
                      "x" * 100_000, [], {}, [[[[[]]]]], "", "NaN", -1e308, 2**63, 1.5,
                      "2026-13-45T99:99:99Z", "10x", "99999999999x99999999999", {"code": None},
                      ["a"], 12]  # fmt: skip
CHARSETS = ["application/json; charset=utf-16", "application/json; charset=bogus", "text/html"]


def mutate(rng: random.Random, value: Any) -> Any:
    """`value` with one field, at any depth, replaced, removed or mutated further."""
    if isinstance(value, dict) and value and rng.random() < 0.7:
        value = dict(value)
        key = rng.choice(list(value))
        roll = rng.random()
        if roll < 0.2:
            del value[key]
        elif roll < 0.7:
            value[key] = mutate(rng, value[key])
        else:
            value[key] = rng.choice(HOSTILE)
        return value
    if isinstance(value, list) and value and rng.random() < 0.7:
        value = list(value)
        index = rng.randrange(len(value))
        value[index] = mutate(rng, value[index])
        return value
    return rng.choice(HOSTILE)


def body(rng: random.Random, seed: Any) -> bytes:
    value = mutate(rng, seed) if rng.random() < 0.85 else seed
    try:
        encoded = json.dumps(value, allow_nan=True).encode()
    except (ValueError, OverflowError):
        encoded = b"{}"
    roll = rng.random()
    if roll < 0.1:
        return b"[" * 1000 + b"]" * 1000
    if roll < 0.15:
        return b'{"detail":' + b"[" * 900 + b"]" * 900 + b"}"
    if roll < 0.2:
        return b"1" * 4301
    if roll < 0.25:
        return encoded[: rng.randrange(len(encoded) + 1)]
    if roll < 0.3:
        return encoded.replace(b"1", b"1" + b"0" * 400, 1)
    if roll < 0.33:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
    return encoded


def run(per_entry: int, seed: int) -> int:
    rng = random.Random(seed)
    escapes: collections.Counter[tuple[str, ...]] = collections.Counter()
    examples: dict[tuple[str, ...], bytes] = {}
    slow = 0
    for name, provider in PROVIDERS.items():
        for entry, call in ENTRY_POINTS.items():
            for _ in range(per_entry):
                content = body(rng, rng.choice(SEEDS[name]))
                failing = entry in ("error_from_response", "download_error")
                status = rng.choice(ERROR_STATUSES) if failing else 200
                headers = {"content-type": rng.choice(CHARSETS)} if rng.random() < 0.1 else {}
                path = {"parse_templates": "/v6/filters", "parse_poll": "/face/tasks"}
                response = _response(status, content, headers, path.get(entry, "/v1/x"))
                started = time.perf_counter()
                try:
                    call(provider, response, content)
                except NotImplementedError:
                    break  # the vendor has no such endpoint
                except errors.SwapError:
                    pass
                except BaseException as exc:  # what this script is here to find
                    frame = traceback.extract_tb(exc.__traceback__)[-1]
                    where = f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}"
                    key = (name, entry, type(exc).__name__, where)
                    escapes[key] += 1
                    examples.setdefault(key, content[:100])
                slow += time.perf_counter() - started > 0.01
    print(f"{per_entry} bodies per entry point, seed {seed}: {sum(escapes.values())} escapes")
    for key, count in escapes.most_common():
        print(f"  {count:6d}  {' '.join(key)}  e.g. {examples[key]!r}")
    print(f"  calls over 10 ms: {slow}")
    return 1 if escapes else 0


if __name__ == "__main__":
    arguments = [int(value) for value in sys.argv[1:3]]
    sys.exit(run(*(arguments + [10_000, 1][len(arguments) :])))
