"""Backends: where a program image runs, all behind one interface and one registry.

A backend is anything with a ``name`` and ``run(image) -> bytes`` that executes a
:class:`~vtaref.spec.ProgramImage` to completion and returns the final DRAM, ``len(image.dram)``
bytes from physical address ``image.dram_base``. The executable specification is one backend
among others (tinygrad's "living definition" idea); the RTL and any command line that follows
the runner contract of docs/image-format.md plug in behind the same two members, so the
compiler, ``vta run``, ``vta conform`` and ``vta demo`` treat them alike.

:data:`BACKENDS` names them: ``spec`` (:class:`SpecBackend`), ``rtl``
(:class:`vtaref.impl.run.RtlBackend`, imported on use: the spec never needs Amaranth) and
``external`` (:class:`ExternalBackend`). A backend that cannot run an image for a reason of its
own (a tool failed, timed out or disagrees with the spec) raises :class:`BackendError`, and
:class:`BackendUnavailableError` when it cannot run any image at all (its command cannot be
started, its tool is missing or does not build); a bad program raises the spec's
:class:`~vtaref.spec.VtaError`.
"""

from __future__ import annotations

import importlib
import os
import shlex
import signal
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from .image import ProgramImage
from .jobs import on_stop
from .pipeline import DEFAULT_TOKEN_DEPTH
from .runner import RunStats, Tracer, run_image
from .semantics import FLAVORS


class Backend(Protocol):
    """Runs program images synchronously."""

    name: str

    def run(self, image: ProgramImage) -> bytes:
        """Run ``image`` until FINISH; return the final DRAM contents."""


class BackendError(RuntimeError):
    """A backend could not run an image: its tool is missing, failed, timed out or disagrees
    with the spec."""


class BackendUnavailableError(BackendError):
    """The backend cannot run at all, whatever the image: its command cannot be started, or
    its tool is missing or does not build. Every further run would fail the same way."""


class BackendMismatchError(BackendError):
    """The backend ran the image to the end, but a check of its own (the RTL's against the
    spec) found its final DRAM wrong; ``dram`` holds that DRAM."""

    def __init__(self, message: str, dram: bytes):
        super().__init__(message)
        self.dram = dram

    def __reduce__(self):
        return type(self), (str(self), self.dram)


@dataclass
class SpecBackend:
    """The executable specification, with its race, deadlock and token-depth checks on.

    The fields are the options of :class:`~vtaref.spec.runner.Runner` (``flavor`` by name).
    ``last_stats`` holds the counts of the most recent run (instructions, uops, MACs, tokens).
    """

    check_races: bool = True
    token_depth: int = DEFAULT_TOKEN_DEPTH
    flavor: str = "fsim"
    strict: bool = False
    tracer: Tracer | None = None
    progress: Callable[[int], None] | None = None
    name: str = field(default="spec", init=False)
    last_stats: RunStats | None = field(default=None, init=False)

    def run(self, image: ProgramImage) -> bytes:
        state, self.last_stats = run_image(
            image, check_races=self.check_races, token_depth=self.token_depth,
            flavor=FLAVORS[self.flavor], strict=self.strict, tracer=self.tracer,
            progress=self.progress)
        return state.dram.data.tobytes()


PLACEHOLDERS = ("{image}", "{out}")


@dataclass(frozen=True)
class RunnerOutput:
    """What a runner command left behind: its standard output and error, and the bytes it
    wrote to ``{out}`` (None if it wrote no such file)."""

    stdout: bytes
    stderr: bytes
    out: bytes | None


