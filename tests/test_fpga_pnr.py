"""Fitting designs on parts: the smallest core placed and routed on the smallest ECP5 with a
bitstream, Xilinx fits from synthesis, a design too big for a part in one line."""

import importlib
import json
import re

import pytest
from amaranth.hdl import Fragment
from click.testing import CliRunner

import vtaref.fpga
from vtaref import cli, cli_hw
from vtaref.fpga import PARTS, SynthError, SynthResult, build, fit, pnr
from vtaref.fpga.budget import other_dsps
from vtaref.fpga.parts import RESOURCES
from vtaref.fpga.pins import PINS, PinWrapper
from vtaref.impl.tools import ToolRun

from .impl_support import sized_config
from .test_cli import assert_clean_error, vta

fit_module = importlib.import_module("vtaref.fpga.fit")  # vtaref.fpga.fit is the function

# The smallest config that is still the whole core: one multiplier, shallow buffers, acc
# deep enough for block RAM.
CORE_CONFIG = sized_config({"uop": 4, "inp": 4, "wgt": 4, "acc": 9}, LOG_BATCH=0, LOG_BLOCK=0)
# 2x8 ALU lanes of 3 DSPs each for MUL: more than the LFE5U-25F's 28 (the GEMM would fit: its
# products beyond the part's DSPs are LUT multipliers).
WIDE_ALU = sized_config(4, LOG_BATCH=1, LOG_BLOCK=3)
SMALL_GEMM = sized_config(4, LOG_BATCH=0, LOG_BLOCK=2)
UTILIZATION = re.compile(r"LUTs (\d+)/(\d+) \(\d+%\), FFs (\d+)/(\d+) \(\d+%\), "
                         r"BRAMs \(18 Kbit\) (\d+)/(\d+) \(\d+%\), DSPs (\d+)/(\d+) \(\d+%\)")


def write_config(tmp_path, config):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config.to_dict()))
    return path


def test_smallest_core_places_and_routes_on_the_25f_and_packs_a_bitstream(tmp_path):
    bitstream = tmp_path / "vta.bit"
    result = vta("synth", "--config", write_config(tmp_path, CORE_CONFIG), "--part",
                 "LFE5U-25F", "--freq", "50", "--bitstream", bitstream)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == [f"core of VTA {CORE_CONFIG.name} with a 64-bit AXI4 port",
                         "ecp5: behind the pin wrapper (docs/fpga.md):"]
    routed = next(line for line in lines if line.startswith("LFE5U-25F: placed and routed in "))
    counts = [int(n) for n in UTILIZATION.search(routed).groups()]
    used, available = dict(zip(RESOURCES, counts[::2])), dict(zip(RESOURCES, counts[1::2]))
    assert available == PARTS["LFE5U-25F"].capacity  # nextpnr's figures are the table's
    # The GEMM's one product, the ALU's MUL lane and the control path's counts (fpga/budget.py).
    assert used["dsps"] == 1 + other_dsps("core", CORE_CONFIG)
    assert used["brams"] >= 1 and 0 < used["luts"] < available["luts"]
    fmax = float(re.search(r"; Fmax ([\d.]+) MHz \((meets|misses) the 50 MHz target\)$", routed)[1])
    assert 5 < fmax < 500
    path = next(line for line in lines if line.startswith("LFE5U-25F: critical path "))
    assert re.match(r"LFE5U-25F: critical path [\d.]+ ns, \d+ logic levels, from \S+ to \S+ "
                    r"through \S", path), path
    assert lines[-1] == f"wrote {bitstream}"
    data = bitstream.read_bytes()
    assert b"Part: LFE5U-25F" in data[:64]  # ecppack's header
    assert b"\xff\xff\xbd\xb3" in data[:4096]  # the ECP5 bitstream preamble
    assert len(data) > 100_000


def test_a_design_too_big_for_the_part_is_one_line_naming_the_resource(tmp_path):
    result = vta("synth", "--config", write_config(tmp_path, WIDE_ALU), "--unit", "alu",
                 "--part", "LFE5U-25F")
    assert_clean_error(result, "vta_alu does not fit the LFE5U-25F: 48 DSPs of 28 (20 over)")
    assert result.stdout.splitlines()[-1].startswith("LFE5U-25F: LUTs ")
    assert result.stdout.splitlines()[-1].endswith(", DSPs 48/28 (171%) (not placed); does not fit")


