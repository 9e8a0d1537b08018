"""``vta conform``: campaigns on the spec, the RTL and external runners (small Python scripts
written by the tests), run one at a time or in parallel."""

import os
import pty
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from vtaref.spec import ProgramImage

from .conftest import CONFORMANCE
from .test_cli import assert_clean_error, copy_case, vta

SUITE = CONFORMANCE / "default"  # 8 cases

# A runner: runs the image on the spec in its own process, applies CHANGE to the final DRAM
# (a bytearray ``dram``; ``initial`` holds dram.bin), talks on both streams and writes {out}.
RUNNER = """\
import os, signal, sys
from pathlib import Path
from vtaref.spec import ProgramImage, run_image

image, out = Path(sys.argv[1]), Path(sys.argv[2])
state, _ = run_image(ProgramImage.load(image))
dram = bytearray(state.dram.data.tobytes())
initial = (image / "dram.bin").read_bytes()
print("ran", len(dram), "bytes")
print("a note on stderr", file=sys.stderr)
{change}
out.write_bytes(dram)
"""
CHANGES = {
    "correct": "",
    # flip the lowest bit of the first byte the program changes
    "flips_a_byte": "dram[next(i for i, b in enumerate(initial) if b != dram[i])] ^= 1",
    "exits_3": ("out.write_bytes(dram[:10])\n"
                "print('the accelerator hung', file=sys.stderr)\nsys.exit(3)"),
    "kills_itself": "os.kill(os.getpid(), signal.SIGKILL)",
    # append the process that started it to the script's .log file
    "logs_its_parent": ("with open(Path(__file__).with_suffix('.log'), 'a') as log:\n"
                        "    print(os.getppid(), file=log)"),
}


def runner(tmp_path: Path, kind: str) -> str:
    """Write the runner script of CHANGES[kind]; return its --runner command line."""
    script = tmp_path / f"{kind}.py"
    script.write_text(RUNNER.format(change=CHANGES[kind]))
    return f"{sys.executable} {script} {{image}} {{out}}"


def failures(stdout: str) -> dict[str, tuple[str, list[str]]]:
    """Map each failing case of a ``vta conform`` output to its detail and the lines under it."""
    found = {}
    for line in stdout.splitlines():
        if line.startswith("FAIL "):
            name, detail = line.removeprefix("FAIL ").split(": ", 1)
            found[name] = (detail, [])
        elif line.startswith("    "):
            found[name][1].append(line)
    return found


def test_conform_passes_every_case():
    result = vta("conform", CONFORMANCE)
    assert result.returncode == 0, result.stdout
    assert result.stdout.strip().splitlines()[-1] == "40 passed, 0 failed"
    assert result.stderr == ""  # no progress bar on a stderr that is not a terminal


