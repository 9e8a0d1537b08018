"""The programs `vta fuzz` found (tests/findings): each gives its expected DRAM on the spec and
on the RTL, and the HLS flavor still differs on each, as the campaign found."""

from pathlib import Path

import pytest

from vtaref.impl.run import run_checked
from vtaref.spec import ProgramImage, VtaError
from vtaref.spec.backends import SpecBackend
from vtaref.spec.conform import find_cases

FINDINGS = Path(__file__).parent / "findings"
CASES = find_cases(FINDINGS)


def test_the_findings_are_there():
    assert len(CASES) == 3


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_finding_passes_on_spec_and_rtl(case):
    image = ProgramImage.load(case)
    assert SpecBackend().run(image) == image.expected
    checked = run_checked(image)
    assert checked.rtl.dram == image.expected, checked.mismatch


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_hls_flavor_still_differs(case):
    image = ProgramImage.load(case)
    try:
        outcome = SpecBackend(flavor="hls").run(image)
    except VtaError as err:  # refused: a MUL or a race under the HLS semantics
        outcome = err
    assert outcome != image.expected
