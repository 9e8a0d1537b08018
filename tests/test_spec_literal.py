"""The literal semantics (spec/literal.py) against the conformance suite and the fast semantics.

Every conformance image runs on the literal, one-lane-at-a-time semantics and must leave the
expected DRAM. Then Hypothesis draws a small configuration, a random machine state and one
instruction, runs it through both the fast (vectorized) and the literal function on copies of
the state, and requires the same final state, or the same ProgramError, and equivalent Access
records.
"""

import copy
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vtaref.spec import ProgramImage, VtaConfig, bitfields, isa, literal, semantics
from vtaref.spec.errors import ProgramError
from vtaref.spec.isa import Alu, Gemm, Load, MemType, Store
from vtaref.spec.runner import run_program
from vtaref.spec.semantics import FLAVORS
from vtaref.spec.state import Dram, MachineState, element_formats

from .conftest import CONFORMANCE

CASES = sorted(path.parent for path in CONFORMANCE.glob("*/*/expected_dram.bin"))


def case_id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


# -- whole programs -------------------------------------------------------------------------


@pytest.mark.parametrize("folder", CASES, ids=case_id)
def test_conformance_on_literal_semantics(folder):
    image = ProgramImage.load(folder)
    state, _ = run_program(image.config, image.make_dram(), image.insn_addr, image.insn_count,
                           execute=literal.EXECUTE)
    assert state.dram.data.tobytes() == image.expected


def run_image(folder: Path, execute: dict, flavor) -> MachineState | str:
    image = ProgramImage.load(folder)
    try:
        state, _ = run_program(image.config, image.make_dram(), image.insn_addr,
                               image.insn_count, execute=execute, flavor=flavor,
                               check_races=False)
    except ProgramError as err:
        return str(err)
    return state


@pytest.mark.parametrize("folder", CASES, ids=case_id)
def test_conformance_programs_agree_in_hls_flavor(folder):
    """No expected DRAM exists for the HLS flavor, but the two semantics must still agree.

    Races are not checked: in the HLS flavor a GEMM reset reads inp and wgt (it computes the
    out-buffer value), which these fsim programs do not order after the loads.
    """
    fast = run_image(folder, semantics.EXECUTE, FLAVORS["hls"])
    slow = run_image(folder, literal.EXECUTE, FLAVORS["hls"])
    if isinstance(fast, str) or isinstance(slow, str):
        assert fast == slow
    else:
        assert_same_state(fast, slow)


def test_conformance_cases_exist():
    assert len(CASES) >= 40


# -- strategies -----------------------------------------------------------------------------


@st.composite
def configs(draw):
    """A valid configuration with small shapes and tiny buffers (usually 16 to 64 elements)."""
    log_batch = draw(st.integers(0, 2))
    log_block = draw(st.integers(0, 4))
    # An element must fill whole bytes: width + batch + block >= 3 (wgt: width + 2 * block).
    log_inp = draw(st.integers(max(0, 3 - log_batch - log_block), 4))
    log_wgt = draw(st.integers(max(0, 3 - 2 * log_block), 4))
    log_acc = draw(st.integers(3, 5))
    # Choose each buffer's depth, then the byte size that gives it (sizes are at least 8 bytes).
    shapes = {
        "LOG_INP_BUFF_SIZE": log_inp + log_batch + log_block - 3,
        "LOG_WGT_BUFF_SIZE": log_wgt + 2 * log_block - 3,
        "LOG_ACC_BUFF_SIZE": log_acc + log_batch + log_block - 3,
    }
    sizes = {key: shape + max(3 - shape, usually(draw, st.integers(4, 6), st.integers(1, 6)))
             for key, shape in shapes.items()}
    return VtaConfig(LOG_INP_WIDTH=log_inp, LOG_WGT_WIDTH=log_wgt, LOG_ACC_WIDTH=log_acc,
                     LOG_BATCH=log_batch, LOG_BLOCK=log_block,
                     LOG_UOP_BUFF_SIZE=usually(draw, st.integers(5, 7), st.integers(3, 7)),
                     **sizes)


def random_lanes(rng: np.random.Generator, shape: tuple, width: int) -> np.ndarray:
    """Lanes of ``width`` bits: a mix of uniform values, small values and extremes."""
    low, high = -(1 << (width - 1)), (1 << (width - 1)) - 1
    uniform = rng.integers(low, high + 1, size=shape)
    small = rng.integers(max(low, -40), min(high, 40) + 1, size=shape)
    extremes = [v for v in (low, high, -1, 0, 1) if low <= v <= high]
    edge = rng.choice(extremes, size=shape)
    return np.choose(rng.integers(0, 3, size=shape), [uniform, small, edge])


