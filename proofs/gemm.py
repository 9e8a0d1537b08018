"""A bounded proof of the GEMM core against an in-order model of the spec's GEMM.

:class:`TensorGemmSpec` runs one arbitrary GEMM command on arbitrary micro-ops and scratchpad
contents through :class:`~vtaref.impl.gemm.TensorGemm`. Two in-order walks of the loop check
every visit: its reads fetch the visit's ``inp[src]`` and ``wgt[wgt]`` rows, and its write goes
to ``acc[dst]`` with ``0`` (``reset_reg``) or the model's row plus the dot products of the rows
read, wrapped to the accumulator width, as :func:`vtaref.spec.semantics.gemm` does; the unit
goes idle exactly when the spec says. The model multiplies the very row signals the unit
multiplies, so the solver can share the multipliers (comparing two multiplier arrays timed
out even at 4-bit lanes), while the address checks make those the right rows.
"""

from __future__ import annotations

from amaranth.asserts import AnyConst
from amaranth.hdl import Array, Assert, Assume, Elaboratable, Module, Mux, Signal, Value
from amaranth.lib import data

from vtaref.impl import scratchpad
from vtaref.impl.gemm import TensorGemm, tree_sum
from vtaref.spec.config import VtaConfig
from vtaref.spec.isa import Gemm

from .loop import visit_count, walk_loop

MAX_ITER = 2  # the bound on iter_out and iter_in


def tiny_gemm_config() -> VtaConfig:
    """Return a 1x2x2 config with 8-bit lanes, 2 micro-ops and 8 rows per data buffer."""
    return VtaConfig(LOG_INP_WIDTH=3, LOG_WGT_WIDTH=3, LOG_ACC_WIDTH=3, LOG_BATCH=0,
                     LOG_BLOCK=1, LOG_UOP_BUFF_SIZE=3, LOG_INP_BUFF_SIZE=4, LOG_WGT_BUFF_SIZE=5,
                     LOG_ACC_BUFF_SIZE=4)


class TensorGemmSpec(Elaboratable):
    """TensorGemm writes the in-order model's results, one visit per cycle, and goes idle on
    time: for one arbitrary command (``iter_out``, ``iter_in`` <= 2) accepted in the first cycle,
    on arbitrary micro-ops, inputs, weights and accumulators."""

    def __init__(self, config: VtaConfig, unit: type[TensorGemm] = TensorGemm):
        self.config = config
        self.dut = unit(config)

    @staticmethod
    def bound(config: VtaConfig) -> int:
        """Return the number of steps that covers the longest command under ``config``."""
        return MAX_ITER * MAX_ITER * config.uop_buff_depth + TensorGemm.LATENCY + 2

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = self.dut
        config = self.config
        bound = self.bound(config)
        started = Signal()
        cycle = Signal(range(bound + 1))
        m.d.sync += [started.eq(1), cycle.eq(Mux(cycle == bound, cycle, cycle + 1))]

        cmd = Signal(dut.cmd.payload.shape())
        m.d.comb += [Value.cast(cmd).eq(AnyConst(len(Value.cast(cmd)))),
                     dut.cmd.payload.eq(cmd), dut.cmd.valid.eq(~started)]
        m.d.comb += [Assume(cmd.iter_out <= MAX_ITER), Assume(cmd.iter_in <= MAX_ITER),
                     Assume(cmd.uop_end <= config.uop_buff_depth)]
        with m.If(~started):
            m.d.comb += Assert(dut.cmd.ready)

        # Read-only buffers: arbitrary constants behind synchronous read ports.
        contents = {}
        for name, port in (("uop", dut.uop), ("inp", dut.inp), ("wgt", dut.wgt)):
            width = len(Value.cast(port.data))
            contents[name] = Array(AnyConst(width) for _ in range(1 << len(port.addr)))
            with m.If(port.en):
                m.d.sync += port.data.eq(contents[name][port.addr])

        # acc, and the model's copy, start equal and arbitrary; reads see the same-cycle write.
        row = scratchpad.row_layout("acc", config)
        rows = config.acc_buff_depth
        acc = Array(Signal(row.size, name=f"acc_{k}") for k in range(rows))
        model_acc = Array(Signal(row.size, name=f"model_acc_{k}") for k in range(rows))
        with m.If(~started):
            for k in range(rows):
                initial = AnyConst(row.size)
                m.d.sync += [acc[k].eq(initial), model_acc[k].eq(initial)]
        write, read = dut.acc_wr, dut.acc_rd
        with m.If(write.en):
            m.d.sync += acc[write.addr].eq(write.data)
        with m.If(read.en):
            bypass = write.en & (write.addr == read.addr)
            m.d.sync += read.data.eq(Mux(bypass, Value.cast(write.data), acc[read.addr]))

        # Two in-order walks of the loop: one checks the reads of each visit, one its write.
        visits = visit_count(cmd)
        reads = walk_loop(m, "read", dut.inp.en, cmd, contents["uop"], config, started, bound,
                          Gemm)
        writes = walk_loop(m, "write", write.en, cmd, contents["uop"], config, started, bound,
                           Gemm)
        with m.If(dut.inp.en):
            m.d.comb += [Assert(reads["count"] < visits), Assert(dut.wgt.en),
                         Assert(dut.inp.addr == reads["src"]),
                         Assert(dut.wgt.addr == reads["wgt"])]

        # The dot products of the rows read, two cycles later (when the unit writes them).
        # Multiplying the very signals the unit multiplies lets the solver share the
        # multipliers; that they are the right rows is asserted above.
        row_read = Signal()
        m.d.sync += row_read.eq(dut.inp.en)
        dots = [Signal(row, name=f"dot_{stage}") for stage in range(2)]
        for b in range(config.batch):
            for o in range(config.block_out):
                m.d.sync += dots[0][b][o].eq(tree_sum([dut.inp.data[b][i] * dut.wgt.data[o][i]
                                                       for i in range(config.block_in)]))
        m.d.sync += dots[1].eq(dots[0])

        old = data.View(row, model_acc[writes["dst"]])
        expected = Signal(row)
        with m.If(~cmd.tag.reset_reg):
            for b in range(config.batch):
                for o in range(config.block_out):
                    m.d.comb += expected[b][o].eq(old[b][o] + dots[1][b][o])
        with m.If(write.en):
            m.d.comb += [Assert(writes["count"] < visits), Assert(write.addr == writes["dst"]),
                         Assert(Value.cast(write.data) == Value.cast(expected))]
            m.d.sync += model_acc[writes["dst"]].eq(expected)

        with m.If(started & (visits != 0)):
            m.d.comb += Assert(dut.idle == (cycle >= visits + dut.LATENCY))
        with m.If(started & dut.idle):
            m.d.comb += Assert(writes["count"] == visits)
        return m