@dataclass
class ExternalBackend:
    """Another implementation behind a command line: ``command`` holds ``{image}`` and ``{out}``.

    Each run writes the image (without ``expected_dram.bin``) to a fresh folder, runs
    ``command`` with ``{image}`` replaced by that folder and ``{out}`` by a file next to it (split
    like a POSIX shell command line, run without a shell), and returns what it wrote to
    ``{out}``. A command that cannot be split, or that lacks ``{image}`` or ``{out}``, raises
    ValueError here. A command that cannot be started raises BackendUnavailableError; a non-zero
    exit status, no output file or a run longer than ``timeout`` seconds raises BackendError.
    ``last_output`` holds what the most recent run's command left, also when it failed. A run
    that is a job of a run of jobs that stops (:func:`vtaref.spec.jobs.on_stop`) kills its command.
    """

    command: str
    timeout: float = 600.0
    name: str = field(default="external", init=False)
    last_output: RunnerOutput | None = field(default=None, init=False)
    arguments: list[str] = field(init=False, repr=False)  # the command split, placeholders kept

    def __post_init__(self):
        try:
            self.arguments = shlex.split(self.command)
        except ValueError as err:
            raise ValueError(f"runner command {self.command!r} cannot be split: {err}") from None
        missing = [name for name in PLACEHOLDERS
                   if not any(name in argument for argument in self.arguments)]
        if missing:
            raise ValueError(f"runner command {self.command!r} has no {' and no '.join(missing)}: "
                             "{image} stands for the image folder to run and {out} for the file "
                             "the runner writes the final DRAM to")

    def run(self, image: ProgramImage) -> bytes:
        import subprocess  # here: a spec run (``vta run``'s start-up) needs none of it

        self.last_output = None
        with tempfile.TemporaryDirectory(prefix="vtaref-external-") as scratch:
            folder, out = Path(scratch) / "image", Path(scratch) / "out.bin"
            replace(image, expected=None).save(folder)
            argv = [argument.replace("{image}", str(folder)).replace("{out}", str(out))
                    for argument in self.arguments]
            try:
                runner = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            except OSError as err:
                raise _cannot_start(argv[0], err) from None
            with runner, on_stop(runner.kill):  # a stopped campaign leaves no runner behind
                try:
                    stdout, stderr = runner.communicate(timeout=self.timeout)
                except subprocess.TimeoutExpired:
                    runner.kill()
                    self.last_output = RunnerOutput(*runner.communicate(), _read_if_written(out))
                    raise BackendError(f"runner timed out after {self.timeout:g} s") from None
            self.last_output = RunnerOutput(stdout, stderr, _read_if_written(out))
            if runner.returncode != 0:
                lines = stderr.decode(errors="replace").strip().splitlines()
                raise BackendError(f"runner {_exit_status(runner.returncode)}: "
                                   f"{(lines or ['(no message)'])[-1]}")
            if self.last_output.out is None:
                raise BackendError("runner wrote no output file")
            return self.last_output.out


def _read_if_written(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def _cannot_start(program: str, err: OSError) -> BackendUnavailableError:
    """Return the error saying why ``program`` could not be executed, as a user would say it."""
    reason = err.strerror or str(err)
    if isinstance(err, FileNotFoundError):
        if os.sep not in program:
            reason = "no such command on PATH"
        elif Path(program).exists():
            reason = "the interpreter on its #! line does not exist"
    return BackendUnavailableError(f"runner command {program!r} cannot be started: {reason}")


def _exit_status(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


# Each name maps to a factory of backends taking the backend's options as keywords, or to
# "module:attribute" of one, imported when first asked for.
BACKENDS: dict[str, Callable[..., Backend] | str] = {
    "spec": SpecBackend,
    "rtl": "vtaref.impl.run:RtlBackend",
    "external": ExternalBackend,
}


def get_backend(backend: str | Backend, **options) -> Backend:
    """Return ``backend`` itself, or a new backend registered under that name.

    ``options`` go to the backend's factory. Raises ValueError for an unknown name, and
    ImportError if the backend needs a package that is not installed.
    """
    if not isinstance(backend, str):
        return backend
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r} (known: {', '.join(sorted(BACKENDS))})")
    factory = BACKENDS[backend]
    if isinstance(factory, str):
        module, _, attribute = factory.partition(":")
        factory = getattr(importlib.import_module(module), attribute)
    return factory(**options)
