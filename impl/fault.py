"""Index faults: an instruction that addresses past the end of a scratchpad stops the core.

The spec rejects such a program (:class:`vtaref.spec.errors.ProgramError`); the RTL computes
indices in fixed-width registers and would otherwise wrap them silently. Every unit that walks
scratchpad indices instead notices the first index past the end of its buffer before it reads
or writes with it, and stops there: it takes no further step of that instruction (so the core
needs a reset) and reports the buffer on its ``fault`` port. The core keeps the first report
(:class:`FirstFault`) and the control registers end the run with it (:mod:`.vcr`: ERROR).

Everything the instruction did before that index stays done: with a GEMM or ALU, the visits
before the faulting one have written acc, and a LOAD or STORE has moved the elements before it.
"""

from __future__ import annotations

from amaranth.hdl import Module, Value
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from vtaref.spec.config import MEMOP_SRAM_ADDR_BIT_WIDTH, VtaConfig

from . import scratchpad

STAGES = ("load", "compute", "store")  # the stage field's values, in this order
# Bits of a walked scratchpad index: a 16-bit sram_base plus steps up to the first index past
# the end of a buffer (depths are at most 2**16 rows), so the register never wraps.
WALK_WIDTH = MEMOP_SRAM_ADDR_BIT_WIDTH + 1
# A unit's report: ``valid`` while it is stopped on an index past the end of ``buffer``
# (an index into :data:`.scratchpad.BUFFERS`).
UNIT_FAULT = data.StructLayout({"valid": 1, "buffer": 2})
# The core's: the first unit report, and which stage made it (an index into :data:`STAGES`).
INDEX_FAULT = data.StructLayout({"valid": 1, "buffer": 2, "stage": 2})


def buffer_code(buffer: str) -> int:
    """Return the ``buffer`` field value naming scratchpad ``buffer``."""
    return scratchpad.BUFFERS.index(buffer)


def past_end(index: Value, buffer: str, config: VtaConfig) -> Value:
    """Return whether ``index`` lies past the last row of scratchpad ``buffer``."""
    return index >= (1 << scratchpad.addr_width(buffer, config))


class FirstFault(wiring.Component):
    """Keep the first fault of the stages: ``first`` latches the report of the first cycle in
    which any of ``load``, ``compute``, ``store`` is valid (the earliest stage in
    :data:`STAGES` if several are) and holds it until reset."""

    def __init__(self):
        super().__init__({**{stage: In(UNIT_FAULT) for stage in STAGES},
                          "first": Out(INDEX_FAULT)})

    def elaborate(self, platform):
        m = Module()
        # Later statements win: visit the stages last to first so the earliest one wins.
        for code, stage in reversed(list(enumerate(STAGES))):
            report = getattr(self, stage)
            with m.If(report.valid & ~self.first.valid):
                m.d.sync += [self.first.valid.eq(1), self.first.buffer.eq(report.buffer),
                             self.first.stage.eq(code)]
        return m
