"""The four built-in providers pass the contract suite a provider plugin runs
(`swapkit.testing.contract`), against their emulators in the sandbox."""

from __future__ import annotations

from typing import Any, ClassVar

from swapkit import Template
from swapkit.sandbox.samples import sample_face
from swapkit.testing.contract import ProviderContract


class TestProspolabs(ProviderContract):
    provider = "prospolabs"


class TestAcedata(ProviderContract):
    provider = "acedata"
    submit_path = "/face/swap"
    settings: ClassVar[dict[str, Any]] = {"callback_secret": "cb-secret-contract"}


class TestEventstation(ProviderContract):
    provider = "eventstation"

    def swap_fields(self) -> dict[str, Any]:
        options = {"eventstation": {"gender": "girl"}}
        return {"source": sample_face(), "target": Template("12"), "options": options}


class TestDeepswapai(ProviderContract):
    provider = "deepswapai"
