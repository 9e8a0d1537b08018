"""FPGA synthesis of the RTL (:mod:`vtaref.impl`), place and route, Verilog: ECP5 and Xilinx.

:func:`synthesize` maps a design to a target's primitives (:mod:`.targets`) and counts them;
:func:`build` makes the designs ``vta synth`` maps (:mod:`.tops`: the core, or a compute unit
with its scratchpads); :func:`fit` fits a design on the parts of :mod:`.parts`, placed and
routed by nextpnr on ECP5 (:mod:`.pnr`, behind the pins of :mod:`.pins`); :mod:`.export`
writes the core as Verilog. See docs/fpga.md.
"""

from .fit import PartFit, fit
from .parts import PARTS, Part
from .pnr import PnrResult, place_and_route
from .synth import LatchError, SynthError, SynthResult, synthesize, synthesize_rtlil
from .targets import TARGETS
from .tops import UNITS, UnitTop, build

__all__ = ["PARTS", "TARGETS", "UNITS", "LatchError", "Part", "PartFit",
           "PnrResult", "SynthError", "SynthResult", "UnitTop", "build", "fit",
           "place_and_route", "synthesize", "synthesize_rtlil"]
