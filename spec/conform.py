"""Conformance checking: run images that carry ``expected_dram.bin`` and compare byte for byte.

The implementation under test is any :class:`~.backends.Backend`: this spec, the RTL, or a
command line that runs an image and writes the final DRAM (:class:`~.backends.ExternalBackend`,
``--runner 'CMD {image} {out}'``), so other VTA implementations can use the conformance suite
and our diagnosis of their failures.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .backends import Backend, BackendError
from .errors import VtaError
from .image import ProgramImage
from .isa import Store
from .runner import Runner, fetch
from .state import MachineState


@dataclass(frozen=True)
class CaseResult:
    name: str
    passed: bool
    detail: str = ""


def find_cases(root: str | Path) -> list[Path]:
    """Return every image folder under ``root`` (itself included) with an expected_dram.bin."""
    root = Path(root)
    return sorted(path.parent for path in root.rglob("expected_dram.bin"))


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


def explain_difference(image: ProgramImage, got: bytes) -> str:
    """Describe the first byte where ``got`` differs from the expected DRAM."""
    expected = np.frombuffer(image.expected, dtype=np.uint8)
    actual = np.frombuffer(got, dtype=np.uint8)
    if actual.size != expected.size:
        return f"DRAM has {actual.size} bytes, expected {expected.size}"
    offset = int(np.flatnonzero(actual != expected)[0])
    address = image.dram_base + offset
    text = (f"first differing byte at {address:#x} (expected {expected[offset]:#04x}, "
            f"got {actual[offset]:#04x})")
    try:
        _, stores = run_with_store_log(image)
    except VtaError:
        return text
    writer = None
    for index, ranges in stores:
        hit = np.searchsorted(ranges.ends, address, side="right")
        if hit < len(ranges.starts) and ranges.starts[hit] <= address:
            writer = index
    if writer is None:
        return text + ", which no STORE writes (it must stay unchanged)"
    return text + f", written by STORE #{writer}"


def check_case(case: Path, backend: Backend, root: Path | None = None) -> CaseResult:
    """Run one case on ``backend`` and compare with its expected DRAM.

    The case is named by its path relative to ``root`` (its folder name if it is ``root`` or
    ``root`` is not given). A bad image, a bad program or a failing backend fails the case.
    """
    name = str(case.relative_to(root)) if root is not None and case != root else case.name
    try:
        image = ProgramImage.load(case)
        got = backend.run(image)
    except (VtaError, BackendError) as err:
        return CaseResult(name, False, str(err))
    if got == image.expected:
        return CaseResult(name, True)
    return CaseResult(name, False, explain_difference(image, got))
