"""The ``vta`` command: conformance, listings, traces, and a clean one-line error for bad input."""

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from vtaref.cli import main
from vtaref.compiler import backend
from vtaref.spec import ProgramImage, VtaConfig, isa

from .conftest import CONFORMANCE

CASE = CONFORMANCE / "default" / "matmul_00"


def vta(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "vtaref", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd)


def copy_case(tmp_path: Path, case: Path = CASE) -> Path:
    target = tmp_path / "image"
    shutil.copytree(case, target)
    return target


def patch_insn(image_dir: Path, index: int, **changes) -> None:
    """Rewrite instruction ``index`` of an image with some fields changed (raw if needed)."""
    image = ProgramImage.load(image_dir)
    start = image.insn_addr - image.dram_base + 16 * index
    raw = image.dram[start:start + 16]
    if "opcode" in changes:
        raw = bytes([(raw[0] & ~7) | changes.pop("opcode")]) + raw[1:]
    if changes:
        insn = isa.decode(raw, image.config)
        raw = isa.encode(replace(insn, **changes), image.config)
    dram = bytearray(image.dram)
    dram[start:start + 16] = raw
    (image_dir / "dram.bin").write_bytes(bytes(dram))


def assert_clean_error(result, *fragments):
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vta: error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_run_on_an_external_runner(tmp_path):
    runner = f"{sys.executable} -m vtaref run {{image}} -o {{out}}"
    result = vta("run", CASE, "-o", tmp_path / "out.bin", "--runner", runner)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{CASE}: ran on external in ")
    assert (tmp_path / "out.bin").read_bytes() == (CASE / "expected_dram.bin").read_bytes()


def test_backend_options_are_checked(tmp_path):
    assert_clean_error(vta("conform", CONFORMANCE, "--backend", "external"),
                       "--backend external needs --runner")
    assert_clean_error(vta("conform", CONFORMANCE, "--backend", "rtl", "--runner", "x"),
                       "--runner and --backend rtl are two implementations: choose one")
    assert_clean_error(vta("run", CASE, "-o", tmp_path / "o.bin", "--backend", "nope"),
                       "unknown backend 'nope' (known: external, rtl, spec)")
    assert not (tmp_path / "o.bin").exists()


def test_run_writes_dram_and_a_trace_in_program_order(tmp_path):
    out, trace = tmp_path / "out.bin", tmp_path / "trace.jsonl"
    result = vta("run", CASE, "-o", out, "--trace", trace)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == (CASE / "expected_dram.bin").read_bytes()
    records = [json.loads(line) for line in trace.read_text().splitlines()]
    image = ProgramImage.load(CASE)
    assert [r["index"] for r in records] == list(range(image.insn_count))
    store = next(r for r in records if r["mnemonic"] == "STORE")
    assert store["stage"] == "store" and store["writes"][0]["space"] == "dram"
    assert store["pop"] == ["compute->store"]


