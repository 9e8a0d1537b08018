"""The GEMM core and the tensor ALU against the spec: bit-exact results, one visit per cycle."""

import numpy as np
import pytest
from amaranth.sim import Simulator
from hypothesis import given
from hypothesis import strategies as st

from vtaref.impl import alu, gemm, uop_loop
from vtaref.impl.alu import AluDatapath, TensorAlu
from vtaref.impl.gemm import TensorGemm
from vtaref.impl.uop_loop import UopLoop
from vtaref.spec import isa, semantics
from vtaref.spec.packing import wrap
from vtaref.spec.strategies import configs
from vtaref.spec.visits import uop_indices

from .impl_support import (
    Scratchpads,
    command,
    random_state,
    rows,
    run_unit,
    sized_config,
)

SMALL = sized_config(LOG_BATCH=1, LOG_BLOCK=2)  # 2x4x4 MACs, 16-row buffers


def uop_word(config, **fields) -> int:
    return int.from_bytes(isa.encode_uop(isa.Uop(**fields), config), "little")


@st.composite
def loop_insns(draw, cls, config, state, uop_bgn, spans):
    """Draw a non-empty GEMM or ALU loop whose visits stay inside the buffers.

    Its micro-ops are written to ``state`` from ``uop_bgn``. ``spans`` maps each target to
    how many rows its indices may spread over (small spans make visits alias).
    """
    iters = {"iter_out": draw(st.integers(1, 3)), "iter_in": draw(st.integers(1, 3))}
    count = draw(st.integers(1, 4))
    fields, uop_fields = dict(iters), [{} for _ in range(count)]
    for target, span in spans.items():
        out_factor = draw(st.integers(0, 2))
        in_factor = draw(st.integers(0, 2))
        reach = (iters["iter_out"] - 1) * out_factor + (iters["iter_in"] - 1) * in_factor
        fields |= {f"{target}_factor_out": out_factor, f"{target}_factor_in": in_factor}
        for uop in uop_fields:
            uop[f"{target}_idx"] = draw(st.integers(0, max(0, span - 1 - reach)))
    for offset, uop in enumerate(uop_fields):
        state["uop"].data[uop_bgn + offset, 0] = uop_word(config, **uop)
    if cls is isa.Gemm:
        fields["reset_reg"] = draw(st.integers(0, 1))
    else:
        fields["alu_opcode"] = draw(st.sampled_from(list(isa.AluOp)))
        fields["use_imm"] = draw(st.integers(0, 1))
        fields["imm"] = draw(st.one_of(st.integers(-40, 40), st.integers(-2**15, 2**15 - 1)))
    return cls(uop_bgn=uop_bgn, uop_end=uop_bgn + count, **fields)


def visits(insn) -> int:
    return insn.iter_out * insn.iter_in * (insn.uop_end - insn.uop_bgn)


def check_against_spec(unit, execute, config, state, insns):
    """Run ``insns`` on the RTL unit and on the spec; compare acc and the cycle count."""
    run = run_unit(unit(config), state, insns)
    for index, insn in enumerate(insns):
        execute(insn, state, index)
    assert run.acc == rows(state, "acc")
    assert run.cycles == sum(visits(insn) for insn in insns) + unit.LATENCY
    return run


@st.composite
def programs(draw, cls, spans_of):
    """Draw a config, a random state, and one to three loops packed into the uop buffer."""
    config = draw(configs(log_batch=(0, 1), log_block=(1, 2), log_depth=4))
    state = random_state(config, np.random.default_rng(draw(st.integers(0, 2**32 - 1))))
    insns, uop_bgn = [], 0
    for _ in range(draw(st.integers(1, 3))):
        insn = draw(loop_insns(cls, config, state, uop_bgn, spans_of(config)))
        insns.append(insn)
        uop_bgn = insn.uop_end
    return config, state, insns


@given(programs(isa.Gemm, lambda c: {"dst": c.acc_buff_depth, "src": c.inp_buff_depth,
                                     "wgt": c.wgt_buff_depth}))
