"""Write the core as Verilog for other tools (Vivado, Quartus, a testbench of one's own).

The Verilog is the one the Verilator simulation runs (:func:`vtaref.impl.verilator.to_verilog`:
Amaranth's RTLIL written out by YoWASP's yosys), so the conformance suite has run on it. Its
ports are the core's signature flattened (``axi__awaddr``, ``ctrl__rdata``...) plus ``clk``
and ``rst``; docs/fpga.md lists them.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import rtlil
from amaranth.lib import wiring

from vtaref.impl.verilator import BuildError, to_verilog

from .synth import SynthError

CLOCK_AND_RESET = (("clk", 1, "input"), ("rst", 1, "input"))  # Amaranth's sync domain


@dataclass(frozen=True)
class Port:
    """One port of the Verilog module: its name, width in bits and direction."""

    name: str
    width: int
    direction: str  # input or output


def ports(design: wiring.Component) -> list[Port]:
    """Return the ports of ``design``'s Verilog module: the clock, the reset, the signature's."""
    return [Port(*port) for port in CLOCK_AND_RESET] + [
        Port("__".join(map(str, path)), len(value),
             "input" if member.flow == wiring.In else "output")
        for path, member, value in design.signature.flatten(design)]


def verilog(design: wiring.Component, name: str, header: str) -> str:
    """Return ``design`` as a Verilog module ``name``, with the comment ``header`` first.

    Raises SynthError if yosys is missing or fails.
    """
    with tempfile.TemporaryDirectory(prefix="vtaref-export-") as scratch:
        try:
            path = to_verilog(rtlil.convert(design, name=name), Path(scratch))
        except BuildError as err:
            raise SynthError(str(err)) from None
        return f"// {header}\n" + path.read_text()
