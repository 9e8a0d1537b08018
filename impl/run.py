"""Run program images on the RTL: the one entry point for ``vta run --backend rtl``, the
compiler's ``backend="rtl"`` and the tests.

- :func:`simulate_many` runs images back to back (no reset between them) on a simulation of the
  core, unchecked: Verilator's compiled model (:mod:`.verilator`) or Amaranth's simulator
  (:mod:`.pysim`), which take the same arguments (:class:`RunRequest`) and return the same
  :class:`RtlRun`; :func:`simulate` runs one;
- :func:`run_checked_many` first runs each image on the spec (which rejects bad programs with a
  clear error: out-of-bounds accesses, races, deadlocks, token overflows), then simulates them,
  and compares the final DRAMs (:func:`vtaref.spec.conform.explain_difference` names the STORE
  that wrote the first differing byte); :func:`run_checked` checks one;
- :class:`RtlBackend` is the registry's ``rtl`` backend (:mod:`vtaref.spec.backends`): it runs
  every image checked and raises :class:`RtlMismatchError` if the RTL differs from the spec.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field, replace
from pathlib import Path

from vtaref.spec import ProgramImage, run_image
from vtaref.spec.backends import BackendError, BackendMismatchError
from vtaref.spec.conform import explain_difference
from vtaref.spec.isa import Load, Store
from vtaref.spec.runner import RunStats, fetch
from vtaref.spec.trace import JsonTracer
from vtaref.spec.trace_diff import first_difference, parse_trace

from . import axi, fault, scratchpad, vcr
from .bus_model import IDEAL_BUS, BusModel
from .core import DEFAULT_DATA_WIDTH, dma_ports
from .retire_trace import RetireLog

# simulator name -> the module whose simulate() runs the core
SIMULATORS = {"verilator": "verilator", "amaranth": "pysim"}
PAGE_BYTES = 4096  # DRAM is allocated in pages: whole bus words around the image are there


class RtlError(BackendError):
    """The simulated core failed: a bus violation, an access outside DRAM or a timeout."""


class RtlMismatchError(RtlError, BackendMismatchError):
    """The RTL's final DRAM (``dram``) differs from the spec's."""


class RtlBusError(RtlError):
    """DRAM answered a transfer of the core with an error response: the core stopped."""


class RtlIndexFault(RtlError):
    """An instruction addressed past the end of a scratchpad: the core stopped (:mod:`.fault`)."""


def stop_error(config, status: int, addr: int) -> RtlError:
    """Return the error the core's ERROR (``status``) and ERROR_ADDR (``addr``) registers
    report, after a run that ended with CTRL's ERROR bit."""
    port = (status >> vcr.ERROR_PORT_SHIFT) & 0xFF
    if status & vcr.ERROR_FAULT:
        stage = fault.STAGES[status >> vcr.ERROR_STAGE_SHIFT]
        return RtlIndexFault(f"the core stopped on an index fault: the {stage} stage addressed "
                             f"past the end of the {scratchpad.BUFFERS[port]} scratchpad")
    readers, writers = dma_ports(config)
    names = [*readers, *writers]
    who = names[port] if port < len(names) else f"port {port}"
    resp = axi.RESP_NAMES[status & ((1 << vcr.ERROR_RESP_BITS) - 1)]
    kind = "write" if status & vcr.ERROR_WRITE else "read"
    return RtlBusError(f"the core stopped on a bus error: DRAM answered {resp} to the {kind} "
                       f"of {who}'s transfer at {addr:#010x}")


@dataclass(frozen=True)
class RunRequest:
    """One run for a simulator: ``dram`` from byte address ``dram_base``, ``insn_count``
    instructions from ``insn_addr``, at most ``max_cycles`` cycles."""

    dram: bytes
    dram_base: int
    insn_addr: int
    insn_count: int
    max_cycles: int


@dataclass(frozen=True)
class RtlRun:
    """The outcome of one run of the core."""

    dram: bytes  # the whole DRAM region after the run
    counters: dict[str, int]  # every vcr.COUNTERS entry
    seconds: float  # simulation wall time (excluding build)
    retired: RetireLog | None = None  # what the retirement port reported, if the core had it

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
             vcd: Path | None = None, bus: BusModel = IDEAL_BUS, retire: bool = False) -> RtlRun:
    """Run ``image`` on ``simulator`` without checking it (:func:`simulate_many`)."""
    return simulate_many([image], simulator=simulator, data_width=data_width,
                         max_cycles=[max_cycles], vcd=vcd, bus=bus, retire=retire)[0]


def simulate_many(images: list[ProgramImage], *, simulator: str = "verilator",
                  data_width: int = DEFAULT_DATA_WIDTH, max_cycles: list[int],
                  vcd: Path | None = None, bus: BusModel = IDEAL_BUS,
                  retire: bool = False) -> list[RtlRun]:
    """Run ``images`` (of one config) one after another on one core, without a reset between
    them, on ``simulator`` (a name in :data:`SIMULATORS`, or an object whose ``simulate`` takes
    the arguments of :func:`.verilator.simulate`, such as :class:`vtaref.fpga.netlist.
    NetlistSimulator`), unchecked.

    The memory behind the AXI port is each image's DRAM widened to whole pages
    (:func:`page_request`). ``bus`` sets its back-pressure, delays and faults. Accesses
    outside those pages, and a core not done within its ``max_cycles`` entry, raise RtlError;
    an error response that stops the core raises RtlBusError. ``vcd`` receives a waveform of
    the runs. With ``retire``, the core has its retirement port (:mod:`.retire`) and each
    run's ``retired`` holds what it reported.
    """
    if isinstance(simulator, str) and simulator not in SIMULATORS:
        raise ValueError(f"unknown simulator {simulator!r} (known: {', '.join(SIMULATORS)})")
    configs = {image.config for image in images}
    if len(configs) != 1:
        raise ValueError("back-to-back runs need images of one config")
    engine = (importlib.import_module(f".{SIMULATORS[simulator]}", __package__)
              if isinstance(simulator, str) else simulator)
    requests = [page_request(image, cycles)
                for image, cycles in zip(images, max_cycles, strict=True)]
    runs = engine.simulate(configs.pop(), requests, data_width=data_width, vcd=vcd, bus=bus,
                           retire=retire)
    return [replace(run, dram=run.dram[image.dram_base - request.dram_base:][:len(image.dram)])
            for run, image, request in zip(runs, images, requests, strict=True)]


