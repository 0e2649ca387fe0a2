from __future__ import annotations

import os

import pytest


@pytest.fixture
def swapkit_sandbox_config():
    # the sandbox accepts the application's own key, so the test uses it as production would
    return {"api_keys": {"prospolabs": [os.environ["SWAPKIT_PROSPOLABS_API_KEY"]]}}
