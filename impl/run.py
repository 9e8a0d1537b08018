"""Run program images on the RTL: the one entry point for ``vta run --backend rtl``, the
compiler's ``backend="rtl"`` and the tests.

- :func:`simulate` runs an image on a simulation of the core, unchecked: Verilator's compiled
  model (:mod:`.verilator`) or Amaranth's simulator (:mod:`.pysim`), which take the same
  arguments and return the same :class:`RtlRun`;
- :func:`run_checked` first runs the image on the spec (which rejects bad programs with a clear
  error: out-of-bounds accesses, races, deadlocks, token overflows), then simulates it, and
  compares the two final DRAMs (:func:`vtaref.spec.conform.explain_difference` names the STORE
  that wrote the first differing byte);
- :class:`RtlBackend` is the registry's ``rtl`` backend (:mod:`vtaref.spec.backends`): it runs
  every image checked and raises :class:`RtlMismatchError` if the RTL differs from the spec.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field, replace
from pathlib import Path

from vtaref.spec import ProgramImage, run_image
from vtaref.spec.backends import BackendError
from vtaref.spec.conform import explain_difference
from vtaref.spec.isa import Load, Store
from vtaref.spec.runner import RunStats, fetch

from .core import DEFAULT_DATA_WIDTH

# simulator name -> the module whose simulate() runs the core
SIMULATORS = {"verilator": "verilator", "amaranth": "pysim"}
PAGE_BYTES = 4096  # DRAM is allocated in pages: whole bus words around the image are there


class RtlError(BackendError):
    """The simulated core failed: a bus violation, an access outside DRAM or a timeout."""


class RtlMismatchError(RtlError):
    """The RTL's final DRAM differs from the spec's."""


@dataclass(frozen=True)
class RtlRun:
    """The outcome of one run of the core."""

    dram: bytes  # the whole DRAM region after the run
    counters: dict[str, int]  # every vcr.COUNTERS entry
    seconds: float  # simulation wall time (excluding build)

    @property
    def cycles(self) -> int:
        """Return the 'cycles' counter."""
        return self.counters["cycles"]


@dataclass(frozen=True)
class CheckedRun:
    """An RTL run next to the spec's: ``mismatch`` is empty when their DRAMs are identical."""

    rtl: RtlRun
    spec_stats: RunStats
    ideal_cycles: int  # micro-op visits of GEMM and ALU (one per cycle at best)
    mismatch: str

    @property
    def matches(self) -> bool:
        return not self.mismatch


def cycle_budget(image: ProgramImage, stats: RunStats) -> int:
    """Return a generous cycle limit for ``image``: far more than a working core needs.

    Counts instructions, micro-op visits and DRAM elements moved, a few cycles each, so that a
    run that exceeds it has deadlocked rather than been slow.
    """
    elements = 0
    for insn in fetch(image.make_dram(), image.insn_addr, image.insn_count, image.config):
        if isinstance(insn, Load | Store):
            rows = insn.y_pad_0 + insn.y_size + insn.y_pad_1
            elements += rows * (insn.x_pad_0 + insn.x_size + insn.x_pad_1)
    element_beats = max(1, image.config.wgt_elem_bytes // 8)
    return 100_000 + 20 * (image.insn_count + stats.uops + elements * element_beats)


def simulate(image: ProgramImage, *, simulator: str = "verilator",
             data_width: int = DEFAULT_DATA_WIDTH, max_cycles: int,
             vcd: Path | None = None) -> RtlRun:
    """Run ``image`` on ``simulator`` (a name in :data:`SIMULATORS`) without checking it.

    The memory behind the AXI port is the image's DRAM widened to whole pages (zeros around
    it), as a real allocation is: a bus word that straddles the end of the image is not an
    error. Accesses outside those pages, and a core not done within ``max_cycles`` cycles,
    raise RtlError. ``vcd`` receives a waveform of the run.
    """
    if simulator not in SIMULATORS:
        raise ValueError(f"unknown simulator {simulator!r} (known: {', '.join(SIMULATORS)})")
    engine = importlib.import_module(f".{SIMULATORS[simulator]}", __package__)
    before = image.dram_base % PAGE_BYTES
    after = -(image.dram_base + len(image.dram)) % PAGE_BYTES
    run = engine.simulate(image.config, bytes(before) + image.dram + bytes(after),
                          image.dram_base - before, image.insn_addr, image.insn_count,
                          data_width=data_width, max_cycles=max_cycles, vcd=vcd)
    return replace(run, dram=run.dram[before:before + len(image.dram)])


def run_checked(image: ProgramImage, *, simulator: str = "verilator",
                data_width: int = DEFAULT_DATA_WIDTH, vcd: Path | None = None) -> CheckedRun:
    """Check ``image`` on the spec, simulate it on the RTL and compare the final DRAMs.

    Raises the spec's VtaError for a bad program and RtlError if the simulation fails.
    """
    state, stats = run_image(image)
    expected = state.dram.data.tobytes()
    rtl = simulate(image, simulator=simulator, data_width=data_width,
                   max_cycles=cycle_budget(image, stats), vcd=vcd)
    mismatch = ""
    if rtl.dram != expected:
        mismatch = explain_difference(replace(image, expected=expected), rtl.dram)
    return CheckedRun(rtl, stats, stats.uops, mismatch)


@dataclass
class RtlBackend:
    """Runs images on the core under ``simulator`` (a name in :data:`SIMULATORS`), checked by
    the spec; ``vcd`` receives a waveform of each run.

    ``last_run`` holds the most recent run, also one that differs from the spec: cycles,
    counters, the spec's counts.
    """

    simulator: str = "verilator"
    data_width: int = DEFAULT_DATA_WIDTH
    vcd: Path | None = None
    name: str = field(default="rtl", init=False)
    last_run: CheckedRun | None = field(default=None, init=False)

    def run(self, image: ProgramImage) -> bytes:
        self.last_run = run_checked(image, simulator=self.simulator, data_width=self.data_width,
                                    vcd=self.vcd)
        if not self.last_run.matches:
            raise RtlMismatchError(f"the RTL differs from the spec: {self.last_run.mismatch}")
        return self.last_run.rtl.dram
