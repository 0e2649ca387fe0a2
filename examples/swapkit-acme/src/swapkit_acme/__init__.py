"""swapkit-acme: an example swapkit provider plugin, for the imaginary Acme Faces API.

A vendor is one package: the adapter (`swapkit_acme.provider`, registered through the
``swapkit`` entry point group), its emulator (`swapkit_acme.emulator`, mounted by swapkit's
sandbox through the ``swapkit.sandbox`` group) and tests that run swapkit's contract suite and
a failover against the emulator.  The vendor's contract is in the package README.

Nothing is imported here: swapkit loads the two entry points itself, and importing the
provider from the emulator's package (or the other way round) would defeat the point of
writing each from the contract alone.
"""

from __future__ import annotations

__all__: list[str] = []
