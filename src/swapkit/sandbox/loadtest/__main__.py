"""`python -m swapkit.sandbox.loadtest`."""

from __future__ import annotations

from .command import main

raise SystemExit(main())
