"""Independent jobs on Dask: a local cluster of worker processes by default, or the cluster whose
scheduler's address is given, so that sweeps, proofs and conformance campaigns can spread over
machines.

A :class:`Job` is a picklable call (a module-level function and plain arguments, or anything
cloudpickle takes) with a name for progress reports. :func:`run_jobs` keeps at most ``workers``
of them submitted at once, starting the next as one finishes, so a job reported as started is
running (or about to) and the jobs not yet started can be dropped at once when the run stops.
The jobs still running when it stops are told to (:func:`on_stop`), so that a job that waits on
a tool's process can end it rather than leave it running.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import tempfile
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

SCHEDULER_TIMEOUT = 30.0  # seconds allowed to reach a scheduler given by address

# In a worker process: the runs that have stopped, and the on_stop callbacks of each run's jobs
# at work there; the lock also makes a callback finish before the block that registered it ends.
_stops = threading.Lock()
_stopped_runs: set[str] = set()
_stop_callbacks: dict[str, list[Callable[[], None]]] = {}
_current = threading.local()  # .run: the run of the job this thread is running, if any


class JobsError(RuntimeError):
    """The jobs could not run at all: the scheduler cannot be reached."""


@dataclass(frozen=True)
class Job:
    """``function(*args)``, named ``name`` in progress reports."""

    name: str
    function: Callable[..., Any]
    args: tuple = ()

    def __call__(self) -> Any:
        return self.function(*self.args)


def local_workers() -> int:
    """Return how many jobs run at once on this machine by default: the CPUs it lets us use."""
    return len(os.sched_getaffinity(0))


def run_jobs(jobs: Sequence[Job], *, workers: int | None = None, scheduler: str | None = None,
             on_start: Callable[[Job], None] | None = None) -> Iterator[tuple[Job, Any]]:
    """Run ``jobs``; yield ``(job, value)`` as each one finishes.

    Without ``scheduler`` the jobs run on a Dask ``LocalCluster`` of ``workers`` one-thread
    worker processes (default :func:`local_workers`; never more than there are jobs) started for
    this call and closed after it; with one worker they run one after another in this process
    instead, with no cluster.
    With ``scheduler`` (a Dask address such as ``tcp://host:8786``) they run on that cluster,
    ``workers`` at a time (default: all its worker threads). ``on_start`` gets each job, in the
    calling thread, when it is submitted. A job that raises stops the run: its exception
    propagates and the jobs not yet started never start. So does the caller's leaving the loop
    (an exception such as Ctrl-C's, or a ``break``). The jobs running when the run stops get
    their :func:`on_stop` callbacks; whatever they still do, their values are dropped. Raises
    JobsError if the scheduler cannot be reached.

    On a local cluster, Ctrl-C stops the run in this process only: the worker processes ignore
    it (the commands a job runs, which do not inherit a Python handler, still get it).
    """
    if scheduler is None:
        workers = min(workers or local_workers(), max(1, len(jobs)))
    if scheduler is None and workers == 1:
        for job in jobs:
            if on_start is not None:
                on_start(job)
            yield job, job()
        return
    from distributed import as_completed

    with _client(scheduler, workers) as client:
        limit = workers or sum(client.nthreads().values())
        run = uuid.uuid4().hex
        queued, running = deque(jobs), {}
        finished = as_completed()
        try:
            while queued or running:
                while queued and len(running) < limit:
                    job = queued.popleft()
                    if on_start is not None:
                        on_start(job)
                    future = client.submit(_run_job, job, run,
                                           key=f"{job.name} {uuid.uuid4().hex}")
                    running[future] = job
                    finished.add(future)
                future = next(finished)
                yield running.pop(future), future.result()
        finally:
            if running:
                client.run(_stop_run, run, on_error="ignore")
            for future in running:
                future.cancel()


@contextlib.contextmanager
def on_stop(callback: Callable[[], None]) -> Iterator[None]:
    """Within a job that :func:`run_jobs` runs on Dask, call ``callback()`` (from another thread)
    if the run stops while the block runs, or at once if it has already stopped: for a job that
    waits on something that cannot watch for the stop itself, such as a tool's process. The
    call is over before the block ends. Elsewhere (a job run in the caller's process, which an
    exception reaches directly), do nothing.
    """
    run = getattr(_current, "run", None)
    if run is None:
        yield
        return
    with _stops:
        if run in _stopped_runs:
            callback()
        else:
            _stop_callbacks.setdefault(run, []).append(callback)
    try:
        yield
    finally:
        with _stops:
            callbacks = _stop_callbacks.get(run, [])
            callbacks[:] = [other for other in callbacks if other is not callback]
            if not callbacks:
                _stop_callbacks.pop(run, None)


def _run_job(job: Job, run: str) -> Any:
    """Run ``job``, part of ``run``, in a Dask worker."""
    _current.run = run
    try:
        return job()
    finally:
        _current.run = None


def _stop_run(run: str) -> None:
    """In each worker process: note that ``run`` has stopped; call its jobs' callbacks."""
    with _stops:
        _stopped_runs.add(run)
        for callback in _stop_callbacks.pop(run, []):
            callback()


def _ignore_interrupts() -> None:
    """In a local worker process: let Ctrl-C, which reaches the whole process group, stop the
    run from the caller's process (see :func:`run_jobs`)."""
    signal.signal(signal.SIGINT, _ignore)


def _ignore(signum, frame) -> None:
    pass


@contextlib.contextmanager
def _client(scheduler: str | None, workers: int | None):
    """Yield a Dask client of the cluster at ``scheduler``, or of a new local cluster."""
    import dask
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=SCHEDULER_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as err:
            raise JobsError(f"cannot reach the Dask scheduler at {scheduler!r}: {err}") from None
        with client:
            yield client
        return
    # Clusters side by side start without a warning: each has scratch space of its own (a shared
    # one is locked while each start purges it, which a loaded machine makes slow), and no
    # dashboard, its scheduler's HTTP server (always started) on a free port. The workers keep
    # glibc's default malloc trim threshold (Dask's 64 KiB made z3 proofs 1.6-1.8 times slower).
    with contextlib.ExitStack() as stack:
        scratch = stack.enter_context(tempfile.TemporaryDirectory(
            prefix="vtaref-dask-", ignore_cleanup_errors=True))
        stack.enter_context(dask.config.set({
            "temporary-directory": scratch,
            "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}))
        cluster = stack.enter_context(LocalCluster(
            n_workers=workers or local_workers(), threads_per_worker=1, processes=True,
            dashboard_address=None, scheduler_kwargs={"dashboard_address": ":0"},
            silence_logs=logging.CRITICAL))
        client = stack.enter_context(Client(cluster))
        client.run(_ignore_interrupts)
        yield client
