"""The packed multiplier (two int8 products per DSP48E1) and the GEMM that uses it, against
plain products and the spec."""

import numpy as np
import pytest
from amaranth.sim import Simulator
from hypothesis import given
from hypothesis import strategies as st

from vtaref.impl.core import VtaCore
from vtaref.impl.gemm import TensorGemm
from vtaref.impl.packed_mul import PackedMul
from vtaref.impl.verilator import VerilatedCore
from vtaref.spec import ProgramImage, isa, semantics

from .conftest import CONFORMANCE
from .impl_support import random_state, sized_config
from .test_impl_units import check_against_spec, loop_insns

INT8 = st.integers(-128, 127)
EDGES = [-128, -127, -1, 0, 1, 127]
PACKABLE = sized_config(LOG_BATCH=1, LOG_BLOCK=2)  # int8 x int8, block_out 4


def packed_products(triples: list[tuple[int, int, int]]) -> list[tuple[int, int]]:
    """Return PackedMul's (p0, p1) for each (a0, a1, b), from Amaranth's simulator."""
    dut, results = PackedMul(), []

    async def bench(ctx):
        for a0, a1, b in triples:
            ctx.set(dut.a0, a0)
            ctx.set(dut.a1, a1)
            ctx.set(dut.b, b)
            results.append((ctx.get(dut.p0), ctx.get(dut.p1)))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    return results


def test_packed_mul_equals_two_products_at_the_edges():
    triples = [(a0, a1, b) for a0 in EDGES for a1 in EDGES for b in EDGES]
    assert packed_products(triples) == [(a0 * b, a1 * b) for a0, a1, b in triples]


@given(st.lists(st.tuples(INT8, INT8, INT8), min_size=1, max_size=50))
def test_packed_mul_equals_two_products(triples):
    assert packed_products(triples) == [(a0 * b, a1 * b) for a0, a1, b in triples]


class PackedGemm(TensorGemm):
    def __init__(self, config):
        super().__init__(config, packed=True)


@st.composite
def packable_programs(draw):
    """Draw a random state of the int8 config and one to three GEMM loops."""
    state = random_state(PACKABLE, np.random.default_rng(draw(st.integers(0, 2**32 - 1))))
    spans = {"dst": PACKABLE.acc_buff_depth, "src": PACKABLE.inp_buff_depth,
             "wgt": PACKABLE.wgt_buff_depth}
    insns, uop_bgn = [], 0
    for _ in range(draw(st.integers(1, 3))):
        insns.append(draw(loop_insns(isa.Gemm, PACKABLE, state, uop_bgn, spans)))
        uop_bgn = insns[-1].uop_end
    return PACKABLE, state, insns


def test_packing_applies_only_to_int8_with_even_block_out():
    assert PackedGemm(PACKABLE).packed
    assert not TensorGemm(PACKABLE).packed
    assert not PackedGemm(sized_config(LOG_BLOCK=0)).packed
    assert not PackedGemm(sized_config(LOG_BLOCK=2, LOG_INP_WIDTH=2, LOG_WGT_WIDTH=2)).packed


@given(packable_programs())
def test_packed_gemm_matches_spec(program):
    check_against_spec(PackedGemm, semantics.gemm, *program)


@pytest.mark.parametrize("log_width", [2, 3])
def test_packed_gemm_of_other_widths_still_matches_spec(log_width):
    config = sized_config(LOG_BLOCK=1, LOG_INP_WIDTH=log_width, LOG_WGT_WIDTH=log_width)
    state = random_state(config, np.random.default_rng(log_width))
    insn = isa.Gemm(uop_bgn=0, uop_end=1, iter_out=2, iter_in=2, reset_reg=0,
                    dst_factor_out=1, dst_factor_in=0, src_factor_out=0, src_factor_in=1,
                    wgt_factor_out=1, wgt_factor_in=1)
    check_against_spec(PackedGemm, semantics.gemm, config, state, [insn])


def test_core_with_packed_gemm_passes_a_conformance_image():
    image = ProgramImage.load(CONFORMANCE / "block4_small" / "matmul_00")
    core = VerilatedCore(image.config, top=lambda config, width: VtaCore(config, width,
                                                                          packed_gemm=True))
    run = core.run(image.dram, image.dram_base, image.insn_addr, image.insn_count,
                   max_cycles=10**6)
    assert run.dram == image.expected
