"""Proofs that the micro-op loop never wraps an index: it visits exactly the spec's indices while
they lie inside their buffers, and stops with a fault on the first visit that does not.

:class:`UopLoopFaultSpec` gives a :class:`~vtaref.impl.uop_loop.UopLoop` one arbitrary command
(any factors and micro-op range, loop counts up to :data:`MAX_ITER`) over arbitrary micro-ops,
and walks the spec's loop beside it with unbounded index sums
(:func:`vtaref.spec.isa.visit_index`). It asserts that:

- every visit the loop puts out is the walk's next one, with each index it uses equal to the
  spec's sum and inside its buffer (so no index is ever wrapped; a GEMM with ``reset_reg``
  uses only ``dst``);
- when the walk reaches a visit with an index past the end of its buffer, or the command's
  micro-op range runs past the end of the uop buffer, the loop raises ``fault`` within
  :data:`FAULT_LATENCY` cycles, naming the first such buffer in the spec's order, and puts out
  nothing more; ``fault`` never rises otherwise;
- the loop goes quiet (``busy`` low) only once the walk is complete.

So on a command the spec accepts the loop runs to the end without a fault, and on one it rejects
it stops where the spec raises. Cover statements reach a visit of each buffer's last row, and a
fault of each buffer, and one where the loop's running sum (without the micro-op's index) is
already past the end.
The load stage's walk is covered by :mod:`.load`.
"""

from __future__ import annotations

from amaranth.asserts import AnyConst
from amaranth.hdl import Assert, Assume, Cat, Cover, Elaboratable, Module, Signal, Value
from amaranth.lib import data

from vtaref.impl import fault, scratchpad
from vtaref.impl.isa import uop_layout
from vtaref.impl.uop_loop import UopLoop, checked_targets
from vtaref.spec.config import VtaConfig
from vtaref.spec.isa import LoopInsn, visit_index

from .loop import read_only

MAX_ITER = 3  # the bound on iter_out and iter_in: enough for three sums past a buffer's end
FAULT_LATENCY = 3  # cycles from the walk reaching a faulty visit to ``fault``


def depth(buffer: str, config: VtaConfig) -> int:
    return 1 << scratchpad.addr_width(buffer, config)


class UopLoopFaultSpec(Elaboratable):
    """The micro-op loop of ``insn_cls`` visits the spec's indices and faults on the first one
    past the end of its buffer (module docstring)."""

    def __init__(self, config: VtaConfig, insn_cls: type[LoopInsn], tag: tuple[str, ...],
                 loop: type[UopLoop] = UopLoop):
        self.config, self.insn_cls = config, insn_cls
        self.dut = loop(config, insn_cls, tag)

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = self.dut
        config, buffers = self.config, self.insn_cls.BUFFERS
        uops = read_only(m, dut.uop)

        # One arbitrary command, offered from the first cycle until taken.
        cmd = Signal(dut.cmd.payload.shape())
        m.d.comb += [Value.cast(cmd).eq(AnyConst(Value.cast(cmd).shape())),
                     Assume(cmd.iter_out <= MAX_ITER), Assume(cmd.iter_in <= MAX_ITER)]
        taken = Signal()
        m.d.comb += [dut.cmd.payload.eq(cmd), dut.cmd.valid.eq(~taken)]
        with m.If(dut.cmd.valid & dut.cmd.ready):
            m.d.sync += taken.eq(1)

        # The spec's walk: visit (outer, inner, micro-op) of the command, in loop order.
        outer = Signal(range(MAX_ITER + 1))
        inner = Signal(range(MAX_ITER + 1))
        uop_index = Signal.like(cmd.uop_end)
        walked = Signal()  # every visit put out
        empty = (cmd.iter_out == 0) | (cmd.iter_in == 0) | (cmd.uop_end <= cmd.uop_bgn)
        uop = data.View(uop_layout(config), uops[uop_index[:len(dut.uop.addr)]])
        exact = {t: visit_index(cmd, t, uop[f"{t}_idx"], outer, inner) for t in buffers}
        uops_past_end = cmd.uop_end > depth("uop", config)
        used = checked_targets(cmd.tag)
        past_end = {t: (exact[t] >= depth(buffer, config)) & used.get(t, 1)
                    for t, buffer in buffers.items()}
        with m.If(~taken):
            m.d.sync += [outer.eq(0), inner.eq(0), uop_index.eq(cmd.uop_bgn), walked.eq(empty)]

        visit = dut.visit
        with m.If(visit.valid):
            m.d.comb += [Assert(taken), Assert(~walked), Assert(~uops_past_end)]
            for t in buffers:
                with m.If(used.get(t, 1)):
                    m.d.comb += [Assert(~past_end[t]), Assert(visit.payload[t] == exact[t])]
            with m.If(uop_index + 1 != cmd.uop_end):
                m.d.sync += uop_index.eq(uop_index + 1)
            with m.Else():
                m.d.sync += uop_index.eq(cmd.uop_bgn)
                with m.If(inner + 1 != cmd.iter_in):
                    m.d.sync += inner.eq(inner + 1)
                with m.Elif(outer + 1 != cmd.iter_out):
                    m.d.sync += [inner.eq(0), outer.eq(outer + 1)]
                with m.Else():
                    m.d.sync += walked.eq(1)

        # The fault: the walk's next visit is faulty, and the buffer is the spec's first.
        faulty = Signal()
        first = Signal(range(len(scratchpad.BUFFERS)))
        with m.If(taken & ~walked):
            for t in reversed(list(buffers)):
                with m.If(past_end[t]):
                    m.d.comb += [faulty.eq(1), first.eq(fault.buffer_code(buffers[t]))]
            with m.If(uops_past_end):
                m.d.comb += [faulty.eq(1), first.eq(fault.buffer_code("uop"))]
        waiting = Signal(range(FAULT_LATENCY + 1))  # cycles the walk has been on a faulty visit
        with m.If(faulty & ~dut.fault.valid & (waiting != FAULT_LATENCY)):
            m.d.sync += waiting.eq(waiting + 1)
        with m.If(dut.fault.valid):
            m.d.comb += [Assert(faulty), Assert(dut.fault.buffer == first),
                         Assert(~visit.valid), Assert(~dut.cmd.ready)]
        with m.Elif(faulty):
            m.d.comb += Assert(waiting < FAULT_LATENCY)
        with m.If(taken & ~dut.busy):
            m.d.comb += Assert(walked)

        # Reachability.
        for t, buffer in buffers.items():
            m.d.comb += Cover(visit.valid & (exact[t] == depth(buffer, config) - 1))
        for code in sorted({fault.buffer_code(b) for b in (*buffers.values(), "uop")}):
            m.d.comb += Cover(dut.fault.valid & (dut.fault.buffer == code))
        sums_past_end = Cat(visit_index(cmd, t, 0, outer, inner) >= depth(buffer, config)
                            for t, buffer in buffers.items())
        m.d.comb += Cover(dut.fault.valid & sums_past_end.any())
        return m
