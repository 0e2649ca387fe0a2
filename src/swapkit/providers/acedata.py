"""AceDataCloud Face Swap (``acedata``).

Contract: ``shared/reference/provider-contracts.md`` §2 and the vendor's face-swap guide.  The
vendor's own documents disagree in several places; each is handled in every documented form:

* **Roles.** The guides, SDK and MCP tools say ``source_image_url`` is the face and
  ``target_image_url`` the scene; the API reference says the opposite.  swapkit follows the
  guides (``source`` → ``source_image_url``); the ``source_is_face`` setting flips it should the
  reference turn out right.
* **URLs only.** Images are sent as URLs.  Local images are uploaded first through the vendor's
  ``POST /files/upload`` (multipart field ``file``), or through the application's `Uploader`.
* **Sync or async.** ``POST /face/swap`` waits up to ``timeout`` seconds (sent from the swap's
  deadline).  With ``async: true`` or a ``callback_url`` it answers ``{"task_id"}`` at once, and
  the task is polled with ``POST /face/tasks {"id", "action": "retrieve"}``.  That endpoint is
  documented for other services, not for face swap; its records carry no status field, so a task
  counts as finished when ``finished_at`` is set or ``response`` is non-empty, or when a status
  word (the vendor SDK's set) says so.
* **Sizes.** ``image_width`` / ``image_height`` are strings in the OpenAPI spec and integers in
  the examples: both are read.
* **Errors.** ``{"error": {"code", "message"}, "trace_id"}``, the ``{"success": false,
  "error": {...}}`` variant, and a bare-string ``error``.  Codes map to classes in `_CODES`; the
  vendor code and ``trace_id`` stay on the error.  No code exists for "no face": a
  ``bad_request`` whose message says no face was found becomes `NoFaceDetected` (in
  `_refine`, the only place messages are read).
* **Callbacks are unsigned.** swapkit sends the swap's ``webhook_url`` with a per-job nonce and
  HMAC token added (`swapkit.core.callbacks`), keyed with the ``callback_secret`` setting, and
  `parse_webhook` checks that token on the URL the callback arrived at.

Plugin registration (built in)::

    [project.entry-points.swapkit]
    acedata = "swapkit.providers.acedata"
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from swapkit.core.callbacks import callback_url_problem, sign_callback_url
from swapkit.core.errors import (
    AuthenticationError,
    ConfigurationError,
    ContentRefused,
    InsufficientCredits,
    InvalidRequest,
    InvalidSignature,
    JobFailed,
    MalformedResponse,
    NoFaceDetected,
    PermissionDenied,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    ResultInvalid,
)
from swapkit.core.hookspecs import hookimpl
from swapkit.core.images import LoadedImage
from swapkit.core.models import WebhookEvent
from swapkit.core.provider import (
    Capabilities,
    Done,
    Outcome,
    Pending,
    Plan,
    PreparedSwap,
    Provider,
    VendorResult,
    json_body,
    json_request,
)
from swapkit.core.settings import ProviderSettings
from swapkit.core.untrusted import message_of, parse_json, says_no_face, text_prefix, whole

__all__ = ["Acedata", "AcedataSettings", "register_providers", "task_verdict"]

#: Vendor error codes → swapkit classes [D: responses concept page, billing FAQ].
_CODES: Mapping[str, type[ProviderError]] = {
    "no_token": AuthenticationError,
    "invalid_token": AuthenticationError,
    "token_expired": AuthenticationError,
    "token_mismatched": AuthenticationError,
    "used_up": InsufficientCredits,
    "disabled": PermissionDenied,
    "forbidden": ContentRefused,
    "too_many_requests": RateLimited,
    "rate_limited": RateLimited,
    "bad_request": InvalidRequest,
    "api_not_implemented": InvalidRequest,
    "no_api": InvalidRequest,
    "api_error": ProviderUnavailable,
    "timeout": ProviderTimeout,
}
#: Status words the vendor SDK's task normaliser accepts [D: vendor SDK].
_SUCCEEDED = {"succeed", "succeeded", "success", "completed", "complete", "finished"}
_FAILED = {"failed", "failure", "error", "cancelled", "canceled", "rejected"}


class AcedataSettings(ProviderSettings):
    """AceDataCloud settings (``SWAPKIT_ACEDATA_<SETTING>``; the key also
    ``ACEDATACLOUD_API_TOKEN``).

    `callback_secret` keys the token swapkit adds to callback URLs (needed for ``webhook_url``).
    `source_is_face` sends the face as ``source_image_url`` (the guides' reading).  Polling
    starts after 5 s, as the vendor advises, and stays under one request a second.
    """

    base_url: str = "https://api.acedata.cloud"
    timeout: float = Field(default=130.0, gt=0)
    poll_interval: float = Field(default=5.0, ge=1.0)
    max_poll_interval: float = Field(default=15.0, ge=1.0)
    callback_secret: SecretStr | None = None
    source_is_face: bool = True


def _int(value: Any) -> int | None:
    """An int from the vendor's int-or-string sizes; None when it is neither (or absurd)."""
    return whole(value)


class _Answer(BaseModel):
    """A swap answer, a task's ``response`` or a callback body; unknown fields are kept."""

    model_config = ConfigDict(extra="allow")

    success: bool | None = None
    task_id: str | None = None
    trace_id: str | None = None
    image_url: str | None = None
    image_width: Any = None
    image_height: Any = None
    image_size: Any = None
    error: Any = None

    @field_validator("task_id", "trace_id", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class Acedata(Provider):
    """Adapter for AceDataCloud's Face Swap API."""

    name = "acedata"
    display_name = "AceDataCloud Face Swap"
    settings_class = AcedataSettings
    env_aliases: ClassVar[Mapping[str, tuple[str, ...]]] = {"api_key": ("ACEDATACLOUD_API_TOKEN",)}
    capabilities = Capabilities(
        input_kinds=frozenset({"url"}),
        target_kinds=frozenset({"image"}),
        styles=frozenset({"realistic"}),
        output_formats=frozenset({"png"}),
        max_image_bytes=25 * 1024 * 1024,
        modes=frozenset({"sync", "async"}),
        webhooks=True,
        uploads=True,
        sync_limit_seconds=120.0,
        typical_latency_seconds=90.0,
        default_price_usd=0.01,
        # "charged only on success": not 4xx, 5xx, timeouts, moderation or failed tasks (A-BILL)
        charges_when="succeeded",
    )
    settings: AcedataSettings

    def model_for(self, request: Any) -> str:
        return "face-swap"

    def check(self, prepared: PreparedSwap) -> None:
        if prepared.request.webhook_url and self.settings.callback_secret is None:
            raise ConfigurationError(
                "acedata: AceDataCloud does not sign callbacks, so swapkit signs the callback "
                "URL itself; set SWAPKIT_ACEDATA_CALLBACK_SECRET (any long random string) to "
                "use webhook_url"
            )

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"}

    # -- requests -----------------------------------------------------------------------------

    def build_upload(self, image: LoadedImage) -> httpx.Request:
        extension = (image.media_type or "image/png").partition("/")[2] or "png"
        return httpx.Request(
            "POST",
            f"{self.settings.base_url}/files/upload",
            headers=self._headers(),
            files={"file": (f"{image.role}.{extension}", image.data or b"", image.media_type)},
        )

    def parse_upload(self, response: httpx.Response, image: LoadedImage) -> str:
        data = json_body(response, self.name)
        # seed 002's `/files/upload` answers `url`; the SDK's `/api/v1/files/` `file_url`
        found = [data.get(key) for key in ("url", "file_url")] if isinstance(data, dict) else []
        url = next((value for value in found if isinstance(value, str)), None)
        if url is None or not url.startswith(("http://", "https://")):
            if isinstance(data, dict) and (data.get("error") or data.get("success") is False):
                raise self._error(response, data)
            raise MalformedResponse(
                "the upload answer has no url or file_url",
                provider=self.name,
                status_code=response.status_code,
                body=data,
            )
        return url

    def build_submit(self, prepared: PreparedSwap, plan: Plan) -> httpx.Request:
        request, source, target = prepared.request, prepared.source, prepared.target
        if target is None or source.url is None or target.url is None:
            raise InvalidRequest(
                "AceDataCloud needs the face and the scene as URLs", provider=self.name
            )
        face, scene = (source, target) if self.settings.source_is_face else (target, source)
        payload: dict[str, Any] = {
            "source_image_url": face.url,
            "target_image_url": scene.url,
            "timeout": max(1, int(plan.remaining_seconds)),
            **request.options_for(self.name),
        }
        if request.webhook_url:
            secret = self.settings.callback_secret
            if secret is None:  # check() stops this earlier; kept for direct callers
                raise ConfigurationError("acedata: set SWAPKIT_ACEDATA_CALLBACK_SECRET")
            payload["callback_url"] = sign_callback_url(
                request.webhook_url, secret.get_secret_value()
            )
        elif plan.webhook_url:
            payload["callback_url"] = plan.webhook_url  # swapkit's per-job URL, with its token
        elif plan.mode == "async":
            payload["async"] = True
        return json_request("POST", f"{self.settings.base_url}/face/swap", payload, self._headers())

    def build_poll(self, job: Pending) -> httpx.Request:
        return json_request(
            "POST",
            f"{self.settings.base_url}/face/tasks",
            {"id": job.job_id, "action": "retrieve"},
            self._headers(),
        )

    # -- responses ----------------------------------------------------------------------------

    def parse_submit(self, response: httpx.Response, plan: Plan) -> Outcome:
        data = json_body(response, self.name)
        answer = self._answer(response, data)
        if answer.image_url:
            return Done(self._result(answer, data))
        if answer.task_id:
            return Pending(job_id=answer.task_id, raw=data)
        raise MalformedResponse(
            "the answer has neither an image_url nor a task_id",
            provider=self.name,
            status_code=response.status_code,
            body=data,
        )

    def parse_poll(self, response: httpx.Response, job: Pending) -> Outcome:
        data = json_body(response, self.name)
        record = _find_record(data, job.job_id)
        if record is None:
            raise MalformedResponse(
                f"the task query answer holds no record of task {job.job_id}",
                provider=self.name,
                status_code=response.status_code,
                body=data,
            )
        verdict = task_verdict(record)
        inner = record.get("response")
        answer = inner if isinstance(inner, dict) else record
        if verdict == "running":
            words = _status_words(answer)
            return Pending(job_id=job.job_id, status=words[0] if words else None, raw=record)
        if verdict == "failed":
            raise self._task_failure(response, answer, record, job.job_id)
        url = _artifact_url(answer)
        if url is None:
            raise ResultInvalid(
                f"task {job.job_id} finished without an image_url",
                provider=self.name,
                body=record,
                request_id=job.job_id,
            )
        try:
            parsed = _Answer.model_validate(answer)
        except ValidationError:
            parsed = _Answer()
        return Done(
            self._result(parsed.model_copy(update={"image_url": url}), answer, task_id=job.job_id)
        )

    def _task_failure(
        self, response: httpx.Response, answer: Mapping[str, Any], record: Any, task_id: str
    ) -> ProviderError:
        """A finished task's error: an input or policy refusal keeps its class; anything else
        is the task failing (`JobFailed`, with the vendor's code and words)."""
        code, message, _ = _envelope(answer)
        cls = _CODES.get(code or "")
        if cls is not None:
            cls = _refine(cls, message)
        if cls is not None and issubclass(cls, (InvalidRequest, ContentRefused)):
            return cls(
                message or f"task {task_id} was refused",
                provider=self.name,
                code=code,
                body=record,
                request_id=task_id,
            )
        reason = message or _failure_reason(answer)
        return JobFailed(
            f"task {task_id} failed: {reason}",
            provider=self.name,
            code=code,
            body=record,
            request_id=task_id,
        )

    def _answer(self, response: httpx.Response, data: Any) -> _Answer:
        """Validate an answer; an error inside it (even in a 200) raises its class."""
        unreadable = MalformedResponse if response.is_success else ProviderUnavailable
        if not isinstance(data, dict):
            raise unreadable(
                f"expected a JSON object, got {type(data).__name__}",
                provider=self.name,
                status_code=response.status_code,
                body=data,
            )
        try:
            answer = _Answer.model_validate(data)
        except ValidationError as exc:
            raise unreadable(
                f"unexpected answer shape: {exc.errors()[0]['msg']}",
                provider=self.name,
                status_code=response.status_code,
                body=data,
            ) from None
        if answer.success is False or (answer.error and not answer.image_url):
            raise self._error(response, data)
        return answer

    def _result(self, answer: _Answer, raw: Any, *, task_id: str | None = None) -> VendorResult:
        return VendorResult(
            job_id=answer.task_id or task_id,
            model="face-swap",
            url=answer.image_url,
            width=_int(answer.image_width),
            height=_int(answer.image_height),
            raw=raw,
        )

    def error_from_response(self, response: httpx.Response) -> ProviderError:
        try:
            data = json_body(response, self.name)
        except ProviderError:
            data = None
        return self._error(response, data)

    def _error(self, response: httpx.Response, data: Any) -> ProviderError:
        """The class for an error envelope in any of its documented shapes.

        An error inside a 200 (``success: false``) with no known code is `JobFailed`; on an
        error status the core status table decides.
        """
        code, message, trace_id = _envelope(data)
        cls = _CODES.get(code or "") or (JobFailed if response.is_success else None)
        if cls is None and response.status_code == 403:
            cls = ContentRefused  # the vendor SDK reads a 403 without a known code as moderation
        if cls is not None:
            cls = _refine(cls, message)
        if not message:
            kind = response.headers.get("content-type", "no content type").split(";")[0]
            message = f"HTTP {response.status_code} {response.reason_phrase} ({kind})"
        error = self.status_error(
            response,
            message=message,
            code=code,
            error_class=cls,
            body=data if data is not None else None,
            request_id=trace_id,
        )
        if cls in (RateLimited, ProviderUnavailable, ProviderTimeout) and response.is_success:
            error.retryable = False  # reported inside a 200: the job may have been accepted
        return error

    # -- callbacks ----------------------------------------------------------------------------

    def parse_webhook(
        self,
        headers: Mapping[str, str],
        body: bytes,
        *,
        secret: str | None = None,
        url: str | None = None,
    ) -> WebhookEvent:
        if not url:
            raise InvalidSignature(
                "AceDataCloud callbacks are verified by the token in their URL: pass url= the "
                "full URL the callback arrived at, query string included"
            )
        # the secret lives only inside this call, never in a frame an error's traceback keeps
        problem = callback_url_problem(url, self.secret("callback_secret", secret))
        secret = None
        if problem is not None:
            raise InvalidSignature(problem)
        return self.read_webhook(headers, body)

    def read_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """The callback body, normalised (its origin established by the caller)."""
        try:
            answer = _Answer.model_validate(parse_json(body))
        except (ValueError, ValidationError) as exc:
            reason = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            raise ProviderError(
                f"the callback body is not an AceDataCloud result: {reason}",
                provider=self.name,
                body=text_prefix(body),
            ) from None
        if not answer.task_id:
            raise ProviderError(
                "the callback names no task_id", provider=self.name, body=text_prefix(body)
            )
        failed = answer.success is False or (bool(answer.error) and not answer.image_url)
        _, message, _ = _envelope(answer.model_dump(mode="json"))
        return WebhookEvent(
            provider=self.name,
            status="failed" if failed else "completed",
            job_id=answer.task_id,
            model="face-swap",
            result_url=answer.image_url,
            error=(message or "no reason given") if failed else None,
            raw=answer.model_dump(mode="json"),
        )


def _envelope(data: Any) -> tuple[str | None, str, str | None]:
    """(code, message, trace_id) from ``{"error": {...}}``, ``{"error": "..."}`` and variants."""
    if not isinstance(data, dict):
        return None, "", None
    error = data.get("error")
    trace = data.get("trace_id")
    trace_id = trace if isinstance(trace, str) else None
    if isinstance(error, dict):
        code = error.get("code")
        message = error.get("message")
        return (
            code if isinstance(code, str) and len(code) <= 100 else None,
            message_of(message) if isinstance(message, str) else "",
            trace_id,
        )
    if isinstance(error, str):
        return (error if error in _CODES else None), message_of(error), trace_id
    message = data.get("message") or data.get("detail")
    return None, message_of(message) if isinstance(message, str) else "", trace_id


def _refine(cls: type[ProviderError], message: str) -> type[ProviderError]:
    """The vendor has no code for "no face"; its message is the only signal."""
    if cls is InvalidRequest and says_no_face(message):
        return NoFaceDetected
    return cls


def _find_record(data: Any, task_id: str) -> dict[str, Any] | None:
    """The task record, from a single record or a batch ``{"items": [...]}`` answer."""
    if not isinstance(data, dict):
        return None
    items = data.get("items")
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict) and str(item.get("id")) == task_id:
                return item
        return None
    return data


def _status_words(node: Any, depth: int = 0) -> list[str]:
    """Every ``status``/``state`` word in `node`, lower-cased, at most six levels down."""
    words: list[str] = []
    if depth > 6:
        return words
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("state", "status") and isinstance(value, str):
                words.append(value.lower()[:40])
            else:
                words.extend(_status_words(value, depth + 1))
    elif isinstance(node, list):
        for item in node[:50]:
            words.extend(_status_words(item, depth + 1))
    return words


def _urls(node: Any, depth: int = 0) -> list[str]:
    """Artifact-like URLs (``*_url``, ``url``, ``*_urls`` values) in `node`, outermost first."""
    found: list[str] = []
    if depth > 6:
        return found
    if isinstance(node, dict):
        for key, value in node.items():
            named = isinstance(key, str) and (key.endswith(("_url", "_urls")) or key == "url")
            if named and isinstance(value, str) and value.startswith("http"):
                found.append(value)
            else:
                found.extend(_urls(value, depth + 1))
    elif isinstance(node, list):
        for item in node[:50]:
            found.extend(_urls(item, depth + 1))
    return found


def _artifact_url(answer: Mapping[str, Any]) -> str | None:
    """The result image: ``image_url``, else the first artifact URL in the answer."""
    image_url = answer.get("image_url")
    if isinstance(image_url, str) and image_url.startswith(("http://", "https://")):
        return image_url
    return next(iter(_urls(answer)), None)


def task_verdict(record: Mapping[str, Any]) -> Literal["succeeded", "failed", "running"]:
    """Whether a task record is finished, by the vendor SDK's own rules.

    The rules are those of ``acedatacloud/_runtime/tasks.py`` (`task_status`), in order:

    1. a status word (``status``/``state``, anywhere in ``response``, else in the record; the
       record's own top-level word counts too) outranks every other signal: a failure word
       fails the task; a success word succeeds it when there is an artifact URL and fails it
       otherwise; any other word means running;
    2. ``success: false`` with a structured error (an object with a ``code``) or next to an
       artifact URL is final (failed); with a bare-string error it is a hiccup mid-run;
    3. ``finished_at`` (in ``response`` or the record) with ``success`` decides; without it,
       an artifact URL means success;
    4. an artifact URL alone means success; nothing at all means running.

    One difference: artifact URLs are looked for in ``response`` only, never in the record's
    echo of the ``request`` (whose ``*_url`` fields are the inputs, not a result).
    """
    inner = record.get("response")
    answer = inner if isinstance(inner, dict) else record
    words = _status_words(answer)
    if answer is not record:  # the record's own word too (not its echo of the request)
        words += [str(record[key]).lower()[:40] for key in ("status", "state") if key in record]
    artifact = bool(_urls(inner)) if isinstance(inner, dict) else False
    if any(word in _FAILED for word in words):
        return "failed"
    if any(word in _SUCCEEDED for word in words):
        return "succeeded" if artifact else "failed"
    if words:
        return "running"
    if answer.get("success") is False:
        error = answer.get("error")
        if artifact or (isinstance(error, dict) and error.get("code")):
            return "failed"
    finished = answer.get("finished_at") is not None or record.get("finished_at") is not None
    if finished:
        if answer.get("success") is True:
            return "succeeded"
        if answer.get("success") is False:
            return "failed"
    return "succeeded" if artifact else "running"


def _failure_reason(answer: Mapping[str, Any]) -> str:
    """The vendor's own words for why a task failed (the SDK's `failure_reason`)."""
    for key in ("message", "failure_reason", "fail_reason"):
        value = answer.get(key)
        if isinstance(value, str) and value:
            return message_of(value)
    return "no reason given"


@hookimpl
def register_providers(register: Callable[[type[Provider]], None]) -> None:
    """Register the AceDataCloud provider."""
    register(Acedata)
