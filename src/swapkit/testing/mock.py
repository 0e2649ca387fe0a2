"""`MockProvider`: a vendor whose every answer the test scripts, run through the real engine::

    vendor = mock_provider("vendor", accepted(), running(), running(), succeeded())
    with SwapClient(providers=[vendor], clock=FakeClock()) as client:
        result = client.swap(source="me.png", target="page.png")
    assert vendor.submits == 1 and vendor.polls == 3

Each step answers one HTTP exchange, in order: the first answers the submit, the next ones the
polls of the job it accepted, and so on for the next swap.  Everything between is swapkit's own
code: the flow, retries and back-off, failover, breakers, deadlines, the ledger, charges, hooks.
So a test can make a vendor accept a job, keep it running, fail it, lose the answer to a submit
(`lost`) or refuse with any status, and see exactly what an application would see.

The mock answers in-process through `Provider.transport` (a client mounts it for the mock's
``https://<name>.mock.swapkit.invalid`` host), so nothing touches the network.  A request that
finds no step left is answered with a 500 saying so and recorded in `MockProvider.unscripted`;
the ``mock_provider`` pytest fixture fails the test on it, and on scripted steps left unused.
"""

from __future__ import annotations

import base64
import dataclasses
import inspect
import io
import itertools
import threading
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import httpx
from pydantic import SecretStr

from swapkit import errors as _errors
from swapkit.core.errors import ProviderError
from swapkit.core.models import SwapRequest
from swapkit.core.provider import (
    Capabilities,
    Done,
    Outcome,
    Pending,
    Plan,
    PreparedSwap,
    Provider,
    VendorResult,
    error_message,
    json_object,
    json_request,
)
from swapkit.core.settings import ProviderSettings

__all__ = [
    "MockProvider",
    "MockStep",
    "accepted",
    "failed",
    "http_error",
    "lost",
    "malformed",
    "mock_provider",
    "running",
    "succeeded",
    "unreachable",
]

StepKind = Literal[
    "accepted", "running", "succeeded", "failed", "http_error", "lost", "unreachable", "malformed"
]


@dataclasses.dataclass(frozen=True)
class MockStep:
    """One scripted answer (build them with `accepted`, `running`, `succeeded`, …)."""

    kind: StepKind
    job_id: str | None = None
    status: int = 200
    image: bytes | None = dataclasses.field(default=None, repr=False)
    as_url: bool = False
    error: str = "JobFailed"
    message: str = ""
    code: str | None = None
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)


def accepted(job_id: str | None = None) -> MockStep:
    """The vendor accepted the job (a submit's answer); swapkit will poll it."""
    return MockStep("accepted", job_id=job_id, status=202)


def running() -> MockStep:
    """The job is still running (a poll's answer)."""
    return MockStep("running")


def succeeded(
    image: bytes | None = None, *, as_url: bool = False, size: tuple[int, int] = (64, 64)
) -> MockStep:
    """The job finished: the result image inline (default) or, with `as_url`, at a URL swapkit
    downloads.  Without `image`, a flat PNG of `size`.  As a submit's answer: a sync result."""
    return MockStep("succeeded", image=image if image is not None else _png(size), as_url=as_url)


def failed(
    error: type[ProviderError] | str = "JobFailed", message: str = "", *, code: str | None = None
) -> MockStep:
    """The job ended without a result, as the vendor reports it: swapkit raises `error` (a
    `swapkit.errors` class or its name, e.g. `errors.NoFaceDetected`)."""
    name = error if isinstance(error, str) else error.__name__
    found = getattr(_errors, name, None)
    if not (isinstance(found, type) and issubclass(found, ProviderError)):
        raise ValueError(f"{name!r} is not a provider error of swapkit.errors")
    return MockStep("failed", error=name, message=message or f"mock job failed ({name})", code=code)


def http_error(
    status: int, message: str = "", *, headers: Mapping[str, str] | None = None
) -> MockStep:
    """An error answer with this HTTP status (classified by swapkit's status table: 401, 402,
    429 with ``Retry-After`` in `headers`, 503, …)."""
    if not 400 <= status <= 599:
        raise ValueError("http_error needs a 4xx or 5xx status")
    return MockStep(
        "http_error",
        status=status,
        message=message or f"mock error {status}",
        headers=headers or {},
    )


