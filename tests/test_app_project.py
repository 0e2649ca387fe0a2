"""An application records a cassette of its own swapkit call and replays it offline.

`tests/app_project` is a separate tiny project (a children's-book platform's one swapkit call
and its test, written as an application would: the sandbox fixture, pytest-recording's
``@pytest.mark.vcr``, the key in the environment).  It is copied to a temporary directory and its
own pytest is run twice in a subprocess: once recording against the loopback sandbox, once
replaying with a different key and a sandbox on another port.  The cassette must hold no key,
no image bytes and no port.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).parent / "app_project"
KEY = "prsp-live-4c9e1f77a2b84d05"


def _pytest(project: Path, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("SWAPKIT_", "PYTEST_"))
    }
    env["SWAPKIT_PROSPOLABS_API_KEY"] = key
    env["PYTHONPATH"] = str(project)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.block_network(allowed_hosts=[r"127\.0\.0\.1"])
def test_an_application_records_and_replays_its_own_cassette(tmp_path: Path) -> None:
    project = tmp_path / "storybook"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns("cassettes", "__pycache__"))

    recorded = _pytest(project, KEY, "--record-mode=once")
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    (cassette,) = (project / "tests" / "cassettes").rglob("*.yaml")
    text = cassette.read_text()
    assert "submit" in text or "/v1/" in text  # it recorded the swap itself
    assert KEY not in text
    assert "4c9e1f77" not in text
    assert not re.search(r"[A-Za-z0-9+/]{100,}", text), "image bytes stored"
    assert "\\x89PNG" not in text
    assert "iVBORw0KGgo" not in text
    assert not re.search(r"127\.0\.0\.1|localhost|:\d{4,5}/", text), "a loopback address or port"
    assert re.search(r"sha256:[0-9a-f]{16}", text), "images are stored as digests"

    # another key, another port; record mode "none" lets no request through to the sandbox
    replayed = _pytest(project, "prsp-another-key-0000", "--record-mode=none")
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert cassette.read_text() == text
