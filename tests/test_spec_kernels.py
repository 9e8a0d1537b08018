"""The fused GEMM path (spec/semantics.py ``_visit_sums``) against the literal semantics.

Matrix and convolution kernels do not go through the per-visit product path that the generic
fuzzing in test_spec_literal.py mostly reaches: their visits are summed per accumulator row as
one matrix product. Here Hypothesis draws kernels of that shape (taps, output channel blocks,
loops whose rows repeat or not), random operands including extremes, and configurations with
batch > 1, 16-bit accumulators and 4-bit and 1-bit lanes; the fast and literal semantics must
leave the same state, and the fused path must be taken exactly when its contract says.
"""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from vtaref.spec import VtaConfig, isa, semantics
from vtaref.spec.isa import Gemm
from vtaref.spec.semantics import FLAVORS
from vtaref.spec.state import Dram, MachineState
from vtaref.spec.visits import loop_visits, uop_indices

from .test_spec_literal import check_agree, random_lanes

BUFFERS = dict(LOG_UOP_BUFF_SIZE=12, LOG_INP_BUFF_SIZE=12, LOG_WGT_BUFF_SIZE=12,
               LOG_ACC_BUFF_SIZE=13)  # large enough for every index drawn below
KERNEL_CONFIGS = {
    "batch2": VtaConfig(LOG_BATCH=1, LOG_BLOCK=2, **BUFFERS),
    "acc16": VtaConfig(LOG_ACC_WIDTH=4, LOG_BATCH=2, LOG_BLOCK=2, **BUFFERS),
    "int4": VtaConfig(LOG_INP_WIDTH=2, LOG_WGT_WIDTH=2, LOG_BLOCK=3, **BUFFERS),
    "inp1": VtaConfig(LOG_INP_WIDTH=0, LOG_BATCH=1, LOG_BLOCK=2, **BUFFERS),
}


@st.composite
def kernels(draw):
    """(state, GEMM) for a kernel of ``taps`` inputs per output channel block.

    Uop ``(c, t)`` adds input ``t`` times weight ``c * taps + t`` into row ``c * dst_step``;
    ``dst_step == 0`` puts every channel into one row. The loops move the rows, inputs and
    weights by drawn factors, 0 included (then iterations write the same rows again).
    """
    config = KERNEL_CONFIGS[draw(st.sampled_from(sorted(KERNEL_CONFIGS)))]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    state = MachineState(config, Dram(0, np.zeros(64, dtype=np.uint8)))
    for name in ("inp", "wgt", "acc", "out"):
        buffer = state[name]
        buffer.data[...] = random_lanes(rng, buffer.data.shape, buffer.width)
    taps, channels = draw(st.integers(1, 5)), draw(st.integers(1, 3))
    dst_step = draw(st.sampled_from([0, 1, 7]))
    pairs = [(c, t) for c in range(channels) for t in range(taps)]
    if draw(st.booleans()):  # interleave the channels, as convolution kernels do
        pairs.sort(key=lambda pair: pair[1])
    for n, (c, t) in enumerate(pairs):
        uop = isa.Uop(dst_idx=c * dst_step, src_idx=t, wgt_idx=c * taps + t)
        state["uop"].data[n, 0] = int.from_bytes(isa.encode_uop(uop, config), "little")
    factor = st.sampled_from([0, 1, 2, 3, 9, 16])
    insn = Gemm(reset_reg=int(draw(st.integers(0, 9)) == 0), uop_bgn=0, uop_end=len(pairs),
                iter_out=draw(st.integers(1, 4)), iter_in=draw(st.integers(1, 5)),
                dst_factor_out=draw(factor), dst_factor_in=draw(factor),
                src_factor_out=draw(factor), src_factor_in=draw(factor),
                wgt_factor_out=draw(st.sampled_from([0, channels * taps])),
                wgt_factor_in=draw(st.sampled_from([0, channels * taps])))
    return state, insn


