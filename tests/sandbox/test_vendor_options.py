"""`Sandbox(vendor_options=...)`: each vendor's own options, validated when the sandbox is built."""

from __future__ import annotations

import re
from typing import Any, ClassVar

import pydantic
import pytest

from swapkit.sandbox import Sandbox, SandboxRequest, SandboxResponse, Vendor, VendorOptions
from swapkit.sandbox.vendors.acedata import AceDataOptions, AceDataVendor
from swapkit.sandbox.vendors.prospolabs import ProspolabsOptions, ProspolabsVendor

ACE_OPTIONS = (
    "async_success, dimension_type, error_envelope, result_ttl_seconds, task_status_words, "
    "token_mismatched_status"
)


class _PlainVendor(Vendor):
    """A vendor without options."""

    name: ClassVar[str] = "plain"
    default_api_keys: ClassVar[tuple[str, ...]] = ("plain-key",)

    def handle(self, request: SandboxRequest, path: str) -> SandboxResponse:
        return self.error_response(404)

    def error_response(self, status: int) -> SandboxResponse:
        return SandboxResponse(status=status)


def test_vendors_get_their_defaults_without_vendor_options() -> None:
    with Sandbox() as sandbox:
        assert sandbox.vendors["acedata"].options == AceDataOptions()
        assert sandbox.vendors["prospolabs"].options == ProspolabsOptions()
    assert AceDataOptions().error_envelope == "standard"
    assert AceDataOptions().result_ttl_seconds == 30 * 24 * 3600
    assert ProspolabsOptions().webhook_secret == "whsec-sandbox"


def test_each_vendor_reads_only_its_own_options() -> None:
    vendor_options = {
        "acedata": {"error_envelope": "bare", "dimension_type": "str"},
        "prospolabs": {"webhook_secret": "whsec-other"},
    }
    with Sandbox(vendor_options=vendor_options) as sandbox:
        ace = sandbox.vendors["acedata"]
        prospolabs = sandbox.vendors["prospolabs"]
        assert isinstance(ace, AceDataVendor)
        assert isinstance(prospolabs, ProspolabsVendor)
        assert ace.options == AceDataOptions(error_envelope="bare", dimension_type="str")
        assert prospolabs.options == ProspolabsOptions(webhook_secret="whsec-other")


def test_an_options_instance_is_accepted_as_is() -> None:
    options = AceDataOptions(task_status_words=True)
    with Sandbox(vendor_options={"acedata": options}) as sandbox:
        assert sandbox.vendors["acedata"].options is options


def test_options_are_frozen() -> None:
    with pytest.raises(pydantic.ValidationError):
        AceDataOptions().error_envelope = "bare"


def test_an_unknown_vendor_is_refused() -> None:
    with pytest.raises(ValueError, match=r"no sandbox vendor 'nobody' \(vendors: acedata, "):
        Sandbox(vendor_options={"nobody": {}})


@pytest.mark.parametrize(
    ("vendor_options", "message"),
    [
        (
            {"acedata": {"colour": "red"}},
            f"invalid vendor_options for 'acedata': unknown option 'colour' "
            f"(valid options: {ACE_OPTIONS})",
        ),
        (
            {"acedata": {"acedata_error_envelope": "bare"}},
            "unknown option 'acedata_error_envelope'",
        ),
        (
            {"prospolabs": {"error_envelope": "bare"}},
            "invalid vendor_options for 'prospolabs': unknown option 'error_envelope' "
            "(valid options: advertised_limit, error_codes, rate_limit_headers, "
            "sync_limit_seconds, validation_status, webhook_secret)",
        ),
        (
            {"acedata": {"error_envelope": "xml"}},
            "invalid vendor_options for 'acedata': error_envelope: Input should be 'standard'",
        ),
        ({"acedata": {"dimension_type": "float"}}, "'acedata': dimension_type: "),
        ({"acedata": {"result_ttl_seconds": "soon"}}, "'acedata': result_ttl_seconds: "),
        ({"acedata": "bare"}, "'acedata': Input should be a valid dictionary"),
        ({"acedata": ProspolabsOptions()}, "'acedata': Input should be a valid dictionary"),
    ],
)
def test_invalid_options_are_refused_with_the_valid_ones(
    vendor_options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as raised:
        Sandbox(vendor_options=vendor_options)
    assert not isinstance(raised.value, pydantic.ValidationError)


def test_a_vendor_without_options_says_so() -> None:
    with Sandbox(vendors=[_PlainVendor], vendor_options={"plain": {}}) as sandbox:
        assert type(sandbox.vendors["plain"].options) is VendorOptions
    with pytest.raises(ValueError, match=r"unknown option 'x' \(plain takes no options\)"):
        Sandbox(vendors=[_PlainVendor], vendor_options={"plain": {"x": 1}})


def test_a_vendor_refuses_another_vendors_options_model() -> None:
    with Sandbox() as sandbox, pytest.raises(TypeError, match="AceDataOptions"):
        AceDataVendor(sandbox.vendors["acedata"].context, ProspolabsOptions())
