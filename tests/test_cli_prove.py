"""``vta prove``: proofs run at once, failures keep their counterexample, a JUnit XML report."""

import os
import pty
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import pytest
from amaranth.hdl import Assert, Elaboratable, Module, Signal
from click.testing import CliRunner

import vtaref.proofs
from vtaref import cli
from vtaref.proofs import Proof, proofs, run_proofs
from vtaref.proofs.queue import QueueSpec
from vtaref.proofs.report import junit_xml
from vtaref.proofs.sby import ProofResult
from vtaref.spec import VtaConfig

from .test_cli import assert_clean_error, vta
from .test_proofs import OverfullQueue


class WrappingCounter(Elaboratable):
    """A counter that wraps from 9 to 0 never reaches 12: true, but not 1-inductive (from 11,
    one step reaches 12), so k-induction of depth 1 answers UNKNOWN."""

    def elaborate(self, platform):
        m = Module()
        count = Signal(4)
        m.d.sync += count.eq(count + 1)
        with m.If(count == 9):
            m.d.sync += count.eq(0)
        m.d.comb += Assert(count != 12)
        return m


OVERFULL = Proof("overfull_queue", lambda: QueueSpec(OverfullQueue(8, 3)), "prove", 4)
UNCLOSED = Proof("wrapping_counter", WrappingCounter, "prove", 1)


def real(name: str) -> Proof:
    return next(proof for proof in proofs(VtaConfig()) if proof.name == name)


def cases(report) -> dict[str, ET.Element]:
    return {case.get("name"): case for case in report.iter("testcase")}


def test_proofs_run_two_at_a_time_with_progress_and_a_report(tmp_path):
    traces = tmp_path / "proof-traces"
    traces.mkdir()
    (traces / "queue_3.vcd").write_text("from a run that failed")
    returncode, stdout, terminal = vta_on_terminal(
        "prove", "--only", "queue_3", "--only", "token_queue_8", "-j", "2", "--junit", "f.xml",
        cwd=tmp_path)
    assert returncode == 0, stdout + terminal
    # The status line on the terminal (stderr) shows both proofs running at once.
    assert "vta prove: 0 of 2 done, running token_queue_8, queue_3" in terminal
    assert "vta prove: 1 of 2 done, running " in terminal
    lines = stdout.splitlines()
    assert sorted(line.split(":")[0] for line in lines[:2]) == ["queue_3", "token_queue_8"]
    assert lines[2:] == ["2 passed, 0 failed"]

    suites = ET.parse(tmp_path / "f.xml").getroot()
    [suite] = suites
    assert (suites.tag, suite.tag, suite.get("name")) == ("testsuites", "testsuite", "vta prove")
    assert [suite.get(count) for count in ("tests", "failures", "errors")] == ["2", "0", "0"]
    assert list(cases(suite)) == ["token_queue_8", "queue_3"]  # the order of the proofs
    assert all(float(case.get("time")) > 0 and not len(case) for case in suite.iter("testcase"))
    assert list(traces.iterdir()) == []  # the stale trace of a proof that passes is gone


def vta_on_terminal(*args, cwd) -> tuple[int, str, str]:
    """Run ``vta`` with stderr on a terminal; return its status, stdout and what the terminal
    showed."""
    controller, terminal = pty.openpty()
    with subprocess.Popen([sys.executable, "-m", "vtaref", *args], cwd=cwd, text=True,
                          stdout=subprocess.PIPE, stderr=terminal) as run:
        os.close(terminal)
        shown = b""
        while chunk := _read(controller):
            shown += chunk
        stdout = run.stdout.read()
    os.close(controller)
    return run.returncode, stdout, shown.decode()


def _read(controller: int) -> bytes:
    """Return the next output on a terminal, or b"" once no process has it open."""
    try:
        return os.read(controller, 4096)
    except OSError:  # EIO: the last process writing to it has exited
        return b""