def uop_words(draw, config: VtaConfig, rng: np.random.Generator, depth: int) -> np.ndarray:
    """Raw micro-op words: fully random, small fields, or small fields sharing one dst_idx.

    Small fields make loop iterations alias; a shared dst_idx makes a GEMM a reduction. Bits
    above the micro-op fields hold garbage, which decoding must ignore.
    """
    layout = isa.uop_layout(config)
    used = max(f.offset + f.width for f in layout)
    style = draw(st.sampled_from(["raw", "small", "one_dst"]))
    words = rng.integers(0, 1 << 32, size=depth, dtype=np.int64)
    if style != "raw":
        shared = int(rng.integers(0, 4))
        for n in range(depth):
            values = {f.name: min(int(rng.integers(0, 4)), f.high) for f in layout}
            if style == "one_dst":
                values["dst_idx"] = min(shared, layout[0].high)  # dst_idx is the first field
            garbage = int(words[n]) >> used << used
            words[n] = bitfields.pack(layout, values) | garbage
    return words.astype(np.uint32)


@st.composite
def machine_states(draw, config: VtaConfig):
    """A machine state with random scratchpads, micro-ops and DRAM."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    largest = max(fmt.bytes for fmt in element_formats(config).values())
    base = draw(st.sampled_from([0, 100, 4096]))  # 100: elements not aligned to it
    size = 64 * largest + draw(st.integers(0, 40))
    state = MachineState(config, Dram(base, rng.integers(0, 256, size, dtype=np.uint8)))
    for name in ("inp", "wgt", "acc", "out"):
        buffer = state[name]
        buffer.data[...] = random_lanes(rng, buffer.data.shape, buffer.width)
    state["uop"].data[:, 0] = uop_words(draw, config, rng, state["uop"].depth)
    return state


def field_high(cls: type, name: str, config: VtaConfig) -> int:
    return next(f.high for f in isa.insn_layout(cls, config) if f.name == name)


def usually(draw, typical: st.SearchStrategy, rare: st.SearchStrategy, one_in: int = 10):
    """Draw from ``rare`` (edge cases, errors) once in ``one_in`` times, else from ``typical``.

    Hypothesis starts from and shrinks toward small draws, so 0 means ``typical``.
    """
    return draw(rare) if draw(st.integers(0, one_in - 1)) == one_in - 1 else draw(typical)


def small_field(draw, cls: type, name: str, config: VtaConfig, typical: int,
                one_in: int = 10) -> int:
    """Usually a value in [0, typical]; now and then anything the field can hold."""
    high = field_high(cls, name, config)
    return usually(draw, st.integers(0, min(typical, high)), st.integers(0, high), one_in)


def rarely_nonzero(draw, high: int, one_in: int) -> int:
    return usually(draw, st.just(0), st.integers(1, high), one_in)


def mem_fields(draw, cls: type, state: MachineState, memory_type: int, depth: int) -> dict:
    """Fields of a LOAD or STORE of small 2D blocks, mostly inside DRAM and the scratchpad."""
    fmt = state.formats.get(memory_type) if memory_type in set(MemType) else None
    elem = fmt.bytes if fmt else 1
    dram = state.dram
    return dict(
        memory_type=memory_type,
        sram_base=small_field(draw, cls, "sram_base", state.config, depth // 4),
        dram_base=draw(st.integers(max(0, dram.base // elem - 2),
                                   (dram.base + len(dram.data)) // elem + 1)),
        y_size=usually(draw, st.integers(1, 3), st.just(0)),
        x_size=usually(draw, st.integers(1, 4), st.just(0)),
        x_stride=small_field(draw, cls, "x_stride", state.config, 6),
    )


@st.composite
def loads(draw, state: MachineState):
    memory_type = usually(draw, st.sampled_from(semantics.LOADABLE), st.integers(0, 7))
    fmt = state.formats.get(memory_type) if memory_type in semantics.LOADABLE else None
    depth = state[fmt.buffer].depth if fmt else 8
    fields = mem_fields(draw, Load, state, memory_type, depth)
    pads = {pad: small_field(draw, Load, pad, state.config, 1, one_in=30)
            for pad in ("y_pad_0", "y_pad_1", "x_pad_0", "x_pad_1")}
    return Load(**fields, **pads)


@st.composite
def stores(draw, state: MachineState):
    memory_type = usually(draw, st.just(MemType.OUT), st.integers(0, 7))
    fields = mem_fields(draw, Store, state, memory_type, state["acc"].depth)
    pads = {pad: rarely_nonzero(draw, 15, one_in=30)
            for pad in ("y_pad_0", "y_pad_1", "x_pad_0", "x_pad_1")}
    return Store(**fields, **pads)


def loop_fields(draw, cls: type, state: MachineState, factors: tuple[str, ...]) -> dict:
    """Fields of a small uop loop (at most 3 x 3 iterations of a few uops)."""
    config = state.config
    uop_bgn = small_field(draw, cls, "uop_bgn", config, state["uop"].depth - 1)
    end_high = field_high(cls, "uop_end", config)
    depth = state["uop"].depth
    uop_end = usually(draw, st.integers(uop_bgn + 1, min(uop_bgn + 4, depth)),
                      st.integers(0, end_high))
    values = dict(reset_reg=draw(st.integers(0, 1)), uop_bgn=uop_bgn, uop_end=uop_end,
                  iter_out=usually(draw, st.integers(1, 3), st.just(0)),
                  iter_in=usually(draw, st.integers(1, 3), st.just(0)))
    for factor in factors:
        for level in ("_out", "_in"):
            values[factor + level] = small_field(draw, cls, factor + level, config, 2)
    return values


@st.composite
def gemms(draw, state: MachineState):
    return Gemm(**loop_fields(draw, Gemm, state, ("dst_factor", "src_factor", "wgt_factor")))


SHIFTS = [-32768, -65, -64, -63, -33, -32, -31, -17, -16, -15, -9, -8, -7, -1, 0, 1, 7, 8, 9,
          15, 16, 17, 31, 32, 33, 63, 64, 65, 32767]


@st.composite
def alus(draw, state: MachineState):
    values = loop_fields(draw, Alu, state, ("dst_factor", "src_factor"))
    values["alu_opcode"] = usually(draw, st.sampled_from(list(isa.AluOp)), st.integers(0, 7))
    values["use_imm"] = draw(st.integers(0, 1))
    values["imm"] = draw(st.one_of(st.integers(-32768, 32767), st.integers(-40, 40),
                                   st.sampled_from(SHIFTS)))
    return Alu(**values)


INSNS = {"LOAD": loads, "STORE": stores, "GEMM": gemms, "ALU": alus}


@st.composite
def cases(draw, mnemonic: str):
    """(state, instruction, flavor) for one instruction of kind ``mnemonic``."""
    config = draw(configs())
    state = draw(machine_states(config))
    insn = draw(INSNS[mnemonic](state))
    flavor = draw(st.sampled_from(list(FLAVORS.values())))
    return state, insn, flavor


# -- comparing the two semantics --------------------------------------------------------------


def assert_same_state(a: MachineState, b: MachineState) -> None:
    assert a.dram.base == b.dram.base
    assert np.array_equal(a.dram.data, b.dram.data), "DRAM differs"
    for name, buffer in a.buffers.items():
        other = b[name]
        assert buffer.data.dtype == other.data.dtype, name
        mismatch = np.argwhere(buffer.data != other.data)
        assert not mismatch.size, (
            f"{name}[{mismatch[0][0]}] lane {mismatch[0][1]}: fast "
            f"{buffer.data[tuple(mismatch[0])]}, literal {other.data[tuple(mismatch[0])]}")


def access_summary(access) -> dict:
    """An Access record as sets of touched indices and merged byte ranges."""

    def entries(records: dict) -> dict:
        return {name: set(np.asarray(idx).tolist()) for name, idx in records.items()
                if len(idx)}

    def ranges(byte_ranges) -> list:
        if byte_ranges is None:
            return []
        pairs = zip(byte_ranges.starts.tolist(), byte_ranges.ends.tolist())
        merged = literal.byte_ranges([(s, e) for s, e in pairs if e > s])
        return list(zip(merged.starts.tolist(), merged.ends.tolist()))

    return {"reads": entries(access.reads), "writes": entries(access.writes),
            "dram_reads": ranges(access.dram_reads), "dram_writes": ranges(access.dram_writes)}


def outcome(execute: dict, insn, state: MachineState, flavor):
    """Run one instruction; return its Access summary or the ProgramError's message and field."""
    try:
        access = execute[insn.MNEMONIC](insn, state, 7, flavor)
    except ProgramError as err:
        return ("error", str(err), err.field)
    return ("ok", access_summary(access))


