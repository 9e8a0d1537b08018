"""Find and run the external tools the RTL needs: YoWASP's yosys and sby, Verilator, make.

:func:`find_tool` looks in this Python's scripts directory first (where pip puts YoWASP's
launchers), then on PATH, and names the package to install when a tool is missing.
:func:`run_tool` runs a command in a session of its own, hands each output line to a callback,
and stops the whole session (the tool and everything it started) after a timeout, or when the
run of Dask jobs that it is part of stops (:func:`vtaref.spec.jobs.on_stop`). The
simulation (:mod:`.verilator`), the proofs (:mod:`vtaref.proofs.sby`) and synthesis
(:mod:`vtaref.fpga`) all go through these two.

A YoWASP tool compiles its WebAssembly on first use and caches the machine code in
``$YOWASP_CACHE_DIR``; it writes that file in place, so a run that maps the file while another
rewrites it crashes (SIGBUS). :func:`run_tool` therefore gives every run of a YoWASP launcher a
cache of its own, seeded with hard links to the modules already compiled (in
:data:`YOWASP_CACHE`, per wasmtime version), and moves what a successful run compiled there
atomically: a published module is never written again, so runs side by side are safe. A
private cache left by a killed run is removed by the next run.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import shutil
import signal
import subprocess
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from vtaref.spec.jobs import on_stop

YOWASP_CACHE = Path.home() / ".cache" / "vtaref" / "yowasp"  # compiled YoWASP modules
YOWASP_LAUNCHER = "yowasp-"  # how the names of YoWASP's commands start


class ToolError(RuntimeError):
    """A tool is missing."""


def scripts_dir() -> str:
    """Return this Python's scripts directory, where pip installs command-line tools."""
    return sysconfig.get_path("scripts")


def find_tool(name: str, package: str, error: type[Exception] = ToolError) -> str:
    """Return the path of command ``name``; raise ``error`` naming ``package`` if it is missing."""
    path = shutil.which(name, path=scripts_dir()) or shutil.which(name)
    if path is None:
        raise error(f"{name} not found: pip install {package}")
    return path


@dataclass(frozen=True)
class ToolRun:
    """A finished (or stopped) run of a tool: ``output`` holds stdout and stderr, interleaved."""

    command: list[str]
    returncode: int
    output: list[str]
    seconds: float
    timed_out: bool


def run_tool(command: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None,
             timeout: float | None = None,
             on_line: Callable[[str], None] | None = None) -> ToolRun:
    """Run ``command`` to completion, or until ``timeout`` seconds have passed.

    Each output line (without its newline) goes to ``on_line`` as it arrives. After the
    timeout, every process of the tool's session is killed and the result says ``timed_out``;
    so is it, with no timeout, when the run of jobs this is part of stops (:mod:`vtaref.spec.jobs`).
    A YoWASP launcher (and every YoWASP tool it starts) runs with a cache of its own (see the
    module).
    """
    if not Path(command[0]).name.startswith(YOWASP_LAUNCHER):
        return _run(command, cwd, env, timeout, on_line)
    shared = YOWASP_CACHE / f"wasmtime-{importlib.metadata.version('wasmtime')}"
    with _private_cache(shared) as private:
        run = _run(command, cwd, dict(os.environ if env is None else env,
                                      YOWASP_CACHE_DIR=str(private)), timeout, on_line)
        if run.returncode == 0 and not run.timed_out:
            _publish(private, shared)
    return run


@contextlib.contextmanager
def _private_cache(shared: Path) -> Iterator[Path]:
    """Yield a new YoWASP cache holding hard links to the modules in ``shared``; remove it
    afterwards."""
    shared.mkdir(parents=True, exist_ok=True)
    _remove_orphans(shared.parent)
    private = Path(tempfile.mkdtemp(prefix=f"run-{os.getpid()}-", dir=shared.parent))
    try:
        for module in _modules(shared):
            link = private / module.relative_to(shared)
            link.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(OSError):  # no hard links here: the run compiles its own
                os.link(module, link)
        yield private
    finally:
        shutil.rmtree(private, ignore_errors=True)


def _remove_orphans(folder: Path) -> None:
    """Remove the private caches in ``folder`` whose process is gone (one killed before it
    could remove its own)."""
    for private in folder.glob("run-*-*"):
        pid = private.name.split("-")[1]
        if pid.isdigit() and not Path("/proc", pid).exists():
            shutil.rmtree(private, ignore_errors=True)


def _publish(private: Path, shared: Path) -> None:
    """Move the modules compiled into the cache ``private`` (those not linked from ``shared``)
    to ``shared``, each in one atomic rename."""
    for module in _modules(private):
        if module.stat().st_nlink == 1:
            target = shared / module.relative_to(private)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(module, target)


def _modules(cache: Path) -> list[Path]:
    """Return the compiled modules in a YoWASP cache (package/wasm file/digest)."""
    return [path for path in cache.glob("*/*/*") if path.is_file()]


def _run(command: list[str], cwd: Path | None, env: dict[str, str] | None,
         timeout: float | None, on_line: Callable[[str], None] | None) -> ToolRun:
    """Run ``command`` as :func:`run_tool` says, with no cache of its own."""
    lines = []
    expired = threading.Event()
    started = time.perf_counter()
    # A session of its own, so that a timeout also stops the processes the tool started.
    with subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, start_new_session=True) as run:

        def stop():
            expired.set()
            kill_session(run.pid)

        timer = threading.Timer(timeout, stop) if timeout is not None else None
        if timer is not None:
            timer.start()
        try:
            with on_stop(lambda: kill_session(run.pid)):
                for line in run.stdout:
                    line = line.rstrip("\n")
                    lines.append(line)
                    if on_line is not None:
                        on_line(line)
                run.wait()
        except BaseException:  # an interrupted caller leaves nothing running
            kill_session(run.pid)
            raise
        finally:
            if timer is not None:
                timer.cancel()
    return ToolRun(command, run.returncode, lines, time.perf_counter() - started,
                   expired.is_set())


def kill_session(session: int) -> None:
    """Kill every process of ``session`` (tools such as sby put their jobs in process groups of
    their own, so killing one group is not enough)."""
    members = [session]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session:
            members.append(int(stat.parent.name))
    for pid in members:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
