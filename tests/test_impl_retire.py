# amaranth: UnusedElaboratable=no
"""The retirement port (VtaCore(retire=True)): the RTL's trace equals the spec's line for line on
random programs; every GEMM and ALU visit it reports computes the spec's result from the values it
reports reading, which are what the port last reported written there; every row a LOAD reports
reading from DRAM is there; and a wrong ALU immediate is blamed on its own instruction, not on the
STORE that shows it."""

import numpy as np
import pytest
from amaranth.back import rtlil
from amaranth.hdl import unsigned
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize

from vtaref.impl import retire, uop_loop
from vtaref.impl.core import VtaCore
from vtaref.impl.retire_trace import RetireLog, lanes
from vtaref.impl.run import RtlError, rtl_trace, run_checked
from vtaref.spec import (
    Alu,
    AluOp,
    Finish,
    Load,
    MemType,
    ProgramBuilder,
    ProgramImage,
    Store,
    Uop,
    isa,
)
from vtaref.spec.runner import run_image
from vtaref.spec.semantics import FSIM, alu_apply
from vtaref.spec.state import element_formats
from vtaref.spec.strategies import conv2d_programs, pipelined_programs, tiled_gemm_programs
from vtaref.spec.strategies.actions import ProgramMachine, RandomProgram, slot_counts
from vtaref.spec.trace import JsonTracer

from .conftest import CONFORMANCE
from .impl_support import SMALL_CONFIGS, bus_models

CONFIGS = SMALL_CONFIGS  # small buffers: the Amaranth simulator elaborates them quickly


def spec_trace(image, values=True) -> list[str]:
    tracer = JsonTracer(values=values)
    run_image(image, tracer=tracer)
    return tracer.lines()


def traced_run(image, bus=None, simulator="amaranth"):
    """Run ``image`` on ``simulator`` with the port; check it matches the spec."""
    options = {} if bus is None else {"bus": bus}
    checked = run_checked(image, simulator=simulator, trace=True, **options)
    assert checked.matches, checked.mismatch
    return checked


def test_the_port_exists_only_when_asked_for():
    config = CONFIGS["2x4"]
    assert "retire" not in VtaCore(config).signature.members
    port = VtaCore(config, retire=True).signature.members["retire"].signature
    assert set(port.members) == {*retire.STAGES, *retire.SPACES, "gemm", "alu", "dram"}
    assert "issued" not in rtlil.convert(VtaCore(config))  # no retirement bookkeeping


def test_the_port_does_not_change_the_run():
    image = ProgramImage.load(CONFORMANCE / "block4_small" / "edge_alu_chain_00")
    plain, traced = (run_checked(image, trace=trace) for trace in (False, True))
    assert traced.matches and traced.rtl.dram == plain.rtl.dram
    assert traced.rtl.counters == plain.rtl.counters  # cycle for cycle the same core
    assert plain.rtl.retired is None and traced.rtl.retired.events


class RandomProgramsTraced(ProgramMachine):
    """Random instructions; the RTL's trace of the finished program, values included, is the
    spec's, line for line, and every visit and LOAD the port reports is consistent (on the
    Amaranth simulator; :class:`RandomProgramsTracedByVerilator` on Verilator)."""

    simulator = "amaranth"

    @initialize(name=st.sampled_from(sorted(CONFIGS)), bus=bus_models(), slots=slot_counts())
    def start(self, name, bus, slots):
        self.program = RandomProgram(CONFIGS[name], slots=slots)
        self.bus = bus

    def teardown(self):
        if self.program is not None:  # None only when start itself failed
            image = self.program.build()
            checked = traced_run(image, self.bus, self.simulator)
            assert rtl_trace(image, checked.rtl, values=True).lines() == spec_trace(image)
            check_retirements(image, checked.rtl.retired)
            check_visits(image.config, checked.rtl.retired)
            check_loads(image, checked.rtl.retired)


RandomProgramsTraced.TestCase.settings = settings(max_examples=10, stateful_step_count=10)
test_random_programs_trace_as_the_spec = RandomProgramsTraced.TestCase


class RandomProgramsTracedByVerilator(RandomProgramsTraced):
    simulator = "verilator"  # a model with the port, built apart from the default one


RandomProgramsTracedByVerilator.TestCase.settings = settings(max_examples=40,
                                                             stateful_step_count=16)
