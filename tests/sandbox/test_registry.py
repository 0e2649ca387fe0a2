"""Plugin emulators: the `swapkit.sandbox` entry point group, `installed_vendors()` and its switch.

Each test installs a fake distribution: a `*.dist-info` directory with an `entry_points.txt`,
put on `sys.path` for the test only, whose entry points name the classes below.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import httpx
import pytest

import swapkit.sandbox
from swapkit import cli
from swapkit.sandbox import (
    BUILTIN_VENDORS,
    FakeClock,
    Sandbox,
    SandboxRequest,
    SandboxResponse,
    Vendor,
    installed_vendors,
)
from swapkit.sandbox.messages import json_response
from swapkit.sandbox.registry import DISABLE_PLUGINS_ENV, ENTRY_POINT_GROUP

HERE = __name__  # the entry points below name classes of this module


class AcmeVendor(Vendor):
    """A tiny plugin emulator: answers every request with what it saw."""

    name: ClassVar[str] = "acme"
    default_api_keys: ClassVar[tuple[str, ...]] = ("acme-sandbox",)

    def handle(self, request: SandboxRequest, path: str) -> SandboxResponse:
        return json_response(200, {"vendor": self.name, "path": path})

    def error_response(self, status: int) -> SandboxResponse:
        return json_response(status, {"error": status})


class CopycatVendor(AcmeVendor):
    """Takes a built-in vendor's name."""

    name: ClassVar[str] = BUILTIN_VENDORS[0].name


class OtherAcmeVendor(AcmeVendor):
    """Another class with the plugin's name."""


class HalfVendor(Vendor):
    """Forgets to answer requests."""

    name: ClassVar[str] = "half"
    default_api_keys: ClassVar[tuple[str, ...]] = ()


class ControlVendor(AcmeVendor):
    """Would hide the control routes."""

    name: ClassVar[str] = "_sandbox"


def not_a_vendor() -> None:
    """An entry point target that is no Vendor class."""


Install = Callable[..., None]


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Install:
    """`install(acme="module:Class", ...)`: a distribution with those sandbox entry points."""
    monkeypatch.delenv(DISABLE_PLUGINS_ENV, raising=False)
    count = 0

    def install(distribution: str = "swapkit-acme", **entry_points: str) -> None:
        nonlocal count
        count += 1
        site = tmp_path / f"site{count}"
        dist_info = site / f"{distribution.replace('-', '_')}-1.0.dist-info"
        dist_info.mkdir(parents=True)
        (dist_info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 1.0\n"
        )
        lines = [f"{name} = {target}" for name, target in entry_points.items()]
        (dist_info / "entry_points.txt").write_text(
            f"[{ENTRY_POINT_GROUP}]\n" + "\n".join(lines) + "\n"
        )
        monkeypatch.syspath_prepend(str(site))

    return install


def test_the_built_ins_come_first_then_the_plugins(install: Install) -> None:
    install(acme=f"{HERE}:AcmeVendor")
    vendors = installed_vendors()
    assert vendors[: len(BUILTIN_VENDORS)] == BUILTIN_VENDORS
    assert vendors.count(AcmeVendor) == 1
    assert vendors == swapkit.sandbox.VENDOR_CLASSES  # looked up on access, not cached


def test_a_default_sandbox_mounts_a_plugin_emulator(install: Install) -> None:
    install(acme=f"{HERE}:AcmeVendor")
    with Sandbox(clock=FakeClock()) as sandbox:
        assert isinstance(sandbox.vendors["acme"], AcmeVendor)
        with httpx.Client(transport=sandbox.transport(), base_url="http://sandbox.test") as http:
            assert http.get("/acme/v1/ping").json() == {"vendor": "acme", "path": "/v1/ping"}
            assert "acme" in http.get("/").json()["vendors"]
            assert http.post("/_sandbox/faults", json={"provider": "acme"}).status_code == 201
            assert http.get("/acme/v1/ping").status_code == 500  # faults come for free
    with Sandbox(clock=FakeClock(), vendors=BUILTIN_VENDORS) as sandbox:
        assert "acme" not in sandbox.vendors


