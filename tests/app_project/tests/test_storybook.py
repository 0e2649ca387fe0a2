from __future__ import annotations

import pytest
from storybook import personalise_page

from swapkit import SwapClient


@pytest.mark.vcr
def test_personalise_page(swapkit_sandbox_server, swapkit_face, swapkit_scene, monkeypatch):
    # the sandbox starts on a new port every run; the key comes from the environment
    url = swapkit_sandbox_server.base_url("prospolabs")
    monkeypatch.setenv("SWAPKIT_PROSPOLABS_BASE_URL", url)
    with SwapClient(providers=["prospolabs"]) as client:
        page = personalise_page(client, swapkit_face, swapkit_scene)
    assert page.startswith(b"\x89PNG")
