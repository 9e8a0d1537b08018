"""``vta prove`` and ``vta synth``: one line per proof or target, a summary, a failing status;
``vta run --backend rtl`` behind a stalling or failing DRAM."""

import json
import re

from amaranth.hdl import Fragment
from click.testing import CliRunner

import vtaref.fpga
import vtaref.proofs
from vtaref import cli, cli_hw
from vtaref.proofs import Proof
from vtaref.proofs.queue import QueueSpec
from vtaref.spec import VtaConfig

from .conftest import CONFORMANCE
from .impl_support import sized_config
from .test_cli import assert_clean_error, vta
from .test_proofs import OverfullQueue

RESOURCES = re.compile(r"^ecp5: \d+ LUTs, \d+ FFs, \d+ BRAMs \(18 Kbit\), \d+ DSPs, "
                       r"\d+ LUT-RAMs in [\d.]+ s$", re.MULTILINE)


def test_prove_runs_the_chosen_proof():
    result = vta("prove", "--only", "queue_3", "--timeout", "86400")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("queue_3: PASS (prove, depth 1, smtbmc yices) in ")
    assert lines[-1] == "1 passed, 0 failed"


def test_prove_fails_when_a_proof_fails(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # where its counterexample goes
    broken = Proof("overfull_queue", lambda: QueueSpec(OverfullQueue(8, 3)), "prove", 4)
    monkeypatch.setattr(vtaref.proofs, "proofs", lambda config: [broken])
    result = CliRunner().invoke(cli.main, ["prove"])
    assert result.exit_code == 1, result.output
    assert "overfull_queue: FAIL (prove, depth 4, smtbmc yices)" in result.output
    assert result.output.splitlines()[-1] == "0 passed, 1 failed: overfull_queue (FAIL)"


def test_prove_names_the_proofs_of_the_config(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(sized_config(4, LOG_ACC_WIDTH=4).to_dict()))
    assert_clean_error(vta("prove", "--config", config, "--only", "nope"),
                       "unknown proof 'nope' (known: ", "alu_datapath_acc16")


def test_synth_prints_the_resources_of_a_unit(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(sized_config(4, LOG_BATCH=0, LOG_BLOCK=2).to_dict()))
    result = vta("synth", "--config", config, "--unit", "gemm", "--target", "ecp5")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("gemm of VTA 1x4_i8w8a32_")
    assert RESOURCES.search(result.stdout), result.stdout
    assert "16 DSPs" in result.stdout


def test_synth_fails_cleanly_on_latches(monkeypatch):
    def latchy(design, target, **options):
        Fragment.get(design, platform=None)
        raise vtaref.fpga.LatchError(f"vta_alu on {target}: latches driving q (cells $x)")

    monkeypatch.setattr(vtaref.fpga, "synthesize", latchy)
    result = CliRunner().invoke(cli.main, ["synth", "--unit", "alu"])
    assert result.exit_code == 1
    assert result.output == ("alu of VTA 1x16_i8w8a32_15_15_18_17\n"
                             "vta: error: vta_alu on ecp5: latches driving q (cells $x)\n")


def test_synth_rejects_a_bad_config(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**VtaConfig().to_dict(), "LOG_BLOCK": 12}))
    assert_clean_error(vta("synth", "--config", config), "LOG_BLOCK must be an integer in")


def test_cli_choices_are_those_of_the_fpga_package():
    assert cli_hw.FPGA_TARGETS == tuple(vtaref.fpga.TARGETS)
    assert cli_hw.FPGA_UNITS == vtaref.fpga.UNITS


SMALL_CASES = CONFORMANCE / "block4_small"


def test_run_on_rtl_writes_the_spec_output_and_counts_cycles(tmp_path):
    case = SMALL_CASES / "conv2d_00"
    rtl = vta("run", case, "-o", tmp_path / "rtl.bin", "--backend", "rtl")
    assert rtl.returncode == 0, rtl.stdout + rtl.stderr
    assert (tmp_path / "rtl.bin").read_bytes() == (case / "expected_dram.bin").read_bytes()
    first = rtl.stdout.splitlines()[0]
    assert re.search(r": \d+ cycles on the RTL, ideal 144 \(micro-op visits\)", first), first
    assert "matches the spec" in first
    assert re.search(r"^  gemm_visits +72 ", rtl.stdout, re.MULTILINE)


def test_run_on_rtl_dumps_a_waveform(tmp_path):
    vcd = tmp_path / "run.vcd"
    result = vta("run", SMALL_CASES / "requant_00", "-o", tmp_path / "out.bin", "--backend",
                 "rtl", "--simulator", "amaranth", "--vcd", vcd)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "$enddefinitions" in vcd.read_text()


def test_conform_on_rtl():
    result = vta("conform", SMALL_CASES, "--backend", "rtl")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "8 passed, 0 failed"


def test_rtl_options_are_checked(tmp_path):
    case = SMALL_CASES / "requant_00"
    assert_clean_error(vta("run", case, "-o", tmp_path / "o.bin", "--vcd", tmp_path / "x.vcd"),
                       "--vcd needs --backend rtl")
    assert_clean_error(vta("run", case, "-o", tmp_path / "o.bin", "--backend", "rtl",
                           "--flavor", "hls"), "--flavor fsim")


def test_rtl_run_behind_a_stalling_bus_writes_the_same_dram(tmp_path):
    case = CONFORMANCE / "block4_small" / "two_layer_00"
    out = tmp_path / "out.bin"
    result = vta("run", case, "-o", out, "--backend", "rtl", "--bus-stall", "0.4",
                 "--bus-delay", "25", "--bus-seed", "7")
    assert result.returncode == 0, result.stderr
    assert "DRAM matches the spec" in result.stdout
    assert out.read_bytes() == (case / "expected_dram.bin").read_bytes()


def test_rtl_run_stopped_by_a_bus_error_is_one_line(tmp_path):
    case = CONFORMANCE / "block4_small" / "matmul_00"
    insn_addr = json.loads((case / "run.json").read_text())["insn_addr"]
    result = vta("run", case, "-o", tmp_path / "out.bin", "--backend", "rtl", "--bus-fault",
                 f"read:{insn_addr:#x}:slverr")
    assert_clean_error(result, f"{case}: the core stopped on a bus error: DRAM answered SLVERR "
                               f"to the read of fetch's transfer at {insn_addr:#010x}")
    assert list(tmp_path.iterdir()) == []


def test_synth_packed_needs_a_gemm():
    assert_clean_error(vta("synth", "--packed", "--unit", "alu", "--target", "xc7"),
                       "packed multipliers are built into the GEMM: the alu has none")
