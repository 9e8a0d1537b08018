"""The micro-op loop of GEMM and ALU: one visit per cycle, in the spec's loop order.

For ``o < iter_out``, ``i < iter_in``, ``u`` in ``[uop_bgn, uop_end)`` (outermost first), a visit
carries, for each target ``t`` of the instruction (``dst``, ``src`` and, for GEMM, ``wgt``), the
scratchpad index ``uop[u].t_idx + o * t_factor_out + i * t_factor_in``. An index past the end
of its buffer, or a micro-op range past the end of the uop buffer, stops the loop before that
visit (:mod:`.fault`), where :func:`vtaref.spec.visits.uop_indices` raises. A loop with
``iter_out == 0``, ``iter_in == 0`` or ``uop_end <= uop_bgn`` visits nothing, as in
TVM-VTA's functional simulator.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, Value, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from vtaref.spec import isa
from vtaref.spec.config import VtaConfig

from . import fault, scratchpad
from .isa import field_shape

LOOP_FIELDS = ("uop_bgn", "uop_end", "iter_out", "iter_in")


def targets(insn_cls: type[isa.LoopInsn], config: VtaConfig) -> dict[str, int]:
    """Return each index target of ``insn_cls`` with its address width, in field order.

    The targets are ``insn_cls.BUFFERS``; each is as wide as the scratchpad it addresses.
    """
    return {target: scratchpad.addr_width(buffer, config)
            for target, buffer in insn_cls.BUFFERS.items()}


def command_layout(insn_cls: type[isa.LoopInsn], config: VtaConfig,
                   tag: tuple[str, ...]) -> data.StructLayout:
    """Return the layout of a loop command: the loop fields of ``insn_cls`` plus ``tag``.

    Every field keeps its name and shape from the instruction. ``tag`` names the instruction
    fields every visit carries along (``reset_reg`` for GEMM; the ALU opcode and operand).
    """
    spec_fields = {f.name: f for f in isa.insn_layout(insn_cls, config)}
    names = list(LOOP_FIELDS)
    for target in targets(insn_cls, config):
        names += [f"{target}_factor_out", f"{target}_factor_in"]
    members = {name: field_shape(spec_fields[name]) for name in names}
    members["tag"] = data.StructLayout({name: field_shape(spec_fields[name]) for name in tag})
    return data.StructLayout(members)


def visit_layout(insn_cls: type[isa.LoopInsn], config: VtaConfig,
                 tag: tuple[str, ...]) -> data.StructLayout:
    """Return the layout of one visit: an address per target, then the command's tag."""
    members = {t: unsigned(width) for t, width in targets(insn_cls, config).items()}
    members["tag"] = command_layout(insn_cls, config, tag)["tag"].shape
    return data.StructLayout(members)


def checked_targets(tag) -> dict[str, Value]:
    """Return, for each target that may be unchecked, when a visit with ``tag`` uses its index:
    a GEMM with ``reset_reg`` only zeroes ``acc[dst]``, as the spec's GEMM does (fsim)."""
    if "reset_reg" in tag.shape().members:
        return {"src": ~tag.reset_reg, "wgt": ~tag.reset_reg}
    return {}