def check_agree(state: MachineState, insn, flavor) -> None:
    fast_state, slow_state = copy.deepcopy(state), copy.deepcopy(state)
    fast = outcome(semantics.EXECUTE, insn, fast_state, flavor)
    slow = outcome(literal.EXECUTE, insn, slow_state, flavor)
    assert fast == slow
    assert_same_state(fast_state, slow_state)
    if fast[0] == "error":  # errors are raised before anything changes
        assert_same_state(state, slow_state)


@given(case=cases("LOAD"))
def test_load_fast_equals_literal(case):
    check_agree(*case)


@given(case=cases("STORE"))
def test_store_fast_equals_literal(case):
    check_agree(*case)


@given(case=cases("GEMM"))
def test_gemm_fast_equals_literal(case):
    check_agree(*case)


@given(case=cases("ALU"))
def test_alu_fast_equals_literal(case):
    check_agree(*case)


@pytest.mark.parametrize("flavor", FLAVORS.values(), ids=FLAVORS)
def test_finish_changes_nothing(flavor):
    state = MachineState(VtaConfig(), Dram(0, np.arange(64, dtype=np.uint8)))
    check_agree(state, isa.Finish(), flavor)


# -- hand-picked edge cases -------------------------------------------------------------------

SMALL = VtaConfig(LOG_BATCH=1, LOG_BLOCK=2, LOG_UOP_BUFF_SIZE=10, LOG_INP_BUFF_SIZE=10,
                  LOG_WGT_BUFF_SIZE=10, LOG_ACC_BUFF_SIZE=10)  # 2 x 4 x 4, 32 acc rows
