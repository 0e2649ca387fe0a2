"""The vendors' own example code, as their documents print it, against the loopback sandbox.

Seed 000 (Prospolabs' integration guide) gives a Python `face_swap()` built on `requests` and an
error-handling block; seed 001 (its webhook docs) gives a Node `verifyWebhook`.  They run here
unchanged except for `BASE_URL` (the documents lost their indentation when they were saved; it
is restored and nothing else is touched).  If the sandbox answers them as the vendor would,
the snippets print what their authors meant them to.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from swapkit.sandbox import Fault

from .conftest import make_image
from .sandbox.helpers import Receiver

# seed 000, "3. Python Integration", verbatim but for BASE_URL
FACE_SWAP = textwrap.dedent(
    """
    import requests
    import base64
    import os
    API_KEY = os.environ["PROSPOLABS_API_KEY"]
    BASE_URL = "{base_url}"
    def to_base64(path: str) -> str:
        with open(path, "rb") as f:
            return base64.b64encode(f.read()).decode("utf-8")
    def face_swap(source_path: str, target_path: str, model: str = "realistic") -> str:
        response = requests.post(
            f"{{BASE_URL}}/v1/swap/{{model}}",
            headers={{
                "Authorization": f"Bearer {{API_KEY}}",
                "Content-Type": "application/json",
            }},
            json={{
                "source_image": to_base64(source_path),
                "target_image": to_base64(target_path),
                "output_format": "jpeg",
                "output_quality": 95,
            }},
            timeout=120,
        )
        response.raise_for_status()
        data = response.json()
        return data["result_url"]
    # Realistic swap
    url = face_swap("my_face.jpg", "target.jpg", model="realistic")
    print("Result:", url)
    # Cartoon / anime / comic style swap
    url = face_swap("my_face.jpg", "anime_character.jpg", model="cartoon")
    print("Cartoon result:", url)
    """
)

# seed 000, "7. Error Handling", verbatim
ERROR_HANDLING = textwrap.dedent(
    """
    try:
        url = face_swap("source.jpg", "target.jpg")
    except requests.HTTPError as e:
        status = e.response.status_code
        detail = e.response.json().get("detail", "Unknown error")
        if status == 400:
            print(f"Bad input: {detail}") # show to user
        elif status == 403:
            print("Out of credits — please top up")
        elif status == 429:
            print("Rate limit hit — slow down")
        else:
            print(f"Server error ({status}): retrying...")
    """
)

# seed 001, "Verifying Signatures", verbatim, and a harness that feeds it what Express would
VERIFY_WEBHOOK = """\
import crypto from 'crypto';

function verifyWebhook(payload, signature, secret) {
  const expected = crypto
    .createHmac('sha256', secret)
    .update(payload)
    .digest('hex');
  return crypto.timingSafeEqual(
    Buffer.from(signature),
    Buffer.from(expected)
  );
}

