"""``vta conform`` and ``vta prove`` run their jobs on Dask: more than one job runs
on a local cluster of worker processes and prints what one job prints; a scheduler that cannot
be reached is one line."""

import os
import re
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner
from distributed import Client, LocalCluster

from vtaref import cli
from vtaref.spec import jobs as jobs_module

from .test_cli import vta
from .test_cli_conform import SUITE, runner


def test_conform_on_two_worker_processes_prints_what_one_job_prints(tmp_path):
    command = runner(tmp_path, "logs_its_parent")
    parents = tmp_path / "logs_its_parent.log"
    printed = {}
    for jobs in ("1", "2"):
        parents.unlink(missing_ok=True)
        result = vta("conform", SUITE, "-v", "-j", jobs, "--runner", command)
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        printed[jobs] = result.stdout
        # Each case's runner was started by the vta process itself, or by two worker processes.
        assert len(set(parents.read_text().split())) == int(jobs)
    assert printed["2"] == printed["1"]
    assert printed["1"].endswith("8 passed, 0 failed\n")


def test_conform_on_a_schedulers_cluster_prints_what_one_job_prints(tmp_path):
    command = runner(tmp_path, "logs_its_parent")
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None,
                      scheduler_kwargs={"dashboard_address": ":0"}) as cluster, \
            Client(cluster) as client:
        workers = {str(pid) for pid in client.run(os.getpid).values()}
        result = vta("conform", SUITE, "-v", "--scheduler", cluster.scheduler_address,
                     "--runner", command)
    assert result.returncode == 0, result.stderr
    assert set((tmp_path / "logs_its_parent.log").read_text().split()) <= workers
    assert result.stdout == vta("conform", SUITE, "-v", "--runner", command).stdout


def without_times(text: str) -> str:
    return re.sub(r" in \d+\.\d s$", "", text, flags=re.MULTILINE)


def test_prove_on_two_worker_processes_prints_what_one_job_prints(tmp_path):
    printed, reports = {}, {}
    for jobs in ("1", "2"):
        result = vta("prove", "--only", "queue_3", "--only", "token_queue_8", "-j", jobs,
                     "--junit", f"{jobs}.xml", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        printed[jobs] = sorted(without_times(result.stdout).splitlines())  # as they finish
        suite = ET.parse(tmp_path / f"{jobs}.xml").getroot()[0]
        reports[jobs] = [(case.get("name"), len(case)) for case in suite.iter("testcase")]
    assert printed["2"] == printed["1"] == [
        "2 passed, 0 failed", "queue_3: PASS (prove, depth 1, smtbmc yices)",
        "token_queue_8: PASS (prove, depth 1, smtbmc yices)"]
    assert reports["2"] == reports["1"] == [("token_queue_8", 0), ("queue_3", 0)]


@pytest.mark.parametrize("arguments", [["conform", str(SUITE)], ["prove", "--only", "queue_3"]],
                         ids=["conform", "prove"])
def test_a_scheduler_that_cannot_be_reached_is_one_line(monkeypatch, tmp_path, arguments):
    monkeypatch.setattr(jobs_module, "SCHEDULER_TIMEOUT", 1.0)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli.main, [*arguments, "--scheduler", "tcp://127.0.0.1:9"])
    assert result.exit_code == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("vta: error: cannot reach the Dask scheduler at 'tcp://127.0.0.1:9': ")
    assert list(tmp_path.iterdir()) == []  # prove's new traces folder is gone