def test_gemm_matches_spec(program):
    check_against_spec(TensorGemm, semantics.gemm, *program)


@given(programs(isa.Alu, lambda c: {"dst": 4, "src": 4}))
def test_alu_matches_spec_even_when_visits_alias(program):
    check_against_spec(TensorAlu, semantics.alu, *program)


@given(st.sampled_from([isa.Gemm, isa.Alu]).flatmap(
    lambda cls: st.tuples(st.just(cls), programs(cls, lambda c: {
        target: 1 << width for target, width in uop_loop.targets(cls, c).items()}))))
def test_loop_visits_in_spec_order(case):
    """Back-to-back commands: every visit, with its command's tag, in order, without gaps."""
    cls, (config, state, insns) = case
    tag = gemm.TAG if cls is isa.Gemm else alu.TAG
    loop = UopLoop(config, cls, tag)
    harness = Scratchpads(loop, state)
    expected = []
    for index, insn in enumerate(insns):
        grids = uop_indices(insn, state, index, keys=tuple(uop_loop.targets(cls, config)))
        for visit in zip(*(grid.reshape(-1).tolist() for grid in grids.values())):
            expected.append((*visit, *(getattr(insn, name) for name in tag)))
    seen, cycles = [], []

    async def bench(ctx):
        for insn in insns:
            ctx.set(loop.cmd.payload, command(loop, insn))
            ctx.set(loop.cmd.valid, 1)
            while not ctx.get(loop.cmd.ready):
                await ctx.tick()
            await ctx.tick()
        ctx.set(loop.cmd.valid, 0)
        while ctx.get(loop.busy):
            await ctx.tick()

    async def monitor(ctx):
        sampled = ctx.tick().sample(loop.visit.payload, loop.visit.valid)
        async for cycle, (_, _, payload, valid) in aenumerate(sampled):
            if valid:
                fields = [payload[target] for target in uop_loop.targets(cls, config)]
                fields += [payload.tag[name] for name in tag]
                seen.append(tuple(getattr(field, "value", field) for field in fields))
                cycles.append(cycle)

    sim = Simulator(harness)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.add_process(monitor)
    sim.run_until(1e-6 * (len(expected) + 10 * len(insns) + 10))
    assert seen == expected
    assert cycles == list(range(cycles[0], cycles[0] + len(cycles)))


async def aenumerate(iterable):
    count = 0
    async for item in iterable:
        yield count, item
        count += 1


# A kernel that sums 8 uops into one accumulator row, and ALU chains where every visit reads
# what the previous one (or the one before) wrote: both still run one visit per cycle.
def test_reduction_into_one_row_runs_one_uop_per_cycle():
    state = random_state(SMALL, np.random.default_rng(1))
    for u in range(8):
        state["uop"].data[u, 0] = uop_word(SMALL, dst_idx=3, src_idx=u, wgt_idx=15 - u)
    insn = isa.Gemm(uop_bgn=0, uop_end=8, iter_out=4, iter_in=2, src_factor_out=1,
                    wgt_factor_in=0, dst_factor_out=2)
    run = check_against_spec(TensorGemm, semantics.gemm, SMALL, state, [insn])
    assert run.cycles == 64 + TensorGemm.LATENCY


