"""AceDataCloud async tasks, task records, callbacks and faults (plain httpx)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from swapkit.sandbox import FakeClock, Fault, Sandbox, SandboxServer
from swapkit.sandbox.vendors.prospolabs import ProspolabsVendor

from .conftest import ClientFactory
from .helpers import ACE_AUTH, Receiver, ace_body, image_bytes, upload

ASYNC = {"async": True}
RECORD_KEYS = {
    "_id",
    "id",
    "api_id",
    "application_id",
    "credential_id",
    "user_id",
    "trace_id",
    "created_at",
    "request",
    "started_at",
}


def _retrieve(client: httpx.Client, task_id: str) -> dict[str, Any]:
    response = client.post("/face/tasks", json={"id": task_id, "action": "retrieve"})
    assert response.status_code == 200, response.text
    record: dict[str, Any] = response.json()
    return record


def _sandbox(fake_clock: FakeClock, **settings: Any) -> Sandbox:
    return Sandbox(clock=fake_clock, webhook_retry_delays=(0, 0, 0, 0), **settings)


def _client(sandbox: Sandbox) -> httpx.Client:
    return httpx.Client(
        transport=sandbox.transport(), base_url="http://sandbox.test/acedata", headers=ACE_AUTH
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


# -- async submission and the task record -------------------------------------------------------


def test_async_task_record_progresses(sandbox: Sandbox, any_ace: httpx.Client) -> None:
    body = ace_body(any_ace, **ASYNC)
    submitted = any_ace.post("/face/swap", json=body)
    assert submitted.status_code == 200
    assert list(submitted.json()) == ["task_id"]
    task_id = submitted.json()["task_id"]
    before = time.time()

    processing = _retrieve(any_ace, task_id)
    assert set(processing) == RECORD_KEYS | {"status"}  # no response, no finished_at
    assert processing["status"] == "processing"
    assert processing["id"] == task_id
    assert processing["request"] == body
    assert len(processing["_id"]) == 24
    assert isinstance(processing["created_at"], float)
    assert abs(processing["created_at"] - before) < 5

    sandbox.advance(1.9)
    assert "response" not in _retrieve(any_ace, task_id)
    sandbox.advance(0.1)
    done = _retrieve(any_ace, task_id)
    assert set(done) == RECORD_KEYS | {"status", "response", "finished_at"}
    assert done["status"] == "succeeded"
    assert done["finished_at"] == pytest.approx(done["created_at"] + 2.0, abs=0.01)
    response = done["response"]
    assert response["success"] is True
    assert response["task_id"] == task_id
    assert response["trace_id"] == done["trace_id"]
    assert (response["image_width"], response["image_height"]) == (40, 30)
    image = any_ace.get(response["image_url"])
    assert image.headers["content-type"] == "image/png"
    assert len(image.content) == response["image_size"]


def test_results_are_hidden_until_the_task_finishes(sandbox: Sandbox, ace: httpx.Client) -> None:
    task_id = ace.post("/face/swap", json=ace_body(ace, **ASYNC)).json()["task_id"]
    url = f"/cdn/face/{task_id}.png"
    assert ace.get(url).status_code == 404
    sandbox.advance(2)
    assert ace.get(url).status_code == 200


def test_callback_url_alone_makes_a_task_async(sandbox: Sandbox, ace: httpx.Client) -> None:
    body = ace_body(ace, callback_url="https://example.com/hook")
    body["async"] = False
    submitted = ace.post("/face/swap", json=body).json()
    assert set(submitted) == {"task_id"}
    assert "response" not in _retrieve(ace, submitted["task_id"])


def test_async_answer_can_carry_success(fake_clock: FakeClock) -> None:
    options = {"acedata": {"async_success": True}}
    with _sandbox(fake_clock, vendor_options=options) as sandbox, _client(sandbox) as http:
        submitted = http.post("/face/swap", json=ace_body(http, **ASYNC)).json()
    assert submitted == {"success": True, "task_id": submitted["task_id"]}


def test_status_words_by_default_and_without_on_request(fake_clock: FakeClock) -> None:
    with _sandbox(fake_clock) as sandbox, _client(sandbox) as http:
        good = http.post("/face/swap", json=ace_body(http, **ASYNC)).json()["task_id"]
        sandbox.faults.add(Fault(provider="acedata", kind="job_failed", path="/face/swap"))
        bad = http.post("/face/swap", json=ace_body(http, **ASYNC)).json()["task_id"]
        assert _retrieve(http, good)["status"] == "processing"
        sandbox.advance(2)
        assert _retrieve(http, good)["status"] == "succeeded"
        assert _retrieve(http, bad)["status"] == "failed"
    options = {"acedata": {"task_status_words": False}}
    with _sandbox(fake_clock, vendor_options=options) as sandbox, _client(sandbox) as http:
        task = http.post("/face/swap", json=ace_body(http, **ASYNC)).json()["task_id"]
        assert set(_retrieve(http, task)) == RECORD_KEYS  # no status, response, finished_at


def test_sync_tasks_are_retrievable_and_finished(ace: httpx.Client) -> None:
    result = ace.post("/face/swap", json=ace_body(ace)).json()
    record = _retrieve(ace, result["task_id"])
    assert record["response"] == result
    assert record["trace_id"] == result["trace_id"]


def test_async_ignores_timeout(sandbox: Sandbox, ace: httpx.Client) -> None:
    task_id = ace.post("/face/swap", json=ace_body(ace, timeout=1, **ASYNC)).json()["task_id"]
    sandbox.advance(2)
    assert _retrieve(ace, task_id)["response"]["success"] is True


# -- failed tasks -------------------------------------------------------------------------------


def test_job_failed_fault_gives_a_failed_record(sandbox: Sandbox, ace: httpx.Client) -> None:
    body = ace_body(ace, **ASYNC)
    sandbox.faults.add(Fault(provider="acedata", kind="job_failed", times=1))
    task_id = ace.post("/face/swap", json=body).json()["task_id"]
    sandbox.advance(2)
    record = _retrieve(ace, task_id)
    assert record["status"] == "failed"
    assert record["response"] == {
        "success": False,
        "task_id": task_id,
        "trace_id": record["trace_id"],
        "error": {"code": "api_error", "message": record["response"]["error"]["message"]},
    }


def test_job_failed_fault_with_a_code(sandbox: Sandbox, any_ace: httpx.Client) -> None:
    body = ace_body(any_ace)
    sandbox.faults.add(Fault(provider="acedata", kind="job_failed", code="forbidden", times=2))
    sync = any_ace.post("/face/swap", json=body)
    assert sync.status_code == 403
    assert sync.json()["error"]["code"] == "forbidden"
    task_id = any_ace.post("/face/swap", json={**body, **ASYNC}).json()["task_id"]
    sandbox.advance(2)
    assert _retrieve(any_ace, task_id)["response"]["error"]["code"] == "forbidden"


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        ({"source_image_url": "https://example.com/x.png"}, "api_error", "fetch failed"),
        ({"target_image_url": "flat"}, "bad_request", "No face detected in target_image_url."),
    ],
)
def test_async_input_problems_fail_the_task_at_once(
    ace: httpx.Client, change: dict[str, str], code: str, message: str
) -> None:
    if change.get("target_image_url") == "flat":
        change = {"target_image_url": upload(ace, image_bytes(flat=True))}
    submitted = ace.post("/face/swap", json=ace_body(ace, **change, **ASYNC))
    assert submitted.status_code == 200
    record = _retrieve(ace, submitted.json()["task_id"])
    assert record["response"]["success"] is False
    assert record["response"]["error"] == {"code": code, "message": message}
    assert record["finished_at"] == record["created_at"]


# -- task queries -------------------------------------------------------------------------------


def test_batch_retrieve(sandbox: Sandbox, ace: httpx.Client) -> None:
    body = ace_body(ace, **ASYNC)
    first = ace.post("/face/swap", json=body).json()["task_id"]
    second = ace.post("/face/swap", json=body).json()["task_id"]
    sandbox.advance(2)
    response = ace.post(
        "/face/tasks", json={"ids": [second, "unknown", first], "action": "retrieve_batch"}
    )
    assert response.status_code == 200
    payload = response.json()
    assert payload["count"] == 2
    assert [item["id"] for item in payload["items"]] == [second, first]
    assert all(item["response"]["success"] for item in payload["items"])
    empty = ace.post("/face/tasks", json={"ids": [], "action": "retrieve_batch"}).json()
    assert empty == {"items": [], "count": 0}


def test_unknown_task_is_404_not_found(ace: httpx.Client) -> None:
    response = ace.post("/face/tasks", json={"id": "no-such-task", "action": "retrieve"})
    assert response.status_code == 404
    body = response.json()
    assert set(body) == {"error", "trace_id"}
    assert body["error"]["code"] == "not_found"


def test_tasks_of_another_token_are_not_found(fake_clock: FakeClock) -> None:
    with (
        _sandbox(fake_clock, api_keys={"acedata": ["tok-alice", "tok-bob"]}) as sandbox,
        httpx.Client(transport=sandbox.transport(), base_url="http://s/acedata") as http,
    ):
        alice = {"Authorization": "Bearer tok-alice"}
        bob = {"Authorization": "Bearer tok-bob"}
        http.headers.update(alice)
        task_id = http.post("/face/swap", json=ace_body(http, **ASYNC)).json()["task_id"]
        query = {"id": task_id, "action": "retrieve"}
        owner = http.post("/face/tasks", json=query).json()
        assert http.post("/face/tasks", json=query, headers=bob).status_code == 404
        # The ids of the token's application, credential and user are stable per token.
        again = http.post("/face/tasks", json=query).json()
        keys = ("application_id", "credential_id", "user_id")
        assert [owner[k] for k in keys] == [again[k] for k in keys]


@pytest.mark.parametrize(
    "body",
    [
        {"id": "x"},
        {"id": "x", "action": "delete"},
        {"action": "retrieve"},
        {"action": "retrieve", "id": 5},
        {"action": "retrieve_batch", "ids": "x"},
        {"action": "retrieve_batch", "ids": [1]},
    ],
)
def test_bad_task_queries_are_bad_request(ace: httpx.Client, body: dict[str, Any]) -> None:
    response = ace.post("/face/tasks", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


# -- callbacks ----------------------------------------------------------------------------------


def test_callback_body_url_and_no_signature(
    sandbox: Sandbox, ace: httpx.Client, receiver: Receiver
) -> None:
    callback_url = receiver.url + "?token=s3cr%2Ft&user=42"
    task_id = ace.post("/face/swap", json=ace_body(ace, callback_url=callback_url)).json()[
        "task_id"
    ]
    sandbox.advance(1.9)
    assert sandbox.webhooks == []
    sandbox.advance(0.1)
    [delivery] = sandbox.wait_for_webhooks(1)
    assert delivery.ok
    assert delivery.url == callback_url
    assert receiver.paths == ["/hook?token=s3cr%2Ft&user=42"]
    [headers] = receiver.headers
    assert headers["content-type"] == "application/json"
    assert not [name for name in headers if "sign" in name or "hmac" in name]
    payload = json.loads(receiver.bodies[0])
    assert payload == _retrieve(ace, task_id)["response"]
    assert list(payload) == [
        "success",
        "task_id",
        "trace_id",
        "image_url",
        "image_width",
        "image_height",
        "image_size",
    ]


def test_failure_callback(sandbox: Sandbox, ace: httpx.Client, receiver: Receiver) -> None:
    body = ace_body(ace, callback_url=receiver.url)
    sandbox.faults.add(Fault(provider="acedata", kind="job_failed", code="timeout", times=1))
    task_id = ace.post("/face/swap", json=body).json()["task_id"]
    sandbox.advance(2)
    [delivery] = sandbox.wait_for_webhooks(1)
    payload = delivery.json()
    assert payload["success"] is False
    assert payload["task_id"] == task_id
    assert payload["error"] == {"code": "timeout", "message": "Timeout to generate the image."}
    assert set(payload) == {"success", "task_id", "trace_id", "error"}


def test_callbacks_are_retried_on_non_2xx(sandbox: Sandbox, ace: httpx.Client) -> None:
    with Receiver(statuses=(500, 503)) as flaky:
        ace.post("/face/swap", json=ace_body(ace, callback_url=flaky.url))
        sandbox.advance(2)
        deliveries = sandbox.wait_for_webhooks(3)
        assert [(d.attempt, d.status) for d in deliveries] == [(1, 500), (2, 503), (3, 200)]
        assert len(set(flaky.bodies)) == 1


def test_callbacks_to_other_hosts_are_refused(sandbox: Sandbox, ace: httpx.Client) -> None:
    ace.post("/face/swap", json=ace_body(ace, callback_url="https://example.com/hook?t=1"))
    sandbox.advance(2)
    [delivery] = sandbox.wait_for_webhooks(1)
    assert delivery.refused
    assert delivery.url == "https://example.com/hook?t=1"


def test_real_clock_callback_fires_without_polling() -> None:
    received: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(200)

    with (
        Sandbox(job_seconds=0.05, webhook_transport=httpx.MockTransport(handler)) as sandbox,
        _client(sandbox) as http,
    ):
        http.post("/face/swap", json=ace_body(http, callback_url="https://hooks.example.com/a?b=c"))
        [delivery] = sandbox.wait_for_webhooks(1, timeout=3)
    assert delivery.status == 200
    assert str(received[0].url) == "https://hooks.example.com/a?b=c"
    assert json.loads(received[0].content)["success"] is True


# -- faults -------------------------------------------------------------------------------------


def test_never_finish(sandbox: Sandbox, any_ace: httpx.Client, receiver: Receiver) -> None:
    body = ace_body(any_ace, callback_url=receiver.url)
    sandbox.faults.add(Fault(provider="acedata", kind="never_finish", times=2))
    stuck = any_ace.post("/face/swap", json=body).json()["task_id"]
    sync = any_ace.post(
        "/face/swap",
        json={
            "source_image_url": body["source_image_url"],
            "target_image_url": body["target_image_url"],
        },
    )
    assert sync.status_code == 504
    assert sync.json()["error"]["code"] == "timeout"
    sandbox.advance(3600)
    record = _retrieve(any_ace, stuck)
    assert "response" not in record
    assert "finished_at" not in record
    assert sandbox.webhooks == []


def test_transport_level_faults(sandbox: Sandbox, make_client: ClientFactory) -> None:
    http = make_client(provider="acedata", timeout=10)
    body = ace_body(http)
    sandbox.faults.add(Fault(provider="acedata", kind="html", times=1))
    page = http.post("/face/swap", json=body)
    assert (page.status_code, page.headers["content-type"]) == (502, "text/html")
    sandbox.faults.add(Fault(provider="acedata", kind="truncated", times=1))
    truncated = http.post("/face/swap", json=body)
    assert truncated.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        truncated.json()
    sandbox.faults.add(Fault(provider="acedata", kind="drop", times=1))
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        http.post("/face/swap", json=body)
    sandbox.faults.add(Fault(provider="acedata", kind="timeout", times=1))
    with pytest.raises(httpx.ReadTimeout):
        http.post("/face/tasks", json={"id": "x", "action": "retrieve"}, timeout=0.2)
    sandbox.faults.add(Fault(provider="acedata", kind="latency", seconds=0.05, times=1))
    started = time.perf_counter()
    assert http.post("/face/swap", json=body).status_code == 200
    assert time.perf_counter() - started >= 0.05


def test_drop_after_processing_charges_the_swap(fake_clock: FakeClock) -> None:
    with _sandbox(fake_clock, credits=3) as sandbox, _client(sandbox) as http:
        body = ace_body(http)
        sandbox.faults.add(Fault(provider="acedata", kind="drop", after_processing=True, times=1))
        with pytest.raises(httpx.RemoteProtocolError):
            http.post("/face/swap", json=body)
        assert sandbox.credits_left("acedata", "acedata-sandbox") == 2


def test_path_glob_limits_faults_to_task_queries(sandbox: Sandbox, ace: httpx.Client) -> None:
    sandbox.faults.add(Fault(provider="acedata", status=503, path="/face/tasks"))
    task_id = ace.post("/face/swap", json=ace_body(ace, **ASYNC)).json()["task_id"]
    response = ace.post("/face/tasks", json={"id": task_id, "action": "retrieve"})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "api_error"


def test_prospolabs_ignores_code_and_envelope(sandbox: Sandbox, client: httpx.Client) -> None:
    sandbox.faults.add(Fault(status=403, code="used_up", envelope="bare"))
    response = client.get("/v1/jobs/x")
    assert response.status_code == 403
    assert set(response.json()) == {"detail", "code", "message"}  # its own body and codes
    assert response.json()["code"] == "insufficient_credits"


@pytest.mark.parametrize(
    "bad",
    [
        {"kind": "latency", "seconds": 1, "code": "x"},
        {"kind": "job_failed", "envelope": "bare"},
        {"envelope": ""},
        {"code": ""},
    ],
)
def test_invalid_code_and_envelope_faults(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - pydantic's ValidationError is a ValueError
        Fault.model_validate(bad)


def test_an_envelope_no_vendor_has_is_refused_by_the_sandbox(sandbox: Sandbox) -> None:
    # `Fault` names no vendor, so any name is a valid Fault; the sandbox knows its vendors'.
    with pytest.raises(ValueError, match=r"no vendor of the sandbox has an error envelope 'xml'"):
        sandbox.faults.add(Fault(envelope="xml"))
    with (
        Sandbox(vendors=[ProspolabsVendor], clock=FakeClock()) as only_prospolabs,
        pytest.raises(ValueError, match="'bare'"),  # AceDataCloud's, and it is not mounted
    ):
        only_prospolabs.faults.add(Fault(envelope="bare"))
    assert len(sandbox.faults) == 0
    sandbox.faults.add(Fault(provider="prospolabs", status=500, envelope="bare"))  # another's
    assert len(sandbox.faults) == 1


def test_code_and_envelope_over_the_http_fault_api(
    sandbox: Sandbox, swapkit_sandbox_server: SandboxServer
) -> None:
    with httpx.Client(base_url=swapkit_sandbox_server.url) as control:
        fault = {
            "provider": "acedata",
            "code": "token_mismatched",
            "status": 400,
            "envelope": "success_false_no_trace_id",
            "times": 1,
        }
        added = control.post("/_sandbox/faults", json=fault)
        assert added.status_code == 201
        assert added.json()["code"] == "token_mismatched"
        assert added.json()["envelope"] == "success_false_no_trace_id"
        response = control.post("/acedata/face/swap", json={}, headers=ACE_AUTH)
        assert response.status_code == 400
        assert response.json() == {
            "success": False,
            "error": {
                "code": "token_mismatched",
                "message": response.json()["error"]["message"],
            },
        }
        job_fault = {"provider": "acedata", "kind": "job_failed", "code": "forbidden"}
        assert control.post("/_sandbox/faults", json=job_fault).status_code == 201
        assert control.post("/_sandbox/faults", json={"envelope": "xml"}).status_code == 422
        invalid = {"kind": "drop", "code": "api_error"}
        assert control.post("/_sandbox/faults", json=invalid).status_code == 422


async def test_async_client(sandbox: Sandbox) -> None:
    async with httpx.AsyncClient(
        transport=sandbox.transport(), base_url="http://sandbox.test/acedata", headers=ACE_AUTH
    ) as http:
        files = {"file": ("a.png", image_bytes((16, 12), (200, 150, 120)))}
        source = (await http.post("/files/upload", files=files)).json()["url"]
        files = {"file": ("b.png", image_bytes((40, 30)))}
        target = (await http.post("/files/upload", files=files)).json()["url"]
        body = {"source_image_url": source, "target_image_url": target, "async": True}
        task_id = (await http.post("/face/swap", json=body)).json()["task_id"]
        sandbox.advance(2)
        query = {"id": task_id, "action": "retrieve"}
        record = (await http.post("/face/tasks", json=query)).json()
        image = await http.get(record["response"]["image_url"])
        assert image.headers["content-type"] == "image/png"