def test_run_writes_files_with_the_umask_permissions(tmp_path):
    out, trace = tmp_path / "out.bin", tmp_path / "trace.jsonl"
    script = 'umask 022 && "$0" -m vtaref run "$1" -o "$2" --trace "$3"'
    result = subprocess.run(["sh", "-c", script, sys.executable, CASE, out, trace],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert [path.stat().st_mode & 0o777 for path in (out, trace)] == [0o644, 0o644]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out.bin", "trace.jsonl"]


@pytest.mark.parametrize("args, named", [
    (["--trace", "missing-dir/t.jsonl"], "cannot write missing-dir/t.jsonl: No such file"),
    (["--simulator", "amaranth"], "--simulator needs --backend rtl"),
    (["--data-width", "128"], "--data-width needs --backend rtl"),
    (["--timeout", "5"], "--timeout needs --backend external"),
    (["--vcd", "run.vcd"], "--vcd needs --backend rtl"),
    (["--bus-stall", "0.5"], "--bus-stall needs --backend rtl"),
    (["--bus-delay", "3"], "--bus-delay needs --backend rtl"),
    (["--bus-seed", "3"], "--bus-seed needs --backend rtl"),
    (["--bus-fault", "read:0:slverr"], "--bus-fault needs --backend rtl"),
    (["--backend", "rtl", "--bus-fault", "read:zz"],
     "bad bus fault 'read:zz': expected read|write:START[-END]:slverr|decerr"),
    (["--backend", "rtl", "--bus-fault", "write:0x100-0x80:decerr"],
     "a bus fault needs 0 <= start < end, not [0x100, 0x80)"),
])
def test_run_refuses_and_writes_nothing(tmp_path, args, named):
    result = vta("run", CASE, "-o", "o.bin", *args, cwd=tmp_path)
    assert_clean_error(result, named)
    assert list(tmp_path.iterdir()) == []


def test_demo_refuses_a_save_folder_it_cannot_make(tmp_path):
    (tmp_path / "file").write_bytes(b"")
    assert_clean_error(vta("demo", "--matmul", "--save", tmp_path / "file" / "runs"),
                       f"cannot write {tmp_path / 'file' / 'runs'}: Not a directory")


def test_demo_that_fails_saves_nothing(tmp_path):
    runs = tmp_path / "runs"
    failing = f"{sys.executable} -c 'raise SystemExit(3)' {{image}} {{out}}"
    assert_clean_error(vta("demo", "--matmul", "--save", runs, "--runner", failing),
                       "runner exited with status 3")
    assert list(tmp_path.iterdir()) == []


def test_demo_save_replaces_earlier_runs_and_keeps_the_rest(tmp_path):
    (tmp_path / "1_matmul").mkdir()
    (tmp_path / "1_matmul" / "stale.bin").write_bytes(b"old")
    (tmp_path / "notes.txt").write_text("mine")
    result = vta("demo", "--matmul", "--save", tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["1_matmul", "notes.txt"]
    assert not (tmp_path / "1_matmul" / "stale.bin").exists()
    assert vta("conform", tmp_path).stdout.strip().endswith("1 passed, 0 failed")


def test_disasm_lists_every_instruction():
    result = vta("disasm", CASE)
    lines = result.stdout.splitlines()
    assert len(lines) == ProgramImage.load(CASE).insn_count
    assert "LOAD.WGT" in result.stdout and "[push_next]" in result.stdout
    assert lines[-1].split()[2] == "FINISH"


def test_demo_classifies_digits_on_vta_like_the_cpu(tmp_path):
    result = vta("demo", "--save", tmp_path)
    assert result.returncode == 0, result.stderr
    accuracy = re.search(r"float ([\d.]+)%, int8 on the CPU ([\d.]+)%, int8 on VTA \(spec\) "
                         r"([\d.]+)%", result.stdout)
    in_float, on_cpu, on_vta = map(float, accuracy.groups())
    assert on_vta == on_cpu >= 90 and in_float >= 90
    assert "VTA predictions identical to the CPU int8 reference: yes" in result.stdout
    saved = sorted(path.name for path in tmp_path.iterdir())
    assert saved == ["1_conv2d", "2_max_pool2d", "3_conv2d", "4_max_pool2d", "5_dense"]
    assert vta("conform", tmp_path).stdout.strip().endswith("5 passed, 0 failed")


def test_demo_fails_when_vta_differs_from_the_cpu(monkeypatch):
    @dataclass
    class Idle:  # returns DRAM as it was: every output stays zero
        name: str = "idle"

        def run(self, image):
            return image.dram

    monkeypatch.setitem(backend.BACKENDS, "idle", Idle)
    result = CliRunner().invoke(main, ["demo", "--backend", "idle"])
    assert result.exit_code == 1, result.output
    assert "VTA predictions identical to the CPU int8 reference: NO" in result.output


def test_demo_matmul_runs_and_checks_itself(tmp_path):
    result = vta("demo", "--matmul", "--save", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "matches numpy: yes" in result.stdout
    assert vta("conform", tmp_path).stdout.strip().endswith("1 passed, 0 failed")


def test_demo_rejects_an_unknown_backend():
    assert_clean_error(vta("demo", "--backend", "nope"), "unknown backend 'nope'")


# -- bad input ---------------------------------------------------------------------------------


def _bad_json(d):
    (d / "run.json").write_text("{ oops")


def _truncated(d):
    (d / "dram.bin").write_bytes((d / "dram.bin").read_bytes()[:100])


def _missing_config(d):
    (d / "config.json").unlink()


def _bad_config(d):
    config = json.loads((d / "config.json").read_text())
    config["LOG_BLOCK"] = 12
    (d / "config.json").write_text(json.dumps(config))


def _incomplete_config(d):
    config = json.loads((d / "config.json").read_text())
    del config["LOG_ACC_WIDTH"]
    (d / "config.json").write_text(json.dumps(config))


def _unknown_run_key(d):
    run = json.loads((d / "run.json").read_text())
    run["insn_adr"] = 0
    (d / "run.json").write_text(json.dumps(run))


def _misaligned(d):
    run = json.loads((d / "run.json").read_text())
    run["insn_addr"] += 4
    (d / "run.json").write_text(json.dumps(run))


BAD_IMAGES = [
    (_bad_json, ["run.json: bad JSON at line 1"]),
    (_truncated, ["dram.bin may be truncated"]),
    (_missing_config, ["config.json", "cannot read"]),
    (_bad_config, ["LOG_BLOCK must be an integer in [0, 7]"]),
    (_incomplete_config, ["config.json", "missing config key 'LOG_ACC_WIDTH'"]),
    (_unknown_run_key, ["run.json: unknown key 'insn_adr'"]),
    (_misaligned, ["insn_addr", "is not a multiple of 16"]),
]


@pytest.mark.parametrize("corrupt,fragments", BAD_IMAGES, ids=lambda x: getattr(x, "__name__",
                                                                                 ""))
def test_malformed_image(tmp_path, corrupt, fragments):
    image_dir = copy_case(tmp_path)
    corrupt(image_dir)
    out = tmp_path / "out.bin"
    assert_clean_error(vta("run", image_dir, "-o", out), *fragments)
    assert not out.exists()


# Instruction indices in default/matmul_00: 0 LOAD.UOP, 2 LOAD.INP, 3 LOAD.WGT (push_next),
# 4 GEMM (pop_prev), 11 STORE, 12 FINISH.
BAD_PROGRAMS = [
    ({"index": 2, "opcode": 7}, ["instruction 2", "opcode 7 is not a VTA opcode"]),
    ({"index": 2, "memory_type": 6}, ["instruction 2 (LOAD): memory_type: 6"]),
    ({"index": 11, "memory_type": 2}, ["instruction 11 (STORE): memory_type: 2 cannot be stored"]),
    ({"index": 2, "sram_base": 2047}, ["instruction 2 (LOAD): sram_base", "exceeds the buffer"]),
    ({"index": 2, "dram_base": 1 << 28}, ["instruction 2 (LOAD): dram_base", "outside DRAM"]),
    ({"index": 4, "uop_end": 8193}, ["instruction 4 (GEMM): uop_end: 8193 exceeds"]),
    ({"index": 4, "src_factor_out": 2047}, ["instruction 4 (GEMM): src_factor_out/src_factor_in",
                                           "past the buffer depth 2048"]),
    ({"index": 3, "push_next_dep": 0},
     ["deadlock: LOAD #7 (compute stage) waits for a load->compute token"]),
    ({"index": 12, "pop_next_dep": 0},
     ["STORE #11 (store stage) is not ordered before FINISH #12"]),
    ({"index": 4, "pop_prev_dep": 0, "index2": 3}, ["data race on"]),
    ({"index": 2, "pop_prev_dep": 1}, ["pop_prev_dep: the load stage has no previous stage"]),
]


@pytest.mark.parametrize("change,fragments", BAD_PROGRAMS,
                         ids=[str(f[0]) for _, f in BAD_PROGRAMS])
def test_bad_program(tmp_path, change, fragments):
    image_dir = copy_case(tmp_path)
    change = dict(change)
    index = change.pop("index")
    second = change.pop("index2", None)
    patch_insn(image_dir, index, **change)
    if second is not None:  # drop the matching push too, so only the race remains
        patch_insn(image_dir, second, push_next_dep=0)
    out = tmp_path / "out.bin"
    assert_clean_error(vta("run", image_dir, "-o", out), *fragments)
    assert not out.exists()


def test_strict_rejects_empty_uop_loops(tmp_path):
    case = CONFORMANCE / "default" / "two_layer_00"
    assert vta("run", case, "-o", tmp_path / "a.bin").returncode == 0
    assert_clean_error(vta("run", case, "--strict", "-o", tmp_path / "b.bin"),
                       "empty uop range")


def test_token_depth_is_enforced(tmp_path):
    case = CONFORMANCE / "default" / "random_00"  # keeps up to 2 load->compute tokens queued
    assert vta("run", case, "--token-depth", "2", "-o", tmp_path / "a.bin").returncode == 0
    assert_clean_error(vta("run", case, "--token-depth", "1", "-o", tmp_path / "b.bin"),
                       "may hold 2 tokens, more than the hardware depth 1")


def test_config_is_importable_without_amaranth():
    code = "import sys, vtaref.spec, vtaref.spec.strategies; print('amaranth' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def test_default_config_example_is_valid():
    assert VtaConfig() == ProgramImage.load(CASE).config
