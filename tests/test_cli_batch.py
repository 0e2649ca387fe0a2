"""``swapkit batch``: JSON lines when piped, a live bar on a terminal, a checked input file, a
summary, exit codes, and a rerun after ``kill -9`` that pays for nothing twice."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from swapkit import cli
from swapkit.sandbox import Fault

from .conftest import make_image

PAGES = 20
CREDITS = 1000


@pytest.fixture
def swapkit_sandbox_config() -> dict[str, Any]:
    # slow enough to kill a batch with pages in flight, and to watch its bar move
    return {"job_seconds": 0.25, "credits": CREDITS}


@pytest.fixture
def env(swapkit_sandbox_server: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    variables = {
        "SWAPKIT_PROSPOLABS_API_KEY": "prsp-sandbox",
        "SWAPKIT_PROSPOLABS_BASE_URL": swapkit_sandbox_server.base_url("prospolabs"),
        "SWAPKIT_PROSPOLABS_MODE": "async",
        "SWAPKIT_PROSPOLABS_POLL_INTERVAL": "0.02",
        "SWAPKIT_PROSPOLABS_PRICE_USD": "1",
        "SWAPKIT_DEEPSWAPAI_API_KEY": "ds-sandbox",
        "SWAPKIT_DEEPSWAPAI_BASE_URL": swapkit_sandbox_server.base_url("deepswapai"),
        "SWAPKIT_DEEPSWAPAI_POLL_INTERVAL": "0.02",
        "SWAPKIT_DEEPSWAPAI_PRICE_USD": "1",
        "SWAPKIT_LEDGER": str(tmp_path / "ledger.db"),
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return swapkit_sandbox_server.sandbox


def charged(sandbox: Any) -> int:
    return sum(
        CREDITS - sandbox.credits_left(name, key)
        for name, key in (("prospolabs", "prsp-sandbox"), ("deepswapai", "ds-sandbox"))
    )


@pytest.fixture
def book(tmp_path: Path) -> Path:
    """A 20-page book: one face, 20 pages, paths relative to the file."""
    folder = tmp_path / "book"
    (folder / "pages").mkdir(parents=True)
    (folder / "face.png").write_bytes(make_image((48, 40), (220, 180, 150)))
    lines = []
    for page in range(PAGES):
        (folder / "pages" / f"{page:02d}.png").write_bytes(make_image((64, 56), (page * 10, 90, 1)))
        lines.append(
            json.dumps(
                {"key": f"page-{page:02d}", "source": "face.png", "target": f"pages/{page:02d}.png"}
            )
        )
    (folder / "book.jsonl").write_text("\n".join(lines) + "\n")
    return folder / "book.jsonl"


ARGS = ["-p", "prospolabs", "-p", "deepswapai"]


def test_piped_output_is_json_lines_and_a_summary(
    env: Any, book: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env.faults.add(Fault(provider="prospolabs", kind="status", status=503, times=30))
    out = tmp_path / "out"
    assert cli.main(["batch", str(book), "-o", str(out), *ARGS, "--concurrency", "4"]) == 0
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert sorted(line["key"] for line in lines) == [f"page-{i:02d}" for i in range(PAGES)]
    assert all(line["ok"] and Path(line["output"]).is_file() for line in lines)
    assert sum(line["spent_usd"] for line in lines) == charged(env) == PAGES
    assert "batch summary" in captured.err
    assert "deepswapai" in captured.err
    assert "stamina" not in captured.err


def test_a_failed_item_makes_exit_code_1(
    env: Any, book: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env.faults.add(Fault(provider="prospolabs", kind="status", status=400, times=1))
    code = cli.main(["batch", str(book), "-o", str(tmp_path / "o"), *ARGS, "--concurrency", "1"])
    assert code == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    failed = [line for line in lines if not line["ok"]]
    assert len(failed) == 1
    assert failed[0]["error"]["type"] == "InvalidRequest"
    assert failed[0]["output"] is None


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("{not json\n", "line 1 is not JSON"),
        ('["a list"]\n', "line 1 must be a JSON object"),
        ('{"source": "face.png", "target": "nope.png"}\n', "the target 'nope.png' is not a file"),
        ('{"source": "face.png", "colour": 1}\n', "unknown field(s) 'colour'"),
        ('{"key": "a", "source": "face.png", "prompt": "x"}\n' * 2, "the key 'a' is used twice"),
        ("\n\n", "holds no requests"),
    ],
)
def test_a_bad_file_is_refused_before_anything_is_sent(
    env: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str,
    words: str,
) -> None:
    (tmp_path / "face.png").write_bytes(make_image())
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    assert cli.main(["batch", str(path), "-o", str(tmp_path / "o"), *ARGS]) == 2
    assert words in capsys.readouterr().err
    assert env.requests == []


def test_a_missing_file_says_so(env: Any, tmp_path: Path, capsys: Any) -> None:
    assert cli.main(["batch", str(tmp_path / "none.jsonl"), "-o", str(tmp_path)]) == 2
    assert "no batch file" in capsys.readouterr().err


def _spawn(book: Path, out: Path, *extra: str, **kwargs: Any) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "swapkit", "batch", str(book), "-o", str(out), *ARGS]
    return subprocess.Popen([*command, *extra], env=dict(os.environ), **kwargs)


def test_a_batch_killed_mid_way_resumes_paying_only_for_the_missing_pages(
    env: Any, book: Path, tmp_path: Path, swapkit_sandbox_server: Any
) -> None:
    out = tmp_path / "out"
    first = _spawn(book, out, "--resume", "--concurrency", "3", stdout=subprocess.PIPE)
    assert first.stdout is not None
    done = []
    while len(done) < 5:
        line = first.stdout.readline()
        assert line, "the batch ended before it could be killed"
        done.append(json.loads(line))
    first.send_signal(signal.SIGKILL)
    first.wait()
    first.stdout.close()
    paid_before = charged(env)
    assert 5 <= paid_before < PAGES

    second = _spawn(book, out, "--resume", "--json", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    output, errors = second.communicate(timeout=120)
    lines = [json.loads(line) for line in output.decode().splitlines()]
    assert len(lines) == PAGES
    # a page killed between "about to submit" and the vendor's answer may have been paid for:
    # it is reported as OutcomeUnknown, never sent again; every other page ends with a result
    unknown = [line for line in lines if not line["ok"]]
    assert all(line["error"]["type"] == "OutcomeUnknown" for line in unknown)
    assert second.returncode == (1 if unknown else 0)
    ok = [line for line in lines if line["ok"]]
    assert len(ok) + len(unknown) == PAGES
    # every page that has a result was paid for exactly once, across both runs
    assert len(ok) <= charged(env) <= PAGES
    resumed = {line["key"] for line in lines if line["resumed"]}
    assert {line["key"] for line in done} <= resumed
    assert len(list(out.iterdir())) == len(ok)
    spent = sum(line["spent_usd"] for line in lines if line["spent_usd"] is not None)
    total = [row for row in errors.decode().splitlines() if "total" in row]
    assert f"${spent:.3f}" in total[0]


def test_a_terminal_shows_a_live_progress_bar(env: Any, book: Path, tmp_path: Path) -> None:
    master, slave = pty.openpty()
    process = _spawn(book, tmp_path / "out", "--concurrency", "2", stdout=slave, stderr=slave)
    os.close(slave)
    screen = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            screen += chunk
        elif process.poll() is not None:
            break
    process.wait(timeout=30)
    os.close(master)
    text = screen.decode("utf-8", "replace")
    assert process.returncode == 0
    assert "swapping" in text
    assert "━" in text  # the bar
    assert "/20" in text
    assert "page-07" in text
    assert "batch summary" in text
    assert not any(line.startswith("{") for line in text.splitlines())