def test_a_failing_case_lists_the_program_around_the_store_to_blame(tmp_path):
    image_dir = copy_case(tmp_path)  # default/matmul_00: 13 instructions, STORE #11
    expected = bytearray((image_dir / "expected_dram.bin").read_bytes())
    image = ProgramImage.load(image_dir)
    changed = np.flatnonzero(np.frombuffer(image.dram, np.uint8)
                             != np.frombuffer(image.expected, np.uint8))
    offset = int(changed[0])
    expected[offset] ^= 0xFF
    (image_dir / "expected_dram.bin").write_bytes(bytes(expected))
    result = vta("conform", tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines()[-1] == "0 passed, 1 failed"
    [(name, (detail, listing))] = failures(result.stdout).items()
    assert name == "image"
    assert detail.startswith(f"first differing byte at {image.dram_base + offset:#x}")
    assert detail.endswith(", written by STORE #11")
    assert listing[0] == "       ... 3 instructions before"
    assert [line[4:24] for line in listing[1:]] == [
        f"{'=>' if index == 11 else '  '} {index:6d} {image.insn_addr + 16 * index:#010x}"
        for index in range(3, 13)]
    assert listing[-2].split()[3] == "STORE.OUT" and listing[-1].split()[2] == "FINISH"


def test_a_runner_that_writes_a_wrong_byte(tmp_path):
    result = vta("conform", SUITE, "--runner", runner(tmp_path, "flips_a_byte"))
    assert result.returncode == 1
    found = failures(result.stdout)
    assert len(found) == 8 and result.stdout.endswith("0 passed, 8 failed\n")
    # random_00 has 73 instructions: its listing stops 8 before and 2 after the STORE
    detail, listing = found["random_00"]
    store = int(detail.rsplit("#", 1)[1])
    assert 10 < store < 70
    assert listing[0] == f"       ... {store - 8} instructions before"
    assert listing[-1] == f"       ... {73 - store - 3} instructions after"
    assert [int(line.replace("=>", "").split()[0]) for line in listing[1:-1]] == list(
        range(store - 8, store + 3))
    assert listing[9].startswith(f"    => {store:6d} ")


def test_vta_run_as_a_runner_passes_and_false_fails_every_case():
    runner = f"{sys.executable} -m vtaref run {{image}} -o {{out}}"
    result = vta("conform", CONFORMANCE / "int4_block8", "--runner", runner)
    assert result.stdout.strip().splitlines()[-1] == "8 passed, 0 failed"
    broken = vta("conform", CONFORMANCE / "int4_block8", "--runner", "false {image} {out}")
    assert broken.returncode == 1
    assert list(failures(broken.stdout).values()) == [
        ("runner exited with status 1: (no message)", [])] * 8
    assert broken.stdout.strip().endswith("0 passed, 8 failed")


@pytest.mark.parametrize("kind, message", [
    ("exits_3", "runner exited with status 3: the accelerator hung"),
    ("kills_itself", "runner was killed by SIGKILL: a note on stderr"),
])
def test_a_runner_that_fails_fails_each_case(tmp_path, kind, message):
    result = vta("conform", SUITE, "--runner", runner(tmp_path, kind))
    assert result.returncode == 1
    names = sorted(path.name for path in SUITE.iterdir())
    assert failures(result.stdout) == {name: (message, []) for name in names}
    assert result.stdout.endswith("0 passed, 8 failed\n")


def _not_executable(tmp_path: Path) -> str:
    script = tmp_path / "runner.py"
    script.write_text("print('never runs')\n")
    return str(script)


def _no_interpreter(tmp_path: Path) -> str:
    script = tmp_path / "runner.sh"
    script.write_text("#!/nonexistent/bin/sh\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


@pytest.mark.parametrize("make_program, reason", [
    (lambda tmp_path: "vtaref-no-such-runner", "no such command on PATH"),
    (lambda tmp_path: str(tmp_path / "missing" / "runner"), "No such file or directory"),
    (_not_executable, "Permission denied"),
    (lambda tmp_path: str(tmp_path), "Permission denied"),
    (_no_interpreter, "the interpreter on its #! line does not exist"),
], ids=["not-on-path", "missing", "not-executable", "directory", "no-interpreter"])
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_runner_that_cannot_start_stops_the_campaign_at_once(tmp_path, make_program, reason,
                                                               jobs):
    program = make_program(tmp_path)
    kept = tmp_path / "kept"
    result = vta("conform", SUITE, "-j", jobs, "--keep-output", kept,
                 "--runner", f"{program} {{image}} {{out}}")
    assert_clean_error(result, f"runner command {program!r} cannot be started: {reason}")
    assert result.stdout == ""  # no case failed: the campaign never ran
    assert list(kept.iterdir()) == []


def test_an_rtl_that_cannot_build_stops_the_campaign_at_once(tmp_path):
    environment = {**os.environ, "CXX": str(tmp_path / "no-compiler"),
                   "VTAREF_CACHE": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-m", "vtaref", "conform", SUITE, "--backend", "rtl"],
                            capture_output=True, text=True, env=environment)
    assert_clean_error(result, f"no C++ compiler: {tmp_path / 'no-compiler'} --version fails")
    assert result.stdout == ""


@pytest.mark.parametrize("command, message", [
    ("cat {image}", "runner command 'cat {image}' has no {out}: "),
    ("cp x {out}", "runner command 'cp x {out}' has no {image}: "),
    ("", "runner command '' has no {image} and no {out}: "),
    ("cp '{image} {out}", "runner command \"cp '{image} {out}\" cannot be split: "
                          "No closing quotation"),
])
@pytest.mark.parametrize("arguments", [
    ["conform", SUITE],
    ["run", SUITE / "matmul_00", "-o", "out.bin"],
    ["demo", "--matmul", "--save", "saved"],
], ids=["conform", "run", "demo"])
def test_a_runner_needs_image_and_out(tmp_path, command, message, arguments):
    result = vta(*arguments, "--runner", command, cwd=tmp_path)
    assert_clean_error(result, message)
    assert result.stdout == "" and list(tmp_path.iterdir()) == []


def test_keep_output_keeps_what_each_run_left(tmp_path):
    kept = tmp_path / "kept"
    passing = vta("conform", SUITE, "--keep-output", kept, "--runner", runner(tmp_path, "correct"))
    assert passing.stdout.endswith("8 passed, 0 failed\n"), passing.stdout
    names = sorted(path.name for path in SUITE.iterdir())
    assert sorted(path.name for path in kept.iterdir()) == names
    for name in names:
        files = {path.name: path.read_bytes() for path in (kept / name).iterdir()}
        assert files == {"out.bin": (SUITE / name / "expected_dram.bin").read_bytes(),
                         "stdout.txt": f"ran {len(files['out.bin'])} bytes\n".encode(),
                         "stderr.txt": b"a note on stderr\n"}

    failing = vta("conform", SUITE, "--keep-output", kept, "--runner", runner(tmp_path, "exits_3"))
    assert failing.returncode == 1
    assert (kept / "matmul_00" / "out.bin").read_bytes() == (
        SUITE / "matmul_00" / "expected_dram.bin").read_bytes()[:10]  # what it wrote, failing
    assert (kept / "matmul_00" / "stderr.txt").read_text() == (
        "a note on stderr\nthe accelerator hung\n")

    on_the_spec = vta("conform", SUITE, "--keep-output", kept)
    assert on_the_spec.returncode == 0
    assert [path.name for path in (kept / "matmul_00").iterdir()] == ["out.bin"]  # no stale file
    assert (kept / "matmul_00" / "out.bin").read_bytes() == (
        SUITE / "matmul_00" / "expected_dram.bin").read_bytes()


def test_keep_output_in_a_folder_that_cannot_be_made(tmp_path):
    (tmp_path / "file").write_bytes(b"")
    result = vta("conform", SUITE, "--keep-output", tmp_path / "file" / "kept")
    assert_clean_error(result, f"cannot write {tmp_path / 'file' / 'kept'}: Not a directory")
    assert result.stdout == ""


def test_keep_output_stops_at_a_case_folder_that_cannot_be_written(tmp_path):
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "conv2d_00").write_bytes(b"")  # a file where the first case's folder goes
    result = vta("conform", SUITE, "-j", "2", "--keep-output", kept)
    assert_clean_error(result, f"cannot write {kept / 'conv2d_00'}: File exists")
    assert "passed" not in result.stdout


def test_a_stopped_campaign_leaves_no_runner_behind(tmp_path):
    # The first runner waits for the second to start, then fails; its case's output folder
    # cannot be written, which stops the campaign. The second writes its process id and sleeps
    # for five minutes.
    first, sleeper = tmp_path / "first", tmp_path / "sleeper.pid"
    script = tmp_path / "runner.sh"
    script.write_text(f"if mkdir {first} 2>/dev/null; then\n"
                      f"  while [ ! -e {sleeper} ]; do sleep 0.05; done\n"
                      f"  exit 3\n"
                      f"fi\n"
                      f"echo $$ > {sleeper}.new && mv {sleeper}.new {sleeper}\n"
                      f"exec sleep 300\n")
    kept = tmp_path / "kept"
    kept.mkdir()
    for case in SUITE.iterdir():
        (kept / case.name).write_bytes(b"")  # a file where each case's folder goes
    result = vta("conform", SUITE, "-j", "2", "--keep-output", kept, "--timeout", "60",
                 "--runner", f"sh {script} {{image}} {{out}}")
    assert_clean_error(result, "cannot write ", "File exists")
    process = Path("/proc", sleeper.read_text().strip())
    deadline = time.monotonic() + 60  # it would sleep five minutes
    while process.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process.exists()


def test_jobs_print_what_one_job_prints_in_case_order(tmp_path):
    suite = tmp_path / "suite"
    shutil.copytree(CONFORMANCE, suite)
    for case in ("block4_small/random_00", "default/conv2d_00", "int4_block8/two_layer_00"):
        expected = suite / case / "expected_dram.bin"
        expected.write_bytes(bytes(byte ^ 0x10 for byte in expected.read_bytes()))
    one, three = vta("conform", suite, "-v"), vta("conform", suite, "-v", "-j", "3")
    assert one.returncode == three.returncode == 1
    assert three.stdout == one.stdout
    named = [line.split()[1].rstrip(":") for line in one.stdout.splitlines()
             if line.startswith(("PASS ", "FAIL "))]
    assert named == sorted(named) and len(named) == 40
    assert list(failures(one.stdout)) == [
        "block4_small/random_00", "default/conv2d_00", "int4_block8/two_layer_00"]
    assert one.stdout.endswith("37 passed, 3 failed\n")


def test_progress_shows_on_an_interactive_stderr(tmp_path):
    terminal, stderr = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "vtaref", "conform", SUITE],
                               stdout=subprocess.PIPE, stderr=stderr, text=True)
    os.close(stderr)
    shown = b""
    while True:
        try:
            chunk = os.read(terminal, 4096)
        except OSError:  # EIO: every process has closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(terminal)
    stdout = process.communicate()[0]
    assert process.returncode == 0 and stdout == "8 passed, 0 failed\n"
    assert b"cases" in shown and b"100%" in shown
