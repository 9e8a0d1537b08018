"""The synthesized netlist still computes the spec: the core of the conformance suite's
smallest config, synthesized to gates by yosys, runs every image of that config under
Verilator and leaves the expected DRAM (the first run synthesizes and compiles the netlist:
minutes; later runs take it from the Verilator cache)."""

from vtaref.fpga.netlist import GATES, netlist_backend
from vtaref.fpga.synth import script
from vtaref.spec.conform import check_cases, find_cases

from .conftest import CONFORMANCE
from .test_cli import assert_clean_error, vta

SMALLEST = CONFORMANCE / "block4_small"


def test_netlist_of_the_core_passes_the_conformance_images():
    cases = find_cases(SMALLEST)
    results = list(check_cases(cases, netlist_backend(), SMALLEST))
    assert len(results) == len(cases) >= 8
    assert [result.name for result in results if not result.passed] == [], results


def test_gate_flow_writes_verilog_and_maps_no_memory():
    text = script("top", GATES.command, write_verilog=True, after=GATES.after)
    lines = text.splitlines()
    assert "synth -flatten -run begin:fine -top top" in lines
    assert lines[-1] == "write_verilog -noattr top.v"
    assert not any(line.startswith("memory_map") for line in lines)


def test_check_netlist_takes_no_synthesis_options():
    assert_clean_error(vta("synth", "--check-netlist", SMALLEST, "--unit", "gemm"),
                       "--check-netlist checks the whole core of each image's config: "
                       "it takes no --unit")


def test_check_netlist_needs_images(tmp_path):
    assert_clean_error(vta("synth", "--check-netlist", tmp_path),
                       "no image with an expected_dram.bin")
