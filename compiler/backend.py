"""Backends: where a compiled program image runs.

A backend is anything with a ``name`` and ``run(image) -> bytes`` that executes a
:class:`~vtaref.spec.ProgramImage` to completion and returns the final DRAM, ``len(image.dram)``
bytes from physical address ``image.dram_base``. The executable specification is one backend
among others, so an RTL simulation or an FPGA can plug in behind the same two members.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from vtaref.spec import FLAVORS, ProgramImage, RunStats, run_image
from vtaref.spec.pipeline import DEFAULT_TOKEN_DEPTH


class Backend(Protocol):
    """Runs program images synchronously."""

    name: str

    def run(self, image: ProgramImage) -> bytes:
        """Run ``image`` until FINISH; return the final DRAM contents."""


@dataclass
class SpecBackend:
    """The executable specification, with its race, deadlock and token-depth checks on.

    ``last_stats`` holds the counts of the most recent run (instructions, uops, MACs, tokens).
    """

    check_races: bool = True
    token_depth: int = DEFAULT_TOKEN_DEPTH
    flavor: str = "fsim"
    name: str = field(default="spec", init=False)
    last_stats: RunStats | None = field(default=None, init=False)

    def run(self, image: ProgramImage) -> bytes:
        state, self.last_stats = run_image(image, check_races=self.check_races,
                                           token_depth=self.token_depth,
                                           flavor=FLAVORS[self.flavor])
        return state.dram.data.tobytes()


def rtl_backend() -> Backend:
    """Return the RTL backend (imported on use: the compiler itself never needs Amaranth)."""
    from vtaref.impl.backend import RtlBackend

    return RtlBackend()


BACKENDS = {"spec": SpecBackend, "rtl": rtl_backend}


def get_backend(backend: str | Backend) -> Backend:
    """Return ``backend`` itself, or a new instance of the backend registered under that name."""
    if not isinstance(backend, str):
        return backend
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r} (known: {', '.join(sorted(BACKENDS))})")
    return BACKENDS[backend]()
