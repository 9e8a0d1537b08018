"""Proofs of the tensor ALU against a straightforward model of the spec, in two parts.

:class:`AluModel` restates :func:`vtaref.spec.semantics.alu_apply` (fsim flavor) literally, on
64-bit integers. :class:`DatapathSpec` proves :class:`~vtaref.impl.alu.AluDatapath` equal to it
for every opcode and operand (combinational, so one step is a full proof).

:class:`TensorAluSpec` runs one or two arbitrary ALU commands (the second back to back or
later) on arbitrary micro-ops and accumulator contents through :class:`~vtaref.impl.alu.TensorAlu`
and checks them against an in-order model that walks the loops with multiplications, one visit
at a time, and the exact cycles the unit takes a command and goes idle: a bounded proof, for a
given configuration. Together: TensorAlu equals the spec's loop of ``alu_apply`` for that
configuration and that bound.
"""

from __future__ import annotations

from amaranth.asserts import AnySeq
from amaranth.hdl import Assert, Elaboratable, Module, Mux, Signal, Value, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from vtaref.impl import scratchpad
from vtaref.impl.alu import AluDatapath, TensorAlu, operand_layout
from vtaref.impl.isa import AluOp
from vtaref.spec.config import VtaConfig
from vtaref.spec.isa import Alu

from . import loop
from .loop import Commands, acc_and_model, check_done, read_only, walk_loop


def tiny_config(log_acc_width: int) -> VtaConfig:
    """Return a 1x1-block config: 2 micro-ops, 8 rows per buffer, ``2**log_acc_width``-bit acc."""
    return VtaConfig(LOG_INP_WIDTH=3, LOG_WGT_WIDTH=3, LOG_ACC_WIDTH=log_acc_width, LOG_BATCH=0,
                     LOG_BLOCK=0, LOG_UOP_BUFF_SIZE=3, LOG_INP_BUFF_SIZE=3, LOG_WGT_BUFF_SIZE=3,
                     LOG_ACC_BUFF_SIZE=log_acc_width)


class AluModel(wiring.Component):
    """``y = alu_apply(op, a, b)`` for one lane, computed as the spec does on int64.

    Opcodes 5 to 7, which the spec refuses, give ``y = a`` (the RTL's documented behaviour).
    """

    def __init__(self, width: int, b_width: int):
        self._width = width
        super().__init__({"op": In(AluOp), "a": In(signed(width)), "b": In(signed(b_width)),
                          "y": Out(signed(width))})

    def elaborate(self, platform):
        m = Module()
        a, b, result = Signal(signed(64)), Signal(signed(64)), Signal(signed(64))
        right, left = Signal(range(64)), Signal(range(64))
        m.d.comb += [a.eq(self.a), b.eq(self.b)]
        m.d.comb += [right.eq(Mux(b < 0, 0, Mux(b > 63, 63, b))),
                     left.eq(Mux(b > 0, 0, Mux(b < -63, 63, -b)))]
        with m.Switch(self.op):
            with m.Case(AluOp.MIN):
                m.d.comb += result.eq(Mux(a < b, a, b))
            with m.Case(AluOp.MAX):
                m.d.comb += result.eq(Mux(a > b, a, b))
            with m.Case(AluOp.ADD):
                m.d.comb += result.eq(a + b)
            with m.Case(AluOp.MUL):
                m.d.comb += result.eq(a * b)
            with m.Case(AluOp.SHR):
                m.d.comb += result.eq(Mux(b >= 0, a >> right, Mux(b > -64, a << left, 0)))
            with m.Default():
                m.d.comb += result.eq(a)
        m.d.comb += self.y.eq(result[:self._width])
        return m


class DatapathSpec(Elaboratable):
    """Every lane of an AluDatapath equals AluModel, for any opcode (valid or not) and operands."""

    def __init__(self, dut: AluDatapath):
        self.dut = dut

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = self.dut
        for port in (dut.op, dut.a, dut.b):
            m.d.comb += Value.cast(port).eq(AnySeq(len(Value.cast(port))))
        lanes = zip(scratchpad.lanes(dut.a), scratchpad.lanes(dut.b), scratchpad.lanes(dut.y))
        for k, (a, b, y) in enumerate(lanes):
            model = m.submodules[f"model_{k}"] = AluModel(len(a), len(b))
            m.d.comb += [model.op.eq(dut.op), model.a.eq(a), model.b.eq(b), Assert(y == model.y)]
        return m


class TensorAluSpec(Elaboratable):
    """TensorAlu applies the datapath to the in-order model's operands, writes the results to the
    model's destinations, one visit per cycle, and keeps the timing contract.

    The harness plays the scratchpads: micro-ops and accumulator rows start with arbitrary
    contents, and acc reads are transparent for the unit's write. Arbitrary commands
    (``iter_out``, ``iter_in`` <= 2, ``uop_end`` within the buffer) are offered in every cycle,
    so they arrive back to back or apart (:class:`.loop.Commands`, which also checks the
    timing). The model walks the accepted loops with multiplications; at each write of the
    unit it checks the address, and that the datapath saw the model's opcode and operands (the
    walked command's) in the cycle before and the unit writes what the datapath computed, then
    takes that result as its own. So the unit equals the in-order model with the datapath as
    lane function, which :class:`DatapathSpec` proves equal to :class:`AluModel`; the solver
    never compares two multipliers.
    """

    def __init__(self, config: VtaConfig, unit: type[TensorAlu] = TensorAlu, *,
                 commands: int = 1):
        self.dut = unit(config)
        self.config = config
        self.commands = commands

    @staticmethod
    def bound(config: VtaConfig) -> int:
        """Return the number of steps that covers the longest command under ``config``."""
        return loop.bound(config, TensorAlu.LATENCY)

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = self.dut
        config = self.config
        row = scratchpad.row_layout("acc", config)
        commands = Commands(m, dut, config, dut.LATENCY, self.commands)

        # The scratchpads, and the model's copy of acc, with the same arbitrary contents.
        uops = read_only(m, dut.uop)
        write = dut.acc_wr
        _, model_acc = acc_and_model(m, config, commands.started, write,
                                     [dut.acc_dst, dut.acc_src])

        # What the datapath saw and computed in the previous cycle.
        datapath = dut.datapath
        seen = {name: Signal(len(Value.cast(getattr(datapath, name))), name=f"seen_{name}")
                for name in ("op", "a", "b", "y")}
        m.d.sync += [seen[name].eq(Value.cast(getattr(datapath, name))) for name in seen]

        # The model walks the loops in order, one visit per write of the unit.
        walk = walk_loop(m, "model", write.en, commands, uops, config, Alu)
        tag = walk["cmd"].tag
        operand = Signal(operand_layout(config))
        source = data.View(row, model_acc[walk["src"]])
        for lane, lane_src in zip(scratchpad.lanes(operand), scratchpad.lanes(source)):
            m.d.comb += lane.eq(Mux(tag.use_imm, tag.imm, lane_src))

        with m.If(write.en):
            m.d.comb += [Assert(write.addr == walk["dst"]),
                         Assert(seen["op"] == Value.cast(tag.alu_opcode)),
                         Assert(seen["a"] == model_acc[walk["dst"]]),
                         Assert(seen["b"] == Value.cast(operand)),
                         Assert(Value.cast(write.data) == seen["y"])]
            m.d.sync += model_acc[walk["dst"]].eq(seen["y"])
        check_done(m, dut, commands, walk)
        return m
