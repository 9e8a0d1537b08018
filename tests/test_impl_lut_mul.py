"""The LUT multiplier (radix-4 Booth) against ``a * b``, and the GEMM that mixes it with DSP
products against the spec."""

import numpy as np
import pytest
from amaranth.sim import Simulator
from hypothesis import given
from hypothesis import strategies as st

from vtaref.impl.gemm import TensorGemm
from vtaref.impl.lut_mul import LutMul
from vtaref.spec import isa, semantics

from .impl_support import random_state, sized_config
from .test_impl_units import check_against_spec, loop_insns

MIXABLE = sized_config(LOG_BATCH=1, LOG_BLOCK=2)  # 2x4x4: 32 products


def wrong_products(a_width: int, b_width: int) -> list[tuple[int, int, int]]:
    """Return every (a, b, p) for which LutMul's product p is not a * b, from Amaranth's
    simulator."""
    dut, wrong = LutMul(a_width, b_width), []

    async def bench(ctx):
        for a in range(-(1 << a_width - 1), 1 << a_width - 1):
            ctx.set(dut.a, a)
            for b in range(-(1 << b_width - 1), 1 << b_width - 1):
                ctx.set(dut.b, b)
                if ctx.get(dut.p) != a * b:
                    wrong.append((a, b, ctx.get(dut.p)))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    return wrong


def test_lut_mul_is_exact_for_every_int8_pair():
    assert wrong_products(8, 8) == []


@pytest.mark.parametrize("widths", [(1, 1), (2, 2), (4, 4), (3, 5), (5, 3), (8, 1), (1, 8)])
def test_lut_mul_is_exact_for_every_pair_of_other_widths(widths):
    assert wrong_products(*widths) == []


@given(st.lists(st.tuples(st.integers(-2**15, 2**15 - 1), st.integers(-2**15, 2**15 - 1)),
                min_size=1, max_size=50))
def test_lut_mul_is_exact_for_16_bit_operands(pairs):
    dut, products = LutMul(16, 16), []

    async def bench(ctx):
        for a, b in pairs:
            ctx.set(dut.a, a)
            ctx.set(dut.b, b)
            products.append(ctx.get(dut.p))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    assert products == [a * b for a, b in pairs]


@given(st.integers(0, 32), st.integers(0, 2**32 - 1), st.data())
def test_gemm_with_some_products_on_luts_matches_spec(dsp_products, seed, data):
    state = random_state(MIXABLE, np.random.default_rng(seed))
    spans = {"dst": MIXABLE.acc_buff_depth, "src": MIXABLE.inp_buff_depth,
             "wgt": MIXABLE.wgt_buff_depth}
    insns, uop_bgn = [], 0
    for _ in range(data.draw(st.integers(1, 2))):
        insns.append(data.draw(loop_insns(isa.Gemm, MIXABLE, state, uop_bgn, spans)))
        uop_bgn = insns[-1].uop_end

    class MixedGemm(TensorGemm):
        def __init__(self, config):
            super().__init__(config, dsp_products=dsp_products)

    check_against_spec(MixedGemm, semantics.gemm, MIXABLE, state, insns)


def test_gemm_refuses_a_negative_budget_and_packed_with_a_budget():
    with pytest.raises(ValueError, match="dsp_products must be >= 0"):
        TensorGemm(MIXABLE, dsp_products=-1)
    with pytest.raises(ValueError, match="packed multipliers are all DSPs"):
        TensorGemm(sized_config(LOG_BATCH=0, LOG_BLOCK=2), packed=True, dsp_products=4)
