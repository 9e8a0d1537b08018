"""`vta run --trace` on the spec and the RTL, and `vta trace-diff`, tried as a new user would:
the RTL's trace is the spec's, a wrong ALU immediate is blamed on its own instruction, and bad
input is one clear error line."""

import json

import pytest
from click.testing import CliRunner

from vtaref.cli import main
from vtaref.impl.run import rtl_trace, run_checked

from .conftest import CONFORMANCE
from .test_cli import assert_clean_error, vta
from .test_impl_retire import CONFIGS, alu_chain, unsigned_immediate  # noqa: F401 (a fixture)

CASE = CONFORMANCE / "block4_small" / "edge_alu_chain_00"
RTL = ("--backend", "rtl", "--simulator", "amaranth")


def test_the_rtl_traces_as_the_spec(tmp_path):
    paths = {}
    for name, backend in (("spec", ()), ("rtl", RTL), ("verilator", ("--backend", "rtl"))):
        for values in ((), ("--trace-values",)):
            paths[name, bool(values)] = trace = tmp_path / f"{name}{len(values)}.jsonl"
            result = vta("run", CASE, "-o", tmp_path / f"{name}.bin", "--trace", trace,
                         *values, *backend)
            assert result.returncode == 0, result.stderr
    for values in (False, True):
        assert paths["spec", values].read_bytes() == paths["rtl", values].read_bytes()
        assert paths["spec", values].read_bytes() == paths["verilator", values].read_bytes()
    result = vta("trace-diff", paths["spec", True], paths["rtl", True])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("agree on all 18 instructions")
    records = [json.loads(line) for line in paths["rtl", True].read_text().splitlines()]
    stored = next(entry for entry in records[16]["writes"] if entry["space"] == "dram")
    assert len(bytes.fromhex(stored["bytes"])) == stored["count"]


@pytest.fixture
def traces_of_a_wrong_immediate(tmp_path, unsigned_immediate):  # noqa: F811
    """Return the spec's and a broken core's traces (with values, then digests only) of a
    program whose ALU #9 has a negative immediate, which the core takes as unsigned."""
    image = alu_chain(CONFIGS["2x4"])
    image.save(tmp_path / "image")
    checked = run_checked(image, simulator="amaranth", trace=True)
    paths = []
    for values in (True, False):
        spec = tmp_path / f"spec{int(values)}.jsonl"
        result = vta("run", tmp_path / "image", "-o", tmp_path / "out.bin", "--trace", spec,
                     *(["--trace-values"] if values else []))
        assert result.returncode == 0, result.stderr
        rtl = tmp_path / f"rtl{int(values)}.jsonl"
        with rtl.open("w") as out:
            rtl_trace(image, checked.rtl, values=values).dump(out)
        paths.append((spec, rtl))
    return paths


def test_a_wrong_immediate_is_blamed_on_its_instruction(traces_of_a_wrong_immediate):
    (spec, rtl), (spec_digests, rtl_digests) = traces_of_a_wrong_immediate
    result = vta("trace-diff", spec, rtl)
    assert result.returncode == 1 and not result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (f"A = {spec}, B = {rtl}: instruction 9 (ALU, compute stage) is the "
                        "first to differ, in writes")
    assert lines[1].startswith("  acc (A vs B): acc[0][0] -3 vs 35, acc[0][1] -3 vs 36, ")
    assert lines[1].endswith(" and 8 more")
    result = vta("trace-diff", spec_digests, rtl_digests)
    assert result.returncode == 1
    assert "instruction 9 (ALU, compute stage)" in result.stdout
    assert "(trace with values to see which lanes differ)" in result.stdout


def test_the_rtl_mismatch_error_names_the_first_wrong_instruction(tmp_path,
                                                                  unsigned_immediate):  # noqa: F811
    alu_chain(CONFIGS["2x4"]).save(tmp_path / "image")
    out, trace = tmp_path / "out.bin", tmp_path / "trace.jsonl"
    result = CliRunner().invoke(main, ["run", str(tmp_path / "image"), "-o", str(out),
                                       "--trace", str(trace), *RTL])
    assert result.exit_code == 1
    error = result.output.strip().splitlines()[-1]
    assert error.startswith(f"vta: error: {tmp_path / 'image'}: the RTL differs from the spec: "
                            "instruction 9 (ALU, compute stage) is the first to differ")
    assert error.endswith("written by STORE #11")
    assert not out.exists() and not trace.exists()


def write_lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines))
    return path


@pytest.fixture
def spec_trace(tmp_path):
    trace = tmp_path / "spec.jsonl"
    assert vta("run", CASE, "-o", tmp_path / "out.bin", "--trace", trace).returncode == 0
    return trace


def test_bad_traces_are_one_error_line(tmp_path, spec_trace):
    lines = spec_trace.read_text().splitlines()
    other_trace = tmp_path / "other.jsonl"
    assert vta("run", CONFORMANCE / "default" / "matmul_00", "-o", tmp_path / "o.bin",
               "--trace", other_trace).returncode == 0
    changed = json.loads(lines[3])
    changed["fields"]["sram_base"] += 1
    cases = [
        (tmp_path / "missing.jsonl", "cannot read", "No such file or directory"),
        (write_lines(tmp_path / "cut.jsonl", [*lines[:2], lines[2][:40]]),
         "cut.jsonl:3: not a JSON line"),
        (write_lines(tmp_path / "list.jsonl", ["[1, 2]"]), "list.jsonl:1: not a JSON object"),
        (write_lines(tmp_path / "nowrites.jsonl", ['{"index": 0, "mnemonic": "LOAD", '
                                                   '"fields": {}, "stage": "load", "pop": [], '
                                                   '"push": [], "clock": [1, 0, 0]}']),
         "nowrites.jsonl:1: no writes field"),
        (write_lines(tmp_path / "skip.jsonl", [lines[0], lines[2]]),
         "skip.jsonl:2: instruction 2 where instruction 1 was expected"),
        (other_trace, "traces of different programs: A has 18 instructions, B has"),
        (write_lines(tmp_path / "changed.jsonl", [*lines[:3], json.dumps(changed), *lines[4:]]),
         "traces of different programs: instruction 3 is LOAD", "sram_base=25"),
    ]
    for path, *fragments in cases:
        assert_clean_error(vta("trace-diff", spec_trace, path), *fragments)


@pytest.mark.parametrize("options, message", [
    (["--trace-values"], "--trace-values needs --trace FILE"),
    (["--trace", "t.jsonl", "--runner", "true {image} {out}"],
     "--trace needs --backend spec or rtl, not external"),
])
def test_run_refuses_traces_it_cannot_write(tmp_path, options, message):
    result = vta("run", CASE, "-o", "out.bin", *options, cwd=tmp_path)
    assert_clean_error(result, message)
    assert not list(tmp_path.iterdir())
