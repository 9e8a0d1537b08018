"""A proof of where the compute stage's loads (:class:`~vtaref.impl.compute.LocalLoad`) write
the uop and acc scratchpads, and what.

:class:`LocalLoadWritesSpec` drives every input of a LocalLoad arbitrarily in every cycle (the
instruction stream keeps VALID and its payload until READY, as in :mod:`.tokens`) and checks
each scratchpad write of the LOAD being executed: the ``k``-th write goes to row
``sram_base + k`` of the buffer its memory type names (uop for UOP, acc for ACC and
ACC_8BIT), which lies inside that buffer (no row wraps), never while ``hold`` is high; it
writes the element the DRAM port delivers in that cycle, as the spec puts it in the row (an
ACC_8BIT element's bytes sign-extended into the lanes), and every element delivered before
a fault is written; a write without a delivery is zero (padding) or, for a LOAD that fetches
its element once (:func:`~vtaref.impl.compute.fetched_once`), the element delivered last.
The load reports a fault only when its next row, ``sram_base + k``, lies past the end of that
buffer, naming it, and then writes nothing (:mod:`vtaref.impl.fault`). Which rows are padding
and which DRAM address each element comes from are the whole core's check
``core_local_load_data`` (:mod:`.core_dram`).

Helper invariants on the load's registers make the properties inductive: k-induction proves
them for every reachable state, at every configuration; cover statements reach a write of
each buffer's last row and a fault of each buffer.
"""

from __future__ import annotations

from amaranth.hdl import Assert, Cat, Cover, Elaboratable, Fragment, Module, Mux, Signal, Value

from vtaref.impl import fault
from vtaref.impl.compute import LocalLoad, fetched_once
from vtaref.impl.isa import MemType, insn_layout
from vtaref.spec import isa as spec_isa
from vtaref.spec.config import VtaConfig

from .tokens import _assume_source, _drive_inputs, internal


class LocalLoadWritesSpec(Elaboratable):
    """LocalLoad writes each LOAD's padded block to consecutive rows from ``sram_base`` of
    the buffer its memory type names (module docstring)."""

    def __init__(self, config: VtaConfig, unit: type[LocalLoad] = LocalLoad):
        self.config = config
        self.dut = unit(config)

    def elaborate(self, platform):
        m = Module()
        config = self.config
        dut = self.dut
        fragment = Fragment.get(dut, platform)
        m.submodules.dut = fragment
        _drive_inputs(m, dut)
        _assume_source(m, dut.cmd, "cmd")
        insn = Signal(insn_layout(spec_isa.Load, config))  # the LOAD accepted last
        written = Signal(fault.WALK_WIDTH)  # its writes so far
        with m.If(dut.cmd.valid & dut.cmd.ready):
            m.d.sync += [Value.cast(insn).eq(dut.cmd.payload), written.eq(0)]
        row = insn.sram_base + written
        to_uop = insn.memory_type == MemType.UOP

        # The element each port delivers, as the spec puts it in a row of its buffer.
        ports = {MemType.UOP: dut.uop_mem, MemType.ACC: dut.acc_mem,
                 MemType.ACC_8BIT: dut.acc8_mem}
        delivered = {kind: port.data.valid & port.data.ready for kind, port in ports.items()}
        as_row = _as_rows(dut, config)
        last = Signal(max(len(Value.cast(v)) for v in as_row.values()))  # delivered last
        delivered_yet = Signal()  # for the LOAD accepted last
        with m.If(dut.cmd.valid & dut.cmd.ready):
            m.d.sync += delivered_yet.eq(0)
        for kind in ports:
            m.d.comb += Assert(~delivered[kind] | (insn.memory_type == kind))
            with m.If(delivered[kind]):
                m.d.sync += [last.eq(as_row[kind]), delivered_yet.eq(1)]

        for buffer, wr, selected in (("uop", dut.uop_wr, to_uop), ("acc", dut.acc_wr, ~to_uop)):
            arrived = delivered[MemType.UOP] if buffer == "uop" else (
                delivered[MemType.ACC] | delivered[MemType.ACC_8BIT])
            element = as_row[MemType.UOP] if buffer == "uop" else Mux(
                insn.memory_type == MemType.ACC_8BIT, as_row[MemType.ACC_8BIT],
                as_row[MemType.ACC])
            data = Value.cast(wr.data)
            with m.If(arrived & ~dut.fault.valid):
                m.d.comb += Assert(wr.en)
            with m.If(wr.en):
                m.d.comb += [Assert(selected), Assert(~dut.hold),
                             Assert(~fault.past_end(row, buffer, config)),
                             Assert(wr.addr == row)]
                with m.If(arrived):
                    m.d.comb += Assert(data == element)
                with m.Else():
                    m.d.comb += Assert((data == 0) | (fetched_once(insn) & delivered_yet
                                                      & (data == last[:len(data)])))
                m.d.sync += written.eq(written + 1)
            with m.If(dut.fault.valid & selected):
                m.d.comb += [Assert(fault.past_end(row, buffer, config)), Assert(~wr.en),
                             Assert(dut.fault.buffer == fault.buffer_code(buffer))]
            last_row = (1 << len(wr.addr)) - 1
            m.d.comb += [Cover(wr.en & (wr.addr == last_row)),
                         Cover(dut.fault.valid & selected)]

        # Helper invariants (internal registers) for the induction: the load executes the
        # LOAD accepted last, its walk is at row ``sram_base + written``, which passes a
        # buffer's end by at most one row unless nothing was written, and the element it keeps
        # is the one delivered last, which a LOAD that fetches once fetched before it walks
        # past its element from DRAM.
        running, sram = internal(fragment, "running"), internal(fragment, "sram")
        x, y = internal(fragment, "x"), internal(fragment, "y")
        past_first = (((y > insn.y_pad_0) | ((y == insn.y_pad_0) & (x > insn.x_pad_0)))
                      & (insn.y_size != 0))
        with m.If(running & fetched_once(insn) & past_first):
            m.d.comb += Assert(delivered_yet)
        depth = Mux(to_uop, 1 << len(dut.uop_wr.addr), 1 << len(dut.acc_wr.addr))
        kept = internal(fragment, "kept")
        m.d.comb += Assert(kept == last[:len(kept)])
        with m.If(running):
            m.d.comb += [Assert(internal(fragment, "raw") == Value.cast(insn)),
                         Assert(sram == row), Assert((written == 0) | (sram <= depth))]
        return m


def _as_rows(dut, config: VtaConfig) -> dict:
    """Return the element each DRAM port of LocalLoad ``dut`` delivers as the spec puts it in a
    row of its buffer: a UOP or ACC element as it is, each byte of an ACC_8BIT element
    sign-extended to an ``acc_width`` lane."""
    acc8 = dut.acc8_mem.data.payload
    lanes = (acc8.word_select(k, 8) for k in range(len(acc8) // 8))
    return {MemType.UOP: dut.uop_mem.data.payload, MemType.ACC: dut.acc_mem.data.payload,
            MemType.ACC_8BIT: Cat(Cat(lane, lane[7].replicate(config.acc_width - 8))
                                  for lane in lanes)}