def lost() -> MockStep:
    """The request was sent in full and the answer never came (a read timeout): after a
    submit, swapkit cannot know whether the vendor took the job."""
    return MockStep("lost")


def unreachable() -> MockStep:
    """The connection was refused: the request never left."""
    return MockStep("unreachable")


def malformed() -> MockStep:
    """A 2xx whose body is not the JSON the vendor documents."""
    return MockStep("malformed")


def _png(size: tuple[int, int]) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, (96, 140, 200)).save(out, format="PNG")
    return out.getvalue()


class MockSettings(ProviderSettings):
    """A mock provider's settings: a key is set, so it is always configured."""

    api_key: SecretStr | None = SecretStr("mock-key")


class MockProvider(Provider):
    """A provider answered by a script of `MockStep` values (see the module docstring).

    Build one with `mock_provider`, which makes a subclass per name and capabilities.
    Attributes for assertions: `requests` (every `httpx.Request` received, in order),
    `submits`, `polls`, `downloads`, `unscripted` (requests that found no step) and `remaining`
    (steps not used yet).
    """

    name: ClassVar[str] = "mock"
    display_name: ClassVar[str] = "Mock vendor"
    capabilities: ClassVar[Capabilities] = Capabilities(
        modes=frozenset({"sync", "async"}), default_price_usd=0.01
    )
    settings_class: ClassVar[type[ProviderSettings]] = MockSettings

    def __init__(self, steps: tuple[MockStep, ...] = (), **settings: Any) -> None:
        settings.setdefault("base_url", f"https://{self.name}.mock.swapkit.invalid")
        super().__init__(**settings)
        self._lock = threading.Lock()
        self._steps = list(steps)
        self._job_ids = itertools.count(1)
        self._results: dict[str, bytes] = {}
        self.requests: list[httpx.Request] = []
        self.unscripted: list[httpx.Request] = []
        self.submits = self.polls = self.downloads = 0
        self.transport = _ScriptTransport(self)

    def then(self, *steps: MockStep) -> MockProvider:
        """Append steps to the script; returns the provider."""
        with self._lock:
            self._steps.extend(steps)
        return self

    @property
    def remaining(self) -> tuple[MockStep, ...]:
        """The scripted steps not used yet."""
        with self._lock:
            return tuple(self._steps)

    # -- the sans-I/O contract -------------------------------------------------------------

    def model_for(self, request: SwapRequest) -> str | None:
        return "mock-1"

    def build_submit(self, prepared: PreparedSwap, plan: Plan) -> httpx.Request:
        target = prepared.target
        payload = {
            "source": prepared.source.url or prepared.source.base64,
            "target": (target.url or target.base64) if target is not None else None,
            "mode": plan.mode,
        }
        headers = {"Authorization": f"Bearer {self.api_key}"}
        return json_request("POST", f"{self.settings.base_url}/swaps", payload, headers)

    def parse_submit(self, response: httpx.Response, plan: Plan) -> Outcome:
        return self._outcome(response)

    def build_poll(self, job: Pending) -> httpx.Request:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        return httpx.Request("GET", f"{self.settings.base_url}/jobs/{job.job_id}", headers=headers)

    def parse_poll(self, response: httpx.Response, job: Pending) -> Outcome:
        return self._outcome(response)

    def _outcome(self, response: httpx.Response) -> Outcome:
        data = json_object(response, self.name)
        job_id = str(data.get("id") or "")
        state = data.get("state")
        if state in ("accepted", "running"):
            return Pending(job_id=job_id, model="mock-1", status=str(state), raw=data)
        if state == "succeeded":
            image = data.get("image")
            return Done(
                VendorResult(
                    job_id=job_id,
                    model="mock-1",
                    image=base64.b64decode(image) if isinstance(image, str) else None,
                    url=data.get("url"),
                    raw=data,
                )
            )
        problem: dict[str, Any] = data["error"] if isinstance(data.get("error"), dict) else {}
        error_class = getattr(_errors, str(problem.get("kind")), _errors.JobFailed)
        if not (isinstance(error_class, type) and issubclass(error_class, ProviderError)):
            error_class = _errors.JobFailed
        raise error_class(
            str(problem.get("message") or "the mock job failed"),
            provider=self.name,
            status_code=response.status_code,
            code=problem.get("code"),
        )

    def error_from_response(self, response: httpx.Response) -> ProviderError:
        try:
            message = error_message(json_object(response, self.name).get("detail"))
        except ProviderError:
            message = ""
        return self.status_error(response, message=message or response.reason_phrase)

    # -- the script ------------------------------------------------------------------------

    def _answer(self, request: httpx.Request) -> httpx.Response | MockStep:
        with self._lock:
            self.requests.append(request)
            path = request.url.path
            if path.startswith("/results/"):
                self.downloads += 1
                image = self._results.get(path)
                if image is None:
                    return httpx.Response(404, json={"detail": "no such result"})
                return httpx.Response(200, content=image, headers={"Content-Type": "image/png"})
            if path == "/swaps":
                self.submits += 1
                job_id = f"{self.name}-job-{next(self._job_ids)}"
            else:
                self.polls += 1
                job_id = path.rpartition("/")[2]
            if not self._steps:
                self.unscripted.append(request)
                detail = f"mock {self.name}: no scripted step left for {request.method} {path}"
                return httpx.Response(500, json={"detail": detail})
            step = self._steps.pop(0)
            if step.kind in ("lost", "unreachable"):
                return step
            return self._response(step, step.job_id or job_id)

    def _response(self, step: MockStep, job_id: str) -> httpx.Response:
        if step.kind == "http_error":
            return httpx.Response(
                step.status, json={"detail": step.message}, headers=dict(step.headers)
            )
        if step.kind == "malformed":
            return httpx.Response(200, content=b"<html>not json</html>")
        body: dict[str, Any] = {"id": job_id, "state": step.kind}
        if step.kind == "succeeded" and step.image is not None:
            if step.as_url:
                path = f"/results/{job_id}.png"
                self._results[path] = step.image
                body["url"] = f"{self.settings.base_url}{path}"
            else:
                body["image"] = base64.b64encode(step.image).decode()
        if step.kind == "failed":
            body["error"] = {"kind": step.error, "message": step.message, "code": step.code}
        return httpx.Response(step.status, json=body)


