"""Run program images on the RTL, checked by the spec: what ``vta run --backend rtl`` does.

:func:`run_image` first runs the image on the spec (which rejects bad programs with a clear
error: out-of-bounds accesses, races, deadlocks, token overflows), then on a simulation of the
core, and compares the two final DRAMs: the RTL result is returned together with a description
of where the two first differ, if they do (:func:`vtaref.spec.conform.explain_difference`
names the STORE that wrote the first differing byte).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from vtaref.spec import ProgramImage
from vtaref.spec import run_image as run_spec
from vtaref.spec.conform import explain_difference
from vtaref.spec.isa import Load, Store
from vtaref.spec.runner import RunStats, fetch

from .core import DEFAULT_DATA_WIDTH
from .verilator import RtlRun

SIMULATORS = ("verilator", "amaranth")


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


PAGE_BYTES = 4096  # DRAM is allocated in pages: whole bus words around the image are there


def simulate(image: ProgramImage, *, simulator: str = "verilator",
             data_width: int = DEFAULT_DATA_WIDTH, max_cycles: int,
             vcd: Path | None = None) -> RtlRun:
    """Run ``image`` on ``simulator`` (one of :data:`SIMULATORS`) without checking it.

    The memory behind the AXI port is the image's DRAM widened to whole pages (zeros around
    it), as a real allocation is: a bus word that straddles the end of the image is not an
    error. Accesses outside those pages raise RtlError.
    """
    if simulator not in SIMULATORS:
        raise ValueError(f"unknown simulator {simulator!r} (known: {', '.join(SIMULATORS)})")
    before = image.dram_base % PAGE_BYTES
    after = -(image.dram_base + len(image.dram)) % PAGE_BYTES
    dram = bytes(before) + image.dram + bytes(after)
    args = (dram, image.dram_base - before, image.insn_addr, image.insn_count)
    if simulator == "amaranth":
        from .pysim import simulate as simulate_amaranth

        run = simulate_amaranth(image.config, *args, data_width=data_width,
                                max_cycles=max_cycles, vcd=vcd)
    else:
        from .verilator import VerilatedCore

        core = VerilatedCore(image.config, data_width, trace=vcd is not None)
        run = core.run(*args, max_cycles=max_cycles, vcd=vcd)
    return replace(run, dram=run.dram[before:before + len(image.dram)])


def run_image(image: ProgramImage, *, simulator: str = "verilator",
              data_width: int = DEFAULT_DATA_WIDTH, vcd: Path | None = None) -> CheckedRun:
    """Check ``image`` on the spec, run it on the RTL and compare the final DRAMs.

    Raises the spec's VtaError for a bad program and RtlError if the simulation fails.
    """
    state, stats = run_spec(image)
    expected = state.dram.data.tobytes()
    rtl = simulate(image, simulator=simulator, data_width=data_width,
                   max_cycles=cycle_budget(image, stats), vcd=vcd)
    mismatch = ""
    if rtl.dram != expected:
        mismatch = explain_difference(replace(image, expected=expected), rtl.dram)
    return CheckedRun(rtl, stats, stats.uops, mismatch)
