"""The GEMM core: ``acc[dst] += inp[src] . wgt[wgt]^T`` for every visit of the micro-op loop.

``batch x block_out`` dot products of ``block_in`` lanes each, one visit per cycle: a
``batch x block_out x block_in`` array of multipliers, with registered inputs and outputs,
feeds one adder tree per dot product. ``dsp_products`` bounds how many products are written as
``*`` (which yosys maps to DSP blocks); the others are LUT multipliers
(:class:`.lut_mul.LutMul`). With ``packed`` (for Xilinx DSP48E1s), int8 x int8 products of
two weight rows that share an input lane come from one multiplier
(:class:`.packed_mul.PackedMul`).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from vtaref.spec import isa
from vtaref.spec.config import VtaConfig

from . import fault, scratchpad
from .lut_mul import LutMul, tree_sum
from .packed_mul import OPERAND_BITS, PackedMul
from .uop_loop import UopLoop, command_layout

TAG = ("reset_reg",)


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
    ``dsp_products`` (None: all) is how many products, in the order of the lanes
    ``(b, o, i)``, use a ``*`` that yosys maps to a DSP block; the rest are
    :class:`.lut_mul.LutMul` (not with ``packed``, whose multipliers are all DSPs).
    Every choice computes the same results with the same latency.
    """

    LATENCY = 7
    # Cycles from the inp/wgt read data to the acc write: operand registers, products, sums.
    READ_TO_WRITE = 3

    def __init__(self, config: VtaConfig, *, packed: bool = False,
                 dsp_products: int | None = None):
        self._config = config
        self.packed = (packed and config.inp_width == config.wgt_width == OPERAND_BITS
                       and config.block_out % 2 == 0)
        if dsp_products is not None and dsp_products < 0:
            raise ValueError(f"dsp_products must be >= 0, not {dsp_products}")
        if self.packed and dsp_products is not None:
            raise ValueError("packed multipliers are all DSPs: give packed or dsp_products")
        self.dsp_products = dsp_products
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

        # Read the input row and the weight tile, and register them (the multipliers' inputs).
        m.d.comb += [self.inp.addr.eq(visit.payload.src), self.inp.en.eq(visit.valid),
                     self.wgt.addr.eq(visit.payload.wgt), self.wgt.en.eq(visit.valid)]
        # Named, so that netlists and timing reports say which (unnamed: ``$like$N``).
        inp = Signal.like(self.inp.data, name="inp")
        wgt = Signal.like(self.wgt.data, name="wgt")
        m.d.sync += [inp.eq(self.inp.data), wgt.eq(self.wgt.data)]
        stages = [(visit.valid, visit.payload.dst, visit.payload.tag.reset_reg)]
        for stage in ("read", "operands", "products"):
            stages.append((Signal(name=f"{stage}_valid"), Signal.like(
                visit.payload.dst, name=f"{stage}_dst"), Signal(name=f"{stage}_reset")))
            m.d.sync += [later.eq(earlier) for later, earlier in zip(stages[-1], stages[-2])]
        sum_valid, sum_dst, sum_reset = stages[-1]

        # Multiply every input lane by every weight lane.
        product_shape = signed(config.inp_width + config.wgt_width)
        products = [[[Signal(product_shape, name=f"product_{b}_{o}_{i}")
                      for i in range(block_in)] for o in range(block_out)] for b in range(batch)]
        on_dsp = batch * block_out * block_in if self.dsp_products is None else self.dsp_products
        for b in range(batch):
            for o in range(0, block_out, 2 if self.packed else 1):
                for i in range(block_in):
                    lane = inp[b][i]
                    if self.packed:
                        m.submodules[f"packed_{b}_{o}_{i}"] = pair = PackedMul()
                        m.d.comb += [pair.a0.eq(wgt[o][i]), pair.a1.eq(wgt[o + 1][i]),
                                     pair.b.eq(lane)]
                        m.d.sync += [products[b][o][i].eq(pair.p0),
                                     products[b][o + 1][i].eq(pair.p1)]
                    elif (b * block_out + o) * block_in + i < on_dsp:
                        m.d.sync += products[b][o][i].eq(lane * wgt[o][i])
                    else:
                        m.submodules[f"lut_mul_{b}_{o}_{i}"] = mul = LutMul(
                            config.inp_width, config.wgt_width)
                        m.d.comb += [mul.a.eq(lane), mul.b.eq(wgt[o][i])]
                        m.d.sync += products[b][o][i].eq(mul.p)

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

        busy = [valid for valid, _, _ in stages[1:]]
        m.d.comb += self.idle.eq(~(loop.busy | write_valid | Cat(*busy).any()))
        return m
