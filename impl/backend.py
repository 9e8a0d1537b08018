"""The RTL as a compiler backend: ``get_backend("rtl")`` in :mod:`vtaref.compiler.backend`.

Every image runs on the spec and on the simulated core (:func:`.run.run_image`); the RTL's
DRAM is returned, and a difference from the spec is an error that says where it starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vtaref.spec import ProgramImage

from .core import DEFAULT_DATA_WIDTH
from .run import CheckedRun, run_image
from .verilator import RtlError


class RtlMismatchError(RtlError):
    """The RTL's final DRAM differs from the spec's."""


@dataclass
class RtlBackend:
    """Runs images on the core under ``simulator`` ("verilator" or "amaranth").

    ``last_run`` holds the most recent run: cycles, counters, the spec's counts.
    """

    simulator: str = "verilator"
    data_width: int = DEFAULT_DATA_WIDTH
    name: str = field(default="rtl", init=False)
    last_run: CheckedRun | None = field(default=None, init=False)

    def run(self, image: ProgramImage) -> bytes:
        self.last_run = run_image(image, simulator=self.simulator, data_width=self.data_width)
        if not self.last_run.matches:
            raise RtlMismatchError(f"RTL differs from the spec: {self.last_run.mismatch}")
        return self.last_run.rtl.dram
