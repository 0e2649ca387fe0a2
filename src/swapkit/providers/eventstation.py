"""EventStation.ai FaceSwap (``eventstation``): one face photo plus a template, or a prompt.

Contract: ``shared/reference/provider-contracts.md`` §3 and the vendor's help-centre pages.
This vendor is not a two-image swap.  It takes one face photo (``base64``: base64 or a public
URL) and a template ("filter", `Template`) or a text prompt, answers with a job id, and the
result arrives as base64 images from a status endpoint polled with **POST**.

* **Two API generations.** v6 (``POST /v6/run/face_swap`` with ``base64``, ``gender``,
  ``filter_id``, ``ratio``, ``quality_mode``; ``POST /v6/status/{id}``) is the default; the
  older flow (``POST /v1/run/faceswap``; ``POST /v2/status/{id}``) is chosen with
  ``api_version="v1"``.  Prompts always use ``POST /v2/run/self-prompt`` and ``/v2/status``.
* **Unknowns are settings.** The vendor publishes neither its host nor its auth header:
  ``base_url`` is required, and ``auth_header`` / ``auth_scheme`` default to
  ``Authorization: Bearer <key>`` (the help pages point at a FastAPI Swagger UI, whose usual
  scheme that is).
* **Options.** ``gender`` is required by the v6 page: ``options={"eventstation": {"gender":
  "female"}}`` (male, female, boy, girl, group, or the vendor's 0-4).  Seed 003's v1 flow
  needs only ``filter_id`` ("adjust optional parameters (or leave defaults)"), so there it is
  optional.  ``ratio`` and
  ``quality_mode`` are options too; swapkit's ``quality="fast"`` picks ``quality_mode="v6"``
  and any other quality ``"v6.1"``.
* **Statuses.** QUEUED / IN_QUEUE / RUNNING / IN_PROGRESS are running, COMPLETED is done,
  FAILED, CANCELLED and TIMED_OUT are `JobFailed` (the vendor ended the job); any other word counts
  as running until the deadline.  COMPLETED without an image is `ResultInvalid`.  RunPod-style
  ``executionTime`` (ms) becomes ``processing_seconds``.
* **Errors.** The vendor documents none; FastAPI's ``{"detail": ...}`` (a string or a list) and
  a plain ``{"error": ...}`` are read, and the HTTP status picks the class.

Plugin registration (built in)::

    [project.entry-points.swapkit]
    eventstation = "swapkit.providers.eventstation"
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

import httpx
from pydantic import Field

from swapkit.core.errors import (
    AuthenticationError,
    InvalidRequest,
    JobFailed,
    MalformedResponse,
    ProviderError,
    ResultInvalid,
)
from swapkit.core.hookspecs import hookimpl
from swapkit.core.models import SwapRequest, Template
from swapkit.core.provider import (
    Capabilities,
    Done,
    Outcome,
    Pending,
    Plan,
    PreparedSwap,
    Provider,
    VendorResult,
    body_text,
    describe_response,
    error_message,
    json_body,
    json_object,
    json_request,
)
from swapkit.core.settings import ProviderSettings, env_var
from swapkit.core.untrusted import decode_base64, finite

__all__ = ["Eventstation", "EventstationSettings", "register_providers"]

#: The vendor's gender codes [D: v6 page].
GENDERS: Mapping[str, int] = {"male": 0, "female": 1, "boy": 2, "girl": 3, "group": 4}
RATIOS = ("portrait", "landscape", "square")
QUALITY_MODES = ("v6.1", "v6")
_RUNNING = {"QUEUED", "IN_QUEUE", "RUNNING", "IN_PROGRESS"}
_FAILED = {"FAILED", "CANCELLED"}
#: How the status endpoint is reached for each kind of job.
_STATUS_PATHS = {"v6": "/v6/status/", "v1": "/v2/status/", "prompt": "/v2/status/"}
#: The name swapkit reports as the model, for each kind of job.
_MODELS = {"v6": "face_swap-v6", "v1": "faceswap-v1", "prompt": "self-prompt"}


class EventstationSettings(ProviderSettings):
    """EventStation settings (``SWAPKIT_EVENTSTATION_<SETTING>``).

    `base_url` has no default: the vendor publishes none.  `auth_header` and `auth_scheme`
    build the credential header (``auth_scheme=""`` sends the bare key).  `api_version` picks
    the v6 flow (default) or the older v1 one.
    """

    api_version: Literal["v6", "v1"] = "v6"
    auth_header: str = Field(default="Authorization", min_length=1)
    auth_scheme: str = "Bearer"
    poll_interval: float = Field(default=3.0, gt=0)


class Eventstation(Provider):
    """Adapter for EventStation.ai's FaceSwap API."""

    name = "eventstation"
    display_name = "EventStation.ai FaceSwap"
    settings_class = EventstationSettings
    capabilities = Capabilities(
        input_kinds=frozenset({"bytes", "url"}),
        target_kinds=frozenset({"template", "prompt"}),
        styles=frozenset(),
        output_formats=frozenset({"jpeg", "png"}),
        modes=frozenset({"async"}),
        typical_latency_seconds=30.0,
        # credits per request (2 per v6 request, E-V6), taken when a job is accepted; no refund
        # is documented for failed jobs [I]; refused requests are assumed free [I]
        charges_when="accepted",
        refunds_failed_jobs=False,
    )
    settings: EventstationSettings

    # -- configuration ------------------------------------------------------------------------

    def missing_configuration(self) -> str | None:
        if not self.settings.base_url:
            return (
                "no base URL: EventStation publishes no API host, so set "
                f"{env_var(self.name, 'base_url')} (or pass providers={{'eventstation': "
                "{'base_url': ...}}) to the host EventStation gave you"
            )
        return super().missing_configuration()

    def _headers(self) -> dict[str, str]:
        scheme = self.settings.auth_scheme.strip()
        credential = f"{scheme} {self.api_key}" if scheme else self.api_key
        return {self.settings.auth_header: credential, "Accept": "application/json"}

    def model_for(self, request: SwapRequest) -> str:
        route = "prompt" if request.target_kind == "prompt" else self.settings.api_version
        return _MODELS[route]

    # -- options ------------------------------------------------------------------------------

    def check(self, prepared: PreparedSwap) -> None:
        self._fields(prepared.request)

    def _fields(self, request: SwapRequest) -> dict[str, Any]:
        """The vendor fields from the request's options, validated before anything is sent."""
        options = dict(request.options_for(self.name))
        fields: dict[str, Any] = {}
        gender = options.pop("gender", None)
        v6_template = request.target_kind == "template" and self.settings.api_version == "v6"
        if gender is None and v6_template:  # the v6 page requires it; seed 003's v1 flow does not
            raise InvalidRequest(
                "eventstation's v6 template swap needs the subject's gender: pass "
                "options={'eventstation': {'gender': 'female'}} (male, female, boy, girl, group, "
                "or 0-4), or use the v1 flow (api_version='v1'), which needs only the template",
                provider=self.name,
            )
        if gender is not None:
            fields["gender"] = _gender(gender, self.name)
        template = request.target
        if isinstance(template, Template):
            fields["filter_id"] = int(template.id) if template.id.isdigit() else template.id
            if fields.get("gender") == GENDERS["group"] and not template.id.isdigit():
                raise InvalidRequest(
                    "eventstation's group mode (gender 4) works only with numeric template ids",
                    provider=self.name,
                )
        ratio = options.pop("ratio", None)
        if ratio is not None:
            if ratio not in RATIOS:
                raise InvalidRequest(
                    f"eventstation ratio must be one of {', '.join(RATIOS)}, not {ratio!r}",
                    provider=self.name,
                )
            fields["ratio"] = ratio
        quality_mode = options.pop("quality_mode", None)
        if quality_mode is None and request.quality is not None:
            quality_mode = "v6" if request.quality == "fast" else "v6.1"
        if quality_mode is not None:
            if quality_mode not in QUALITY_MODES:
                raise InvalidRequest(
                    f"eventstation quality_mode must be v6.1 or v6, not {quality_mode!r}",
                    provider=self.name,
                )
            fields["quality_mode"] = quality_mode
        return {**fields, **options}

    # -- requests -----------------------------------------------------------------------------

    def build_submit(self, prepared: PreparedSwap, plan: Plan) -> httpx.Request:
        request = prepared.request
        fields = self._fields(request)
        face = prepared.source.url or prepared.source.encoded
        if request.target_kind == "prompt":
            if not request.prompt:
                raise InvalidRequest("a swap without a target needs a prompt", provider=self.name)
            path, payload = "/v2/run/self-prompt", {"prompt": request.prompt, "base64": face}
            payload.update(fields)
        elif self.settings.api_version == "v6":
            path, payload = "/v6/run/face_swap", {"base64": face, **fields}
        else:
            fields.pop("quality_mode", None)  # a v6 field
            path, payload = "/v1/run/faceswap", {"base64": face, **fields}
        return json_request("POST", self.settings.base_url + path, payload, self._headers())

    def build_poll(self, job: Pending) -> httpx.Request:
        path = _STATUS_PATHS.get(job.model or "", "/v6/status/")
        return json_request(
            "POST", f"{self.settings.base_url}{path}{job.job_id}", {}, self._headers()
        )

    def build_list_templates(self) -> httpx.Request:
        return httpx.Request(
            "GET", f"{self.settings.base_url}/v1/filters/", headers=self._headers()
        )

    # -- responses ----------------------------------------------------------------------------

    def parse_submit(self, response: httpx.Response, plan: Plan) -> Outcome:
        data = self._object(response)
        job_id = data.get("id")
        if not isinstance(job_id, (str, int)) or isinstance(job_id, bool) or job_id == "":
            raise MalformedResponse(
                "the run answer has no job id",
                provider=self.name,
                status_code=response.status_code,
                body=data,
            )
        route = "prompt" if "/self-prompt" in response.request.url.path else None
        route = route or self.settings.api_version
        return self._outcome(response, data, Pending(job_id=str(job_id), model=route))

    def parse_poll(self, response: httpx.Response, job: Pending) -> Outcome:
        return self._outcome(response, self._object(response), job)

    def _outcome(self, response: httpx.Response, data: dict[str, Any], job: Pending) -> Outcome:
        status = data.get("status")
        word = status.upper() if isinstance(status, str) else ""
        if word == "COMPLETED":
            return Done(self._result(data, job))
        if word in _FAILED:
            raise JobFailed(
                f"job {job.job_id} ended {word}: {_message(data) or 'no reason given'}",
                provider=self.name,
                status_code=response.status_code,
                body=data,
                request_id=job.job_id,
            )
        if word == "TIMED_OUT":
            # the vendor ended the job: a failed job (failover may follow), not a slow answer
            raise JobFailed(
                f"job {job.job_id} timed out at the vendor",
                provider=self.name,
                code=word,
                status_code=response.status_code,
                body=data,
                request_id=job.job_id,
            )
        return Pending(job_id=job.job_id, model=job.model, status=word or None, raw=data)

    def _result(self, data: dict[str, Any], job: Pending) -> VendorResult:
        output = data.get("output")
        images = output.get("images") if isinstance(output, dict) else None
        first = images[0] if isinstance(images, list) and images else None
        if not isinstance(first, str) or not first:
            raise ResultInvalid(
                f"job {job.job_id} is COMPLETED but output.images is empty",
                provider=self.name,
                body=_summary(data),
                request_id=job.job_id,
            )
        payload = first.partition(",")[2] if first.startswith("data:") else first
        try:
            image = decode_base64(payload)
        except ValueError:
            raise ResultInvalid(
                f"job {job.job_id}'s image is not valid base64",
                provider=self.name,
                request_id=job.job_id,
            ) from None
        milliseconds = finite(data.get("executionTime"))
        seconds = None if milliseconds is None else milliseconds / 1000
        return VendorResult(
            job_id=job.job_id,
            model=_MODELS.get(job.model or "", job.model),
            image=image,
            processing_seconds=seconds,
            raw=_summary(data),
        )

    def parse_templates(self, response: httpx.Response) -> list[Template]:
        data = json_body(response, self.name)
        items = data.get("items", data.get("filters")) if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise MalformedResponse(
                "the filter list is not a list",
                provider=self.name,
                status_code=response.status_code,
                body=body_text(response),
            )
        templates = []
        for item in items:
            ident = item.get("id") if isinstance(item, dict) else None
            if isinstance(ident, (str, int)) and not isinstance(ident, bool):
                name = item.get("name")
                templates.append(
                    Template(
                        id=str(item["id"]),
                        name=name if isinstance(name, str) else None,
                        provider=self.name,
                    )
                )
        return templates

    def _object(self, response: httpx.Response) -> dict[str, Any]:
        return json_object(response, self.name)

    def error_from_response(self, response: httpx.Response) -> ProviderError:
        try:
            data = json_body(response, self.name)
        except ProviderError:
            data = None
        message = _message(data) or describe_response(response)
        if response.status_code == 404 and "/status/" not in response.request.url.path:
            return self.status_error(
                response,
                message=f"{message} (check the template id, and that base_url is the API host)",
                error_class=InvalidRequest,
                body=data,
            )
        if response.status_code in (401, 403) and _about_the_key(message):
            # FastAPI's API-key guards answer 403 "Not authenticated" (401 in newer releases),
            # and the key's status and wording are undocumented [U]: a refused key is an
            # authentication failure whatever the status [I]
            return self.status_error(
                response, message=message, error_class=AuthenticationError, body=data
            )
        return self.status_error(response, message=message, body=data)


