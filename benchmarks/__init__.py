"""swapkit's benchmark suite: swapkit against hand-written httpx, one command.

``python -m benchmarks`` (from the repository root; ``--quick`` for a smoke run, ``--case
NAME`` to pick cases, ``--json PATH`` to keep the figures).  The pieces:

* `benchmarks.fake_vendor`: a fast fake of the four vendors, in its own process;
* `benchmarks.raw`: the floors, each vendor's swap written by hand with httpx;
* `benchmarks.cases`: swapkit doing the same work;
* `benchmarks.measure` and `benchmarks.memory`: how time and memory are measured;
* `benchmarks.suite`: the cases; `benchmarks.report`: the table, the JSON, the machine.

Not a test suite: CI only runs ``--quick`` (``tests/test_benchmarks_smoke.py``) to keep it
working.  The method and the latest figures are in ``benchmarks/README.md``.
"""

__all__: list[str] = []
