"""Conformance checking: run images that carry ``expected_dram.bin`` and compare byte for byte.

The implementation under test is any :class:`~.backends.Backend`: this spec, the RTL, or a
command line that runs an image and writes the final DRAM (:class:`~.backends.ExternalBackend`,
``--runner 'CMD {image} {out}'``), so other VTA implementations can use the conformance suite
and our diagnosis of their failures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .backends import (
    Backend,
    BackendError,
    BackendMismatchError,
    BackendUnavailableError,
    ExternalBackend,
)
from .disasm import marked_excerpt
from .errors import VtaError
from .image import ProgramImage
from .isa import Store
from .jobs import Job, run_jobs
from .outputs import OutputError, Outputs
from .runner import Runner, fetch
from .state import MachineState


@dataclass(frozen=True)
class CaseResult:
    """The outcome of one case. ``detail`` says why it failed; ``listing`` is an excerpt of the
    program around the STORE that wrote the first differing byte, that STORE marked (empty when
    no STORE is to blame)."""

    name: str
    passed: bool
    detail: str = ""
    listing: tuple[str, ...] = ()


@dataclass(frozen=True)
class Difference:
    """Where a final DRAM first differs from the expected one."""

    summary: str  # one line: the address, both bytes and the STORE that wrote it
    store: int | None  # program index of that STORE, None if there is none (or no spec run)


def find_cases(root: str | Path) -> list[Path]:
    """Return every image folder under ``root`` (itself included) with an expected_dram.bin."""
    root = Path(root)
    return sorted(path.parent for path in root.rglob("expected_dram.bin"))


def case_name(case: Path, root: Path | None = None) -> str:
    """Name ``case`` by its path relative to ``root`` (its folder name if it is ``root`` or
    ``root`` is not given)."""
    return str(case.relative_to(root)) if root is not None and case != root else case.name


def run_with_store_log(image: ProgramImage, **options):
    """Run on the spec; return the state and ``[(program index, ByteRanges)]`` of STOREs."""
    log = []

    def tracer(index, insn, stage, clock, tokens, access, state):
        if isinstance(insn, Store) and access.dram_writes is not None:
            log.append((index, access.dram_writes))

    dram = image.make_dram()
    state = MachineState(image.config, dram)
    program = fetch(dram, image.insn_addr, image.insn_count, image.config)
    Runner(state, program, tracer=tracer, **options).run()
    return state, log


def find_difference(image: ProgramImage, got: bytes) -> Difference:
    """Locate the first byte where ``got`` differs from the expected DRAM, and the last STORE
    (in the spec's own run of the image) that writes it."""
    expected = np.frombuffer(image.expected, dtype=np.uint8)
    actual = np.frombuffer(got, dtype=np.uint8)
    if actual.size != expected.size:
        return Difference(f"DRAM has {actual.size} bytes, expected {expected.size}", None)
    offset = int(np.flatnonzero(actual != expected)[0])
    address = image.dram_base + offset
    text = (f"first differing byte at {address:#x} (expected {expected[offset]:#04x}, "
            f"got {actual[offset]:#04x})")
    try:
        _, stores = run_with_store_log(image)
    except VtaError:
        return Difference(text, None)
    writer = None
    for index, ranges in stores:
        hit = np.searchsorted(ranges.ends, address, side="right")
        if hit < len(ranges.starts) and ranges.starts[hit] <= address:
            writer = index
    if writer is None:
        return Difference(text + ", which no STORE writes (it must stay unchanged)", None)
    return Difference(text + f", written by STORE #{writer}", writer)


def explain_difference(image: ProgramImage, got: bytes) -> str:
    """Describe the first byte where ``got`` differs from the expected DRAM, in one line."""
    return find_difference(image, got).summary


def check_case(case: Path, backend: Backend, root: Path | None = None,
               keep: Path | None = None) -> CaseResult:
    """Run one case on ``backend`` and compare with its expected DRAM.

    The case is named by :func:`case_name`. A bad image, a bad program or a failing backend
    fails the case; a backend that cannot run at all raises BackendUnavailableError. With
    ``keep``, what the run left is written to ``keep / name`` (:func:`keep_output`).
    """
    name = case_name(case, root)
    try:
        image = ProgramImage.load(case)
    except VtaError as err:
        return CaseResult(name, False, str(err))
    got = None
    try:
        got = backend.run(image)
    except BackendUnavailableError:
        raise
    except BackendMismatchError as err:  # it ran: compare what it wrote, as for any backend
        got = err.dram
        result = _compare(name, image, got)
    except (VtaError, BackendError) as err:
        result = CaseResult(name, False, str(err))
    else:
        result = _compare(name, image, got)
    if keep is not None:
        keep_output(keep / name, backend, got)
    return result


def _compare(name: str, image: ProgramImage, got: bytes) -> CaseResult:
    if got == image.expected:
        return CaseResult(name, True)
    difference = find_difference(image, got)
    listing = () if difference.store is None else tuple(marked_excerpt(image, difference.store))
    return CaseResult(name, False, difference.summary, listing)


def keep_output(folder: Path, backend: Backend, dram: bytes | None) -> None:
    """Write what the backend's last run left into ``folder``: ``out.bin`` (for a runner, the
    file it wrote, even if it then failed; otherwise ``dram``, the final DRAM the backend
    returned) and a runner's ``stdout.txt`` and ``stderr.txt``.

    The files appear together; any of these three that the run did not leave is removed, so
    the folder never mixes runs. Raises OutputError naming a file that cannot be written.
    """
    output = backend.last_output if isinstance(backend, ExternalBackend) else None
    if output is not None:
        files = {"out.bin": output.out, "stdout.txt": output.stdout, "stderr.txt": output.stderr}
    else:
        files = {"out.bin": dram, "stdout.txt": None, "stderr.txt": None}
    written = {name: data for name, data in files.items() if data is not None}
    try:
        if written:
            folder.mkdir(parents=True, exist_ok=True)
        for name in files.keys() - written.keys():
            (folder / name).unlink(missing_ok=True)
    except OSError as err:
        raise OutputError(f"cannot write {err.filename or folder}: {err.strerror}") from None
    with Outputs() as outputs:
        for name, data in written.items():
            outputs.write(folder / name, data)
        outputs.commit()


def check_cases(cases: Sequence[Path], backend: Backend, root: Path | None = None, *,
                jobs: int | None = 1, scheduler: str | None = None, keep: Path | None = None,
                progress: Callable[[int], None] | None = None) -> Iterator[CaseResult]:
    """Yield :func:`check_case` of each of ``cases``, in that order, running ``jobs`` at once on
    Dask (:func:`vtaref.spec.jobs.run_jobs`).

    Without ``scheduler``, one job runs the cases in this process, and more run them on a local
    cluster of that many worker processes rather than threads: every backend spends CPU time in
    Python per case (the spec runs the program; rtl checks each image on the spec first; a
    failing case is replayed on the spec to find its STORE), which threads would serialize.
    With ``scheduler`` they run on that cluster (``jobs`` None: as many at once as it has worker
    threads). ``progress(1)`` is called as each case finishes, in the order they finish. A
    BackendUnavailableError or OutputError stops the campaign at once: it is raised, and the
    cases still waiting never start. JobsError if the scheduler cannot be reached.
    """
    if scheduler is None:
        jobs = jobs or 1
    queued = [Job(str(case), check_case, (case, backend, root, keep)) for case in cases]
    position = {id(job): index for index, job in enumerate(queued)}
    finished: dict[int, CaseResult] = {}
    reported = 0
    for job, result in run_jobs(queued, workers=jobs, scheduler=scheduler):
        finished[position[id(job)]] = result
        while reported in finished:
            yield finished.pop(reported)
            reported += 1
        if progress is not None:
            progress(1)
