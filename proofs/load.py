"""A proof of where the load stage writes the scratchpad, and what.

:class:`LoadWritesSpec` drives every input of a :class:`~vtaref.impl.load.Load` arbitrarily in
every cycle (the instruction stream keeps VALID and its payload until READY, as in
:mod:`.tokens`), and checks each scratchpad write of the instruction being executed: the
``k``-th write of a LOAD goes to row ``sram_base + k`` of the buffer its memory type names,
which lies inside that buffer (no row wraps), and writes the element the DRAM port delivers in
that cycle, or zero (padding) when none is delivered. The stage reports a fault only when its
next row, ``sram_base + k``, lies past the end of that buffer, and then writes nothing
(:mod:`vtaref.impl.fault`). Helper invariants on the stage's registers make the
properties inductive: k-induction proves them for every reachable state, at every
configuration; cover statements reach a write of a buffer's last row and a fault of each
buffer.
"""

from __future__ import annotations

from amaranth.hdl import Assert, Cover, Elaboratable, Fragment, Module, Mux, Signal, Value

from vtaref.impl import fault
from vtaref.impl.isa import MemType, insn_layout
from vtaref.impl.load import Load
from vtaref.spec import isa as spec_isa
from vtaref.spec.config import VtaConfig

from .tokens import _assume_source, _drive_inputs, fsm_states, internal


class LoadWritesSpec(Elaboratable):
    """The load stage writes each LOAD's padded block to consecutive scratchpad rows from
    ``sram_base`` (module docstring)."""

    def __init__(self, config: VtaConfig, stage: type[Load] = Load):
        self.config = config
        self.dut = stage(config)

    def elaborate(self, platform):
        m = Module()
        dut = self.dut
        fragment = Fragment.get(dut, platform)
        m.submodules.dut = fragment
        _drive_inputs(m, dut)
        _assume_source(m, dut.insn, "insn")
        layout = insn_layout(spec_isa.Load, self.config)
        insn = Signal(layout)  # the instruction accepted last
        written = Signal(fault.WALK_WIDTH)  # its writes so far
        with m.If(dut.insn.valid & dut.insn.ready):
            m.d.sync += [Value.cast(insn).eq(dut.insn.payload), written.eq(0)]
        is_wgt = insn.memory_type == MemType.WGT
        row = insn.sram_base + written
        for buffer, port, wr, selected in (("inp", dut.inp_mem, dut.inp_wr, ~is_wgt),
                                           ("wgt", dut.wgt_mem, dut.wgt_wr, is_wgt)):
            delivered = port.data.valid & port.data.ready
            with m.If(delivered & ~dut.fault.valid):
                m.d.comb += Assert(wr.en)
            with m.If(wr.en):
                m.d.comb += [Assert(selected), Assert(~fault.past_end(row, buffer, self.config)),
                             Assert(wr.addr == row),
                             Assert(Value.cast(wr.data) == Mux(delivered, port.data.payload, 0))]
                m.d.sync += written.eq(written + 1)
            with m.If(dut.fault.valid & selected):
                m.d.comb += [Assert(fault.past_end(row, buffer, self.config)), Assert(~wr.en),
                             Assert(dut.fault.buffer == fault.buffer_code(buffer))]
            last_row = (1 << len(wr.addr)) - 1
            m.d.comb += [Cover(wr.en & (wr.addr == last_row)),
                         Cover(dut.fault.valid & selected)]

        # Helper invariants (internal registers) for the induction: the stage executes the
        # instruction accepted last, and its walk is at row ``sram_base + written``, which
        # passes a buffer's end by at most one row unless nothing was written.
        state = internal(fragment, "fsm_state")
        running, sram = internal(fragment, "running"), internal(fragment, "sram")
        states = fsm_states(state)
        depth = Mux(is_wgt, 1 << len(dut.wgt_wr.addr), 1 << len(dut.inp_wr.addr))
        m.d.comb += Assert(running == (state == states["RUN"]))
        with m.If(state != states["IDLE"]):
            m.d.comb += Assert(internal(fragment, "raw") == Value.cast(insn))
        with m.If(state == states["POP"]):
            m.d.comb += Assert(written == 0)
        with m.If(running):
            m.d.comb += [Assert(sram == row), Assert((written == 0) | (sram <= depth))]
        return m