def _about_the_key(message: str) -> bool:
    """Whether an error message (bounded by `message_of`) says the API key was refused."""
    text = message[:500].lower()
    return "not authenticated" in text or (
        "key" in text and any(word in text for word in ("invalid", "missing", "wrong", "api"))
    )


def _gender(value: Any, provider: str) -> int:
    if isinstance(value, str) and value.lower() in GENDERS:
        return GENDERS[value.lower()]
    if isinstance(value, int) and not isinstance(value, bool) and value in GENDERS.values():
        return value
    raise InvalidRequest(
        f"eventstation gender must be male, female, boy, girl, group or 0-4, not {value!r}",
        provider=provider,
    )


def _message(data: Any) -> str:
    """The message of FastAPI's ``detail`` or of an ``error`` field, when there is one."""
    if not isinstance(data, dict):
        return ""
    return error_message(data.get("detail") or data.get("error") or data.get("message"))


def _summary(data: Mapping[str, Any]) -> dict[str, Any]:
    """The status answer without its base64 images (kept as `raw`, which should stay small)."""
    output = data.get("output")
    if isinstance(output, dict) and isinstance(output.get("images"), list):
        images = output["images"]
        output = {
            **output,
            "images": [f"<{len(i)} base64 chars>" for i in images if isinstance(i, str)],
        }
        return {**data, "output": output}
    return dict(data)


@hookimpl
def register_providers(register: Callable[[type[Provider]], None]) -> None:
    """Register the EventStation provider."""
    register(Eventstation)
