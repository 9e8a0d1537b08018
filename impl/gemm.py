"""The GEMM core: ``acc[dst] += inp[src] . wgt[wgt]^T`` for every visit of the micro-op loop.

``batch x block_out`` dot products of ``block_in`` lanes each, one visit per cycle: a
``batch x block_out x block_in`` array of multipliers feeds one adder tree per dot product.
With ``packed`` (for Xilinx DSP48E1s), int8 x int8 products of two weight rows that share an
input lane come from one multiplier (:class:`.packed_mul.PackedMul`).
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from vtaref.spec import isa
from vtaref.spec.config import VtaConfig

from . import fault, scratchpad
from .packed_mul import OPERAND_BITS, PackedMul
from .uop_loop import UopLoop, command_layout

TAG = ("reset_reg",)


def tree_sum(values: list):
    """Return the sum of ``values`` as a balanced tree of two-input adders (no truncation)."""
    while len(values) > 1:
        pairs = [values[i] + values[i + 1] for i in range(0, len(values) - 1, 2)]
        values = pairs + values[len(values) - len(values) % 2:]
    return values[0]


class TensorGemm(wiring.Component):
    """Run GEMM instructions on the inp, wgt and acc scratchpads.

    ``cmd`` takes the instruction's loop fields and ``reset_reg``
    (:func:`vtaref.impl.uop_loop.command_layout` of :class:`vtaref.spec.isa.Gemm`). Every visit
    adds the product of input row ``inp[src]`` (``batch x block_in``) and the transposed weight
    tile ``wgt[wgt]`` (``block_out x block_in``) to ``acc[dst]``, wrapping to the accumulator
    width; with ``reset_reg`` it writes zero to ``acc[dst]`` instead. Visits take effect in loop
    order, at one visit per cycle whatever the indices: a command with ``n`` visits accepted in
    cycle ``c`` has made all its writes, and ``idle`` is high again, in cycle
    ``c + n + LATENCY``. Commands are accepted back to back while earlier ones are in flight.

    ``acc_rd`` must be transparent for ``acc_wr`` (a read in the cycle of a write to the same
    row returns the written data). The caller must not let anything else write acc, inp or wgt
    while ``idle`` is low. An index past the end of a buffer stops the unit before that visit:
    ``fault`` names the buffer (:class:`~.uop_loop.UopLoop`) and ``idle`` stays low until reset.

    ``packed`` computes the products of weight rows ``2k`` and ``2k + 1`` with one
    :class:`.packed_mul.PackedMul` each (half the multipliers, same results) when inputs and
    weights are 8 bits wide and ``block_out`` is even; otherwise it has no effect.
    """

    LATENCY = 6

    def __init__(self, config: VtaConfig, *, packed: bool = False):
        self._config = config
        self.packed = (packed and config.inp_width == config.wgt_width == OPERAND_BITS
                       and config.block_out % 2 == 0)
        super().__init__({
            "cmd": In(stream.Signature(command_layout(isa.Gemm, config, TAG))),
            "idle": Out(1),
            "fault": Out(fault.UNIT_FAULT),
            "uop": In(scratchpad.read_port("uop", config)),
            "inp": In(scratchpad.read_port("inp", config)),
            "wgt": In(scratchpad.read_port("wgt", config)),
            "acc_rd": In(scratchpad.read_port("acc", config)),
            "acc_wr": In(scratchpad.write_port("acc", config)),
        })

    def elaborate(self, platform):
        m = Module()
        config = self._config
        batch, block_in, block_out = config.batch, config.block_in, config.block_out
        m.submodules.loop = loop = UopLoop(self._config, isa.Gemm, TAG)
        wiring.connect(m, wiring.flipped(self.cmd), loop.cmd)
        wiring.connect(m, wiring.flipped(self.uop), loop.uop)
        m.d.comb += self.fault.eq(loop.fault)
        visit = loop.visit

        # Read the input row and the weight tile.
        m.d.comb += [self.inp.addr.eq(visit.payload.src), self.inp.en.eq(visit.valid),
                     self.wgt.addr.eq(visit.payload.wgt), self.wgt.en.eq(visit.valid)]
        mul_valid, mul_dst, mul_reset = Signal(), Signal.like(visit.payload.dst), Signal()
        m.d.sync += [mul_valid.eq(visit.valid), mul_dst.eq(visit.payload.dst),
                     mul_reset.eq(visit.payload.tag.reset_reg)]

        # Multiply every input lane by every weight lane.
        product_shape = signed(config.inp_width + config.wgt_width)
        products = [[[Signal(product_shape, name=f"product_{b}_{o}_{i}")
                      for i in range(block_in)] for o in range(block_out)] for b in range(batch)]
        for b in range(batch):
            for o in range(0, block_out, 2 if self.packed else 1):
                for i in range(block_in):
                    lane = self.inp.data[b][i]
                    if self.packed:
                        m.submodules[f"packed_{b}_{o}_{i}"] = pair = PackedMul()
                        m.d.comb += [pair.a0.eq(self.wgt.data[o][i]),
                                     pair.a1.eq(self.wgt.data[o + 1][i]), pair.b.eq(lane)]
                        m.d.sync += [products[b][o][i].eq(pair.p0),
                                     products[b][o + 1][i].eq(pair.p1)]
                    else:
                        m.d.sync += products[b][o][i].eq(lane * self.wgt.data[o][i])
        sum_valid, sum_dst, sum_reset = Signal(), Signal.like(mul_dst), Signal()
        m.d.sync += [sum_valid.eq(mul_valid), sum_dst.eq(mul_dst), sum_reset.eq(mul_reset)]

        # Sum each dot product; meanwhile read the accumulator row it adds to.
        dots = [[Signal(signed(product_shape.width + ceil_log2(block_in)),
                        name=f"dot_{b}_{o}") for o in range(block_out)] for b in range(batch)]
        for b in range(batch):
            for o in range(block_out):
                m.d.sync += dots[b][o].eq(tree_sum(products[b][o]))
        m.d.comb += [self.acc_rd.addr.eq(sum_dst), self.acc_rd.en.eq(sum_valid)]
        write_valid, write_dst, write_reset = Signal(), Signal.like(sum_dst), Signal()
        m.d.sync += [write_valid.eq(sum_valid), write_dst.eq(sum_dst),
                     write_reset.eq(sum_reset)]

        # Accumulate (or reset) and write back.
        m.d.comb += [self.acc_wr.addr.eq(write_dst), self.acc_wr.en.eq(write_valid)]
        with m.If(~write_reset):
            for b in range(batch):
                for o in range(block_out):
                    m.d.comb += self.acc_wr.data[b][o].eq(self.acc_rd.data[b][o] + dots[b][o])

        m.d.comb += self.idle.eq(~(loop.busy | mul_valid | sum_valid | write_valid))
        return m
