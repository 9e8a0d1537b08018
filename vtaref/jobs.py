"""Independent jobs on Dask: a local cluster of worker processes by default, or the cluster whose
scheduler's address is given, so that sweeps, proofs and conformance campaigns can spread over
machines.

A :class:`Job` is a picklable call (a module-level function and plain arguments, or anything
cloudpickle takes) with a name for progress reports. :func:`run_jobs` keeps at most ``workers``
of them submitted at once, starting the next as one finishes, so a job reported as started is
running (or about to) and the jobs not yet started can be dropped at once when the run stops.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

SCHEDULER_TIMEOUT = 30.0  # seconds allowed to reach a scheduler given by address


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
    worker processes (default :func:`local_workers`) started for this call and closed after it;
    with ``workers == 1`` they run one after another in this process instead, with no cluster.
    With ``scheduler`` (a Dask address such as ``tcp://host:8786``) they run on that cluster,
    ``workers`` at a time (default: all its worker threads). ``on_start`` gets each job, in the
    calling thread, when it is submitted. A job that raises stops the run: its exception
    propagates and the jobs not yet started never start. Raises JobsError if the scheduler
    cannot be reached.
    """
    if scheduler is None and (workers or local_workers()) == 1:
        for job in jobs:
            if on_start is not None:
                on_start(job)
            yield job, job()
        return
    from distributed import as_completed

    with _client(scheduler, workers) as client:
        limit = workers or sum(client.nthreads().values())
        queued, running = deque(jobs), {}
        finished = as_completed()
        try:
            while queued or running:
                while queued and len(running) < limit:
                    job = queued.popleft()
                    if on_start is not None:
                        on_start(job)
                    future = client.submit(job, key=f"{job.name} {uuid.uuid4().hex}")
                    running[future] = job
                    finished.add(future)
                future = next(finished)
                yield running.pop(future), future.result()
        finally:
            for future in running:
                future.cancel()


@contextlib.contextmanager
def _client(scheduler: str | None, workers: int | None):
    """Yield a Dask client of the cluster at ``scheduler``, or of a new local cluster."""
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=SCHEDULER_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as err:
            raise JobsError(f"cannot reach the Dask scheduler at {scheduler!r}: {err}") from None
        with client:
            yield client
        return
    with LocalCluster(n_workers=workers or local_workers(), threads_per_worker=1,
                      processes=True, dashboard_address=None,
                      silence_logs=logging.CRITICAL) as cluster, Client(cluster) as client:
        yield client
