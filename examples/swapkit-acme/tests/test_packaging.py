"""The installed distribution declares both entry points, and swapkit finds them.

The other tests register the provider and mount the emulator by hand, so that nothing else
installed can leak in; these check that an application that only installs the package gets
the very same objects.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from swapkit.core.plugins import installed_providers, make_plugin_manager
from swapkit.sandbox import Sandbox, installed_vendors
from swapkit.testing import FakeClock

from swapkit_acme import provider
from swapkit_acme.emulator import AcmeVendor


def test_the_swapkit_entry_point_names_the_provider_module() -> None:
    (entry_point,) = entry_points(group="swapkit", name="acme")
    assert entry_point.load() is provider
    assert installed_providers(make_plugin_manager())["acme"] is provider.Acme


def test_the_sandbox_entry_point_names_the_emulator() -> None:
    (entry_point,) = entry_points(group="swapkit.sandbox", name="acme")
    assert entry_point.load() is AcmeVendor
    assert AcmeVendor in installed_vendors()
    with Sandbox(clock=FakeClock()) as sandbox:  # a default sandbox mounts it at /acme/
        assert isinstance(sandbox.vendors["acme"], AcmeVendor)