@pytest.mark.parametrize("uops, factors", [
    ([{"dst_idx": 5, "src_idx": 5}], {"iter_in": 6}),  # acc[5] = op(acc[5], acc[5]), 6 times
    ([{"dst_idx": 1, "src_idx": 0}, {"dst_idx": 0, "src_idx": 1}], {"iter_in": 4}),  # ping-pong
    ([{"dst_idx": 2, "src_idx": 1}], {"iter_in": 5, "dst_factor_in": 1, "src_factor_in": 1}),
    ([{"dst_idx": 0, "src_idx": 0}, {"dst_idx": 1, "src_idx": 9}, {"dst_idx": 2, "src_idx": 0}],
     {"iter_in": 3}),  # reads the row written two visits earlier
])
@pytest.mark.parametrize("op", list(isa.AluOp))
def test_alu_chains_forward_results(uops, factors, op):
    state = random_state(SMALL, np.random.default_rng(op))
    state["acc"].data[:] %= 7  # small values keep MUL and SHR chains interesting
    for u, uop in enumerate(uops):
        state["uop"].data[u, 0] = uop_word(SMALL, **uop)
    insn = isa.Alu(uop_bgn=0, uop_end=len(uops), iter_out=1, alu_opcode=op, **factors)
    check_against_spec(TensorAlu, semantics.alu, SMALL, state, [insn])


@pytest.mark.parametrize("loop", [{"iter_out": 0}, {"iter_in": 0}, {"uop_end": 2}])
@pytest.mark.parametrize("unit, cls", [(TensorGemm, isa.Gemm), (TensorAlu, isa.Alu)])
def test_empty_loop_does_nothing(loop, unit, cls):
    state = random_state(SMALL, np.random.default_rng(2))
    fields = {"uop_bgn": 2, "uop_end": 4, "iter_out": 2, "iter_in": 2} | loop
    run = run_unit(unit(SMALL), state, [cls(**fields)])
    assert run.acc == rows(state, "acc")
    assert run.cycles == 1


# -- the ALU datapath on its own, against spec.semantics.alu_apply -------------------------

EDGES = [0, 1, -1, 2, 7, 8, 15, 16, 31, 32, 33, 63, 64, 127, -2, -7, -8, -9, -31, -32, -33,
         -63, -64, -65, 255, 2**15 - 1, -2**15, 2**31 - 1, -2**31]


def datapath_outputs(config, cases):
    """Return the datapath's lane 0 result for each ``(op, a, b)`` (one simulation)."""
    dut = AluDatapath(config)
    lanes = config.batch * config.block_out
    results = []

    async def bench(ctx):
        for op, a, b in cases:
            ctx.set(dut.op, op)
            ctx.set(dut.a, [[a] * config.block_out] * config.batch)
            ctx.set(dut.b, [[b] * config.block_out] * config.batch)
            y = ctx.get(dut.y)
            got = [y[i // config.block_out][i % config.block_out] for i in range(lanes)]
            assert len(set(got)) == 1, (op, a, b, got)
            results.append(got[0])

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    return results


def expected_outputs(config, cases):
    return [int(semantics.alu_apply(isa.AluOp(op), np.int64(a), np.int64(b), config.acc_width,
                                    semantics.FSIM)) for op, a, b in cases]


@pytest.mark.parametrize("log_acc_width", [3, 4, 5])
def test_datapath_edge_cases(log_acc_width):
    config = sized_config(LOG_ACC_WIDTH=log_acc_width, LOG_BLOCK=1, LOG_BATCH=1)
    half = 1 << (max(config.acc_width, 16) - 1)
    a_values = sorted({int(wrap(v, config.acc_width)) for v in EDGES})
    cases = [(op, a, b) for op in isa.AluOp for a in a_values for b in EDGES if -half <= b < half]
    assert datapath_outputs(config, cases) == expected_outputs(config, cases)


@given(st.integers(3, 5).flatmap(lambda log: st.tuples(
    st.just(log),
    st.lists(st.tuples(st.sampled_from(list(isa.AluOp)),
                       st.integers(-2**((1 << log) - 1), 2**((1 << log) - 1) - 1),
                       st.integers(-2**max((1 << log) - 1, 15),
                                   2**max((1 << log) - 1, 15) - 1)),
             min_size=1, max_size=200))))
def test_datapath_matches_alu_apply(case):
    log_acc_width, cases = case
    config = sized_config(LOG_ACC_WIDTH=log_acc_width, LOG_BLOCK=0, LOG_BATCH=0)
    assert datapath_outputs(config, cases) == expected_outputs(config, cases)
