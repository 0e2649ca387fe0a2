"""The EventStation adapter without a network: options, both API generations, statuses, base64."""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swapkit import SwapRequest, Template, errors
from swapkit.core.provider import Done, Pending, Plan
from swapkit.core.routing import prepare
from swapkit.providers.eventstation import Eventstation

from .conftest import make_image

BASE = "https://es.invalid"
PLAN = Plan("async", 300.0)
FACE = make_image((40, 40))
RESULT = make_image((30, 45), fmt="JPEG")
v6 = Eventstation(api_key="es-key", base_url=BASE)
v1 = Eventstation(api_key="es-key", base_url=BASE, api_version="v1")


def request_for(**fields: Any) -> Any:
    fields.setdefault("options", {"eventstation": {"gender": "female"}})
    return prepare(SwapRequest(source=FACE, **fields))


def body(request: httpx.Request) -> dict[str, Any]:
    return json.loads(request.read())  # type: ignore[no-any-return]


def answer(status: int, data: Any, path: str = "/v6/status/j1") -> httpx.Response:
    return httpx.Response(
        status, content=json.dumps(data).encode(), request=httpx.Request("POST", BASE + path)
    )


def test_v6_template_swap_request() -> None:
    request = v6.build_submit(request_for(target=Template("12"), quality="fast"), PLAN)
    assert request.url == BASE + "/v6/run/face_swap"
    assert request.headers["authorization"] == "Bearer es-key"
    sent = body(request)
    assert sent == {
        "base64": base64.b64encode(FACE).decode(),
        "gender": 1,
        "filter_id": 12,
        "quality_mode": "v6",
    }


def test_v1_template_swap_request_and_status_path() -> None:
    request = v1.build_submit(
        request_for(
            target=Template("34"), options={"eventstation": {"gender": 3, "ratio": "square"}}
        ),
        PLAN,
    )
    assert request.url == BASE + "/v1/run/faceswap"
    assert body(request)["filter_id"] == 34
    assert body(request)["ratio"] == "square"
    job = v1.parse_submit(answer(200, {"id": "j1", "status": "QUEUED"}, "/v1/run/faceswap"), PLAN)
    assert isinstance(job, Pending)
    assert v1.build_poll(job).url == BASE + "/v2/status/j1"
    assert v1.build_poll(job).method == "POST"


def test_uuid_template_and_url_face() -> None:
    prepared = prepare(
        SwapRequest(
            source="https://cdn.example/face.jpg",
            target=Template("5b0c3c1e-0000-4000-8000-000000000000"),
            options={"eventstation": {"gender": "male"}},
        )
    )
    sent = body(v6.build_submit(prepared, PLAN))
    assert sent["filter_id"] == "5b0c3c1e-0000-4000-8000-000000000000"
    assert sent["base64"] == "https://cdn.example/face.jpg"


def test_prompt_uses_self_prompt_and_v2_status() -> None:
    prepared = prepare(SwapRequest(source=FACE, prompt="neon city portrait"))
    request = v6.build_submit(prepared, PLAN)
    assert request.url == BASE + "/v2/run/self-prompt"
    assert body(request)["prompt"] == "neon city portrait"
    job = v6.parse_submit(
        answer(200, {"id": "p1", "status": "IN_QUEUE"}, "/v2/run/self-prompt"), PLAN
    )
    assert isinstance(job, Pending)
    assert v6.build_poll(job).url == BASE + "/v2/status/p1"


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({}, "v6 template swap needs the subject's gender"),
        ({"gender": "woman"}, "gender must be"),
        ({"gender": 7}, "gender must be"),
        ({"gender": "female", "ratio": "wide"}, "ratio must be"),
        ({"gender": "female", "quality_mode": "v7"}, "quality_mode"),
    ],
)
def test_bad_options_fail_before_the_network(options: dict[str, Any], words: str) -> None:
    prepared = prepare(
        SwapRequest(source=FACE, target=Template("12"), options={"eventstation": options})
    )
    with pytest.raises(errors.InvalidRequest, match=words):
        v6.check(prepared)


def test_group_mode_needs_a_numeric_template() -> None:
    prepared = prepare(
        SwapRequest(
            source=FACE, target=Template("abc-uuid"), options={"eventstation": {"gender": "group"}}
        )
    )
    with pytest.raises(errors.InvalidRequest, match="group"):
        v6.check(prepared)


@pytest.mark.parametrize("word", ["QUEUED", "IN_QUEUE", "RUNNING", "IN_PROGRESS", "WARMING", None])
def test_running_and_unknown_words_keep_polling(word: str | None) -> None:
    outcome = v6.parse_poll(answer(200, {"id": "j1", "status": word}), Pending("j1", model="v6"))
    assert isinstance(outcome, Pending)