def test_xilinx_parts_get_the_synthesis_counts_against_their_capacity():
    design = build("gemm", SMALL_GEMM)
    parts = [PARTS["xc7z020"], PARTS["xczu7ev"]]
    seen = []
    results = list(fit(design, parts, name="vta_gemm", frequency=100,
                       on_synthesis=lambda part, result: seen.append(result.target)))
    assert seen == ["xc7", "xcup"]
    for part, result in zip(parts, results):
        assert result.pnr is None and result.synthesis.dsps == 16
        assert str(result).startswith(f"{part.label}: LUTs {result.synthesis.luts}/"
                                      f"{part.capacity['luts']} (")
        assert str(result).endswith(
            f"(synthesis only: no open place and route for {part.target})")
    assert parts[1].label == "xczu7ev (ZCU104)"


def test_misfit_names_every_resource_over_and_by_how_much():
    part = PARTS["LFE5U-85F"]
    used = {"luts": 35583, "ffs": 16089, "brams": 355, "dsps": 306}
    assert part.misfit(used) == ("does not fit the LFE5U-85F: 355 BRAMs (18 Kbit) of 208 "
                                 "(147 over), 306 DSPs of 156 (150 over)")
    assert part.misfit({**used, "brams": 208, "dsps": 156}) is None


def test_pin_wrapper_puts_the_cores_ports_behind_five_pins():
    wrapper = PinWrapper(build("core", CORE_CONFIG))
    inputs, outputs = wrapper.ports()
    port_bits = sum(len(value) for value in inputs + outputs)
    assert port_bits == 340  # 342 with the clock and reset
    assert all(port_bits > part.io_pins for part in PARTS.values() if part.io_pins)
    assert set(wrapper.signature.members) | {"clk", "rst"} == set(PINS)
    Fragment.get(wrapper, platform=None)


def test_nextpnr_failure_is_one_line(tmp_path):
    netlist = tmp_path / "broken.json"
    netlist.write_text("{}")
    with pytest.raises(SynthError, match=r"^LFE5U-25F: nextpnr failed \(status \d+\): ERROR"):
        pnr.place_and_route(netlist, PARTS["LFE5U-25F"], frequency=50)


def test_critical_path_is_named_by_the_units_it_crosses():
    def step(kind, cell, delay=1.0):
        return {"type": kind, "delay": delay, "from": {"cell": cell}, "to": {"cell": cell}}

    clock = "posedge $glbnet$clk"
    paths = [
        {"from": "<async>", "to": clock, "path": [step("logic", "rst$tr_io", 50.0)]},
        {"from": clock, "to": clock, "path": [
            step("clk-to-q", "core.load.arriving_TRELLIS_FF_Q_21"),
            step("logic", "core.load.arriving_TRELLIS_FF_Q_21_DI_LUT4_Z"),
            step("logic", "core.load.x_LUT4_Z"),
            step("logic", "out_bits_TRELLIS_FF_Q_204_DI_LUT4_Z"),
            step("logic", "core.dma.reads.ar_beats_CCU2C_S1"),
            step("setup", "core.dma.reads.ar_beats_TRELLIS_FF_Q_9", 0.5)]},
    ]
    path = pnr.critical_path(paths)
    assert path == pnr.CriticalPath(5.5, 4, "load.arriving", "dma.reads.ar_beats",
                                    ("load", "ports", "dma.reads"))
    assert str(path) == ("5.5 ns, 4 logic levels, from load.arriving to dma.reads.ar_beats "
                         "through load, ports, dma.reads")


def test_nextpnr_phases_reach_the_status_line():
    seen = []
    report = pnr._phase_reporter(seen.append)
    for line in ["Info: Packing IOs..", "Info: Running main analytical placer, max 5",
                 "Info:     at iteration #3, type ALL: wirelen solved = 1",
                 "Info: Routing globals...", "Info: Routing..",
                 "Info:      36000 |     4794      29684 |   63   920 |      5684|  0.41  18.85|",
                 "Info:     iter=3 wires=1006734 overused=35107 overuse=36314 archfail=NA"]:
        report(line)
    assert seen == ["packing", "placing (analytic)", "placing (analytic), iteration 3",
                    "routing", "routing, 5684 arcs left",
                    "routing, iteration 3, 35107 wires overused"]


def test_part_options_are_checked(tmp_path):
    bit = tmp_path / "vta.bit"
    assert_clean_error(vta("synth", "--bitstream", bit), "--bitstream needs an ECP5 --part")
    assert_clean_error(vta("synth", "--part", "xc7z020", "--freq", "50"),
                       "--freq needs an ECP5 --part")
    assert_clean_error(vta("synth", "--part", "LFE5U-25F", "--part", "LFE5U-45F",
                           "--bitstream", bit), "--bitstream needs exactly one ECP5 --part")
    assert_clean_error(vta("synth", "--part", "LFE5U-25F", "--target", "ecp5"),
                       "--target and --part")
    assert list(tmp_path.iterdir()) == []


def test_cli_parts_are_those_of_the_fpga_package():
    assert cli_hw.FPGA_PARTS == tuple(PARTS)


