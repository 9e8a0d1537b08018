"""The whole core against the spec: every conformance image and Hypothesis programs at three
configs, behind always-ready and randomly stalling DRAM, give the spec's DRAM bit for bit
(Verilator), and the Amaranth simulator agrees."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize

from vtaref.impl import vcr
from vtaref.impl.run import RtlError, run_checked, simulate
from vtaref.spec import DEFAULT_CONFIG, Finish, Load, MemType, ProgramBuilder, VtaConfig
from vtaref.spec.conform import find_cases
from vtaref.spec.image import ProgramImage
from vtaref.spec.strategies import (
    conv2d_programs,
    pipelined_programs,
    requantize_programs,
    tiled_gemm_programs,
)
from vtaref.spec.strategies.actions import ProgramMachine, RandomProgram, slot_counts

from .conftest import CONFORMANCE
from .impl_support import bus_models


def conformance_config(name: str) -> VtaConfig:
    return VtaConfig.from_json(CONFORMANCE / name / "matmul_00" / "config.json")


# The three configs of the differential tests: the default, BATCH=2/BLOCK=8, small buffers.
CONFIGS = {"default": DEFAULT_CONFIG, "batch2_block8": conformance_config("batch2_block8"),
           "block4_small": conformance_config("block4_small")}


@pytest.mark.parametrize("case", find_cases(CONFORMANCE), ids=lambda case: case.parent.name
                         + "/" + case.name)
def test_conformance_image_on_rtl(case):
    image = ProgramImage.load(case)
    checked = run_checked(image)
    assert checked.rtl.dram == image.expected, checked.mismatch


STRUCTURED = [tiled_gemm_programs, conv2d_programs, requantize_programs, pipelined_programs]


@settings(max_examples=12)
@given(data=st.data(), bus=bus_models())
def test_structured_programs_match_spec_on_rtl(data, bus):
    config = CONFIGS[data.draw(st.sampled_from(sorted(CONFIGS)))]
    image = data.draw(st.one_of(*(family(config) for family in STRUCTURED)))
    checked = run_checked(image, bus=bus)
    assert checked.matches, checked.mismatch


class RandomProgramsOnRtl(ProgramMachine):
    """Random instructions, one action of RandomProgram per step; the finished program gives
    the same DRAM on the spec and on the RTL (checked at teardown, so a failure shrinks to a
    short list of steps)."""

    @initialize(name=st.sampled_from(sorted(CONFIGS)), bus=bus_models(), slots=slot_counts())
    def start(self, name, bus, slots):
        self.program = RandomProgram(CONFIGS[name], slots=slots)
        self.bus = bus

    def teardown(self):
        if self.program is not None:  # None only when start itself failed
            checked = run_checked(self.program.build(), bus=self.bus)
            assert checked.matches, checked.mismatch


RandomProgramsOnRtl.TestCase.settings = settings(max_examples=40, stateful_step_count=16)
test_random_programs_match_spec_on_rtl = RandomProgramsOnRtl.TestCase


@pytest.mark.parametrize("data_width", [128, 512])
def test_memory_port_width_does_not_change_results(data_width):
    image = ProgramImage.load(CONFORMANCE / "default" / "random_00")
    checked = run_checked(image, data_width=data_width)
    assert checked.rtl.dram == image.expected, checked.mismatch


def test_amaranth_simulator_agrees_and_dumps_a_waveform(tmp_path):
    image = ProgramImage.load(CONFORMANCE / "block4_small" / "edge_alu_chain_00")
    vcd = tmp_path / "run.vcd"
    checked = run_checked(image, simulator="amaranth", vcd=vcd)
    assert checked.rtl.dram == image.expected, checked.mismatch
    text = vcd.read_text()
    assert "$enddefinitions" in text and "compute" in text
    compiled = run_checked(image)
    assert compiled.rtl.counters == checked.rtl.counters


def test_counters_describe_the_run():
    image = ProgramImage.load(CONFORMANCE / "default" / "matmul_00")
    checked = run_checked(image)
    counters = checked.rtl.counters
    assert set(counters) == set(vcr.COUNTERS)
    assert counters["gemm_visits"] + counters["alu_visits"] == checked.ideal_cycles
    assert 0 < counters["compute_busy"] <= counters["cycles"]


def test_deadlocked_tokens_stop_with_an_error():
    config = CONFIGS["block4_small"]
    builder = ProgramBuilder(config)
    builder.emit(Finish(pop_prev_dep=True))  # waits for a token the load stage never pushes
    image = builder.build()
    with pytest.raises(RtlError, match="not done after 1000 cycles"):
        simulate(image, max_cycles=1000)


def test_out_of_range_dram_access_is_named():
    config = CONFIGS["block4_small"]
    builder = ProgramBuilder(config)
    far = (1 << 20) // config.inp_elem_bytes  # 1 MiB past the start of DRAM
    builder.emit(Load(memory_type=MemType.INP, sram_base=0, dram_base=far, y_size=1, x_size=1,
                      x_stride=1))
    with pytest.raises(RtlError, match=f"{(far * config.inp_elem_bytes):#010x}"):
        simulate(builder.build(), max_cycles=100_000)


def test_rtl_backend_runs_compiled_operators():
    from vtaref.compiler import dense, reference

    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, size=(3, 40))
    w = rng.integers(-128, 128, size=(20, 40))
    got = dense(x, w, shift=8, config=CONFIGS["batch2_block8"], backend="rtl")
    assert np.array_equal(got, reference.dense(x, w, shift=8, config=CONFIGS["batch2_block8"]))