ACC16 = VtaConfig(LOG_ACC_WIDTH=4, LOG_BATCH=2, LOG_BLOCK=2, LOG_UOP_BUFF_SIZE=12,
                  LOG_INP_BUFF_SIZE=12, LOG_WGT_BUFF_SIZE=12, LOG_ACC_BUFF_SIZE=13)
INT4 = VtaConfig(LOG_INP_WIDTH=2, LOG_WGT_WIDTH=2, LOG_BLOCK=3, LOG_UOP_BUFF_SIZE=14,
                 LOG_INP_BUFF_SIZE=13, LOG_WGT_BUFF_SIZE=15, LOG_ACC_BUFF_SIZE=15)
INP1 = VtaConfig(LOG_INP_WIDTH=0, LOG_BATCH=1, LOG_BLOCK=2, LOG_UOP_BUFF_SIZE=10,
                 LOG_INP_BUFF_SIZE=8, LOG_WGT_BUFF_SIZE=10, LOG_ACC_BUFF_SIZE=10)
ACC8 = VtaConfig(LOG_ACC_WIDTH=3, LOG_BATCH=1, LOG_BLOCK=2, LOG_UOP_BUFF_SIZE=10,
                 LOG_INP_BUFF_SIZE=10, LOG_WGT_BUFF_SIZE=10, LOG_ACC_BUFF_SIZE=10)
I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1


def edge_state(config: VtaConfig, dram: bytes = bytes(256), uops=(), **buffers) -> MachineState:
    """A state with ``dram`` at address 0, ``uops`` from uop[0], and buffers filled as given.

    A buffer's value is either broadcast to the whole buffer or a dict ``{row: lanes}``.
    """
    state = MachineState(config, Dram(0, np.frombuffer(dram, dtype=np.uint8).copy()))
    for n, uop in enumerate(uops):
        state["uop"].data[n, 0] = int.from_bytes(isa.encode_uop(uop, config), "little")
    for name, value in buffers.items():
        rows = value.items() if isinstance(value, dict) else [(slice(None), value)]
        for row, lanes in rows:
            state[name].data[row] = lanes
    return state


def reduction_uops(count: int) -> list:
    return [isa.Uop(dst_idx=0, src_idx=u, wgt_idx=u) for u in range(count)]


