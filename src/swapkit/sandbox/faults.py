"""Fault injection: make a vendor fail on purpose, for the next N requests or a seeded fraction.

Design decisions:

- A `Fault` is an immutable, validated description (a pydantic model, so the same validation
  serves Python callers and `POST /_sandbox/faults`). Its mutable state (how many times it may
  still fire, its random generator) lives in the `FaultBook` entry, so `Fault` values can be
  compared, logged and reused.
- `times=None` means "every matching request until cleared"; with `fraction` each matching request
  fires with that probability, drawn from `random.Random(seed)`, so a given request sequence
  always fails the same way.
- One fault at most fires per request: the first active one (in insertion order) that matches.
- `path` narrows a fault to some routes. It is a glob (`fnmatch`, where `*` also crosses `/`)
  matched against the path relative to the vendor's mount point (`/v1/jobs/*`, `/results/*`) and
  against the full path (`/<vendor>/v1/jobs/*`); prefix it with `re:` for a regular expression
  (`re:/v1/swap/[a-z-]+/async`), matched with `re.fullmatch`.
- Kinds, and when they act:
  - `status` (default; status 500): the vendor's own error body for that status, without the
    request reaching the vendor (no credit is taken, no job created).
  - `html` (default status 502): an HTML error page, as a proxy in front of the vendor would send.
  - `latency` (`seconds` required): the request is handled normally, the response sent late.
  - `drop`: the connection is closed without a response. `timeout`: the server hangs for
    `seconds` (default: the sandbox's `hang_seconds`) and then closes; the in-process transport
    raises `httpx.ReadTimeout` at once. With `after_processing=True` both happen after the vendor
    handled the request (a job was created and charged but the client never hears of it).
  - `truncated`: the request is handled normally and the body cut in half (status kept,
    `Content-Length` matching the cut body).
  - `never_finish`: the next async job stays in its vendor's "processing" state forever. What a
    synchronous request does with it is the vendor's to say (each vendor's module documents it).
  - `job_failed`: the next job (sync or async) ends the way the vendor's failed jobs end.
- Two fields are read by the vendor that answers, not here, and each vendor documents its reading
  (a vendor without coded errors ignores them):
  - `code`: on a `status` fault, the error code to answer with (without `status`, the vendor
    answers with the HTTP status it documents for that code); on a `job_failed` fault, what the
    failed job reports.
  - `envelope` (`status` faults only): which of the vendor's error-body shapes to use instead of
    its default. It is a plain name: each vendor lists its own in `Vendor.error_envelopes` and
    validates nothing else, so this module names no vendor. `FaultBook` (which knows the vendors
    of its sandbox) refuses a name that no vendor of the sandbox knows; a vendor given another
    vendor's name (a fault for every provider) answers in its own default shape.
"""

from __future__ import annotations

import fnmatch
import random
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "JOB_FAULT_KINDS",
    "ErrorEnvelope",
    "Fault",
    "FaultBook",
    "FaultKind",
    "html_error_page",
]

FaultKind = Literal[
    "status", "latency", "drop", "timeout", "html", "truncated", "never_finish", "job_failed"
]

ErrorEnvelope: TypeAlias = str
"""The name of one of a vendor's error-body shapes (`Fault.envelope`); each vendor lists the names
it answers in (`Vendor.error_envelopes`)."""

JOB_FAULT_KINDS: frozenset[str] = frozenset({"never_finish", "job_failed"})
"""Kinds consumed by the vendor when it creates a job, not by the request pipeline."""

_DEFAULT_STATUS = {"status": 500, "html": 502}


