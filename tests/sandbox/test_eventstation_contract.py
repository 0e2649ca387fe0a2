"""The EventStation emulator's gateway against the vendor's contract (plain httpx).

Auth (default, custom header, bare key), FastAPI routing (404, 405, 307 for the trailing
slash), the filter catalogue, 422 validation shapes, unknown filters, credits per generation,
rate and concurrency limits, and the options. Jobs and faults are in test_eventstation_jobs.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from swapkit.sandbox import FakeClock, Sandbox
from swapkit.sandbox.vendors.eventstation import EventStationOptions, EventStationVendor
from swapkit.sandbox.vendors.eventstation.filters import DEFAULT_FILTERS, EventStationFilter

from .conftest import ClientFactory
from .helpers import ES_AUTH, ES_KEY, face_b64

UUID_FILTER = "3f6c2a9e-8b1d-4e57-9a0c-5d2e7b41f8a3"
SCALE = {"result_scale": 0.01}


@pytest.fixture
def swapkit_sandbox_config(fake_clock: FakeClock) -> dict[str, Any]:
    """Small results (12x18 portrait) keep base64 answers tiny."""
    return {"clock": fake_clock, "vendor_options": {"eventstation": SCALE}}


@pytest.fixture
def es(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with _client(sandbox) as http:
        yield http


@pytest.fixture
def any_es(make_client: ClientFactory) -> httpx.Client:
    return make_client(provider="eventstation")


def _client(sandbox: Sandbox, headers: dict[str, str] | None = None) -> httpx.Client:
    return httpx.Client(
        transport=sandbox.transport(),
        base_url="http://sandbox.test/eventstation",
        headers=ES_AUTH if headers is None else headers,
    )


def _sandbox(
    fake_clock: FakeClock, settings: dict[str, Any] | None = None, **options: Any
) -> Sandbox:
    """A sandbox with small results (`settings`: more `Sandbox` keywords)."""
    options = {**SCALE, **options}
    return Sandbox(clock=fake_clock, vendor_options={"eventstation": options}, **(settings or {}))


def v6_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"base64": face_b64(), "gender": 1, "filter_id": 12}
    body.update(overrides)
    return body


def _errors(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, list)
    return detail


# -- auth ---------------------------------------------------------------------------------------


def test_the_default_key_is_a_bearer_token_in_authorization(any_es: httpx.Client) -> None:
    response = any_es.get("/v1/filters/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"


def test_a_missing_key_is_401_not_authenticated(es: httpx.Client) -> None:
    response = es.get("/v1/filters/", headers={"Authorization": ""})
    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated"}
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("value", [ES_KEY, f"Basic {ES_KEY}", "Bearer", "Bearer  "])
def test_a_key_not_in_the_configured_form_is_401(es: httpx.Client, value: str) -> None:
    response = es.post("/v6/run/face_swap", json=v6_body(), headers={"Authorization": value})
    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated"}


def test_an_unknown_key_is_403_invalid_api_key(es: httpx.Client) -> None:
    response = es.get("/v1/filters/", headers={"Authorization": "bearer wrong"})
    assert response.status_code == 403
    assert response.json() == {"detail": "Invalid API key"}
    assert es.get("/v1/filters/", headers={"Authorization": f"bearer {ES_KEY}"}).is_success


def test_invalid_key_status_option(fake_clock: FakeClock) -> None:
    with _sandbox(fake_clock, invalid_key_status=401) as sandbox, _client(sandbox) as http:
        response = http.get("/v1/filters/", headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid API key"}


def test_custom_header_with_the_bare_key(fake_clock: FakeClock) -> None:
    with (
        _sandbox(fake_clock, auth_header="X-API-Key", auth_scheme="") as sandbox,
        _client(sandbox, {}) as http,
    ):
        assert http.get("/v1/filters/", headers={"x-api-key": ES_KEY}).status_code == 200
        bearer = http.get("/v1/filters/", headers=ES_AUTH)
        assert bearer.status_code == 401
        assert "www-authenticate" not in bearer.headers
        wrong = http.get("/v1/filters/", headers={"X-API-Key": f"Bearer {ES_KEY}"})
        assert wrong.status_code == 403


def test_custom_scheme(fake_clock: FakeClock) -> None:
    with _sandbox(fake_clock, auth_scheme="Token") as sandbox, _client(sandbox, {}) as http:
        assert http.get("/v1/filters/", headers={"Authorization": f"Token {ES_KEY}"}).is_success
        refused = http.get("/v1/filters/", headers=ES_AUTH)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Token"


def test_api_keys_setting_replaces_the_default_key(fake_clock: FakeClock) -> None:
    with (
        _sandbox(fake_clock, {"api_keys": {"eventstation": ["es-other"]}}) as sandbox,
        _client(sandbox, {"Authorization": "Bearer es-other"}) as http,
    ):
        assert http.get("/v1/filters/").status_code == 200
        assert http.get("/v1/filters/", headers=ES_AUTH).status_code == 403


# -- routing ------------------------------------------------------------------------------------


def test_filters_without_the_slash_redirect_307_before_auth(any_es: httpx.Client) -> None:
    response = any_es.get("/v1/filters?lang=en", headers={"Authorization": ""})
    assert response.status_code == 307
    location = response.headers["location"]
    assert location.endswith("/eventstation/v1/filters/?lang=en")
    assert location.startswith("http://")
    assert any_es.get(location).status_code == 200


def test_followed_redirects_reach_the_listing(es: httpx.Client) -> None:
    response = es.get("/v1/filters", follow_redirects=True)
    assert response.status_code == 200
    assert response.json()[0] == {"id": "12", "name": "Cyberpunk Neon"}


@pytest.mark.parametrize(
    ("path", "target"),
    [("/v6/run/face_swap/", "/v6/run/face_swap"), ("/v2/run/filter_id", "/v2/run/filter_id/")],
)
def test_run_paths_redirect_on_the_slash_too(es: httpx.Client, path: str, target: str) -> None:
    response = es.post(path, json=v6_body())
    assert response.status_code == 307
    assert response.headers["location"] == f"http://sandbox.test/eventstation{target}"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/v6/status/abc", "POST"),
        ("GET", "/v2/status/abc", "POST"),
        ("GET", "/v6/run/face_swap", "POST"),
        ("POST", "/v1/filters/", "GET"),
        ("DELETE", "/v2/run/self-prompt", "POST"),
    ],
)
def test_wrong_methods_are_405_before_auth(
    es: httpx.Client, method: str, path: str, allow: str
) -> None:
    response = es.request(method, path, headers={"Authorization": ""})
    assert response.status_code == 405
    assert response.json() == {"detail": "Method Not Allowed"}
    assert response.headers["allow"] == allow


@pytest.mark.parametrize("path", ["/", "/v5/run/face_swap", "/v6/status/", "/docs", "/v1/jobs/x"])
def test_unknown_paths_are_404(es: httpx.Client, path: str) -> None:
    response = es.post(path, headers={"Authorization": ""})
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


# -- filters ------------------------------------------------------------------------------------


def test_filters_list_the_documented_shape(any_es: httpx.Client) -> None:
    filters = any_es.get("/v1/filters/").json()
    assert filters[:2] == [
        {"id": "12", "name": "Cyberpunk Neon"},
        {"id": "34", "name": "Vintage Portrait"},
    ]
    assert len(filters) >= 4
    assert all(set(f) == {"id", "name"} and f["id"].isdigit() for f in filters)
    assert UUID_FILTER not in {f["id"] for f in filters}  # alias filters are not listed


def test_the_catalogue_is_an_option(fake_clock: FakeClock) -> None:
    catalogue = [
        {"id": "7", "name": "Snow"},
        {"id": "A1B2C3D4-0000-4000-8000-00000000000A", "name": "Mine", "listed": True},
        {"id": "8", "name": "Hidden", "listed": False},
    ]
    with _sandbox(fake_clock, filters=catalogue) as sandbox, _client(sandbox) as http:
        assert http.get("/v1/filters/").json() == [
            {"id": "7", "name": "Snow"},
            {"id": "a1b2c3d4-0000-4000-8000-00000000000a", "name": "Mine"},
        ]
        hidden = http.post("/v1/run/faceswap", json={"filter_id": 8, "base64": face_b64()})
        assert hidden.status_code == 200
        gone = http.post("/v6/run/face_swap", json=v6_body(filter_id=12))
        assert gone.status_code == 404


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ([{"id": "cyberpunk", "name": "x"}], "numeric string or a UUID"),
        ([{"id": "12", "name": "a"}, {"id": "012", "name": "b"}], "two filters have the id '12'"),
        ([{"id": "12"}], "filters.0.name: Field required"),
    ],
)
def test_invalid_catalogues_are_refused(filters: list[dict[str, str]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Sandbox(vendor_options={"eventstation": {"filters": filters}})


def test_unknown_filters_are_404(es: httpx.Client, sandbox: Sandbox) -> None:
    unknown = es.post("/v6/run/face_swap", json=v6_body(filter_id=99))
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "Filter 99 not found"}
    other_uuid = "0f0f0f0f-0000-4000-8000-000000000000"
    response = es.post("/v6/run/face_swap", json=v6_body(filter_id=other_uuid))
    assert response.json() == {"detail": f"Filter {other_uuid} not found"}
    v1 = es.post("/v1/run/faceswap", json={"filter_id": 1, "base64": face_b64()})
    assert v1.status_code == 404


@pytest.mark.parametrize("filter_id", [12, "12", UUID_FILTER, UUID_FILTER.upper()])
def test_v6_takes_integer_numeric_string_and_uuid_filter_ids(
    es: httpx.Client, filter_id: int | str
) -> None:
    response = es.post("/v6/run/face_swap", json=v6_body(filter_id=filter_id))
    assert response.status_code == 200, response.text


# -- validation ---------------------------------------------------------------------------------


def test_missing_gender_is_a_fastapi_422(es: httpx.Client) -> None:
    body = v6_body()
    del body["gender"]
    [error] = _errors(es.post("/v6/run/face_swap", json=body))
    assert error == {
        "type": "missing",
        "loc": ["body", "gender"],
        "msg": "Field required",
        "input": {"base64": body["base64"][:32] + "...", "filter_id": 12},
    }


def test_every_required_v6_field_is_reported(es: httpx.Client) -> None:
    errors = _errors(es.post("/v6/run/face_swap", json={}))
    assert [e["loc"] for e in errors] == [
        ["body", "base64"],
        ["body", "gender"],
        ["body", "filter_id"],
    ]
    assert {e["type"] for e in errors} == {"missing"}


@pytest.mark.parametrize(
    ("overrides", "loc", "error_type"),
    [
        ({"ratio": "wide"}, ["body", "ratio"], "literal_error"),
        ({"quality_mode": "v7"}, ["body", "quality_mode"], "literal_error"),
        ({"gender": 5}, ["body", "gender"], "less_than_equal"),
        ({"gender": -1}, ["body", "gender"], "greater_than_equal"),
        ({"gender": "female"}, ["body", "gender"], "int_parsing"),
        ({"base64": 42}, ["body", "base64"], "string_type"),
        ({"filter_id": 1.5}, ["body", "filter_id", "int"], "int_from_float"),
    ],
)
def test_invalid_v6_fields(
    es: httpx.Client, overrides: dict[str, Any], loc: list[str], error_type: str
) -> None:
    errors = _errors(es.post("/v6/run/face_swap", json=v6_body(**overrides)))
    assert errors[0]["loc"] == loc
    assert errors[0]["type"] == error_type
    assert isinstance(errors[0]["msg"], str)


def test_a_filter_id_that_is_neither_int_nor_uuid(es: httpx.Client) -> None:
    errors = _errors(es.post("/v6/run/face_swap", json=v6_body(filter_id="neon")))
    assert [(e["loc"], e["type"]) for e in errors] == [
        (["body", "filter_id", "int"], "int_parsing"),
        (["body", "filter_id", "uuid"], "uuid_parsing"),
    ]


def test_group_mode_needs_an_integer_filter(es: httpx.Client) -> None:
    [error] = _errors(es.post("/v6/run/face_swap", json=v6_body(gender=4, filter_id=UUID_FILTER)))
    assert error["type"] == "value_error"
    assert error["loc"] == ["body", "gender"]
    assert error["msg"].startswith("Value error, group mode")
    assert es.post("/v6/run/face_swap", json=v6_body(gender=4, filter_id=12)).status_code == 200


def test_quality_mode_applies_to_integer_filters_only(es: httpx.Client) -> None:
    body = v6_body(filter_id=UUID_FILTER, quality_mode="v6")
    [error] = _errors(es.post("/v6/run/face_swap", json=body))
    assert (error["type"], error["loc"]) == ("value_error", ["body", "quality_mode"])
    for quality_mode in ("v6", "v6.1", None):
        ok = es.post("/v6/run/face_swap", json=v6_body(quality_mode=quality_mode))
        assert ok.status_code == 200
    no_mode = es.post("/v6/run/face_swap", json=v6_body(filter_id=UUID_FILTER, quality_mode=None))
    assert no_mode.status_code == 200


def test_v1_bodies(es: httpx.Client) -> None:
    errors = _errors(es.post("/v1/run/faceswap", json={"base64": face_b64()}))
    assert [e["loc"] for e in errors] == [["body", "filter_id"]]
    errors = _errors(es.post("/v1/run/faceswap", json={"filter_id": UUID_FILTER, "base64": "x"}))
    assert errors[0]["type"] == "int_parsing"
    errors = _errors(es.post("/v1/run/faceswap", json={"filter_id": 12}))
    assert errors[0]["loc"] == ["body", "base64"]
    extra = {"filter_id": "34", "base64": face_b64(), "capture_mode": "x", "gender": 4}
    assert es.post("/v2/run/filter_id/", json=extra).json()["status"] == "QUEUED"


def test_self_prompt_bodies(es: httpx.Client) -> None:
    assert _errors(es.post("/v2/run/self-prompt", json={}))[0]["loc"] == ["body", "prompt"]
    [empty] = _errors(es.post("/v2/run/self-prompt", json={"prompt": ""}))
    assert empty["type"] == "string_too_short"
    [gender] = _errors(es.post("/v2/run/self-prompt", json={"prompt": "x", "gender": 9}))
    assert gender["loc"] == ["body", "gender"]


def test_bodies_that_are_not_objects(es: httpx.Client) -> None:
    [empty] = _errors(es.post("/v6/run/face_swap"))
    assert empty == {"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}
    [listed] = _errors(es.post("/v6/run/face_swap", json=[1]))
    assert (listed["type"], listed["loc"]) == ("model_attributes_type", ["body"])


def test_a_body_that_is_not_json_is_422_even_before_auth(es: httpx.Client) -> None:
    response = es.post("/v6/run/face_swap", content=b"{nope", headers={"Authorization": ""})
    [error] = _errors(response)
    assert error["type"] == "json_invalid"
    assert error["loc"] == ["body", 1]
    # ...while field errors come after authentication, as FastAPI's dependencies run first.
    assert es.post("/v6/run/face_swap", json={}, headers={"Authorization": ""}).status_code == 401


# -- credits, rate and concurrency limits -------------------------------------------------------


def test_credits_per_generation(fake_clock: FakeClock) -> None:
    with _sandbox(fake_clock, {"credits": 4}) as sandbox, _client(sandbox) as http:
        assert http.post("/v6/run/face_swap", json=v6_body()).status_code == 200
        assert sandbox.credits_left("eventstation", ES_KEY) == 2
        assert http.post("/v1/run/faceswap", json={"filter_id": 12, "base64": face_b64()})
        assert sandbox.credits_left("eventstation", ES_KEY) == 1
        short = http.post("/v6/run/face_swap", json=v6_body())
        assert short.status_code == 402
        assert short.json() == {"detail": "Insufficient credits"}
        assert sandbox.credits_left("eventstation", ES_KEY) == 1
        assert http.post("/v2/run/self-prompt", json={"prompt": "a"}).status_code == 200
        assert sandbox.credits_left("eventstation", ES_KEY) == 0
        assert http.post("/v2/run/self-prompt", json={"prompt": "a"}).status_code == 402
        assert http.post("/v1/run/faceswap", json={"filter_id": 12}).status_code == 422


def test_refused_requests_and_failing_jobs(fake_clock: FakeClock) -> None:
    with _sandbox(fake_clock, {"credits": 2}) as sandbox, _client(sandbox) as http:
        assert http.post("/v6/run/face_swap", json=v6_body(filter_id=99)).status_code == 404
        assert http.post("/v6/run/face_swap", json=v6_body(ratio="x")).status_code == 422
        assert sandbox.credits_left("eventstation", ES_KEY) == 2
        job = http.post("/v6/run/face_swap", json=v6_body(base64=face_b64(flat=True))).json()
        sandbox.advance(5)
        assert http.post(f"/v6/status/{job['id']}").json()["status"] == "FAILED"
        assert sandbox.credits_left("eventstation", ES_KEY) == 0  # charged per request, kept


def test_status_polls_and_listings_are_free(fake_clock: FakeClock) -> None:
    with _sandbox(fake_clock, {"credits": 0}) as sandbox, _client(sandbox) as http:
        assert http.get("/v1/filters/").status_code == 200
        assert http.post("/v2/status/nope").status_code == 404
        assert http.post("/v6/run/face_swap", json=v6_body()).status_code == 402


def test_rate_limit_is_429_without_headers(fake_clock: FakeClock) -> None:
    with _sandbox(fake_clock, {"rate_limit": (2, 60)}) as sandbox, _client(sandbox) as http:
        assert http.get("/v1/filters/").status_code == 200
        assert http.post("/v6/status/x").status_code == 404
        refused = http.get("/v1/filters/")
        assert refused.status_code == 429
        assert refused.json() == {"detail": "Rate limit exceeded"}
        assert not [
            name for name in refused.headers if "ratelimit" in name or name == "retry-after"
        ]
        sandbox.advance(60)
        assert http.get("/v1/filters/").status_code == 200


def test_max_concurrent_jobs(fake_clock: FakeClock) -> None:
    with _sandbox(fake_clock, max_concurrent_jobs=2) as sandbox, _client(sandbox) as http:
        assert http.post("/v6/run/face_swap", json=v6_body()).status_code == 200
        assert http.post("/v2/run/self-prompt", json={"prompt": "p"}).status_code == 200
        busy = http.post("/v1/run/faceswap", json={"filter_id": 12, "base64": face_b64()})
        assert busy.status_code == 429
        assert "concurrent" in busy.json()["detail"]
        sandbox.advance(2)
        assert http.post("/v6/run/face_swap", json=v6_body()).status_code == 200


# -- options ------------------------------------------------------------------------------------


def test_option_defaults() -> None:
    options = EventStationOptions()
    assert (options.auth_header, options.auth_scheme) == ("Authorization", "Bearer")
    assert options.invalid_key_status == 403
    assert options.filters == DEFAULT_FILTERS
    assert options.output_format == "png"
    assert options.result_scale == 1.0
    assert options.timing_fields == "v6"
    assert options.invalid_input_outcome == "failed"
    assert options.job_ttl_seconds == 1800
    assert options.max_concurrent_jobs is None
    assert EventStationVendor.default_api_keys == ("es-sandbox",)
    assert EventStationFilter(id=UUID_FILTER.upper(), name="x").id == UUID_FILTER


@pytest.mark.parametrize(
    "options",
    [
        {"result_scale": 0},
        {"result_scale": 2},
        {"auth_header": "X API Key"},
        {"auth_header": ""},
        {"auth_scheme": "Bearer token"},
        {"invalid_key_status": 400},
        {"output_format": "gif"},
        {"timing_fields": "v1"},
        {"max_concurrent_jobs": 0},
        {"webhook_secret": "x"},
    ],
)
def test_invalid_options_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="invalid vendor_options for 'eventstation'"):
        Sandbox(vendor_options={"eventstation": options})
