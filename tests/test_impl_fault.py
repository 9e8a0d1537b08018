"""An instruction that addresses past the end of a scratchpad stops the core with an index fault
that names the stage and the buffer (where the spec raises ProgramError), instead of wrapping;
one that ends exactly at the end of a buffer runs as the spec says."""

from dataclasses import replace

import pytest

from vtaref.impl import scratchpad
from vtaref.impl.run import RtlIndexFault, run_checked, simulate
from vtaref.spec.builder import DEFAULT_DRAM_BASE, ProgramBuilder
from vtaref.spec.errors import ProgramError
from vtaref.spec.isa import Alu, AluOp, Finish, Gemm, Load, MemType, Store, Uop
from vtaref.spec.runner import run_image
from vtaref.spec.state import element_formats

from .test_impl_core import conformance_config

CONFIG = conformance_config("block4_small")  # shares its Verilator model with other tests
DEPTH = {name: 1 << scratchpad.addr_width(name, CONFIG) for name in scratchpad.BUFFERS}
DATA_BYTES = 4096  # of DRAM at DEFAULT_DRAM_BASE, behind every LOAD's and STORE's dram_base


def dram_base(memory_type):
    return DEFAULT_DRAM_BASE // element_formats(CONFIG)[memory_type].bytes


def load(memory_type, sram_base, count, **padding):
    return Load(memory_type=memory_type, sram_base=sram_base, dram_base=dram_base(memory_type),
                y_size=1, x_size=count, x_stride=count, **padding)


def store(sram_base, count):
    return Store(memory_type=MemType.OUT, sram_base=sram_base, dram_base=dram_base(MemType.OUT),
                 y_size=1, x_size=count, x_stride=count)


def with_uops(builder, uops):
    """Load ``uops`` into uop rows 0.. (the compute stage's own LOAD: no tokens needed)."""
    builder.emit(Load(memory_type=MemType.UOP, sram_base=0, dram_base=builder.place_uops(uops),
                      y_size=1, x_size=len(uops), x_stride=len(uops)))


def loop(cls, uop_end=1, **fields):
    loop_fields = dict(uop_bgn=0, uop_end=uop_end, iter_out=1, iter_in=1)
    return cls(**(loop_fields | fields))


def program(*insns, uops=None):
    """Return the image of ``insns`` (after loading ``uops``), then a FINISH that waits for the
    load and store stages' last instruction."""
    builder = ProgramBuilder(CONFIG)
    assert builder.allocate(DATA_BYTES, DATA_BYTES) == DEFAULT_DRAM_BASE
    if uops is not None:
        with_uops(builder, uops)
    finish = Finish()
    for insn in insns:
        if isinstance(insn, Load) and insn.memory_type in (MemType.INP, MemType.WGT):
            insn, finish = replace(insn, push_next_dep=True), replace(finish, pop_prev_dep=True)
        elif isinstance(insn, Store):
            insn, finish = replace(insn, push_prev_dep=True), replace(finish, pop_next_dep=True)
        builder.emit(insn)
    builder.emit(finish)
    return builder.build(finish=False)


last = {name: depth - 1 for name, depth in DEPTH.items()}
ALU_ADD = dict(alu_opcode=AluOp.ADD, use_imm=True, imm=1)
PAST_THE_END = {
    # name: (program, stage, buffer)
    "load_inp": (lambda: program(load(MemType.INP, last["inp"], 2)), "load", "inp"),
    "load_wgt_padding": (lambda: program(load(MemType.WGT, last["wgt"] - 1, 1, x_pad_0=1,
                                              x_pad_1=1)), "load", "wgt"),
    "load_uop": (lambda: program(load(MemType.UOP, last["uop"], 2)), "compute", "uop"),
    "load_acc": (lambda: program(load(MemType.ACC, last["acc"], 2)), "compute", "acc"),
    "gemm_dst_inner": (lambda: program(loop(Gemm, iter_in=2, dst_factor_in=1),
                                       uops=[Uop(dst_idx=last["acc"])]), "compute", "acc"),
    "gemm_src_outer": (lambda: program(loop(Gemm, iter_out=2, src_factor_out=last["inp"]),
                                       uops=[Uop(src_idx=2)]), "compute", "inp"),
    "gemm_wgt_outer_sum": (lambda: program(loop(Gemm, iter_out=3, wgt_factor_out=last["wgt"]),
                                           uops=[Uop()]), "compute", "wgt"),
    "alu_src_uop": (lambda: program(loop(Alu, alu_opcode=AluOp.ADD),
                                    uops=[Uop(src_idx=DEPTH["acc"])]), "compute", "acc"),
    "alu_dst_imm": (lambda: program(loop(Alu, iter_in=3, dst_factor_in=last["acc"], **ALU_ADD),
                                    uops=[Uop()]), "compute", "acc"),
    "uop_range": (lambda: program(loop(Gemm, uop_bgn=last["uop"], uop_end=DEPTH["uop"] + 1),
                                  uops=[Uop()]), "compute", "uop"),
    "store": (lambda: program(store(last["acc"], 2)), "store", "acc"),
}


@pytest.mark.parametrize("name", sorted(PAST_THE_END))
def test_an_index_past_the_end_stops_the_core_with_a_fault(name):
    build, stage, buffer = PAST_THE_END[name]
    image = build()
    with pytest.raises(ProgramError):
        run_image(image)
    with pytest.raises(RtlIndexFault, match=f"^the core stopped on an index fault: the {stage} "
                                            f"stage addressed past the end of the {buffer} "
                                            "scratchpad$"):
        simulate(image, max_cycles=100_000)


def test_the_amaranth_simulator_reports_the_fault_too():
    build, stage, buffer = PAST_THE_END["gemm_dst_inner"]
    with pytest.raises(RtlIndexFault, match=f"the {stage} stage .* the {buffer} scratchpad"):
        simulate(build(), simulator="amaranth", max_cycles=10_000)


@pytest.mark.parametrize("insn", [
    load(MemType.INP, last["inp"], 1),
    load(MemType.WGT, last["wgt"] - 2, 1, x_pad_0=1, x_pad_1=1),
    load(MemType.ACC, last["acc"] - 1, 2),
    loop(Gemm, iter_in=2, dst_factor_in=1, src_factor_in=last["inp"] - 2),
    loop(Alu, iter_out=2, iter_in=2, dst_factor_out=last["acc"] - 1, dst_factor_in=1, **ALU_ADD),
    loop(Gemm, uop_bgn=last["uop"], uop_end=DEPTH["uop"]),
    loop(Gemm, reset_reg=True, iter_in=3, src_factor_in=last["inp"]),  # reads no inp row
    store(last["acc"], 1),
], ids=["load_inp", "load_wgt_padding", "load_acc", "gemm", "alu", "uop_range", "gemm_reset",
        "store"])
def test_an_instruction_that_ends_at_the_last_row_runs(insn):
    checked = run_checked(program(insn, uops=[Uop(src_idx=1)]))
    assert checked.matches, checked.mismatch

