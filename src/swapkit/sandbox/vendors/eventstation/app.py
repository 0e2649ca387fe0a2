"""EventStation.ai FaceSwap emulator, written from the vendor's documents (seed 003, §3 of
reference/provider-contracts.md), never from swapkit's adapter.

Not a two-image swap: one face photo plus a filter (template) id, or a text prompt, makes a job;
its status is polled with POST; the result images come back as base64 only.

Documented behaviour reproduced as written: `GET /v1/filters/` (trailing slash) listing
`[{"id": "<numeric string>", "name"}]`; `POST /v1/run/faceswap` with an integer `filter_id` and
`POST /v2/run/self-prompt` with `{"prompt"}`, both answering `{"id", "status": "QUEUED"}`,
polled at `POST /v2/status/{job_id}` through `QUEUED`, `RUNNING`, `COMPLETED`, `FAILED`;
`POST /v6/run/face_swap` with `base64` (image or URL), `gender` (0-4, 4 = group), `filter_id`
(int or UUID), `ratio` (`portrait` 1200x1800 by default, `landscape` 1800x1200, `square`
1280x1280) and `quality_mode` (`v6.1` default or `v6`, integer filters only), answering
`{"id", "status": "IN_QUEUE"}`, polled at `POST /v6/status/{job_id}`; the finished status
`{"id", "status": "COMPLETED", "output": {"images": ["<base64>"]}}`; group mode only with integer
filter ids; 2 credits per v6 request, 1 per older request; every request needs the API key.

Where the vendor is silent ([U]) or only inferred ([I]), the choices below (the full table is in
docs/sandbox.md). Some are the vendor's options, `EventStationOptions`
(`Sandbox(vendor_options={"eventstation": {...}})`).

- A FastAPI app [I]: errors are `{"detail": ...}`; schema failures 422 with FastAPI's list; an
  unknown path 404 `Not Found`, a wrong method 405 `Method Not Allowed` (with `Allow`), and a
  path that matches only with the trailing slash added or removed is a **307** redirect to it
  (`/v1/filters` -> `/v1/filters/`), all before authentication. A body that is not JSON is 422
  before authentication too (FastAPI decodes the body first); the fields are validated after.
- Auth [U]: the header `auth_header` (default `Authorization`) carrying `<auth_scheme> <key>`
  (default scheme `Bearer`; `auth_scheme=""` means the bare key). Missing or not in that form:
  401 `Not authenticated` (with `WWW-Authenticate: <scheme>` when there is a scheme); an unknown
  key: `invalid_key_status` (default 403) `Invalid API key`.
- Check order: route, JSON, auth, rate limit (429 `Rate limit exceeded`, no headers), fields
  (422), the filter (404 `Filter <id> not found`), concurrency (option `max_concurrent_jobs`,
  429), credits (402 `Insufficient credits`), then the job is accepted. The photo is read by
  the job: a bad one makes the job fail (or complete empty), the run call still answers 200.
- Credits: charged when a job is accepted, never refunded (the vendor prices per request).
- Jobs are per generation: a v6 job is unknown at `/v2/status/...` and a v1 job at
  `/v6/status/...` (404 `Job not found`, like an unknown id or another key's job). Ids are
  RunPod-style, `<uuid4>-u1` [I].
- Faults: a `status` fault's `code`, when given, is the `detail` text; `envelope` is ignored
  (one error shape). Job faults are read by `jobs` (`never_finish`, and `job_failed` whose
  `code` is the terminal word).

Layout: this module has the routing, auth and the run/status/filters endpoints; the options are
in `options`, the catalogue and the rendered images in `filters`, the request bodies in
`requests`, jobs and their status bodies in `jobs`; the FastAPI error shapes are the shared
`fastapi_errors`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal
from urllib.parse import urlencode

from ...fastapi_errors import RequestValidationError, detail_response, phrase, read_json
from ...faults import Fault
from ...messages import SandboxRequest, SandboxResponse, json_response
from ...vendor import Vendor, VendorContext, VendorOptions
from .jobs import QUEUED_WORDS, EventStationJobs
from .options import EventStationOptions
from .requests import ROUTES, GenerationFamily, RunRoute, parse_generation

__all__ = ["DEFAULT_API_KEY", "EventStationVendor"]

DEFAULT_API_KEY = "es-sandbox"

_STATUS_ROUTE = re.compile(r"/v([26])/status/([^/]+)")
_FAMILY_OF_STATUS_PATH: dict[str, GenerationFamily] = {"2": "v1", "6": "v6"}
_MESSAGES = {
    401: "Not authenticated",
    402: "Insufficient credits",
    403: "Invalid API key",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Rate limit exceeded",
}


@dataclass(frozen=True)
class _Route:
    """A matched endpoint: its method and what it does."""

    method: str
    kind: Literal["filters", "run", "status"]
    run_route: RunRoute | None = None
    family: GenerationFamily | None = None
    job_id: str = ""


def _match(path: str) -> _Route | None:
    if path == "/v1/filters/":
        return _Route("GET", "filters")
    run_route = ROUTES.get(path)
    if run_route is not None:
        return _Route("POST", "run", run_route=run_route)
    if match := _STATUS_ROUTE.fullmatch(path):
        family = _FAMILY_OF_STATUS_PATH[match.group(1)]
        return _Route("POST", "status", family=family, job_id=match.group(2))
    return None


def _detail(status: int, detail: Any, *headers: tuple[str, str]) -> SandboxResponse:
    return detail_response(status, detail, *headers)


class EventStationVendor(Vendor):
    """EventStation.ai FaceSwap, mounted at `/eventstation/`."""

    name: ClassVar[str] = "eventstation"
    default_api_keys: ClassVar[tuple[str, ...]] = (DEFAULT_API_KEY,)
    options_model: ClassVar[type[VendorOptions]] = EventStationOptions
    options: EventStationOptions

    def __init__(self, context: VendorContext, options: VendorOptions | None = None) -> None:
        super().__init__(context, options)
        self.jobs = EventStationJobs(self.name, context, self.options)
        self._filters = {entry.key: entry for entry in self.options.filters}

    # -- routing and errors -------------------------------------------------------------------

    def handle(self, request: SandboxRequest, path: str) -> SandboxResponse:
        """Route one request (path relative to `/eventstation`), FastAPI's way."""
        route = _match(path)
        if route is None:
            toggled = path[:-1] if path.endswith("/") else path + "/"
            if _match(toggled) is not None:
                return self._redirect_slash(request)
            return _detail(404, "Not Found")
        if request.method != route.method:
            return _detail(405, "Method Not Allowed", ("allow", route.method))
        if route.kind == "filters":
            return self._guarded(request, self._list_filters)
        if route.kind == "status":
            assert route.family is not None
            family, job_id = route.family, route.job_id
            return self._guarded(request, lambda key: self._status(key, family, job_id))
        assert route.run_route is not None
        run_route = route.run_route
        try:
            payload = read_json(request.body)
        except RequestValidationError as exc:
            return _detail(422, exc.errors)
        return self._guarded(request, lambda key: self._run(request, key, run_route, payload))

    def error_response(self, status: int) -> SandboxResponse:
        """`{"detail": ...}` for an injected status (401 also names the auth scheme)."""
        return self._error(status, _MESSAGES.get(status) or phrase(status))

    def fault_response(self, fault: Fault) -> SandboxResponse:
        """An injected status fault; its `code`, when given, is the `detail` text."""
        if fault.code is None:
            return self.error_response(fault.effective_status)
        return self._error(fault.effective_status, fault.code)

    def _error(self, status: int, message: str) -> SandboxResponse:
        if status == 401 and self.options.auth_scheme:
            return _detail(401, message, ("www-authenticate", self.options.auth_scheme))
        return _detail(status, message)

    def _redirect_slash(self, request: SandboxRequest) -> SandboxResponse:
        """Starlette's `redirect_slashes`: 307 to the path with the trailing slash toggled."""
        full = request.path
        target = full[:-1] if full.endswith("/") else full + "/"
        location = f"{request.origin}{target}"
        if request.query:
            location += "?" + urlencode(request.query)
        return SandboxResponse(status=307, headers=(("location", location),))

    def _guarded(
        self, request: SandboxRequest, answer: Callable[[str], SandboxResponse]
    ) -> SandboxResponse:
        """Authenticate, count the request against the rate limit, then run `answer(key)`."""
        value = (request.header(self.options.auth_header) or "").strip()
        scheme = self.options.auth_scheme
        key = value
        if scheme:
            given, _, key = value.partition(" ")
            key = key.strip()
            if given.lower() != scheme.lower():
                key = ""
        if not key:
            return self._error(401, _MESSAGES[401])
        if key not in self.api_keys:
            return self._error(self.options.invalid_key_status, "Invalid API key")
        decision = self.context.accounts.check_rate(self.name, key)
        if decision is not None and not decision.allowed:
            return _detail(429, _MESSAGES[429])
        return answer(key)

    # -- endpoints ----------------------------------------------------------------------------

    def _list_filters(self, key: str) -> SandboxResponse:
        listed = [{"id": f.id, "name": f.name} for f in self.options.filters if f.listed]
        return json_response(200, listed)

    def _run(
        self, request: SandboxRequest, key: str, run_route: RunRoute, payload: Any
    ) -> SandboxResponse:
        try:
            generation = parse_generation(run_route, payload)
        except RequestValidationError as exc:
            return _detail(422, exc.errors)
        scene: str | None = None
        if generation.filter is not None:
            entry = self._filters.get(generation.filter)
            if entry is None:
                return _detail(404, f"Filter {generation.filter} not found")
            scene = entry.id
        limit = self.options.max_concurrent_jobs
        if limit is not None and self.jobs.active(key) >= limit:
            return _detail(429, f"Too many concurrent jobs: at most {limit} at a time")
        if not self.context.accounts.charge(self.name, key, generation.credits):
            return _detail(402, _MESSAGES[402])
        job = self.jobs.create(
            key=key,
            origin=request.origin,
            generation=generation,
            filter_id=scene,
            take_fault=lambda: self._take_job_fault(request),
        )
        return json_response(200, {"id": job.job_id, "status": QUEUED_WORDS[generation.family]})

    def _take_job_fault(self, request: SandboxRequest) -> Fault | None:
        return self.context.faults.take(
            self.name,
            request.method,
            request.path.removeprefix(f"/{self.name}"),
            request.path,
            job_faults=True,
            kinds=frozenset({"never_finish", "job_failed"}),
        )

    def _status(self, key: str, family: GenerationFamily, job_id: str) -> SandboxResponse:
        job = self.jobs.find(key, job_id, family)
        if job is None:
            return _detail(404, "Job not found")
        return json_response(200, self.jobs.view(job))

    def reset(self) -> None:
        """Forget the per-key job lists used by the concurrency limit."""
        self.jobs.reset()