@given(case=kernels(), flavor=st.sampled_from(sorted(FLAVORS)))
def test_kernel_gemm_fast_equals_literal(case, flavor):
    check_agree(*case, FLAVORS[flavor])


@given(case=kernels())
def test_kernel_gemm_is_fused_exactly_when_its_contract_says(case):
    """Fused when every row gets the same number of visits and the distinct input sequences
    times the distinct weight sequences (each row's, in visit order) are at most 4 x rows."""
    state, insn = case
    idx = uop_indices(insn, state, 0)
    sequences = {}
    for row, src, wgt in zip(*(idx[key].reshape(-1).tolist() for key in ("dst", "src", "wgt"))):
        sequences.setdefault(row, ([], []))
        sequences[row][0].append(src)
        sequences[row][1].append(wgt)
    equal_visits = len({len(src) for src, _ in sequences.values()}) == 1
    distinct = [len({tuple(seqs[n]) for seqs in sequences.values()}) for n in (0, 1)]
    fused = semantics._visit_sums(state, semantics._sum_plan(idx))
    assert (fused is not None) == (equal_visits
                                   and distinct[0] * distinct[1] <= 4 * len(sequences))
    if fused is not None:
        rows = np.arange(state["acc"].depth)[fused[0]]  # an index array or a slice
        assert sorted(rows.tolist()) == sorted(sequences)


def test_kernel_sums_past_float32_use_float64():
    """One row sums 1024 visits of 4 products (-128) * (-128): 2**26, past float32's exact range."""
    config = KERNEL_CONFIGS["batch2"]
    state = MachineState(config, Dram(0, np.zeros(64, dtype=np.uint8)))
    state["inp"].data[...] = -128
    state["wgt"].data[...] = -128
    state["acc"].data[...] = 0
    uop = isa.Uop(dst_idx=0, src_idx=0, wgt_idx=0)
    state["uop"].data[0, 0] = int.from_bytes(isa.encode_uop(uop, config), "little")
    insn = Gemm(uop_bgn=0, uop_end=1, iter_out=64, iter_in=16, src_factor_in=1,
                wgt_factor_out=1)
    check_agree(state, insn, FLAVORS["fsim"])
    semantics.gemm(insn, state, 0)
    assert (state["acc"].data[0] == 64 * 16 * 4 * 128 * 128).all()


@given(case=kernels(), seed=st.integers(0, 2**32 - 1))
def test_kernel_run_again_reuses_its_visits_and_reads_new_data(case, seed):
    """A second run of the same loop on other data takes the first run's visits (the same
    object) and still equals the literal semantics."""
    state, insn = case
    keys = ("dst",) if insn.reset_reg else ("dst", "src", "wgt")
    check_agree(state, insn, FLAVORS["fsim"])
    first = loop_visits(insn, state, 0, keys)
    rng = np.random.default_rng(seed)
    for name in ("inp", "wgt", "acc"):
        buffer = state[name]
        buffer.data[...] = random_lanes(rng, buffer.data.shape, buffer.width)
    check_agree(state, insn, FLAVORS["fsim"])
    assert loop_visits(insn, state, 0, keys) is first
    assert not any(grid.flags.writeable for grid in first.idx.values())


@given(rows=st.lists(st.integers(0, 40), unique=True, max_size=12)
       | st.tuples(st.integers(0, 30), st.integers(0, 10)).map(lambda t: list(range(t[0], sum(t)))))
def test_rows_index_selects_the_same_rows(rows):
    """rows_index gives a slice exactly for consecutive ascending rows, selecting the same ones."""
    from vtaref.spec.visits import rows_index

    rows = np.array(rows, dtype=np.int64)
    index = rows_index(rows)
    buffer = np.arange(64) * 10
    assert buffer[index].tolist() == buffer[rows].tolist()
    consecutive = rows.size > 0 and rows.tolist() == list(range(rows[0], rows[0] + rows.size))
    assert isinstance(index, slice) == consecutive