// the harness: req.body is the parsed JSON, as express.json() leaves it
const req = { body: JSON.parse(process.env.BODY), headers: JSON.parse(process.env.HEADERS) };
const signature = req.headers['x-prospo-signature'];
const isValid = verifyWebhook(JSON.stringify(req.body), signature, process.env.WEBHOOK_SECRET);
console.log(isValid ? 'valid' : 'invalid');
"""


@pytest.fixture
def swapkit_sandbox_config() -> dict[str, Any]:
    return {"job_seconds": 0.05, "webhook_retry_delays": (0, 0, 0, 0)}


@pytest.fixture
def snippet_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, swapkit_sandbox_server: Any
) -> dict[str, Any]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PROSPOLABS_API_KEY", "prsp-sandbox")
    face = make_image((48, 40), (220, 180, 150), "JPEG")
    scene = make_image((64, 56), (30, 90, 160), "JPEG")
    for name, data in [("my_face.jpg", face), ("source.jpg", face)]:
        Path(name).write_bytes(data)
    for name in ("target.jpg", "anime_character.jpg"):
        Path(name).write_bytes(scene)
    base_url = swapkit_sandbox_server.base_url("prospolabs")
    return {"__name__": "__seed_000__", "BASE": FACE_SWAP.format(base_url=base_url)}


def _run(code: str, namespace: dict[str, Any]) -> str:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "seed 000", "exec"), namespace)
    return printed.getvalue()


def test_seed_000_face_swap_runs_unchanged(snippet_dir: dict[str, Any]) -> None:
    import requests

    namespace: dict[str, Any] = {"__name__": "__seed_000__"}
    printed = _run(snippet_dir["BASE"], namespace).splitlines()
    assert printed[0].startswith("Result: http")
    assert printed[1].startswith("Cartoon result: http")
    result = requests.get(printed[0].removeprefix("Result: "), timeout=10)
    assert result.headers["content-type"] == "image/jpeg"


@pytest.mark.parametrize(
    ("fault", "line"),
    [
        ({"status": 400}, "Bad input: Bad request"),
        ({"status": 403}, "Out of credits — please top up"),
        ({"status": 429}, "Rate limit hit — slow down"),
        ({"status": 500}, "Server error (500): retrying..."),
        ({"status": 504}, "Server error (504): retrying..."),
    ],
)
def test_seed_000_error_handling_runs_unchanged(
    snippet_dir: dict[str, Any], swapkit_sandbox_server: Any, fault: dict[str, Any], line: str
) -> None:
    namespace: dict[str, Any] = {"__name__": "__seed_000__"}
    _run(snippet_dir["BASE"], namespace)  # defines face_swap (and runs its own two swaps)
    swapkit_sandbox_server.sandbox.faults.add(Fault(provider="prospolabs", times=1, **fault))
    assert _run(ERROR_HANDLING, namespace).strip() == line


def test_seed_000_shows_the_no_face_detail_to_the_user(snippet_dir: dict[str, Any]) -> None:
    namespace: dict[str, Any] = {"__name__": "__seed_000__"}
    _run(snippet_dir["BASE"], namespace)
    Path("source.jpg").write_bytes(make_image((48, 40), (128, 128, 128), "JPEG", pattern=False))
    printed = _run(ERROR_HANDLING, namespace).strip()
    assert printed.startswith("Bad input: No face detected in source_image")


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not on this machine")
def test_seed_001_verify_webhook_accepts_the_sandbox_s_webhooks(
    swapkit_sandbox_server: Any, tmp_path: Path
) -> None:
    import requests

    face = make_image((48, 40), (220, 180, 150))
    scene = make_image((64, 56), (30, 90, 160))
    base_url = swapkit_sandbox_server.base_url("prospolabs")
    with Receiver() as receiver:
        answer = requests.post(
            f"{base_url}/v1/swap/realistic/async",
            headers={"Authorization": "Bearer prsp-sandbox"},
            json={
                "source_image": _b64(face),
                "target_image": _b64(scene),
                "webhook_url": receiver.url,
            },
            timeout=10,
        )
        assert answer.status_code == 202
        deadline = time.monotonic() + 5
        while not receiver.bodies and time.monotonic() < deadline:
            time.sleep(0.02)
    body, headers = receiver.bodies[0], receiver.headers[0]
    script = tmp_path / "verify.mjs"
    script.write_text(VERIFY_WEBHOOK)

    def verify(payload: bytes, secret: str) -> str:
        environment = {
            **os.environ,
            "BODY": payload.decode(),
            "HEADERS": json.dumps(headers),
            "WEBHOOK_SECRET": secret,
        }
        run = subprocess.run(
            ["node", str(script)], env=environment, capture_output=True, text=True, timeout=30
        )
        assert run.returncode == 0, run.stderr
        return run.stdout.strip()

    assert verify(body, "whsec-sandbox") == "valid"
    assert verify(body, "whsec-wrong") == "invalid"
    tampered = json.loads(body)
    tampered["data"]["result_url"] = "https://attacker.example/x.png"
    assert verify(json.dumps(tampered).encode(), "whsec-sandbox") == "invalid"


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()