# (name, state, instruction, flavor, what the literal semantics must leave, or None)
EDGE_CASES = [
    # 200 uops x 16 products of (-128)^2 into one row: 52428800, past float32's exact range.
    ("gemm_uop_reduction_past_float32",
     edge_state(VtaConfig(), uops=reduction_uops(200), inp=-128, wgt=-128),
     Gemm(uop_bgn=0, uop_end=200, iter_out=1, iter_in=1), "fsim",
     lambda s: (s["acc"].data[0] == 200 * 16 * 128 * 128).all()),
    # The same sum spread over both loop levels, with src and wgt moving on both.
    ("gemm_loop_reduction_past_float32",
     edge_state(VtaConfig(), uops=reduction_uops(1), inp=-128, wgt=-128),
     Gemm(uop_bgn=0, uop_end=1, iter_out=2, iter_in=100, src_factor_out=100, src_factor_in=1,
          wgt_factor_out=100, wgt_factor_in=1), "fsim",
     lambda s: (s["acc"].data[0] == 200 * 16 * 128 * 128).all()),
    ("gemm_wraps_to_16_bit_acc",
     edge_state(ACC16, uops=reduction_uops(1), inp=1, wgt=1, acc=32767),
     Gemm(uop_bgn=0, uop_end=1, iter_out=1, iter_in=1), "fsim",
     lambda s: (s["acc"].data[0] == 32767 + 4 - 65536).all()),
    # HLS: a reset GEMM visiting row 0 twice; acc ends 0, out holds the last visit's sum.
    ("gemm_hls_reset_repeated_dst",
     edge_state(SMALL, uops=reduction_uops(1) * 2, inp=3, wgt=5, acc=100),
     Gemm(reset_reg=1, uop_bgn=0, uop_end=2, iter_out=1, iter_in=1), "hls",
     lambda s: (s["acc"].data[0] == 0).all() and (s["out"].data[0] == 4 * 15).all()),
    # acc[k + 1] += acc[k] for k = 0..4: each visit reads the previous visit's result.
    ("alu_running_sum",
     edge_state(SMALL, uops=[isa.Uop(dst_idx=1, src_idx=0)], acc=1),
     Alu(uop_bgn=0, uop_end=1, iter_out=1, iter_in=5, dst_factor_in=1, src_factor_in=1,
         alu_opcode=isa.AluOp.ADD), "fsim",
     lambda s: (s["acc"].data[:6].T == np.arange(1, 7)).all()),
    *[(f"alu_vector_shr_extremes_{flavor}",
       edge_state(SMALL, uops=[isa.Uop(dst_idx=0, src_idx=1)],
                  acc={0: [I32_MIN, I32_MAX, -1, 1, 12345, -12345, 7, -7],
                       1: [I32_MIN, I32_MAX, -32, -31, 31, 32, -1, 33]}),
       Alu(uop_bgn=0, uop_end=1, iter_out=1, iter_in=1, alu_opcode=isa.AluOp.SHR), flavor,
       None) for flavor in FLAVORS],
    *[(f"alu_imm_shr_{imm}",
       edge_state(SMALL, uops=[isa.Uop()], acc={0: [I32_MIN, I32_MAX, -1, 1, 5, -5, 3, -3]}),
       Alu(uop_bgn=0, uop_end=1, iter_out=1, iter_in=1, alu_opcode=isa.AluOp.SHR, use_imm=1,
           imm=imm), "fsim", None) for imm in (-32768, -33, -32, -31, -1, 31, 32, 32767)],
    # docs/isa.md 5.5: with 32-bit accumulators, -1000 SHR 3, -3, 40, -32.
    *[(f"alu_shr_documented_{imm}",
       edge_state(SMALL, uops=[isa.Uop()], acc=-1000),
       Alu(uop_bgn=0, uop_end=1, iter_out=1, iter_in=1, alu_opcode=isa.AluOp.SHR, use_imm=1,
           imm=imm), "fsim", lambda s, want=want: (s["acc"].data[0] == want).all())
      for imm, want in ((3, -125), (-3, -8000), (40, -1), (-32, 0))],
    # 8-bit accumulators: a 16-bit immediate past their range, chosen by MIN or MAX, wraps.
    *[(f"alu_{op.name.lower()}_imm_past_8_bit_acc",
       edge_state(ACC8, uops=[isa.Uop()], acc={0: [-128, 127, 0, 5, -5, 1, -1, 100]}),
       Alu(uop_bgn=0, uop_end=1, iter_out=1, iter_in=1, alu_opcode=op, use_imm=1, imm=imm),
       "fsim", lambda s, want=want: (s["acc"].data[0] == want).all())
      for op, imm, want in ((isa.AluOp.MIN, -200, 56), (isa.AluOp.MAX, 300, 44))],
    ("alu_mul_wraps",
     edge_state(SMALL, uops=[isa.Uop()], acc=I32_MIN + 1),
     Alu(uop_bgn=0, uop_end=1, iter_out=1, iter_in=1, alu_opcode=isa.AluOp.MUL, use_imm=1,
         imm=-32768), "fsim",
     lambda s: (s["acc"].data[0] == literal.wrap((I32_MIN + 1) * -32768, 32)).all()),
    # Rows 1 element apart overlap: DRAM element 3 is written last by row 2, element 1.
    ("store_overlapping_rows",
     edge_state(SMALL, acc={n: [n] * 8 for n in range(12)}),
     Store(memory_type=MemType.OUT, sram_base=0, dram_base=0, y_size=3, x_size=4, x_stride=1),
     "fsim", lambda s: s.dram.data[3 * 8] == 2 * 4 + 1),
    # 4-bit lanes pack least-significant nibble first.
    ("store_int4_packing",
     edge_state(INT4, acc={0: [-8, 7, -1, 0, 1, 2, 3, 4]}),
     Store(memory_type=MemType.OUT, sram_base=0, dram_base=0, y_size=1, x_size=1, x_stride=1),
     "fsim", lambda s: bytes(s.dram.data[:4]) == bytes([0x78, 0x0F, 0x21, 0x43])),
    ("load_acc_8bit_padded",
     edge_state(SMALL, dram=bytes(range(128, 256)) * 2),
     Load(memory_type=MemType.ACC_8BIT, sram_base=1, dram_base=1, y_size=2, x_size=2,
          x_stride=3, y_pad_0=1, y_pad_1=1, x_pad_0=1, x_pad_1=1), "fsim",
     lambda s: (s["acc"].data[1:5] == 0).all()
     and list(s["acc"].data[6]) == list(range(8 - 128, 16 - 128))),
    # No DRAM rows (y_size 0): padding only, whatever dram_base is; no DRAM bytes touched.
    ("load_no_rows_padding_only",
     edge_state(SMALL, inp=5),
     Load(memory_type=MemType.INP, sram_base=2, dram_base=10**6, y_size=0, x_size=3,
          x_stride=3, y_pad_0=1), "fsim",
     lambda s: (s["inp"].data[2:5] == 0).all() and (s["inp"].data[5] == 5).all()),
    ("store_no_rows",
     edge_state(SMALL, acc=7),
     Store(memory_type=MemType.OUT, sram_base=0, dram_base=10**6, y_size=0, x_size=3,
           x_stride=3), "fsim", lambda s: not s.dram.data.any()),
    # 1-bit lanes: bit i of the byte is lane i, and a set bit is -1.
    ("load_inp_1_bit",
     edge_state(INP1, dram=bytes([0b10100101]) * 16),
     Load(memory_type=MemType.INP, sram_base=0, dram_base=0, y_size=1, x_size=1,
          x_stride=1), "fsim",
     lambda s: list(s["inp"].data[0]) == [-1, 0, -1, 0, 0, -1, 0, -1]),
]


