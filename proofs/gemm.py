"""A bounded proof of the GEMM core against an in-order model of the spec's GEMM.

:class:`TensorGemmSpec` runs one or two arbitrary GEMM commands (the second back to back or
later) on arbitrary micro-ops and scratchpad contents through
:class:`~vtaref.impl.gemm.TensorGemm`. Two in-order walks of the loops check every visit: its
reads fetch the visit's ``inp[src]`` and ``wgt[wgt]`` rows, and its write goes to ``acc[dst]``
with ``0`` (``reset_reg``) or the model's row plus the dot products of the rows read, wrapped to
the accumulator width, as :func:`vtaref.spec.semantics.gemm` does; the unit takes each command
and goes idle exactly when the spec says. The model multiplies the very row signals the unit
multiplies, so the solver can share the multipliers (comparing two multiplier arrays timed
out even at 4-bit lanes), while the address checks make those the right rows.
"""

from __future__ import annotations

from amaranth.hdl import Assert, Elaboratable, Module, Signal, Value
from amaranth.lib import data

from vtaref.impl import scratchpad
from vtaref.impl.gemm import TensorGemm
from vtaref.impl.lut_mul import tree_sum
from vtaref.spec.config import VtaConfig
from vtaref.spec.isa import Gemm

from . import loop
from .loop import Commands, acc_and_model, check_done, read_only, walk_loop


def tiny_gemm_config() -> VtaConfig:
    """Return a 1x2x2 config with 8-bit lanes, 2 micro-ops and 8 rows per data buffer."""
    return VtaConfig(LOG_INP_WIDTH=3, LOG_WGT_WIDTH=3, LOG_ACC_WIDTH=3, LOG_BATCH=0,
                     LOG_BLOCK=1, LOG_UOP_BUFF_SIZE=3, LOG_INP_BUFF_SIZE=4, LOG_WGT_BUFF_SIZE=5,
                     LOG_ACC_BUFF_SIZE=4)


class TensorGemmSpec(Elaboratable):
    """TensorGemm writes the in-order model's results, one visit per cycle, and keeps the timing
    contract: for arbitrary commands (``iter_out``, ``iter_in`` <= 2) offered in every cycle,
    back to back or apart (:class:`.loop.Commands`), on arbitrary micro-ops, inputs, weights and
    accumulators."""

    def __init__(self, config: VtaConfig, unit: type[TensorGemm] = TensorGemm, *,
                 commands: int = 1):
        self.config = config
        self.dut = unit(config)
        self.commands = commands

    @staticmethod
    def bound(config: VtaConfig) -> int:
        """Return the number of steps that covers the longest command under ``config``."""
        return loop.bound(config, TensorGemm.LATENCY)

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = self.dut
        config = self.config
        commands = Commands(m, dut, config, dut.LATENCY, self.commands)

        # Read-only buffers: arbitrary constants behind synchronous read ports.
        uops = read_only(m, dut.uop)
        read_only(m, dut.inp)
        read_only(m, dut.wgt)

        # acc, and the model's copy, start equal and arbitrary; reads see the same-cycle write.
        row = scratchpad.row_layout("acc", config)
        write = dut.acc_wr
        _, model_acc = acc_and_model(m, config, commands.started, write, [dut.acc_rd])

        # Two in-order walks of the loops: one checks the reads of each visit, one its write.
        reads = walk_loop(m, "read", dut.inp.en, commands, uops, config, Gemm)
        writes = walk_loop(m, "write", write.en, commands, uops, config, Gemm)
        with m.If(dut.inp.en):
            m.d.comb += [Assert(dut.wgt.en), Assert(dut.inp.addr == reads["src"]),
                         Assert(dut.wgt.addr == reads["wgt"])]

        # The dot products of the rows read, three cycles later (when the unit writes them),
        # of registered copies of the rows, as the unit multiplies. Multiplying signals equal
        # to the ones the unit multiplies lets the solver share the multipliers; that they are
        # the right rows is asserted above.
        inp, wgt = Signal.like(dut.inp.data), Signal.like(dut.wgt.data)
        m.d.sync += [inp.eq(dut.inp.data), wgt.eq(dut.wgt.data)]
        dots = [Signal(row, name=f"dot_{stage}") for stage in range(2)]
        for b in range(config.batch):
            for o in range(config.block_out):
                m.d.sync += dots[0][b][o].eq(tree_sum([inp[b][i] * wgt[o][i]
                                                       for i in range(config.block_in)]))
        m.d.sync += dots[1].eq(dots[0])

        old = data.View(row, model_acc[writes["dst"]])
        expected = Signal(row)
        with m.If(~writes["cmd"].tag.reset_reg):
            for b in range(config.batch):
                for o in range(config.block_out):
                    m.d.comb += expected[b][o].eq(old[b][o] + dots[1][b][o])
        with m.If(write.en):
            m.d.comb += [Assert(write.addr == writes["dst"]),
                         Assert(Value.cast(write.data) == Value.cast(expected))]
            m.d.sync += model_acc[writes["dst"]].eq(expected)

        check_done(m, dut, commands, writes)
        return m
