"""Differential fuzzing: programs drawn by the strategies run on the spec and on a backend, and
every difference is kept as a conformance image.

A :class:`Campaign` repeats one Hypothesis target, *spec vs backend*: draw a config (or take the
fixed one), draw a program from :func:`~.strategies.programs` (random programs and the
structured families), compute the spec's final DRAM (fsim flavor, race checking on), run the
image on the backend, and fail when the backend's DRAM differs or it raises BackendError or
VtaError. A :class:`~.backends.BackendUnavailableError` (the backend cannot run anything) ends
the campaign instead of counting as a failure.

Hypothesis ends a run at its first failure and shrinks it. The campaign then writes the shrunk
program, with the spec's DRAM as ``expected_dram.bin``, into the findings folder under a name
made from a hash of the image (so a program is written once, whichever campaign finds it, and
``vta conform`` replays it), and starts a new run with a fresh random seed, until the budget is
spent: a number of programs, a time, or both. A failure being shrunk when the time runs out is
shrunk to the end (Hypothesis gives up shrinking after five minutes).

The shrinker moves to the smallest failing program it can reach, so one frequent failure would
be found and shrunk again in every run and hide the others. So within a campaign, a program that
fails the way a failure already written did (the same :func:`failure_kind`) counts as known and
passes: later runs, and their shrinking, look for other kinds of failure.

The example database (Hypothesis's DirectoryBasedExampleDatabase, one folder per target: the
backend and the config) is shared by every campaign on that target, in turn or at once. The
first run of a campaign replays the failure stored there first, so a failure found before is
confirmed at once; later runs only draw new programs (replaying it again would find it again).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase

from .backends import Backend, BackendError, BackendUnavailableError
from .config import VtaConfig
from .conform import explain_difference
from .errors import VtaError
from .image import ProgramImage
from .outputs import OutputError
from .runner import run_image
from .strategies import programs, small_configs

# The first run of a campaign replays the database; later ones only draw new programs.
FIRST_RUN = (Phase.reuse, Phase.generate, Phase.shrink)
LATER_RUNS = (Phase.generate, Phase.shrink)
UNLIMITED = 10**9  # Hypothesis's own example limit: the campaign's budget stops it instead


@dataclass(frozen=True)
class Budget:
    """When a campaign stops drawing programs: after ``examples`` programs or ``seconds``
    seconds, whichever comes first (None: no limit of that kind; give at least one)."""

    examples: int | None = None
    seconds: float | None = None

    def __post_init__(self):
        if self.examples is None and self.seconds is None:
            raise ValueError("a budget needs a number of examples, a time, or both")

    def spent(self, examples: int, seconds: float) -> bool:
        return ((self.examples is not None and examples >= self.examples)
                or (self.seconds is not None and seconds >= self.seconds))


@dataclass(frozen=True)
class Finding:
    """A shrunk failure: the image folder it was written to, whether this campaign wrote it
    (False: an earlier campaign had), and what went wrong."""

    folder: Path
    new: bool
    detail: str


@dataclass
class Report:
    """What a campaign did so far; ``examples`` counts the programs drawn or replayed from the
    database, ``known`` those of them that failed like a failure already written, and
    ``shrink_runs`` the further runs spent shrinking failures; ``shrinking`` says whether a
    failure is being shrunk now."""

    examples: int = 0
    known: int = 0
    shrink_runs: int = 0
    hypothesis_runs: int = 0
    seconds: float = 0.0
    shrinking: bool = False
    interrupted: bool = False
    findings: list[Finding] = field(default_factory=list)

    def status(self) -> str:
        """Return a one-line status of the running campaign."""
        doing = "shrinking a failure" if self.shrinking else "drawing programs"
        return (f"{_counted(self.examples, 'program')}, "
                f"{_counted(len(self.findings), 'failure')}, {self.seconds:.0f} s; {doing}")

    def summary(self, backend: str, config: VtaConfig | None, findings: Path) -> list[str]:
        """Return the lines that sum up a campaign of ``backend`` at ``config`` (None: drawn)
        that wrote to ``findings``: the totals, a FAIL line per program found, in the order
        found, and the counts of failures and images."""
        configs = f"config {config.name}" if config else "drawn configs"
        lines = [f"vta fuzz: {backend} against the spec, {configs}: "
                 f"{_counted(self.examples, 'program')} in {self.seconds:.1f} s "
                 f"({self.known} failing like a failure found before, "
                 f"{_counted(self.hypothesis_runs, 'Hypothesis run')}, "
                 f"{_counted(self.shrink_runs, 'more run')} shrinking failures)"
                 + (", interrupted" if self.interrupted else "")]
        found = {}  # folder -> its findings
        for finding in self.findings:
            found.setdefault(finding.folder, []).append(finding)
        for folder, same in found.items():
            state = "new" if same[0].new else "already there"
            times = f", found {len(same)} times" if len(same) > 1 else ""
            lines.append(f"FAIL {folder} ({state}{times}): {same[0].detail}")
        written = sum(finding.new for finding in self.findings)
        lines.append(f"{_counted(len(self.findings), 'failure')} found in "
                     f"{_counted(len(found), 'program')}, {_counted(written, 'new image')} in "
                     f"{findings}")
        return lines


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


class Disagreement(Exception):
    """The backend disagreed with the spec on ``image``, which holds the spec's DRAM as
    ``expected``."""

    def __init__(self, image: ProgramImage, detail: str):
        super().__init__(detail)
        self.image, self.detail = image, detail


class _Stop(KeyboardInterrupt):
    """Ends a Hypothesis run at once, with the error that ended it or None (budget spent).

    Hypothesis lets a KeyboardInterrupt through without recording the running example as a
    failure, which is what stopping a campaign needs.
    """

    def __init__(self, error: BackendUnavailableError | None = None):
        super().__init__()
        self.error = error


def check_program(backend: Backend, image: ProgramImage) -> None:
    """Run ``image`` on the spec and on ``backend``; raise Disagreement unless they agree.

    BackendUnavailableError propagates; so does the spec's VtaError (a program the spec
    rejects).
    """
    state, _ = run_image(image)
    image = replace(image, expected=state.dram.data.tobytes())
    try:
        got = backend.run(image)
    except BackendUnavailableError:
        raise
    except (BackendError, VtaError) as err:
        raise Disagreement(image, str(err)) from err
    if got != image.expected:
        raise Disagreement(image, explain_difference(image, got))


def failure_kind(detail: str) -> str:
    """Return the kind of the failure described by ``detail``: the text with its paths and
    numbers masked (the same error message, a DRAM difference in bytes some STORE writes, one in
    bytes none writes)."""
    detail = re.sub(r"\S*/\S*", "<path>", detail)
    return re.sub(r"\b(0x[0-9a-fA-F]+|\d+)\b", "#", detail)


def image_name(image: ProgramImage) -> str:
    """Return a folder name for ``image``: its config's name and a hash of its content."""
    digest = hashlib.sha256()
    digest.update(json.dumps(image.config.to_dict(), sort_keys=True).encode())
    digest.update(f"{image.dram_base} {image.insn_addr} {image.insn_count}".encode())
    digest.update(image.dram)
    return f"{image.config.name}-{digest.hexdigest()[:16]}"