def test_the_same_class_under_two_entry_points_is_mounted_once(install: Install) -> None:
    install(acme=f"{HERE}:AcmeVendor", acme_again=f"{HERE}:AcmeVendor")
    assert installed_vendors().count(AcmeVendor) == 1


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        (f"{HERE}:not_a_vendor", "is not a swapkit.sandbox.Vendor subclass"),
        (f"{HERE}:HalfVendor", "is an abstract Vendor (it does not define error_response, handle)"),
        (f"{HERE}:ControlVendor", "name must be its mount point"),
        (f"{HERE}:NoSuchVendor", "cannot be loaded: AttributeError"),
        ("swapkit_no_such_module:AcmeVendor", "cannot be loaded: ModuleNotFoundError"),
    ],
)
def test_a_broken_entry_point_is_a_value_error_naming_it(
    install: Install, target: str, problem: str
) -> None:
    install(distribution="swapkit-broken", broken=target)
    with pytest.raises(ValueError, match="sandbox entry point 'broken'") as caught:
        installed_vendors()
    message = str(caught.value)
    assert "of swapkit-broken 1.0" in message
    assert target in message
    assert problem in message
    with pytest.raises(ValueError, match="swapkit-broken"):
        Sandbox(clock=FakeClock())


def test_a_plugin_may_not_take_a_built_in_name(install: Install) -> None:
    install(copycat=f"{HERE}:CopycatVendor")
    taken = BUILTIN_VENDORS[0].name
    with pytest.raises(ValueError, match=f"names a vendor '{taken}'") as caught:
        installed_vendors()
    assert "sandbox entry point 'copycat'" in str(caught.value)
    assert "swapkit-acme 1.0" in str(caught.value)
    assert "the built-in vendors already have one" in str(caught.value)


def test_two_plugins_may_not_share_a_name(install: Install) -> None:
    install(acme=f"{HERE}:AcmeVendor")
    install(distribution="swapkit-other", other=f"{HERE}:OtherAcmeVendor")
    with pytest.raises(ValueError, match=r"'other'.* of swapkit-other 1\.0 names a vendor 'acme'"):
        installed_vendors()


@pytest.mark.parametrize("value", ["1", "true", "ALL"])
def test_the_switch_leaves_every_plugin_out(
    install: Install, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    install(acme=f"{HERE}:AcmeVendor", broken=f"{HERE}:not_a_vendor")
    monkeypatch.setenv(DISABLE_PLUGINS_ENV, value)
    assert installed_vendors() == BUILTIN_VENDORS
    with Sandbox(clock=FakeClock()) as sandbox:
        assert sorted(sandbox.vendors) == sorted(vendor.name for vendor in BUILTIN_VENDORS)


def test_the_switch_can_skip_one_plugin_by_its_entry_point_name(
    install: Install, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(acme=f"{HERE}:AcmeVendor", broken=f"{HERE}:not_a_vendor")
    monkeypatch.setenv(DISABLE_PLUGINS_ENV, "broken, unknown")
    assert installed_vendors() == (*BUILTIN_VENDORS, AcmeVendor)
    monkeypatch.setenv(DISABLE_PLUGINS_ENV, "0")
    with pytest.raises(ValueError, match="'broken'"):
        installed_vendors()


def test_sandbox_serve_serves_plugins_and_names_a_broken_one(
    install: Install, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def serve_forever(
        host: str, port: int, *, sandbox: Sandbox, ready: Callable[[str], None]
    ) -> None:
        ready(f"http://{host}:{port}")

    monkeypatch.setattr(swapkit.sandbox, "serve_forever", serve_forever)
    install(acme=f"{HERE}:AcmeVendor")
    assert cli.main(["sandbox", "serve", "--port", "8765"]) == 0
    assert "acme         base_url=http://127.0.0.1:8765/acme  key=acme-sandbox" in (
        capsys.readouterr().out
    )
    install(distribution="swapkit-broken", broken=f"{HERE}:not_a_vendor")
    assert cli.main(["sandbox", "serve"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: sandbox entry point 'broken'")
    assert "Traceback" not in err
