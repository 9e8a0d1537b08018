"""A proof of which accumulator rows the store stage reads: never one past the end of acc.

:class:`StoreReadsSpec` drives every input of a :class:`~vtaref.impl.store.Store` arbitrarily in
every cycle (the instruction stream keeps VALID and its payload until READY, as in :mod:`.tokens`),
and checks its acc reads: each reads the row its read register holds (``sram_base`` plus the rows
read so far), which lies inside acc (no row wraps), and the stage reports a fault only for a STORE
whose ``y_size * x_size`` rows from ``sram_base`` pass the end of acc (:mod:`vtaref.impl.fault`). A
helper invariant (the rows still to read end inside acc) makes the properties inductive: k-induction
proves them for every reachable state; cover statements reach a read of acc's last row and a fault.
That the ``k``-th read is row ``sram_base + k`` needs element counts (products of the sizes): the
token proofs check it for small sizes (:mod:`.tokens`), the differential tests for all.
"""

from __future__ import annotations

from amaranth.hdl import Assert, Cover, Elaboratable, Fragment, Module, Signal, Value

from vtaref.impl import fault
from vtaref.impl.isa import insn_layout
from vtaref.impl.store import Store
from vtaref.spec import isa as spec_isa
from vtaref.spec.config import VtaConfig

from .tokens import _assume_source, _drive_inputs, fsm_states, internal


class StoreReadsSpec(Elaboratable):
    """The store stage reads acc only inside it, and faults only on a STORE that would pass its
    end (module docstring)."""

    def __init__(self, config: VtaConfig, stage: type[Store] = Store):
        self.config = config
        self.dut = stage(config)

    def elaborate(self, platform):
        m = Module()
        dut, config = self.dut, self.config
        fragment = Fragment.get(dut, platform)
        m.submodules.dut = fragment
        _drive_inputs(m, dut)
        _assume_source(m, dut.insn, "insn")
        insn = Signal(insn_layout(spec_isa.Store, config))  # the instruction accepted last
        with m.If(dut.insn.valid & dut.insn.ready):
            m.d.sync += Value.cast(insn).eq(dut.insn.payload)
        depth = 1 << len(dut.acc.addr)
        read_addr = internal(fragment, "read_addr")
        with m.If(dut.acc.en):
            m.d.comb += [Assert(read_addr < depth), Assert(dut.acc.addr == read_addr)]
        with m.If(dut.fault.valid):
            m.d.comb += [Assert(insn.sram_base + insn.y_size * insn.x_size > depth),
                         Assert(dut.fault.buffer == fault.buffer_code("acc"))]
        m.d.comb += [Cover(dut.acc.en & (dut.acc.addr == depth - 1)), Cover(dut.fault.valid)]

        # Helper invariants (internal registers): the stage executes the instruction accepted
        # last, and the rows it has still to read end inside acc.
        state = internal(fragment, "fsm_state")
        with m.If(state != fsm_states(state)["IDLE"]):
            m.d.comb += Assert(internal(fragment, "raw") == Value.cast(insn))
        m.d.comb += Assert(read_addr + internal(fragment, "reads_left") <= depth)
        return m