test_random_programs_trace_as_the_spec_on_verilator = RandomProgramsTracedByVerilator.TestCase


@settings(max_examples=6)
@given(data=st.data())
def test_structured_programs_trace_as_the_spec(data):
    config = CONFIGS[data.draw(st.sampled_from(sorted(CONFIGS)))]
    family = data.draw(st.sampled_from([tiled_gemm_programs, conv2d_programs,
                                        pipelined_programs]))
    image = data.draw(family(config))
    checked = traced_run(image)
    assert rtl_trace(image, checked.rtl).lines() == spec_trace(image, values=False)
    check_retirements(image, checked.rtl.retired)
    check_visits(config, checked.rtl.retired)
    assert check_loads(image, checked.rtl.retired)  # every structured program loads something


def check_retirements(image, log: RetireLog) -> None:
    """Check that each stage retires its instructions once each, in program order, with the
    instruction's bits and the tokens its flags ask for (none towards a missing stage)."""
    program = [isa.decode(image.dram[image.insn_addr - image.dram_base + 16 * k:][:16],
                          image.config) for k in range(image.insn_count)]
    for stage in retire.STAGES:
        retired = [fields for _, member, fields in log.events if member == stage]
        expected = [k for k, insn in enumerate(program) if insn.stage.name.lower() == stage]
        assert [fields["index"] for fields in retired] == expected
        for fields in retired:
            insn = program[fields["index"]]
            assert fields["insn"] == int.from_bytes(isa.encode(insn, image.config), "little")
            for flag in ("pop_prev", "pop_next", "push_prev", "push_next"):
                side = "prev" if flag.endswith("prev") else "next"
                exists = (stage, side) not in (("load", "prev"), ("store", "next"))
                assert fields[flag] == (getattr(insn, f"{flag}_dep") and exists)


def wrapped(values, width: int) -> np.ndarray:
    values = np.asarray(values, dtype=np.int64)
    return ((values + (1 << (width - 1))) % (1 << width)) - (1 << (width - 1))


def check_visits(config, log: RetireLog) -> None:
    """Check every reported visit: its result follows from the values it reports reading, and
    those are what the port last reported written to those rows (zero if never written)."""
    written = {space: {} for space in retire.SPACES}

    def last(space, row):
        return written[space].get(row, [0] * len(lanes(space, config, 0)))

    visits = 0
    for cycle in sorted({event[0] for event in log.events}):
        events = [(member, fields) for c, member, fields in log.events if c == cycle]
        for member, fields in events:
            insn = isa.decode(fields.get("insn", 0).to_bytes(16, "little"), config)
            if member == "gemm":
                inp = np.array(lanes("inp", config, fields["inp_value"]))
                wgt = np.array(lanes("wgt", config, fields["wgt_value"]))
                old = lanes("acc", config, fields["acc_old"])
                if not insn.reset_reg:  # a reset reads nothing (and may overlap a LOAD)
                    assert list(inp) == last("inp", fields["src"])
                    assert list(wgt) == last("wgt", fields["wgt"])
                    assert old == last("acc", fields["dst"])
                products = (inp.reshape(config.batch, config.block_in)
                            @ wgt.reshape(config.block_out, config.block_in).T).reshape(-1)
                expected = (np.zeros_like(products) if insn.reset_reg
                            else wrapped(np.array(old) + products, config.acc_width))
                assert lanes("acc", config, fields["acc_new"]) == list(expected)
                visits += 1
            elif member == "alu":
                a = lanes("acc", config, fields["a"])
                b = lanes("acc", config, fields["b"])
                assert a == last("acc", fields["dst"])
                if insn.use_imm:
                    assert b == list(wrapped([insn.imm] * len(b), config.acc_width))
                else:
                    assert b == last("acc", fields["src"])
                expected = alu_apply(AluOp(insn.alu_opcode), np.array(a), np.array(b),
                                     config.acc_width, FSIM)
                assert lanes("acc", config, fields["y"]) == list(expected)
                visits += 1
        for member, fields in events:  # this cycle's writes are seen from the next one
            if member in retire.SPACES:
                written[member][fields["addr"]] = lanes(member, config, fields["data"])
    assert visits == sum(1 for event in log.events if event[1] in ("gemm", "alu"))