def test_nextpnr_options_are_checked(tmp_path):
    assert_clean_error(vta("synth", "--part", "LFE5U-25F", "--seed", "-1"),
                       "--seed: -1 is not in the range")
    assert_clean_error(vta("synth", "--part", "LFE5U-25F", "--seed", "many"),
                       "--seed: 'many' is not a valid integer")
    assert_clean_error(vta("synth", "--part", "xc7z020", "--seed", "3"),
                       "--seed needs an ECP5 --part")
    assert_clean_error(vta("synth", "--no-timing-driven"),
                       "--timing-driven/--no-timing-driven needs an ECP5 --part")
    assert_clean_error(vta("synth", "--check-netlist", tmp_path, "--seed", "3"),
                       "it takes no --seed")
    (tmp_path / "file").write_text("")
    assert_clean_error(vta("synth", "--target", "ecp5", "--workdir", tmp_path / "file"),
                       f"cannot write {tmp_path / 'file'}: File exists")


def test_gemm_dsps_is_checked():
    assert_clean_error(vta("synth", "--gemm-dsps", "-1"), "--gemm-dsps: -1 is not in the range")
    assert_clean_error(vta("synth", "--gemm-dsps", "257"),
                       "--gemm-dsps 257: the GEMM of VTA 1x16_i8w8a32_15_15_18_17 has 256 products")
    assert_clean_error(vta("synth", "--gemm-dsps", "8", "--unit", "alu"),
                       "--gemm-dsps needs a GEMM: the alu has none")
    assert_clean_error(vta("synth", "--gemm-dsps", "8", "--packed"),
                       "--gemm-dsps and --packed both choose the GEMM's multipliers")


def fake_synthesis(seen, luts=100):
    """A stand-in for yosys: records the design and options, writes an empty netlist, counts
    ``luts`` LUTs."""

    def synthesize(design, target, *, name, workdir=None, write_netlist=False, **options):
        Fragment.get(design, platform=None)  # it elaborates (as yosys would need)
        seen.update(design=design, target=target, workdir=workdir)
        if write_netlist:
            workdir.mkdir(parents=True, exist_ok=True)
            (workdir / f"{name}.json").write_text("{}")
        return SynthResult(target, name, luts=luts, ffs=100, brams=1, dsps=1, lutram=0,
                           memories={}, cells={}, seconds=1.0)

    return synthesize


def fake_nextpnr(commands):
    """A stand-in for nextpnr: records its command and folder, writes a report of 50 MHz."""

    def run_tool(command, *, cwd, **options):
        commands.append((command, cwd))
        cells = {bel: {"used": 1, "available": 10} for bel in pnr.NEXTPNR_BELS.values()}
        (cwd / "report.json").write_text(json.dumps(
            {"fmax": {"clk": {"achieved": 50.0}}, "utilization": cells, "critical_paths": []}))
        return ToolRun(command, 0, [], 1.0, False)

    return run_tool


def test_nextpnr_and_dsp_options_reach_the_design_and_nextpnr(monkeypatch, tmp_path):
    seen, commands = {}, []
    monkeypatch.setattr(fit_module, "synthesize", fake_synthesis(seen))
    monkeypatch.setattr(pnr, "run_tool", fake_nextpnr(commands))
    config = write_config(tmp_path, SMALL_GEMM)
    common = ["synth", "--config", str(config), "--part", "LFE5U-25F"]
    result = CliRunner().invoke(cli.main, [*common, "--gemm-dsps", "3", "--no-timing-driven",
                                           "--seed", "7", "--workdir", str(tmp_path / "w")])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1] == (
        "gemm: 3 of its 16 products on DSP blocks, 13 on LUT multipliers (--gemm-dsps)")
    assert seen["design"].design.gemm_dsps == 3  # the core behind the pin wrapper
    assert seen["workdir"] == tmp_path / "w" / "ecp5"
    (command, cwd), = commands
    assert cwd == tmp_path / "w" / "ecp5"
    assert "--no-tmdriv" in command and command[command.index("--seed") + 1] == "7"
    assert command[command.index("--log") + 1] == "nextpnr.log"
    assert ("LFE5U-25F: placed and routed for congestion (not timing-driven) in 1 s: "
            in result.output)
    # Without them, the budget is the part's and nextpnr runs as it would.
    result = CliRunner().invoke(cli.main, common)
    assert result.exit_code == 0, result.output
    # The part's DSPs less those of the ALU's MUL lanes and the control path.
    assert seen["design"].design.gemm_dsps == 28 - other_dsps("core", SMALL_GEMM) == 13
    assert not {"--no-tmdriv", "--seed"} & set(commands[1][0])


