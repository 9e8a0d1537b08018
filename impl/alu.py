"""The tensor ALU: ``acc[dst] = op(acc[dst], imm or acc[src])`` lane by lane, for every visit.

Semantics are those of TVM-VTA's functional simulator (:func:`vtaref.spec.semantics.alu_apply`
with the ``fsim`` flavor): operands are signed, ``imm`` is a signed 16-bit operand even when the
accumulator is narrower, SHR by a negative amount shifts left, results wrap to the accumulator
width.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from vtaref.spec import isa
from vtaref.spec.config import ALUOP_IMM_BIT_WIDTH, VtaConfig

from . import fault, scratchpad
from .isa import AluOp
from .uop_loop import UopLoop, command_layout

TAG = ("alu_opcode", "use_imm", "imm")


def operand_layout(config: VtaConfig) -> data.ArrayLayout:
    """Return the layout of the second operand row: acc lanes widened to hold ``imm`` too."""
    width = max(config.acc_width, ALUOP_IMM_BIT_WIDTH)
    return data.ArrayLayout(data.ArrayLayout(signed(width), config.block_out), config.batch)


class AluDatapath(wiring.Component):
    """Compute ``y = op(a, b)`` on every lane of an accumulator row (combinational).

    ``a`` and ``y`` are accumulator rows; ``b`` has the same lanes, wide enough for ``imm``.
    MIN, MAX, ADD and MUL are on signed values; SHR shifts ``a`` right (arithmetically) by
    ``b`` if ``b >= 0`` and left by ``-b`` otherwise. The result wraps to the accumulator
    width. An opcode that is not an ALU opcode (5 to 7), or MUL when the config has no
    ``ALU_MUL`` (the spec refuses both), gives ``y = a``.
    """

    def __init__(self, config: VtaConfig):
        self._config = config
        row = scratchpad.row_layout("acc", config)
        super().__init__({
            "op": In(AluOp),
            "a": In(row),
            "b": In(operand_layout(config)),
            "y": Out(row),
        })

    def elaborate(self, platform):
        m = Module()
        for b in range(self._config.batch):
            for o in range(self._config.block_out):
                self._lane(m, self.a[b][o], self.b[b][o], self.y[b][o])
        return m

    def _lane(self, m: Module, a, b, y) -> None:
        width = self._config.acc_width
        amount_bits = ceil_log2(width)
        with m.Switch(self.op):
            with m.Case(AluOp.MIN):
                m.d.comb += y.eq(Mux(a < b, a, b))
            with m.Case(AluOp.MAX):
                m.d.comb += y.eq(Mux(a < b, b, a))
            with m.Case(AluOp.ADD):
                m.d.comb += y.eq(a + b)
            if self._config.ALU_MUL:
                with m.Case(AluOp.MUL):
                    # The low ``width`` bits of a product depend only on the operands' low bits.
                    m.d.comb += y.eq(a * b[:width].as_signed())
            with m.Case(AluOp.SHR):
                with m.If(b >= width - 1):
                    m.d.comb += y.eq(a >> (width - 1))
                with m.Elif(b >= 0):
                    m.d.comb += y.eq(a >> b[:amount_bits])
                with m.Elif(b > -width):
                    m.d.comb += y.eq(a << (-b)[:amount_bits])
                with m.Else():
                    m.d.comb += y.eq(0)
            with m.Default():
                m.d.comb += y.eq(a)


class TensorAlu(wiring.Component):
    """Run ALU instructions on the acc scratchpad.

    ``cmd`` takes the instruction's loop fields, ``alu_opcode``, ``use_imm`` and ``imm``
    (:func:`vtaref.impl.uop_loop.command_layout` of :class:`vtaref.spec.isa.Alu`). Each visit
    sets ``acc[dst] = op(acc[dst], imm if use_imm else acc[src])`` (see :class:`AluDatapath`).
    Visits take effect in loop order, each seeing what earlier visits wrote, at one visit per
    cycle whatever the indices (results are forwarded, nothing stalls): a command with ``n``
    visits accepted in cycle ``c`` has made all its writes, and ``idle`` is high again, in cycle
    ``c + n + LATENCY``. Commands are accepted back to back while earlier ones are in flight.

    ``acc_dst`` and ``acc_src`` must be transparent for ``acc_wr``. The caller must not let
    anything else write acc while ``idle`` is low. ``datapath`` is public for the proofs: a visit
    is on its ports the cycle before it writes ``acc``.
    An index past the end of a buffer stops the unit before that visit: ``fault`` names the
    buffer (:class:`~.uop_loop.UopLoop`) and ``idle`` stays low until reset.
    """

    LATENCY = 5

    def __init__(self, config: VtaConfig):
        self._config = config
        self.datapath = AluDatapath(config)
        super().__init__({
            "cmd": In(stream.Signature(command_layout(isa.Alu, config, TAG))),
            "idle": Out(1),
            "fault": Out(fault.UNIT_FAULT),
            "uop": In(scratchpad.read_port("uop", config)),
            "acc_dst": In(scratchpad.read_port("acc", config)),
            "acc_src": In(scratchpad.read_port("acc", config)),
            "acc_wr": In(scratchpad.write_port("acc", config)),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.loop = loop = UopLoop(self._config, isa.Alu, TAG)
        m.submodules.datapath = datapath = self.datapath
        wiring.connect(m, wiring.flipped(self.cmd), loop.cmd)
        wiring.connect(m, wiring.flipped(self.uop), loop.uop)
        m.d.comb += self.fault.eq(loop.fault)
        visit = loop.visit
        row = scratchpad.row_layout("acc", self._config)

        # Read both operand rows.
        m.d.comb += [self.acc_dst.addr.eq(visit.payload.dst), self.acc_dst.en.eq(visit.valid),
                     self.acc_src.addr.eq(visit.payload.src), self.acc_src.en.eq(visit.valid)]
        exe_valid, exe = Signal(), Signal(visit.payload.shape())
        m.d.sync += [exe_valid.eq(visit.valid), exe.eq(visit.payload)]

        # Execute, taking the row being written back instead of a stale read of it.
        write_valid, write_dst, write_row = Signal(), Signal.like(exe.dst), Signal(row)
        a = Signal(row)
        with m.If(write_valid & (write_dst == exe.dst)):
            m.d.comb += a.eq(write_row)
        with m.Else():
            m.d.comb += a.eq(self.acc_dst.data)
        b = Signal(row)
        with m.If(write_valid & (write_dst == exe.src)):
            m.d.comb += b.eq(write_row)
        with m.Else():
            m.d.comb += b.eq(self.acc_src.data)
        m.d.comb += [datapath.op.eq(exe.tag.alu_opcode), datapath.a.eq(a)]
        for lane, operand in zip(scratchpad.lanes(datapath.b), scratchpad.lanes(b)):
            m.d.comb += lane.eq(Mux(exe.tag.use_imm, exe.tag.imm, operand))
        m.d.sync += [write_valid.eq(exe_valid), write_dst.eq(exe.dst),
                     write_row.eq(datapath.y)]

        # Write back.
        m.d.comb += [self.acc_wr.addr.eq(write_dst), self.acc_wr.en.eq(write_valid),
                     self.acc_wr.data.eq(write_row)]
        m.d.comb += self.idle.eq(~(loop.busy | exe_valid | write_valid))
        return m