def save_finding(image: ProgramImage, folder: Path) -> tuple[Path, bool]:
    """Write ``image`` (with ``expected``) into a folder of ``folder`` named by
    :func:`image_name`; return its path and whether it is new (False if it was there).

    The image folder appears whole or not at all, with the permissions the umask allows.
    Raises OutputError naming the folder that cannot be written.
    """
    path = folder / image_name(image)
    if path.exists():
        return path, False
    scratch = folder / f".{path.name}.{uuid.uuid4().hex}"
    try:
        scratch.mkdir(parents=True)
        image.save(scratch)
        scratch.rename(path)
    except OSError as err:
        if path.exists():  # another campaign wrote the same image first
            return path, False
        raise OutputError(f"cannot write {path}: {err.strerror}") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return path, True


def database_folder(backend: Backend, target: str, config: VtaConfig | None) -> str:
    """Return the database folder name of a campaign on ``backend``, described with its
    options by ``target``, and ``config`` (None: drawn configs)."""
    fixed = "drawn" if config is None else json.dumps(config.to_dict(), sort_keys=True)
    digest = hashlib.sha256(f"{target}\n{fixed}".encode()).hexdigest()[:12]
    return f"{backend.name}-{'drawn' if config is None else config.name}-{digest}"


class Campaign:
    """A differential campaign of ``backend`` against the spec (module docstring).

    ``target`` describes the backend and its options (it names the database folder); a
    ``config`` fixes the configuration, else each program draws one (:func:`small_configs`).
    Findings go to ``findings``; ``progress`` gets the :class:`Report` after every program.
    """

    def __init__(self, backend: Backend, *, target: str, budget: Budget, database: Path,
                 findings: Path, config: VtaConfig | None = None,
                 progress: Callable[[Report], None] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.backend, self.budget, self.config = backend, budget, config
        self.findings, self.progress, self.clock = findings, progress, clock
        self.database = DirectoryBasedExampleDatabase(
            database / database_folder(backend, target, config))
        self.report = Report()
        self._started = 0.0
        self._known: set[str] = set()  # the failure kinds written by this campaign

    def run(self) -> Report:
        """Run until the budget is spent or Ctrl-C; return the report.

        Raises BackendUnavailableError if the backend cannot run, OutputError if a finding cannot
        be written (it stays in the database, so the next campaign replays it first).
        """
        report = self.report
        self._started = self.clock()
        phases = FIRST_RUN
        try:
            while not self.budget.spent(report.examples, self._elapsed()):
                before = report.examples
                failure = self._hypothesis_run(phases)
                phases = LATER_RUNS
                if failure is not None:
                    folder, new = save_finding(failure.image, self.findings)
                    report.findings.append(Finding(folder, new, failure.detail))
                    self._known.add(failure_kind(failure.detail))
                elif report.examples == before:
                    break  # Hypothesis has nothing left to draw
        except KeyboardInterrupt:
            report.interrupted = True
        report.seconds = self._elapsed()
        return report

    def _elapsed(self) -> float:
        return self.clock() - self._started

    def _hypothesis_run(self, phases) -> Disagreement | None:
        """Run the target once with a fresh seed; return its shrunk failure, if any."""
        self.report.hypothesis_runs += 1
        self.report.shrinking = False
        failure = None
        try:
            try:
                self._target(phases)()
            except* Disagreement as group:  # a group if Hypothesis could not reproduce it
                failure = group.exceptions[0]
        except _Stop as stop:
            if stop.error is not None:
                raise stop.error from None
        return failure

    def _target(self, phases):
        report = self.report

        @settings(parent=settings.get_profile("default"), database=self.database,
                  phases=phases, max_examples=UNLIMITED, derandomize=False, deadline=None,
                  report_multiple_bugs=False, verbosity=Verbosity.quiet, print_blob=False,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                         HealthCheck.large_base_example,
                                         HealthCheck.filter_too_much])
        @given(data=st.data())
        def spec_vs_backend(data):
            if not report.shrinking and self.budget.spent(report.examples, self._elapsed()):
                raise _Stop()
            config = self.config or data.draw(small_configs(), label="config")
            image = data.draw(programs(config), label="program")
            if report.shrinking:
                report.shrink_runs += 1
            else:
                report.examples += 1
            try:
                check_program(self.backend, image)
            except BackendUnavailableError as err:
                raise _Stop(err) from None
            except Disagreement as failure:
                if failure_kind(failure.detail) in self._known:
                    if not report.shrinking:
                        report.known += 1
                    return
                report.shrinking = True
                raise
            finally:
                report.seconds = self._elapsed()
                if self.progress is not None:
                    self.progress(report)

        return spec_vs_backend