def test_gemm_dsps_reaches_a_units_synthesis(monkeypatch, tmp_path):
    seen = {}
    monkeypatch.setattr(vtaref.fpga, "synthesize", fake_synthesis(seen))
    config = write_config(tmp_path, SMALL_GEMM)
    result = CliRunner().invoke(cli.main, ["synth", "--config", str(config), "--unit", "gemm",
                                           "--target", "ecp5", "--gemm-dsps", "0",
                                           "--workdir", str(tmp_path / "w")])
    assert result.exit_code == 0, result.output
    assert seen["design"].unit.dsp_products == 0 and seen["workdir"] == tmp_path / "w" / "ecp5"


@pytest.mark.parametrize(("luts", "forced", "timing_driven"), [
    (12144, None, True), (12145, None, False), (20000, True, True), (100, False, False)])
def test_timing_driven_unless_the_design_fills_over_half_the_part(monkeypatch, tmp_path, luts,
                                                                    forced, timing_driven):
    commands = []
    monkeypatch.setattr(fit_module, "synthesize", fake_synthesis({}, luts=luts))
    monkeypatch.setattr(pnr, "run_tool", fake_nextpnr(commands))
    flag = [] if forced is None else ["--timing-driven" if forced else "--no-timing-driven"]
    result = CliRunner().invoke(cli.main, ["synth", "--config",
                                           str(write_config(tmp_path, SMALL_GEMM)),
                                           "--part", "LFE5U-25F", *flag])  # 24,288 LUTs
    assert result.exit_code == 0, result.output
    (command, _), = commands
    assert ("--no-tmdriv" not in command) == timing_driven
    assert ("placed and routed for congestion (not timing-driven) in" in result.output) == (
        not timing_driven)


def router2_lines(overused):
    """router2's progress lines, one per iteration (from 1), with ``overused`` wires."""
    return [f"Info:     iter={iteration} wires=1000 overused={count} overuse={count} archfail=NA"
            for iteration, count in enumerate(overused, 1)]


def test_a_route_stalls_when_its_fewest_overused_wires_are_stalled_iterations_old():
    watch = pnr._stall_watcher(PARTS["LFE5U-85F"])
    stall = pnr.STALL_ITERATIONS
    # Down to 16 at iteration 3, never fewer after: the stall is seen at iteration 3 + stall.
    lines = router2_lines([900, 40, 16, *[17 + n for n in range(stall - 1)], 9552])
    for line in ["Info: Routing..", *lines[:-1]]:
        watch(line)
    with pytest.raises(pnr.RouteStalled) as stalled:
        watch(lines[-1])
    assert str(stalled.value) == (f"LFE5U-85F: router2 stalled: 16 overused wires at iteration "
                                  f"3, none fewer by iteration {3 + stall}")
    # A new fewest restarts the count; a route that converges is never stopped.
    watch = pnr._stall_watcher(PARTS["LFE5U-85F"])
    for line in router2_lines([50, *[60] * (stall - 1), 49, *[60] * (stall - 1), 0]):
        watch(line)


def stalling_nextpnr(commands):
    """A stand-in for nextpnr whose timing-driven route stalls (its output lines go to the
    callback, as run_tool's do) and whose congestion-only route is :func:`fake_nextpnr`'s."""
    routed = fake_nextpnr(commands)

    def run_tool(command, *, cwd, on_line=None, **options):
        if "--no-tmdriv" in command:
            return routed(command, cwd=cwd)
        commands.append((command, cwd))
        for line in router2_lines([30, *[31] * pnr.STALL_ITERATIONS]):
            on_line(line)
        raise AssertionError("the stalled route was not stopped")

    return run_tool


def test_a_stalled_timing_driven_route_is_routed_again_for_congestion(monkeypatch, tmp_path):
    commands = []
    monkeypatch.setattr(fit_module, "synthesize", fake_synthesis({}))
    monkeypatch.setattr(pnr, "run_tool", stalling_nextpnr(commands))
    arguments = ["synth", "--config", str(write_config(tmp_path, SMALL_GEMM)),
                 "--part", "LFE5U-25F"]
    result = CliRunner().invoke(cli.main, arguments)
    assert result.exit_code == 0, result.output
    (first, _), (second, _) = commands
    assert "--no-tmdriv" not in first and "--no-tmdriv" in second
    stall = (f"router2 stalled: 30 overused wires at iteration 1, none fewer by iteration "
             f"{1 + pnr.STALL_ITERATIONS}")
    assert f"LFE5U-25F: placed and routed for congestion (timing-driven {stall}) in " in (
        result.output)
    # Asked for timing-driven routing, the user gets the stall, in one line.
    commands.clear()
    result = CliRunner().invoke(cli.main, [*arguments, "--timing-driven"])
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == f"vta: error: LFE5U-25F: {stall}"
    assert len(commands) == 1