def page_request(image: ProgramImage, max_cycles: int) -> RunRequest:
    """Return the run of ``image`` with its DRAM widened to whole pages (zeros around it), as a
    real allocation is: a bus word that straddles the end of the image is not an error."""
    before = image.dram_base % PAGE_BYTES
    after = -(image.dram_base + len(image.dram)) % PAGE_BYTES
    return RunRequest(bytes(before) + image.dram + bytes(after), image.dram_base - before,
                      image.insn_addr, image.insn_count, max_cycles)


def run_checked(image: ProgramImage, *, simulator: str = "verilator",
                data_width: int = DEFAULT_DATA_WIDTH, vcd: Path | None = None,
                bus: BusModel = IDEAL_BUS, trace: bool = False) -> CheckedRun:
    """Check ``image`` on the spec, simulate it on the RTL and compare the final DRAMs
    (:func:`run_checked_many`)."""
    return run_checked_many([image], simulator=simulator, data_width=data_width, vcd=vcd,
                            bus=bus, trace=trace)[0]


def run_checked_many(images: list[ProgramImage], *, simulator: str = "verilator",
                     data_width: int = DEFAULT_DATA_WIDTH, vcd: Path | None = None,
                     bus: BusModel = IDEAL_BUS, trace: bool = False) -> list[CheckedRun]:
    """Check each of ``images`` on the spec, run them back to back on the RTL
    (:func:`simulate_many`) and compare each final DRAM with the spec's.

    With ``trace``, the core has its retirement port, and the RTL's trace of each run
    (:func:`rtl_trace`) is compared with the spec's too: a run whose traces differ does not
    match, and ``mismatch`` first names the first instruction that differs
    (:func:`vtaref.spec.trace_diff.first_difference`). Raises the spec's VtaError for a bad
    program and RtlError if the simulation fails.
    """
    spec_tracers = [JsonTracer(values=True) if trace else None for _ in images]
    spec_runs = [run_image(image, tracer=tracer) for image, tracer in zip(images, spec_tracers)]
    rtl_runs = simulate_many(images, simulator=simulator, data_width=data_width,
                             max_cycles=[cycle_budget(image, stats)
                                         for image, (_, stats) in zip(images, spec_runs)],
                             vcd=vcd, bus=bus, retire=trace)
    checked = []
    for image, (state, stats), rtl, spec_tracer in zip(images, spec_runs, rtl_runs,
                                                       spec_tracers, strict=True):
        expected = state.dram.data.tobytes()
        mismatches = []
        if trace:
            rtl_lines = rtl_trace(image, rtl, values=True).lines()
            first = first_difference(parse_trace(spec_tracer.lines(), "spec trace"),
                                     parse_trace(rtl_lines, "RTL trace"), ("spec", "RTL"))
            if first is not None:
                mismatches.append(first.describe())
        if rtl.dram != expected:
            mismatches.append(explain_difference(replace(image, expected=expected), rtl.dram))
        checked.append(CheckedRun(rtl, stats, stats.uops, "; ".join(mismatches)))
    return checked


def rtl_trace(image: ProgramImage, run: RtlRun, *, values: bool = False) -> JsonTracer:
    """Return the trace (:mod:`vtaref.spec.trace`) of ``run``, a run of ``image`` on a core
    with its retirement port; ``values`` as in JsonTracer. Raises RtlError if the core did not
    retire each of the program's instructions once."""
    tracer = JsonTracer(values=values)
    try:
        run.retired.replay(image, tracer)
    except ValueError as err:
        raise RtlError(str(err)) from None
    return tracer


@dataclass
class RtlBackend:
    """Runs images on the core under ``simulator`` (a name in :data:`SIMULATORS`), checked by
    the spec, behind the DRAM model ``bus``; ``vcd`` receives a waveform of each run.

    ``last_run`` holds the most recent run, also one that differs from the spec: cycles,
    counters, the spec's counts. With ``trace``, runs are traced and checked as
    :func:`run_checked_many` does, and :func:`rtl_trace` gives the trace of ``last_run``.
    """

    simulator: str = "verilator"
    data_width: int = DEFAULT_DATA_WIDTH
    vcd: Path | None = None
    bus: BusModel = field(default=IDEAL_BUS)
    trace: bool = False
    name: str = field(default="rtl", init=False)
    last_run: CheckedRun | None = field(default=None, init=False)

    def run(self, image: ProgramImage) -> bytes:
        self.last_run = run_checked(image, simulator=self.simulator, data_width=self.data_width,
                                    vcd=self.vcd, bus=self.bus, trace=self.trace)
        if not self.last_run.matches:
            raise RtlMismatchError(f"the RTL differs from the spec: {self.last_run.mismatch}",
                                   self.last_run.rtl.dram)
        return self.last_run.rtl.dram
