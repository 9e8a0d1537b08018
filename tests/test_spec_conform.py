"""spec/conform.py and the external backend: the diagnosis of one case, campaigns of cases run
one at a time or in worker processes, and the runner command's contract."""

import hashlib
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from vtaref.spec import ProgramImage, run_image
from vtaref.spec.backends import (
    BackendMismatchError,
    BackendUnavailableError,
    ExternalBackend,
    SpecBackend,
)
from vtaref.spec.conform import check_case, check_cases, find_cases, find_difference
from vtaref.spec.disasm import disassemble_image, marked_excerpt

from .conftest import CONFORMANCE

SUITE = CONFORMANCE / "default"
MATMUL = SUITE / "matmul_00"  # 13 instructions; STORE #11 writes the result


def digest(image: ProgramImage) -> str:
    return hashlib.sha256(image.dram).hexdigest()


@dataclass
class FinishesInReverse:
    """Runs the spec, but each case waits until every later case (in ``order``, a list of DRAM
    digests) has finished: given a worker per case, the cases finish in reverse order."""

    order: list[str]
    markers: Path
    name: str = field(default="reverse", init=False)

    def run(self, image: ProgramImage) -> bytes:
        position = self.order.index(digest(image))
        later = [self.markers / str(index) for index in range(position + 1, len(self.order))]
        while not all(marker.exists() for marker in later):
            time.sleep(0.01)
        state, _ = run_image(image)
        (self.markers / str(position)).touch()
        return state.dram.data.tobytes()


@dataclass
class Unstartable:
    """A backend whose every run finds it cannot run at all; counts the runs in ``runs``."""

    runs: Path
    name: str = field(default="unstartable", init=False)

    def run(self, image: ProgramImage) -> bytes:
        with self.runs.open("a") as log:
            log.write("run\n")
        raise BackendUnavailableError("the board is unplugged")


def test_cases_come_out_in_case_order_whatever_order_they_finish(tmp_path):
    cases = find_cases(SUITE)[:3]
    order = [digest(ProgramImage.load(case)) for case in cases]
    finished = []
    results = list(check_cases(cases, FinishesInReverse(order, tmp_path), SUITE, jobs=3,
                               progress=finished.append))
    assert [result.name for result in results] == [case.name for case in cases]
    assert all(result.passed for result in results) and finished == [1, 1, 1]


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_backend_that_cannot_run_stops_the_campaign(tmp_path, jobs):
    runs = tmp_path / "runs.log"
    cases = find_cases(CONFORMANCE)
    results = check_cases(cases, Unstartable(runs), CONFORMANCE, jobs=jobs)
    with pytest.raises(BackendUnavailableError, match="the board is unplugged"):
        next(results)
    if jobs == 1:  # with workers, the cases already under way when it happened run too
        assert runs.read_text() == "run\n"


@dataclass
class Echo:
    """Returns the expected DRAM, and remembers each image it ran."""

    ran: list[ProgramImage] = field(default_factory=list)
    name: str = field(default="echo", init=False)

    def run(self, image: ProgramImage) -> bytes:
        self.ran.append(image)
        return image.expected


def test_one_job_runs_in_this_process():
    backend, progress = Echo(), []
    results = list(check_cases(find_cases(SUITE), backend, SUITE, progress=progress.append))
    assert [result.passed for result in results] == [True] * 8 and progress == [1] * 8
    assert len(backend.ran) == 8


def test_a_difference_names_the_store_that_wrote_it():
    image = ProgramImage.load(MATMUL)
    got = bytearray(image.expected)
    offset = next(i for i, (a, b) in enumerate(zip(image.dram, image.expected)) if a != b)
    got[offset] ^= 1
    difference = find_difference(image, bytes(got))
    assert difference.store == 11
    assert difference.summary == (
        f"first differing byte at {image.dram_base + offset:#x} (expected "
        f"{image.expected[offset]:#04x}, got {got[offset]:#04x}), written by STORE #11")

    untouched = bytearray(image.expected)
    untouched[0] ^= 1  # an instruction byte: no STORE writes it
    assert find_difference(image, bytes(untouched)).store is None
    assert find_difference(image, image.expected[:-16]).summary == (
        f"DRAM has {len(image.dram) - 16} bytes, expected {len(image.dram)}")


@pytest.mark.parametrize("index, first, last, before, after", [
    (11, 3, 12, 3, 0),
    (0, 0, 2, 0, 10),
    (12, 4, 12, 4, 0),
    (5, 0, 7, 0, 5),
])
def test_an_excerpt_marks_its_instruction_and_counts_what_it_leaves_out(index, first, last,
                                                                      before, after):
    image = ProgramImage.load(MATMUL)
    lines = marked_excerpt(image, index)
    whole = disassemble_image(image)
    expected = [f"{'=>' if number == index else '  '} {whole[number]}"
                for number in range(first, last + 1)]
    if before:
        expected.insert(0, f"   ... {before} instruction{'s' * (before != 1)} before")
    if after:
        expected.append(f"   ... {after} instruction{'s' * (after != 1)} after")
    assert lines == expected


def test_check_case_names_cases_and_fails_bad_images(tmp_path):
    case = tmp_path / "suite" / "one" / "image"
    shutil.copytree(MATMUL, case)
    (case / "run.json").write_text("{")
    result = check_case(case, SpecBackend(), tmp_path / "suite")
    assert result.name == "one/image" and not result.passed
    assert "run.json: bad JSON" in result.detail and result.listing == ()
    assert check_case(MATMUL, SpecBackend()).name == "matmul_00"


@pytest.mark.parametrize("command, message", [
    ("run {image}", "runner command 'run {image}' has no {out}: {image} stands for the image "
                    "folder to run and {out} for the file the runner writes the final DRAM to"),
    ("run {out}", "runner command 'run {out}' has no {image}: {image} stands for the image "
                  "folder to run and {out} for the file the runner writes the final DRAM to"),
    ("run", "runner command 'run' has no {image} and no {out}: {image} stands for the image "
            "folder to run and {out} for the file the runner writes the final DRAM to"),
    ("run '{image} {out}", "runner command \"run '{image} {out}\" cannot be split: No closing "
                           "quotation"),
])
def test_the_runner_command_needs_image_and_out(command, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        ExternalBackend(command)


def test_a_runner_that_cannot_start_is_unavailable(tmp_path):
    backend = ExternalBackend(f"{tmp_path / 'nothing'} {{image}} {{out}}")
    with pytest.raises(BackendUnavailableError, match=(
            f"^runner command '{re.escape(str(tmp_path / 'nothing'))}' cannot be started: "
            "No such file or directory$")):
        backend.run(ProgramImage.load(MATMUL))
    assert backend.last_output is None


@dataclass
class DisagreesWithItself:
    """Runs the spec, flips a byte of the result and reports it as its own check would (as the
    rtl backend does when the RTL differs from the spec)."""

    name: str = field(default="self-checking", init=False)

    def run(self, image: ProgramImage) -> bytes:
        dram = bytearray(SpecBackend().run(image))
        dram[-1] ^= 1
        raise BackendMismatchError("differs from its reference", bytes(dram))


def test_a_backend_that_finds_its_own_mismatch_gets_the_usual_diagnosis(tmp_path):
    result = check_case(MATMUL, DisagreesWithItself(), keep=tmp_path)
    image = ProgramImage.load(MATMUL)
    assert not result.passed
    assert result.detail == find_difference(image, (tmp_path / "matmul_00" / "out.bin")
                                            .read_bytes()).summary
    assert result.detail.startswith("first differing byte at ")