class Fault(BaseModel):
    """A failure to inject into one vendor's (or, with `provider=None`, every vendor's) traffic."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: str | None = None
    kind: FaultKind = "status"
    status: int | None = Field(default=None, ge=100, le=599)
    seconds: float | None = Field(default=None, ge=0, le=600)
    times: int | None = Field(default=None, ge=1)
    fraction: float | None = Field(default=None, gt=0, le=1)
    seed: int | None = None
    path: str | None = None
    method: str | None = None
    after_processing: bool = False
    code: str | None = Field(default=None, min_length=1, max_length=100)
    envelope: ErrorEnvelope | None = Field(default=None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _check(self) -> Fault:
        if self.kind == "latency" and self.seconds is None:
            raise ValueError("a latency fault needs `seconds`")
        if self.path is not None and self.path.startswith("re:"):
            try:
                re.compile(self.path[3:])
            except re.error as exc:
                raise ValueError(f"invalid path regex {self.path[3:]!r}: {exc}") from exc
        if self.after_processing and self.kind not in ("drop", "timeout"):
            raise ValueError("`after_processing` applies only to drop and timeout faults")
        if self.code is not None and self.kind not in ("status", "job_failed"):
            raise ValueError("`code` applies only to status and job_failed faults")
        if self.envelope is not None and self.kind != "status":
            raise ValueError("`envelope` applies only to status faults")
        return self

    @property
    def effective_status(self) -> int:
        """The HTTP status a `status`/`html` fault answers with."""
        return self.status if self.status is not None else _DEFAULT_STATUS.get(self.kind, 500)

    def matches(self, provider: str, method: str, relative_path: str, full_path: str) -> bool:
        """Whether this fault targets the request (ignoring `times` and `fraction`)."""
        if self.provider is not None and self.provider != provider:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if self.path is None:
            return True
        if self.path.startswith("re:"):
            pattern = re.compile(self.path[3:])
            return any(pattern.fullmatch(p) for p in (relative_path, full_path))
        return any(fnmatch.fnmatchcase(p, self.path) for p in (relative_path, full_path))


@dataclass
class _ActiveFault:
    fault: Fault
    remaining: int | None
    rng: random.Random = field(repr=False)


class FaultBook:
    """The faults currently armed on a sandbox (`sandbox.faults`). Thread-safe."""

    def __init__(
        self, providers: Iterable[str] | None = None, envelopes: Iterable[str] | None = None
    ) -> None:
        """`providers` and `envelopes`, when given, are the vendor names and error-body shape
        names a fault may use; others are refused by `check`."""
        self._lock = threading.Lock()
        self._active: list[_ActiveFault] = []
        self._providers = frozenset(providers) if providers is not None else None
        self._envelopes = frozenset(envelopes) if envelopes is not None else None

    def check(self, fault: Fault) -> None:
        """Raise ValueError if `fault` names a provider or an envelope this sandbox lacks."""
        if (
            fault.provider is not None
            and self._providers is not None
            and fault.provider not in self._providers
        ):
            known = ", ".join(sorted(self._providers))
            raise ValueError(f"the sandbox has no provider {fault.provider!r} (it has: {known})")
        if (
            fault.envelope is not None
            and self._envelopes is not None
            and fault.envelope not in self._envelopes
        ):
            known = ", ".join(sorted(self._envelopes)) or "none"
            raise ValueError(
                f"no vendor of the sandbox has an error envelope {fault.envelope!r} "
                f"(envelopes: {known})"
            )

    def add(self, fault: Fault) -> Fault:
        """Arm `fault`; returns it. A provider or an envelope the sandbox's vendors do not have
        is a ValueError (`check`)."""
        self.check(fault)
        with self._lock:
            self._active.append(_ActiveFault(fault, fault.times, random.Random(fault.seed)))
        return fault

    def clear(self, provider: str | None = None) -> int:
        """Disarm every fault (or only `provider`'s); returns how many were removed."""
        with self._lock:
            before = len(self._active)
            if provider is None:
                self._active.clear()
            else:
                self._active = [a for a in self._active if a.fault.provider != provider]
            return before - len(self._active)

    def __iter__(self) -> Iterator[Fault]:
        with self._lock:
            return iter([a.fault for a in self._active])

    def __len__(self) -> int:
        with self._lock:
            return len(self._active)

    def take(
        self,
        provider: str,
        method: str,
        relative_path: str,
        full_path: str,
        *,
        job_faults: bool = False,
        kinds: frozenset[str] | None = None,
    ) -> Fault | None:
        """Fire and return the first matching fault, or None.

        With `job_faults=False` only request-pipeline kinds are considered; with `True` only
        `JOB_FAULT_KINDS` (optionally narrowed by `kinds`).
        """
        with self._lock:
            for active in self._active:
                fault = active.fault
                if (fault.kind in JOB_FAULT_KINDS) != job_faults:
                    continue
                if kinds is not None and fault.kind not in kinds:
                    continue
                if not fault.matches(provider, method, relative_path, full_path):
                    continue
                if fault.fraction is not None and active.rng.random() >= fault.fraction:
                    continue
                if active.remaining is not None:
                    active.remaining -= 1
                    if active.remaining <= 0:
                        self._active.remove(active)
                return fault
        return None


_REASONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}


def html_error_page(status: int) -> bytes:
    """An nginx-style HTML error page, as a proxy in front of a vendor would return."""
    reason = _REASONS.get(status, "Error")
    return (
        f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    ).encode()