def check_loads(image, log: RetireLog) -> int:
    """Check every row a LOAD reports reading from DRAM: it is the element at the reported
    address, as DRAM held it then (the image, and what STOREs the port reported wrote).
    Return how many rows were checked."""
    config = image.config
    dram = bytearray(image.dram)
    loaded = 0
    for _, member, fields in log.events:
        if member == "dram":
            offset = fields["addr"] - image.dram_base
            data = fields["data"].to_bytes(config.out_elem_bytes, "little")
            dram[offset:offset + len(data)] = data
        elif member in retire.SPACES and fields["from_dram"]:
            offset = fields["dram_addr"] - image.dram_base
            _, retired = log.retired[fields["index"]]
            insn = isa.decode(retired["insn"].to_bytes(16, "little"), config)
            element = element_formats(config)[MemType(insn.memory_type)]
            raw = int.from_bytes(dram[offset:offset + element.bytes], "little")
            if insn.memory_type == MemType.ACC_8BIT:
                expected = list(wrapped([(raw >> (8 * k)) & 0xFF for k in range(element.lanes)],
                                        8))
            else:
                expected = lanes(member, config, raw)
            assert lanes(member, config, fields["data"]) == expected
            loaded += 1
    return loaded


def alu_chain(config, bad: int = 9) -> ProgramImage:
    """Return a program of ALUs that add positive immediates, but for instruction ``bad``, a MIN
    with a negative one; STORE #11 stores the result."""
    builder = ProgramBuilder(config)
    lanes_per_row = config.batch * config.block_out
    acc = builder.place(MemType.ACC, np.arange(2 * lanes_per_row).reshape(2, -1))
    uops = builder.place_uops([Uop(dst_idx=0, src_idx=0, wgt_idx=0)])
    out = builder.reserve(MemType.OUT, 2)
    builder.emit(Load(memory_type=MemType.UOP, dram_base=uops, y_size=1, x_size=1, x_stride=1))
    builder.emit(Load(memory_type=MemType.ACC, dram_base=acc, y_size=1, x_size=2, x_stride=2))
    loop = dict(uop_bgn=0, uop_end=1, iter_out=1, iter_in=2, dst_factor_in=1)
    while len(builder.program) < 11:
        op, imm = ((AluOp.MIN, -3) if len(builder.program) == bad
                   else (AluOp.ADD, len(builder.program)))
        push = len(builder.program) == 10
        builder.emit(Alu(alu_opcode=op, use_imm=1, imm=imm, push_next_dep=push, **loop))
    builder.emit(Store(memory_type=MemType.OUT, dram_base=out, y_size=1, x_size=2, x_stride=2,
                       pop_prev_dep=1, push_prev_dep=1))
    builder.emit(Finish(pop_next_dep=1))
    return builder.build()


@pytest.fixture
def unsigned_immediate(monkeypatch):
    """A core whose ALU takes the immediate as unsigned (a negative one becomes large)."""
    field_shape = uop_loop.field_shape
    monkeypatch.setattr(uop_loop, "field_shape", lambda field: unsigned(field.width)
                        if field.name == "imm" else field_shape(field))


def test_a_wrong_immediate_is_blamed_on_its_instruction(unsigned_immediate):
    image = alu_chain(CONFIGS["2x4"])
    untraced = run_checked(image, simulator="amaranth")
    assert "STORE #11" in untraced.mismatch  # where the wrong value reaches DRAM
    traced = run_checked(image, simulator="amaranth", trace=True)
    assert traced.mismatch.startswith("instruction 9 (ALU, compute stage) is the first to "
                                      "differ, in writes: acc (spec vs RTL): acc[0][0] -3 vs ")
    assert "STORE #11" in traced.mismatch


def test_the_immediate_bug_still_gives_the_right_trace_for_positive_immediates(
        unsigned_immediate):
    image = alu_chain(CONFIGS["2x4"], bad=99)  # no negative immediate: no visible bug
    traced_run(image)


def test_a_log_without_every_retirement_is_refused():
    config = CONFIGS["2x4"]
    image = alu_chain(config)
    with pytest.raises(ValueError, match="retired 0 of 13 instructions"):
        RetireLog(config).replay(image, JsonTracer())


def test_an_unretired_instruction_is_an_rtl_error():
    image = alu_chain(CONFIGS["2x4"])
    checked = run_checked(image, simulator="amaranth", trace=True)
    del checked.rtl.retired.retired[4]
    with pytest.raises(RtlError, match="retired 12 of 13 instructions .not instruction 4"):
        rtl_trace(image, checked.rtl)
