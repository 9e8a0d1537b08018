"""Jobs on Dask: each job's value comes back once, an error stops the run, a bad scheduler is
named."""

import os
import time
from pathlib import Path

import pytest

from vtaref.impl.tools import run_tool
from vtaref.spec import jobs as jobs_module
from vtaref.spec.jobs import Job, JobsError, run_jobs


def _square_with_pid(n):
    return n * n, os.getpid()


def _fail(n):
    raise ValueError(f"job {n} failed")


def _square_after(n, signal):
    """Wait (at most a minute) for the file ``signal``, then square ``n``."""
    deadline = time.monotonic() + 60
    while not Path(signal).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return n * n


def test_local_cluster_runs_every_job_once_in_worker_processes():
    jobs = [Job(f"square {n}", _square_with_pid, (n,)) for n in range(6)]
    started = []
    results = list(run_jobs(jobs, workers=2, on_start=started.append))
    assert sorted(job.name for job, _ in results) == sorted(job.name for job in jobs)
    assert all(value[0] == job.args[0] ** 2 for job, value in results)
    assert os.getpid() not in {value[1] for _, value in results}
    assert started == jobs  # submitted in order, each once


def test_one_worker_runs_in_this_process_in_order():
    jobs = [Job(f"square {n}", _square_with_pid, (n,)) for n in range(3)]
    results = list(run_jobs(jobs, workers=1))
    assert [job for job, _ in results] == jobs
    assert {value[1] for _, value in results} == {os.getpid()}


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_job_stops_the_run(workers, tmp_path):
    # The other jobs wait for a file nobody writes, so the failure is the first to finish.
    jobs = [Job("fails", _fail, (0,)), *(Job(f"square {n}", _square_after, (n, tmp_path / "go"))
                                         for n in range(4))]
    started = []
    with pytest.raises(ValueError, match="job 0 failed"):
        for _ in run_jobs(jobs, workers=workers, on_start=started.append):
            pass
    assert len(started) <= workers + 1  # the queued jobs never started


def test_unreachable_scheduler_is_named(monkeypatch):
    monkeypatch.setattr(jobs_module, "SCHEDULER_TIMEOUT", 1.0)
    with pytest.raises(JobsError, match="^cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'"):
        list(run_jobs([Job("x", _square_with_pid, (1,))], scheduler="tcp://127.0.0.1:9"))


def _sleep_in_a_tool(pid_file):
    """Run a tool that writes its process id to ``pid_file`` and sleeps for five minutes."""
    return run_tool(["sh", "-c", f"echo $$ > {pid_file}; exec sleep 300"]).returncode


def _fail_once_started(pid_file):
    """Wait (at most a minute) for ``pid_file`` to be written, then fail."""
    deadline = time.monotonic() + 60
    while not Path(pid_file).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    raise ValueError("stop the run")


def test_a_stopped_run_ends_the_tools_its_jobs_run(tmp_path):
    pid_file = tmp_path / "tool.pid"
    jobs = [Job("sleeps", _sleep_in_a_tool, (pid_file,)),
            Job("fails", _fail_once_started, (pid_file,))]
    with pytest.raises(ValueError, match="stop the run"):
        list(run_jobs(jobs, workers=2))
    tool = Path("/proc", pid_file.read_text().strip())
    deadline = time.monotonic() + 60  # the tool would sleep five minutes
    while tool.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not tool.exists()


def test_on_stop_outside_a_job_on_dask_does_nothing():
    called = []
    with jobs_module.on_stop(lambda: called.append(True)):
        pass
    assert called == []


def _malloc_trim_threshold():
    return os.environ.get("MALLOC_TRIM_THRESHOLD_")


def test_local_workers_keep_the_callers_malloc_settings():
    # Dask's own setting (64 KiB) made z3 proofs 1.6-1.8 times slower.
    results = run_jobs([Job(name, _malloc_trim_threshold) for name in "ab"], workers=2)
    assert {value for _, value in results} == {_malloc_trim_threshold()}
