"""The command line: serve a sandbox in a child process, load it, print what was measured.

The sandbox runs in its own process so that the load generator and the server do not share one
interpreter lock, as with any real server; its CPU time and peak memory are read from `/proc`
(left out where there is none). The child is the same command with `--serve`: it serves a
`Sandbox(job_seconds=0)` on a free loopback port, prints its URL, and stops on SIGINT (writing
its profile first, with `--profile`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import os
import pstats
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence

from .run import run_load
from .swaps import SWAP_KINDS

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the load test; exit status 1 when any swap or connection failed."""
    parser = argparse.ArgumentParser(
        prog="python -m swapkit.sandbox.loadtest",
        description="Load the sandbox with concurrent keep-alive connections doing whole swaps.",
    )
    parser.add_argument("--connections", type=int, default=1000, help="opened at once")
    parser.add_argument("--swaps", type=int, default=3000, help="whole swaps, in all")
    parser.add_argument("--vendor", choices=SWAP_KINDS, default="prospolabs")
    parser.add_argument("--image-kb", type=float, default=100.0, help="size of each input")
    parser.add_argument("--images", type=int, default=4, help="distinct source/target pairs")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per swap")
    parser.add_argument("--url", help="a sandbox already running (default: serve one)")
    parser.add_argument("--profile", metavar="FILE", help="profile the served sandbox")
    parser.add_argument("--profile-top", type=int, default=0, metavar="N")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    _raise_file_limit(2 * args.connections + 100)  # both ends, when the server is a child
    if args.serve:
        _serve(args.profile)
        return 0
    with contextlib.ExitStack() as stack:
        if args.url:
            url, pid = args.url, None
        else:
            url, pid = stack.enter_context(_served(args.profile))
        server_cpu = _cpu_seconds(pid)
        result = asyncio.run(
            run_load(
                url,
                connections=args.connections,
                swaps=args.swaps,
                vendor=args.vendor,
                image_kb=args.image_kb,
                images=args.images,
                timeout=args.timeout,
            )
        )
        server_after = _cpu_seconds(pid)
        server_memory = _peak_memory_mib(pid)
    inputs = f"{args.images} pair(s) of {args.image_kb:g} KB JPEGs"
    print(f"sandbox: {url} ({args.vendor}; {inputs}; {os.cpu_count()} CPUs)")
    print(result.summary())
    per_swap = 1000 / max(1, result.swaps)
    client_cpu = result.cpu_seconds
    print(f"CPU, load generator: {client_cpu:.2f} s ({client_cpu * per_swap:.2f} ms per swap)")
    if server_cpu is not None and server_after is not None:
        used = server_after - server_cpu
        print(f"CPU, sandbox: {used:.2f} s ({used * per_swap:.2f} ms per swap)")
    if server_memory is not None:
        print(f"sandbox peak memory: {server_memory:.0f} MiB")
    if args.profile and args.profile_top:
        pstats.Stats(args.profile).sort_stats("tottime").print_stats(args.profile_top)
    return 1 if result.error_count else 0


# -- the served sandbox --------------------------------------------------------------------------


@contextlib.contextmanager
def _served(profile: str | None) -> Iterator[tuple[str, int]]:
    """A child process serving a sandbox: `(url, pid)`; stopped with SIGINT on exit."""
    command = [sys.executable, "-m", "swapkit.sandbox.loadtest", "--serve"]
    if profile:
        command += ["--profile", profile]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        url = child.stdout.readline().strip()
        if not url:
            raise RuntimeError("the sandbox did not start")
        yield url, child.pid
    finally:
        child.send_signal(signal.SIGINT)  # serve_forever returns; the profile is written
        try:
            child.wait(60)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _serve(profile: str | None) -> None:
    """The child: serve `Sandbox(job_seconds=0)` on a free port, print the URL, run until
    SIGINT."""
    from ..app import Sandbox
    from ..server import serve_forever

    # A process started in the background by a shell inherits SIGINT ignored; the parent stops
    # this one with SIGINT, which must end `serve_forever` (and write the profile).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with contextlib.ExitStack() as stack:
        if profile:
            stack.enter_context(_profiled_threads(profile))
        sandbox = stack.enter_context(Sandbox(job_seconds=0.0))
        serve_forever(port=0, sandbox=sandbox, ready=lambda url: print(url, flush=True))


@contextlib.contextmanager
def _profiled_threads(path: str) -> Iterator[None]:
    """Profile the CPU time of this thread and of every thread started meanwhile into `path`."""
    profiles: list[cProfile.Profile] = []
    lock = threading.Lock()
    original_run = threading.Thread.run

    def run(thread: threading.Thread) -> None:
        profile = cProfile.Profile(time.thread_time)
        with lock:
            profiles.append(profile)
        profile.enable()
        try:
            original_run(thread)
        finally:
            profile.disable()

    threading.Thread.run = run  # type: ignore[method-assign,assignment]
    main_profile = cProfile.Profile(time.thread_time)
    main_profile.enable()
    try:
        yield
    finally:
        main_profile.disable()
        threading.Thread.run = original_run  # type: ignore[method-assign]
        stats = pstats.Stats(main_profile)
        with lock:
            for profile in profiles:
                stats.add(profile)
        stats.dump_stats(path)


# -- measuring the child -------------------------------------------------------------------------


def _cpu_seconds(pid: int | None) -> float | None:
    """User plus system CPU time of process `pid` so far (None without `/proc`)."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_memory_mib(pid: int | None) -> float | None:
    """The peak resident memory of process `pid` (None without `/proc`)."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _raise_file_limit(needed: int) -> None:
    """Raise the soft limit of open files towards `needed` (as far as the hard limit allows)."""
    try:
        import resource
    except ImportError:  # Windows: no such limit to raise
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
