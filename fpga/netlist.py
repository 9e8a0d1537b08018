"""Simulate the synthesized netlist: does the core still compute the spec after synthesis?

:class:`NetlistCore` synthesizes the core with yosys's generic ``synth`` (:data:`GATES`:
flattening, FSM recoding, sharing, arithmetic and logic optimization, then mapping every
operator to yosys's single-bit gates and flip-flops with ``techmap`` and ``abc``), writes
that gate netlist as Verilog, and compiles it under Verilator with the harness of
:mod:`vtaref.impl.verilator`. Memories stay memories (arrays in the Verilog): yosys ships no
behavioural model of ECP5's block RAM (``DP16KD`` in ``share/ecp5/cells_sim.v`` is parameters
only) nor of its multiplier, so a ``synth_ecp5`` netlist cannot be simulated with yosys's
models; this netlist has gone through every pass of the ECP5 flow but the vendor mapping.
Synthesis bugs and undefined values that the passes resolve differently from the RTL show up as
a DRAM that differs from the spec's.

:class:`NetlistSimulator` is a simulator for :func:`vtaref.impl.run.simulate_many`, so
:func:`netlist_backend` is the ``rtl`` backend with the netlist in place of the RTL, checked
against the spec image by image (``vta synth --check-netlist``).
"""

from __future__ import annotations

from pathlib import Path

from vtaref.impl.bus_model import IDEAL_BUS, BusModel
from vtaref.impl.run import RtlBackend, RtlRun, RunRequest
from vtaref.impl.verilator import TOP, BuildError, VerilatedCore
from vtaref.spec.config import VtaConfig

from .synth import SynthError, synthesize_rtlil
from .targets import Target

# yosys's synth up to its fine stage (memories are not mapped), then gates: no FPGA primitives.
GATES = Target(
    name="gates", description="yosys's generic gates, memories kept",
    command="synth -flatten -run begin:fine",
    after=("opt -fast -full", "techmap", "opt -fast", "abc", "opt -fast", "opt_clean"),
    luts={}, ffs={}, brams={}, dsps={}, lutram={}, memory_cells={},
)


class NetlistCore(VerilatedCore):
    """The core for ``config`` after synthesis to gates (:data:`GATES`), under Verilator (as
    :class:`VerilatedCore`; no waveforms, no retirement port). The model is built, and cached,
    on the first run; ``timeout`` bounds the synthesis (seconds). Raises BuildError if
    synthesis fails."""

    def __init__(self, config: VtaConfig, data_width: int = 64, *,
                 cache_dir: Path | None = None, timeout: float | None = None):
        super().__init__(config, data_width, cache_dir=cache_dir)
        self.timeout = timeout

    def _settings(self) -> tuple[str, ...]:
        return (*super()._settings(), repr(GATES))

    def _sources(self, rtlil_text: str, workdir: Path) -> tuple[list[Path], tuple[str, ...]]:
        try:
            synthesize_rtlil(rtlil_text, GATES, name=TOP, workdir=workdir / "synth",
                             timeout=self.timeout, write_verilog=True)
        except SynthError as err:
            raise BuildError(f"netlist: {err}") from None
        return [workdir / "synth" / f"{TOP}.v"], ()


class NetlistSimulator:
    """Runs requests on :class:`NetlistCore` models, one per config and data width."""

    def __init__(self, *, cache_dir: Path | None = None, timeout: float | None = None):
        self.cache_dir = cache_dir
        self.timeout = timeout

    def simulate(self, config: VtaConfig, requests: list[RunRequest], *, data_width: int,
                 vcd: Path | None = None, bus: BusModel = IDEAL_BUS,
                 retire: bool = False) -> list[RtlRun]:
        """Run ``requests`` back to back (as :func:`vtaref.impl.verilator.simulate`; no
        ``vcd``, no ``retire``)."""
        if vcd is not None or retire:
            raise ValueError("the netlist simulation has no waveforms and no retirement port")
        core = NetlistCore(config, data_width, cache_dir=self.cache_dir, timeout=self.timeout)
        return core.run_many(requests, bus=bus)


def netlist_backend(*, cache_dir: Path | None = None, timeout: float | None = None,
                    data_width: int = 64) -> RtlBackend:
    """Return a backend that runs each image on the gate netlist and checks it against the
    spec (raising :class:`vtaref.impl.run.RtlMismatchError` when they differ)."""
    return RtlBackend(simulator=NetlistSimulator(cache_dir=cache_dir, timeout=timeout),
                      data_width=data_width)
