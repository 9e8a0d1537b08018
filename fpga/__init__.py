"""FPGA synthesis of the RTL (:mod:`vtaref.impl`) with YoWASP's yosys, for ECP5 and 7-series.

:func:`synthesize` maps a design to a target's primitives (:mod:`.targets`) and counts them;
:func:`build` makes the designs ``vta synth`` maps (:mod:`.tops`: the core, or a compute unit
with its scratchpads). See docs/fpga.md.
"""

from .synth import LatchError, SynthError, SynthResult, synthesize, synthesize_rtlil
from .targets import TARGETS
from .tops import UNITS, UnitTop, build

__all__ = ["TARGETS", "UNITS", "LatchError", "SynthError", "SynthResult", "UnitTop", "build",
           "synthesize", "synthesize_rtlil"]
