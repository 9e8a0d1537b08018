"""``vta fuzz``: a campaign against a wrong implementation finds it and writes images that
``vta conform`` replays; against a correct one it finds and writes nothing; budgets hold."""

import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from vtaref.spec import ProgramImage
from vtaref.spec.backends import BackendError, SpecBackend
from vtaref.spec.fuzz import (
    Budget,
    Campaign,
    Disagreement,
    check_program,
    failure_kind,
    save_finding,
)

from .conftest import CONFORMANCE
from .test_cli import CASE, assert_clean_error, vta

RUNNER = """\
import sys
from vtaref.spec import ProgramImage, run_image

image, out, mode, log = sys.argv[1:]
state, _ = run_image(ProgramImage.load(image))
dram = bytearray(state.dram.data.tobytes())
if mode == "wrong":
    dram[-1] ^= 1
with open(log, "a") as calls:
    calls.write(image + "\\n")
with open(out, "wb") as output:
    output.write(dram)
"""


def runner(tmp_path: Path, mode: str) -> tuple[str, Path]:
    """Return a runner command that runs the spec (``mode`` "wrong": and flips DRAM's last
    byte), and the file where it logs each call."""
    script, log = tmp_path / "runner.py", tmp_path / f"{mode}.log"
    script.write_text(RUNNER)
    command = shlex.join([sys.executable, str(script), "{image}", "{out}", mode, str(log)])
    return command, log


def failures(output: str) -> dict[str, str]:
    """Map the case or folder name of each FAIL line of ``vta fuzz`` or ``vta conform`` to its
    detail."""
    found = {}
    for line in output.splitlines():
        if line.startswith("FAIL "):
            name, detail = line.removeprefix("FAIL ").split(": ", 1)
            found[Path(name.split(" (")[0]).name] = detail
    return found


def test_a_wrong_runner_is_found_and_conform_replays_the_images(tmp_path):
    command, _ = runner(tmp_path, "wrong")
    db, out = tmp_path / "db", tmp_path / "out"
    result = vta("fuzz", "--runner", command, "--max-examples", 1, "--db", db, "--out", out)
    assert result.returncode == 1, result
    found = failures(result.stdout)
    assert found and sorted(found) == sorted(path.name for path in out.iterdir())
    for detail in found.values():
        assert "which no STORE writes (it must stay unchanged)" in detail
    assert "1 program in" in result.stdout and f"{len(found)} new image" in result.stdout

    replayed = vta("conform", out, "--runner", command)
    assert replayed.returncode == 1 and failures(replayed.stdout) == found, replayed
    on_spec = vta("conform", out)
    assert on_spec.returncode == 0 and f"{len(found)} passed, 0 failed" in on_spec.stdout

    # A second campaign replays the stored failure first: the same image, not written again.
    again = vta("fuzz", "--runner", command, "--max-examples", 1, "--db", db, "--out", out)
    assert again.returncode == 1 and failures(again.stdout).items() <= found.items(), again
    assert "(already there" in again.stdout and "0 new images" in again.stdout
    assert sorted(path.name for path in out.iterdir()) == sorted(found)


def test_a_correct_runner_passes_within_the_example_budget(tmp_path):
    command, log = runner(tmp_path, "right")
    out = tmp_path / "out"
    result = vta("fuzz", "--runner", command, "--max-examples", 3, "--db", tmp_path / "db",
                 "--out", out)
    assert result.returncode == 0, result
    assert "3 programs in" in result.stdout and "0 failures found" in result.stdout
    assert len(log.read_text().splitlines()) == 3
    assert not out.exists()


@pytest.mark.parametrize("args, named", [
    (["--runner", "no-such-vta {image} {out}"], "runner command 'no-such-vta' cannot be started"),
    (["--config", "no-such-config.json"], "no-such-config.json"),
])
def test_a_campaign_that_cannot_start_stops_in_one_line(tmp_path, args, named):
    out = tmp_path / "out"
    result = vta("fuzz", *args, "--db", tmp_path / "db", "--out", out)
    assert_clean_error(result, named)
    assert not out.exists()


def test_the_rtl_passes_a_short_campaign(tmp_path):
    result = vta("fuzz", "--backend", "rtl", "--config", CASE / "config.json", "--max-examples", 5,
                 "--db", tmp_path / "db", "--out", tmp_path / "out")
    assert result.returncode == 0, result
    assert "rtl against the spec, config 1x16_i8w8a32_15_15_18_17: 5 programs" in result.stdout


@dataclass
class Clocked:
    """The spec as a backend on a fake clock: each run takes one second. With ``wrong``, it
    fails on programs of an odd length and flips DRAM's last byte on the others."""

    wrong: bool = False
    now: float = 0.0
    name: str = field(default="clocked", init=False)

    def run(self, image: ProgramImage) -> bytes:
        self.now += 1.0
        dram = bytearray(SpecBackend().run(image))
        if self.wrong and image.insn_count % 2:
            raise BackendError(f"{image.insn_count} instructions")
        if self.wrong:
            dram[-1] ^= 1
        return bytes(dram)


def campaign(tmp_path: Path, backend: Clocked, budget: Budget) -> Campaign:
    return Campaign(backend, target="clocked", budget=budget, database=tmp_path / "db",
                    findings=tmp_path / "out", clock=lambda: backend.now)


def test_the_time_budget_stops_drawing_programs(tmp_path):
    backend = Clocked()
    report = campaign(tmp_path, backend, Budget(seconds=4)).run()
    assert (report.examples, report.seconds, report.findings) == (4, 4.0, [])


def test_each_kind_of_failure_is_shrunk_once_and_the_campaign_goes_on(tmp_path):
    backend = Clocked(wrong=True)
    report = campaign(tmp_path, backend, Budget(examples=20)).run()
    kinds = sorted(failure_kind(finding.detail) for finding in report.findings)
    assert kinds == ["# instructions", "first differing byte at # (expected #, got #), which "
                     "no STORE writes (it must stay unchanged)"]
    assert report.examples == 20 and report.hypothesis_runs >= 2 and report.shrink_runs > 0
    assert report.known == 20 - len(report.findings)
    for finding in report.findings:
        image = ProgramImage.load(finding.folder)
        assert image.expected == SpecBackend().run(image)
        with pytest.raises(Disagreement):
            check_program(backend, image)


def test_a_budget_needs_a_limit():
    with pytest.raises(ValueError, match="a budget needs a number of examples, a time, or both"):
        Budget()


def test_a_finding_is_written_once_whole_with_umask_permissions(tmp_path):
    image = ProgramImage.load(CONFORMANCE / "default" / "matmul_00")
    old = os.umask(0o027)
    try:
        path, new = save_finding(image, tmp_path / "out")
    finally:
        os.umask(old)
    assert new and ProgramImage.load(path) == image
    assert path.stat().st_mode & 0o777 == 0o750
    assert (path / "dram.bin").stat().st_mode & 0o777 == 0o640
    assert save_finding(image, tmp_path / "out") == (path, False)
    assert [entry.name for entry in (tmp_path / "out").iterdir()] == [path.name]