class UopLoop(wiring.Component):
    """Walk the micro-op loop of one GEMM or ALU command at a time.

    ``cmd`` takes a command (:func:`command_layout`); it is ready when no command is running or
    the running one is on its last visit, so back-to-back commands leave no gap. ``visit``
    has no ready: the consumer takes one visit per cycle. The first visit of a command accepted
    in cycle ``c`` is on ``visit`` in cycle ``c + 3`` (generate, read the uop, add and register),
    the others follow one per cycle. ``busy`` is high from cycle ``c + 1`` until the cycle the
    last visit is on ``visit``; a command with no visits leaves it low. ``uop`` reads the
    micro-op scratchpad.

    A command whose micro-op range runs past the end of the uop buffer (and visits anything)
    visits nothing; a visit whose index lies past the end of its buffer is not put on ``visit``,
    and neither is any later one. The loop then stops: ``fault`` names the buffer, ``busy``
    stays high and ``cmd`` takes nothing more until reset. The indices a visit does not use are
    not checked: a GEMM with ``reset_reg`` reads no inp or wgt row (:func:`checked_targets`).
    """

    # Bits of the running index sums beyond the buffer's address: a sum that passes the end is
    # below twice the depth (a factor is below the depth), so it does not wrap, and the next
    # visit uses it and stops the loop; later sums may wrap, but no visit is put out with them.
    SUM_MARGIN_BITS = 1

    def __init__(self, config: VtaConfig, insn_cls: type[isa.LoopInsn], tag: tuple[str, ...]):
        self._targets = targets(insn_cls, config)
        super().__init__({
            "cmd": In(stream.Signature(command_layout(insn_cls, config, tag))),
            "visit": Out(stream.Signature(visit_layout(insn_cls, config, tag),
                                          always_ready=True)),
            "busy": Out(1),
            "uop": In(scratchpad.read_port("uop", config)),
            "fault": Out(fault.UNIT_FAULT),
        })
        self._config = config
        self._uop_depth = 1 << scratchpad.addr_width("uop", config)
        self._buffers = insn_cls.BUFFERS

    def elaborate(self, platform):
        m = Module()
        cmd = Signal(self.cmd.payload.shape())
        running = Signal()
        uop_idx = Signal.like(cmd.uop_end)
        count_out = Signal.like(cmd.iter_out)
        count_in = Signal.like(cmd.iter_in)
        base = {t: Signal(width + self.SUM_MARGIN_BITS, name=f"{t}_base")
                for t, width in self._targets.items()}
        offset = {t: Signal(width + self.SUM_MARGIN_BITS, name=f"{t}_offset")
                  for t, width in self._targets.items()}
        stopped = self.fault.valid

        last_uop = uop_idx + 1 == cmd.uop_end
        last_in = count_in + 1 == cmd.iter_in
        last_out = count_out + 1 == cmd.iter_out
        m.d.comb += self.cmd.ready.eq(~stopped & (~running | (last_uop & last_in & last_out)))

        # Generate: advance uop, then inner, then outer loop.
        with m.If(running & ~stopped):
            with m.If(~last_uop):
                m.d.sync += uop_idx.eq(uop_idx + 1)
            with m.Else():
                m.d.sync += uop_idx.eq(cmd.uop_bgn)
                with m.If(~last_in):
                    m.d.sync += count_in.eq(count_in + 1)
                    for t in self._targets:
                        m.d.sync += offset[t].eq(offset[t] + cmd[f"{t}_factor_in"])
                with m.Elif(~last_out):
                    m.d.sync += [count_out.eq(count_out + 1), count_in.eq(0)]
                    for t in self._targets:
                        next_base = base[t] + cmd[f"{t}_factor_out"]
                        m.d.sync += [base[t].eq(next_base), offset[t].eq(next_base)]
                with m.Else():
                    m.d.sync += running.eq(0)
        with m.If(self.cmd.valid & self.cmd.ready):
            new = self.cmd.payload
            m.d.sync += [cmd.eq(new), uop_idx.eq(new.uop_bgn), count_out.eq(0), count_in.eq(0)]
            m.d.sync += [s.eq(0) for s in (*base.values(), *offset.values())]
            visits = (new.iter_out != 0) & (new.iter_in != 0) & (new.uop_end > new.uop_bgn)
            uops_past_end = new.uop_end > self._uop_depth
            m.d.sync += running.eq(visits & ~uops_past_end)
            with m.If(visits & uops_past_end):
                m.d.sync += [self.fault.valid.eq(1),
                             self.fault.buffer.eq(fault.buffer_code("uop"))]

        # Read the micro-op; its data arrives with the offsets one cycle later.
        read_valid = Signal()
        read_offset = {t: Signal.like(offset[t], name=f"{t}_read_offset") for t in self._targets}
        read_tag = Signal(cmd.tag.shape())
        m.d.comb += [self.uop.addr.eq(uop_idx), self.uop.en.eq(running)]
        m.d.sync += [read_valid.eq(running), read_tag.eq(cmd.tag)]
        m.d.sync += [read_offset[t].eq(offset[t]) for t in self._targets]

        # Add the micro-op's indices to the offsets and register the visit, unless an index
        # lies past its buffer's end: then stop, naming the first such target.
        past_end = Signal()
        used = checked_targets(read_tag)
        for t in reversed(list(self._targets)):
            index = self.uop.data[f"{t}_idx"] + read_offset[t]
            m.d.sync += self.visit.payload[t].eq(index)
            with m.If(fault.past_end(index, self._buffers[t], self._config) & used.get(t, 1)):
                m.d.comb += past_end.eq(1)
                with m.If(read_valid & ~stopped):
                    m.d.sync += [self.fault.valid.eq(1),
                                 self.fault.buffer.eq(fault.buffer_code(self._buffers[t]))]
        m.d.sync += [self.visit.valid.eq(read_valid & ~past_end & ~stopped),
                     self.visit.payload.tag.eq(read_tag)]
        m.d.comb += self.busy.eq(running | read_valid | self.visit.valid | stopped)
        return m