def test_completed_decodes_base64_and_reads_execution_time() -> None:
    data = {
        "id": "j1",
        "status": "COMPLETED",
        "output": {"images": [base64.b64encode(RESULT).decode()]},
        "delayTime": 1200,
        "executionTime": 8400,
    }
    outcome = v6.parse_poll(answer(200, data), Pending("j1", model="v6"))
    assert isinstance(outcome, Done)
    assert outcome.result.image == RESULT
    assert outcome.result.processing_seconds == pytest.approx(8.4)
    assert "base64 chars" in json.dumps(outcome.result.raw)  # raw keeps no image payload


def test_data_uri_output_is_accepted() -> None:
    data = {
        "status": "COMPLETED",
        "output": {"images": ["data:image/jpeg;base64," + base64.b64encode(RESULT).decode()]},
    }
    outcome = v6.parse_poll(answer(200, data), Pending("j1", model="v6"))
    assert isinstance(outcome, Done)
    assert outcome.result.image == RESULT


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"status": "COMPLETED", "output": {"images": []}}, errors.ResultInvalid),
        ({"status": "COMPLETED"}, errors.ResultInvalid),
        ({"status": "COMPLETED", "output": {"images": ["@@not base64@@"]}}, errors.ResultInvalid),
        ({"status": "FAILED", "error": "bad input"}, errors.JobFailed),
        ({"status": "CANCELLED"}, errors.JobFailed),
        ({"status": "TIMED_OUT"}, errors.JobFailed),
    ],
)
def test_terminal_failures(data: dict[str, Any], error: type) -> None:
    with pytest.raises(error) as info:
        v6.parse_poll(answer(200, {"id": "j1", **data}), Pending("j1", model="v6"))
    assert info.value.request_id == "j1"


@pytest.mark.parametrize(
    ("status", "data", "error"),
    [
        (401, {"detail": "Not authenticated"}, errors.AuthenticationError),
        (403, {"detail": "Invalid API key"}, errors.AuthenticationError),
        (403, {"detail": "Not authenticated"}, errors.AuthenticationError),
        (403, {"detail": "Account suspended"}, errors.PermissionDenied),
        (402, {"detail": "No credits left"}, errors.InsufficientCredits),
        (
            422,
            {"detail": [{"loc": ["body", "gender"], "msg": "Field required"}]},
            errors.InvalidRequest,
        ),
        (404, {"detail": "Job not found"}, errors.JobNotFound),
        (429, {"error": "slow down"}, errors.RateLimited),
        (500, {"error": "worker crashed"}, errors.ProviderUnavailable),
    ],
)
def test_error_statuses(status: int, data: Any, error: type) -> None:
    exc = v6.error_from_response(answer(status, data))
    assert type(exc) is error
    assert exc.message


def test_404_on_a_run_is_a_bad_template_not_a_missing_job() -> None:
    exc = v6.error_from_response(answer(404, {"detail": "Filter not found"}, "/v6/run/face_swap"))
    assert type(exc) is errors.InvalidRequest
    assert "template id" in exc.message


def test_templates_are_listed_from_filters() -> None:
    response = httpx.Response(
        200,
        json=[
            {"id": "12", "name": "Cyberpunk Neon"},
            {"id": 34, "name": "Vintage Portrait"},
            "junk",
        ],
        request=httpx.Request("GET", BASE + "/v1/filters/"),
    )
    assert v6.build_list_templates().url == BASE + "/v1/filters/"
    assert v6.parse_templates(response) == [
        Template("12", "Cyberpunk Neon", "eventstation"),
        Template("34", "Vintage Portrait", "eventstation"),
    ]


def test_auth_header_and_scheme_are_settings() -> None:
    custom = Eventstation(api_key="k", base_url=BASE, auth_header="X-API-Key", auth_scheme="")
    assert custom.build_list_templates().headers["x-api-key"] == "k"


def test_missing_base_url_says_how_to_set_it() -> None:
    assert "SWAPKIT_EVENTSTATION_BASE_URL" in (
        Eventstation(api_key="k").missing_configuration() or ""
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=4),
    max_leaves=12,
)
statuses = st.sampled_from(["COMPLETED", "FAILED", "RUNNING", "TIMED_OUT", "x"]) | json_values
records = st.fixed_dictionaries(
    {},
    optional={
        "id": json_values,
        "status": statuses,
        "output": st.fixed_dictionaries({}, optional={"images": st.lists(json_values, max_size=2)})
        | json_values,
        "executionTime": json_values,
    },
)


@settings(max_examples=150)
@given(data=records | json_values)
def test_garbage_raises_only_swapkit_errors(data: Any) -> None:
    for call in (
        lambda: v6.parse_submit(answer(200, data, "/v6/run/face_swap"), PLAN),
        lambda: v6.parse_poll(answer(200, data), Pending("j1", model="v6")),
        lambda: v6.parse_templates(answer(200, data, "/v1/filters/")),
    ):
        with contextlib.suppress(errors.ProviderError):
            call()
    assert isinstance(v6.error_from_response(answer(500, data)), errors.ProviderError)