@pytest.mark.parametrize("name, state, insn, flavor, expect", EDGE_CASES,
                         ids=[case[0] for case in EDGE_CASES])
def test_edge_case(name, state, insn, flavor, expect):
    check_agree(state, insn, FLAVORS[flavor])
    if expect is not None:
        final = copy.deepcopy(state)
        literal.EXECUTE[insn.MNEMONIC](insn, final, 0, FLAVORS[flavor])
        assert expect(final)


@given(seed=st.integers(0, 2**32 - 1),
       amount=st.one_of(st.integers(-70, 70), st.integers(-(1 << 15), (1 << 15) - 1)),
       width=st.sampled_from([8, 16, 32]))
def test_alu_shift_by_one_amount_equals_lane_by_lane(seed, amount, width):
    """SHR by an immediate (one amount for all lanes) equals SHR by that amount in every lane."""
    rng = np.random.default_rng(seed)
    a = rng.integers(-(1 << (width - 1)), 1 << (width - 1), size=64, dtype=np.int64)
    for flavor in FLAVORS.values():
        scalar = semantics.alu_apply(isa.AluOp.SHR, a, np.int64(amount), width, flavor)
        lanes = semantics.alu_apply(isa.AluOp.SHR, a, np.full_like(a, amount), width, flavor)
        assert np.array_equal(scalar, lanes)