def test_failing_proof_leaves_its_counterexample(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(vtaref.proofs, "proofs",
                        lambda config: [real("queue_3"), OVERFULL, UNCLOSED])
    result = CliRunner().invoke(cli.main, ["prove", "-j", "2", "--junit", "report.xml"])
    assert result.exit_code == 1, result.output
    vcd = os.path.join("proof-traces", "overfull_queue.vcd")
    induction = os.path.join("proof-traces", "wrapping_counter.induction.vcd")
    assert sorted(os.listdir("proof-traces")) == ["overfull_queue.vcd",
                                                  "wrapping_counter.induction.vcd"]
    for trace in (vcd, induction):
        assert "$enddefinitions" in (tmp_path / trace).read_text()
    lines = result.stdout.splitlines()
    assert any(line.startswith("overfull_queue: FAIL") and line.endswith(f"; counterexample {vcd}")
               for line in lines), lines
    assert any(line.startswith("wrapping_counter: UNKNOWN") and
               line.endswith(f"; counterexample {induction}") for line in lines), lines
    assert any(line.startswith("queue_3: PASS") for line in lines), lines
    assert lines[-1] == "1 passed, 2 failed: overfull_queue (FAIL), wrapping_counter (UNKNOWN)"
    assert "Assert failed" in result.output  # the log, on stderr

    suite = ET.parse(tmp_path / "report.xml").getroot()[0]
    assert [suite.get(count) for count in ("tests", "failures", "errors")] == ["3", "2", "0"]
    by_name = cases(suite)
    assert list(by_name) == ["queue_3", "overfull_queue", "wrapping_counter"]
    assert not len(by_name["queue_3"])
    failure = by_name["overfull_queue"].find("failure")
    assert failure.get("type") == "FAIL"
    assert failure.get("message").endswith(f"; counterexample {vcd}")
    assert f"counterexample trace: {vcd}" in failure.text
    assert "Assert failed" in failure.text
    assert by_name["wrapping_counter"].find("failure").get("type") == "UNKNOWN"


@pytest.mark.parametrize("args, ran", [
    ([], ["queue_3"]),
    (["--all"], ["queue_3", "slow_queue"]),
    (["--only", "slow_queue"], ["slow_queue"]),
])
def test_slow_proofs_run_when_asked_for(monkeypatch, tmp_path, args, ran):
    monkeypatch.chdir(tmp_path)
    slow = Proof("slow_queue", real("queue_3").build, "prove", 1, slow=True)
    monkeypatch.setattr(vtaref.proofs, "proofs", lambda config: [real("queue_3"), slow])
    result = CliRunner().invoke(cli.main, ["prove", "-j", "1", *args])
    assert result.exit_code == 0, result.output
    assert [line.split(":")[0] for line in result.stdout.splitlines()[:-1]] == ran


@dataclass(frozen=True)
class InstantProof:
    """A proof that passes at once, its log naming the process that ran it."""

    name: str

    def run(self, **options) -> ProofResult:
        return ProofResult(self.name, "fake", "bmc", 1, "PASS", 0.0, str(os.getpid()))


@pytest.mark.parametrize("jobs, events", [
    (1, ["start a", "end a", "start b", "end b", "start c", "end c"]),
    (2, ["start a", "start b"]),
])
def test_jobs_proofs_run_at_once(jobs, events):
    log = []
    chosen = [InstantProof(name) for name in "abc"]
    results = run_proofs(chosen, jobs=jobs,
                         on_start=lambda proof: log.append(f"start {proof.name}"),
                         on_result=lambda result: log.append(f"end {result.name}"))
    assert [result.name for result in results] == ["a", "b", "c"]
    assert log[:len(events)] == events
    assert sorted(log) == ["end a", "end b", "end c", "start a", "start b", "start c"]
    # One job runs them in this process; more, in the worker processes of a local cluster.
    assert (str(os.getpid()) in {result.log for result in results}) == (jobs == 1)


def test_no_answer_is_an_error_in_the_report(tmp_path):
    result = vta("prove", "--only", "queue_3", "--timeout", "0.001", "--junit", "f.xml",
                 cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines()[-1] == "0 passed, 1 failed: queue_3 (TIMEOUT)"
    suite = ET.parse(tmp_path / "f.xml").getroot()[0]
    assert [suite.get(count) for count in ("tests", "failures", "errors")] == ["1", "0", "1"]
    assert cases(suite)["queue_3"].find("error").get("type") == "TIMEOUT"
    assert not (tmp_path / "proof-traces").exists()


def test_report_holds_only_xml_characters():
    results = [ProofResult("colour", "smtbmc yices", "bmc", 3, "ERROR", 1.5,
                           "\x1b[31mfailed\x1b[0m & <done>"),
               ProofResult("fine", "smtbmc yices", "bmc", 3, "PASS", 0.25, "")]
    report = ET.fromstring(junit_xml(results, started=0.0, seconds=2.0))
    error = report.find("testsuite/testcase[@name='colour']/error")
    assert error.text == "\ufffd[31mfailed\ufffd[0m & <done>"
    assert report.get("time") == "2.000"
    assert report.find("testsuite/testcase[@name='fine']").get("time") == "0.250"


def test_unwritable_outputs_fail_before_any_proof(tmp_path):
    (tmp_path / "file").write_text("")
    assert_clean_error(vta("prove", "--only", "queue_3", "--traces", tmp_path / "file" / "in"),
                       f"cannot write {tmp_path / 'file' / 'in'}: Not a directory")
    result = vta("prove", "--only", "queue_3", "--traces", tmp_path / "traces",
                 "--junit", tmp_path / "missing" / "f.xml")
    assert_clean_error(result, f"cannot write {tmp_path / 'missing' / 'f.xml'}")
    assert result.stdout == ""  # no proof ran
    assert sorted(os.listdir(tmp_path)) == ["file"]
