"""The swapkit command line: swap, providers and demo, against the sandbox."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import stamina

from swapkit import cli, cli_output
from swapkit.core.clock import SystemClock


@pytest.fixture
def no_real_sleeps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SystemClock, "sleep", lambda self, seconds: None)


@pytest.fixture
def images(tmp_path: Path, face_png: bytes, scene_png: bytes) -> tuple[Path, Path]:
    (tmp_path / "face.png").write_bytes(face_png)
    (tmp_path / "scene.png").write_bytes(scene_png)
    return tmp_path / "face.png", tmp_path / "scene.png"


def test_providers_lists_capabilities_and_configuration(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["providers"]) == 0
    out = capsys.readouterr().out
    assert "prospolabs" in out
    assert "configured  no: no API key: set SWAPKIT_PROSPOLABS_API_KEY" in out
    assert "max image   10 MB" in out


def test_swap_writes_the_result(
    swapkit_sandbox_server: Any,
    monkeypatch: pytest.MonkeyPatch,
    images: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SWAPKIT_PROSPOLABS_API_KEY", "prsp-sandbox")
    monkeypatch.setenv("SWAPKIT_PROSPOLABS_BASE_URL", swapkit_sandbox_server.base_url("prospolabs"))
    source, target = images
    out = tmp_path / "out.png"
    code = cli.main(
        ["swap", str(source), str(target), "-o", str(out), "-p", "prospolabs", "--format", "png"]
    )
    assert code == 0
    assert out.read_bytes().startswith(b"\x89PNG")
    printed = capsys.readouterr().out
    assert "provider   prospolabs (model realistic)" in printed
    assert "cost       $0.050" in printed


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["/no/such.png"], "does not exist"),
        (["--provider", "nope"], "unknown provider 'nope'"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    args: list[str],
    words: str,
    images: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source, target = images
    argv = ["swap", str(source), str(target), "-o", str(tmp_path / "x.png")]
    if args[0].startswith("/"):
        argv[1] = args[0]
    else:
        argv += args
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert words in err
    assert "Traceback" not in err


def test_missing_key_exits_2(images: tuple[Path, Path], tmp_path: Path, capsys: Any) -> None:
    source, target = images
    assert cli.main(["swap", str(source), str(target), "-o", str(tmp_path / "x.png")]) == 2
    assert "SWAPKIT_PROSPOLABS_API_KEY" in capsys.readouterr().err


@pytest.fixture
def prospolabs_env(swapkit_sandbox_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("SWAPKIT_PROSPOLABS_API_KEY", "prsp-sandbox")
    monkeypatch.setenv("SWAPKIT_PROSPOLABS_BASE_URL", swapkit_sandbox_server.base_url("prospolabs"))
    return swapkit_sandbox_server.sandbox


@pytest.mark.parametrize("where", ["missing-dir/x.png", "."], ids=["no-directory", "a-directory"])
def test_an_unwritable_output_is_refused_before_the_swap(
    prospolabs_env: Any,
    images: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    where: str,
) -> None:
    source, target = images
    output = tmp_path / where
    assert cli.main(["swap", str(source), str(target), "-o", str(output), "-p", "prospolabs"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write the result to")
    assert "Traceback" not in err
    assert prospolabs_env.requests == []  # nothing sent, nothing paid


def test_a_paid_result_that_cannot_be_written_is_kept(
    prospolabs_env: Any,
    images: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source, target = images
    monkeypatch.setattr(cli_output, "unwritable", lambda path: None)  # the disk changes mid-swap
    monkeypatch.chdir(tmp_path)
    output = tmp_path / "gone" / "x.png"
    argv = ["swap", str(source), str(target), "-o", str(output), "-p", "prospolabs"]
    assert cli.main(argv) == 3
    err = capsys.readouterr().err
    rescued = list(tmp_path.glob("swapkit-swp_*.jpg"))
    assert len(rescued) == 1
    assert rescued[0].name in err
    assert rescued[0].read_bytes().startswith(b"\xff\xd8")


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--host", "10.1.2.3"], "only listens on loopback"),
        (["--host", "no-such-host.invalid"], "loopback"),
    ],
)
def test_sandbox_serve_refuses_without_a_traceback(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["sandbox", "serve", *argv]) == 2
    err = capsys.readouterr().err
    assert words in err
    assert "Traceback" not in err


@pytest.mark.block_network(allowed_hosts=[r"127\.0\.0\.1"])
def test_sandbox_serve_on_a_busy_port_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["sandbox", "serve", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert "cannot listen on 127.0.0.1" in err
    assert "Traceback" not in err


@pytest.mark.usefixtures("no_real_sleeps")
@pytest.mark.block_network(allowed_hosts=[r"127\.0\.0\.1"])
def test_demo_runs_on_the_embedded_sandbox(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with stamina.set_testing(True, attempts=3):
        assert cli.main(["demo", "-o", str(tmp_path), "--job-seconds", "0"]) == 0
    out = capsys.readouterr().out
    names = ("realistic.jpg", "cartoon.png", "fast.jpg", "acedata.png", "template.png")
    for name in (*names, "failover.png", "cheapest.png"):
        assert (tmp_path / name).stat().st_size > 0
        assert name in out
    assert "NoFaceDetected" in out
    assert "uploaded   2 images" in out
    assert "Cyberpunk Neon" in out
    assert "attempt    prospolabs: ProviderUnavailable" in out
    assert "attempt    deepswapai: ok (failover after ProviderUnavailable" in out
    assert (
        "attempt    prospolabs: ProviderUnavailable (position 1 in the fallback order; not charged)"
        in out
    )
    assert "attempt    prospolabs: skipped: costs $0.0500 per swap, over the budget" in out
    assert "attempt    deepswapai: ok (expected price $0.0100; charged)" in out
    assert "OutcomeUnknown: the connection to" in out
    assert (
        "attempt    prospolabs: OutcomeUnknown (position 1 in the fallback order; charge unknown)"
        in out
    )
    assert "deepswapai: ok" not in out.split("8. ")[1].split("9. ")[0]


@pytest.mark.usefixtures("no_real_sleeps")
def test_submit_then_jobs_then_wait(
    prospolabs_env: Any,
    images: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SWAPKIT_PROSPOLABS_MODE", "async")
    source, target = images
    ledger = tmp_path / "ledger.db"
    out = tmp_path / "later.jpg"
    argv = ["swap", str(source), str(target), "-o", str(out), "--ledger", str(ledger)]
    assert cli.main([*argv, "--submit", "--idempotency-key", "k1"]) == 0
    printed = capsys.readouterr().out
    job_id = printed.split()[1]
    assert job_id.startswith("swp_")
    assert f"swapkit jobs wait {job_id}" in printed

    assert cli.main(["jobs", "--ledger", str(ledger)]) == 0
    assert job_id in capsys.readouterr().out
    assert cli.main(["jobs", "wait", job_id, "-o", str(out), "--ledger", str(ledger)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert out.read_bytes().startswith(b"\xff\xd8")
    assert cli.main(["jobs", "show", job_id, "--ledger", str(ledger)]) == 0
    shown = capsys.readouterr().out
    assert "state      succeeded" in shown
    assert "attempt  prospolabs (charged, $0.050): ok" in shown
    assert cli.main(["ledger", "purge", "--older-than", "0s", "--ledger", str(ledger)]) == 0
    assert "forgot 1 finished job" in capsys.readouterr().out
    assert sum("/async" in r.path for r in prospolabs_env.requests) == 1


def test_the_cli_keeps_a_ledger_in_the_data_directory_unless_told_not_to(
    prospolabs_env: Any, images: tuple[Path, Path], tmp_path: Path
) -> None:
    from swapkit.cli_jobs import default_ledger

    source, target = images
    out = str(tmp_path / "x.jpg")
    assert cli.main(["swap", str(source), str(target), "-o", out, "--no-ledger"]) == 0
    assert not default_ledger().exists()
    assert cli.main(["swap", str(source), str(target), "-o", out]) == 0
    assert default_ledger().exists()
    assert str(default_ledger()).startswith(os.environ["XDG_DATA_HOME"])


def test_purge_ages_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["ledger", "purge", "--older-than", "soon"]) == 2
    assert "7d" in capsys.readouterr().err


# -- the click CLI: new options, JSON, templates, version, lazy imports -----------------------


def test_swap_json_template_and_vendor_options(
    swapkit_sandbox_server: Any,
    monkeypatch: pytest.MonkeyPatch,
    images: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    monkeypatch.setenv("SWAPKIT_EVENTSTATION_API_KEY", "es-sandbox")
    monkeypatch.setenv(
        "SWAPKIT_EVENTSTATION_BASE_URL", swapkit_sandbox_server.base_url("eventstation")
    )
    assert cli.main(["templates", "eventstation", "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert listed
    assert all(entry["provider"] == "eventstation" for entry in listed)
    source, _ = images
    out = tmp_path / "t.png"
    argv = ["swap", str(source), "--template", listed[0]["id"], "-o", str(out), "--no-ledger"]
    argv += ["-p", "eventstation", "--option", "eventstation.gender=female", "--json"]
    with stamina.set_testing(True, attempts=3):
        assert cli.main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["ok"] is True
    assert printed["provider"] == "eventstation"
    assert printed["output"] == str(out)
    assert printed["swap_id"].startswith("swp_")
    assert out.stat().st_size > 0
    body = next(r for r in swapkit_sandbox_server.sandbox.requests if r.method == "POST").body
    assert b'"gender":' in body  # the vendor's own field reached it (as its code for female)


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["swap", "a.png", "-o", "x.png"], "give a TARGET image, a --template ID or a --prompt"),
        (["swap", "a.png", "b.png", "--template", "t", "-o", "x.png"], "not both"),
        (["swap", "a.png", "b.png", "-o", "x.png", "--option", "gender=f"], "provider.key=value"),
        (["swap", "a.png", "b.png"], "Missing option '-o'"),
        (["nope"], "No such command"),
    ],
)
def test_usage_mistakes_exit_2_with_a_message(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 2
    assert words in capsys.readouterr().err


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"swapkit {version('swapkit')}"
    assert cli.main(["--help"]) == 0
    shown = capsys.readouterr().out
    for command in ("swap", "batch", "jobs", "providers", "templates", "sandbox", "demo"):
        assert command in shown


def test_providers_json_masks_keys(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    monkeypatch.setenv("SWAPKIT_PROSPOLABS_API_KEY", "prsp-secret-value")
    assert cli.main(["providers", "--json"]) == 0
    out = capsys.readouterr().out
    assert "prsp-secret-value" not in out
    rows = {row["name"]: row for row in map(json.loads, out.splitlines())}
    key = rows["prospolabs"]["settings"]["api_key"]
    assert key == {"value": "****", "from": "the environment variable SWAPKIT_PROSPOLABS_API_KEY"}
    assert rows["prospolabs"]["settings"]["timeout"]["from"] == "default"


def test_the_cli_module_loads_without_the_client_stack() -> None:
    """``swapkit --help`` and shell completion import click and the command table only."""
    import subprocess
    import sys

    code = (
        "import sys, swapkit.cli; "
        "print(sorted(m for m in ('httpx', 'pydantic', 'PIL', 'rich', 'swapkit.core.client') "
        "if m in sys.modules))"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert found.strip() == "[]"


def test_jobs_wait_refuses_an_unwritable_output_before_waiting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "missing-dir" / "x.png"
    argv = ["jobs", "wait", "swp_x", "-o", str(out), "--ledger", str(tmp_path / "l.db")]
    assert cli.main(argv) == 2
    assert "does not exist" in capsys.readouterr().err


def test_shell_completion_comes_from_click() -> None:
    import subprocess
    import sys

    script = subprocess.run(
        [sys.executable, "-m", "swapkit"],
        env={**os.environ, "_SWAPKIT_COMPLETE": "bash_source"},
        capture_output=True,
        text=True,
    )
    assert "_swapkit_completion" in script.stdout or "complete" in script.stdout
    words = subprocess.run(
        [sys.executable, "-m", "swapkit"],
        env={
            **os.environ,
            "_SWAPKIT_COMPLETE": "bash_complete",
            "COMP_WORDS": "swapkit ba",
            "COMP_CWORD": "1",
        },
        capture_output=True,
        text=True,
    )
    assert "batch" in words.stdout