class _ScriptTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Answers a `MockProvider`'s requests from its script, for blocking and async clients."""

    def __init__(self, provider: MockProvider) -> None:
        self._provider = provider

    def _exchange(self, request: httpx.Request) -> tuple[httpx.Response | None, Any]:
        request.read()
        answer = self._provider._answer(request)
        if isinstance(answer, httpx.Response):
            return answer, None
        if answer.kind == "unreachable":
            return None, httpx.ConnectError("mock: connection refused", request=request)
        return None, httpx.ReadTimeout("mock: the answer was lost", request=request)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response, failure = self._exchange(request)
        if failure is not None:
            if isinstance(failure, httpx.ReadTimeout):
                _trace_sent(request)
            raise failure
        assert response is not None
        return response

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response, failure = self._exchange(request)
        if failure is not None:
            if isinstance(failure, httpx.ReadTimeout):
                await _atrace_sent(request)
            raise failure
        assert response is not None
        return response


def _trace_sent(request: httpx.Request) -> None:
    """Tell swapkit's trace hook the request was written in full, as httpcore would."""
    trace = request.extensions.get("trace")
    if trace is not None:
        trace("http11.send_request_body.complete", {"request": request})


async def _atrace_sent(request: httpx.Request) -> None:
    trace = request.extensions.get("trace")
    if trace is not None:
        result = trace("http11.send_request_body.complete", {"request": request})
        if inspect.isawaitable(result):
            await result


def mock_provider(
    name: str = "mock",
    *steps: MockStep,
    price_usd: float | None = 0.01,
    charges_when: Literal["accepted", "succeeded"] = "accepted",
    refunds_failed_jobs: bool = True,
    **settings: Any,
) -> MockProvider:
    """A `MockProvider` named `name` answering with `steps`, to pass in
    ``SwapClient(providers=[...])`` (alone, beside other mocks, or beside real providers).

    `price_usd` is its list price per swap, `charges_when` and `refunds_failed_jobs` its
    billing (see `swapkit.provider.Capabilities`); other keywords are provider settings.
    """
    capabilities = dataclasses.replace(
        MockProvider.capabilities,
        default_price_usd=price_usd,
        charges_when=charges_when,
        refunds_failed_jobs=refunds_failed_jobs,
    )
    cls = type(
        f"MockProvider_{name}",
        (MockProvider,),
        {"name": name, "display_name": f"Mock vendor {name!r}", "capabilities": capabilities},
    )
    return cls(tuple(steps), **settings)  # type: ignore[no-any-return]
