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
own (a tool failed, timed out or disagrees with the spec) raises :class:`BackendError`; a bad
program raises the spec's :class:`~vtaref.spec.VtaError`.
"""

from __future__ import annotations

import importlib
import shlex
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from .image import ProgramImage
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


@dataclass
class ExternalBackend:
    """Another implementation behind a command line: ``command`` holds ``{image}`` and ``{out}``.

    Each run writes the image (without ``expected_dram.bin``) to a fresh folder, runs
    ``command`` with ``{image}`` replaced by that folder and ``{out}`` by a file next to it (split
    like a POSIX shell command line, run without a shell), and returns what it wrote to
    ``{out}``. A missing command, a non-zero exit status, no output file or a run longer than
    ``timeout`` seconds raises BackendError.
    """

    command: str
    timeout: float = 600.0
    name: str = field(default="external", init=False)

    def run(self, image: ProgramImage) -> bytes:
        with tempfile.TemporaryDirectory(prefix="vtaref-external-") as scratch:
            folder, out = Path(scratch) / "image", Path(scratch) / "out.bin"
            replace(image, expected=None).save(folder)
            argv = [part.replace("{image}", str(folder)).replace("{out}", str(out))
                    for part in shlex.split(self.command)]
            try:
                done = subprocess.run(argv, capture_output=True, text=True,
                                      timeout=self.timeout)
            except FileNotFoundError:
                raise BackendError(f"runner command not found: {argv[0]}") from None
            except subprocess.TimeoutExpired:
                raise BackendError(f"runner timed out after {self.timeout:g} s") from None
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
                raise BackendError(f"runner exited with status {done.returncode}: {last}")
            if not out.exists():
                raise BackendError("runner wrote no output file")
            return out.read_bytes()


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
