"""The Acme provider passes swapkit's provider contract suite against the Acme emulator.

`ProviderContract` runs every check with the blocking and the async client: classified errors,
polling, lost submits, jobs that never finish, truncated answers and refused keys.
"""

from __future__ import annotations

from typing import ClassVar

import pluggy
from swapkit.core.plugins import make_plugin_manager
from swapkit.testing.contract import ProviderContract

from swapkit_acme import provider
from swapkit_acme.emulator import AcmeVendor


class TestAcmeContract(ProviderContract):
    provider = "acme"
    # the emulator and the provider are given explicitly rather than found among whatever
    # is installed; test_packaging.py proves the entry points name these very objects
    vendors: ClassVar[tuple[type, ...] | None] = (AcmeVendor,)

    def plugin_manager(self) -> pluggy.PluginManager:
        return make_plugin_manager(entry_points=False, plugins=[provider])
