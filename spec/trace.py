"""Execution traces: one JSON line per executed instruction (format in docs/image-format.md).

Another implementation that writes the same lines can be diffed against ours to find the first
instruction where the two diverge.
"""

from __future__ import annotations

import hashlib
import json
from typing import TextIO

import numpy as np

from .access import Access
from .isa import Insn, Stage
from .pipeline import token_queue_name
from .state import MachineState


def _written(access: Access, state: MachineState) -> list[dict]:
    entries = []
    for space, indices in sorted(access.writes.items()):
        if not len(indices):
            continue
        rows = np.unique(indices)
        contents = np.ascontiguousarray(state[space].data[rows])
        entries.append({"space": space, "count": int(rows.size), "first": int(rows[0]),
                        "last": int(rows[-1]),
                        "sha256": hashlib.sha256(contents.astype("<i8").tobytes()).hexdigest()})
    if access.dram_writes is not None:
        ranges = access.dram_writes
        dram = state.dram
        digest = hashlib.sha256()
        for start, end in zip(ranges.starts.tolist(), ranges.ends.tolist()):
            digest.update(dram.data[start - dram.base:end - dram.base].tobytes())
        entries.append({"space": "dram", "count": ranges.total(),
                        "first": int(ranges.starts[0]), "last": int(ranges.ends[-1]) - 1,
                        "sha256": digest.hexdigest()})
    return entries


class JsonTracer:
    """A runner tracer that records one JSON object per executed instruction.

    :meth:`dump` writes them in program order: for a race-free program, what an instruction
    writes does not depend on how the stages interleave, so traces of two implementations
    compare line by line. Scratchpad digests cover the written entries (in increasing index
    order) as little-endian int64 lanes; DRAM digests cover the written bytes in address order.
    """

    def __init__(self):
        self.records: dict[int, str] = {}

    def dump(self, out: TextIO) -> None:
        """Write the recorded lines, in program order."""
        for index in sorted(self.records):
            out.write(self.records[index] + "\n")

    def __call__(self, index: int, insn: Insn, stage: Stage, clock: tuple, tokens: dict,
                 access: Access, state: MachineState) -> None:
        record = {
            "index": index,
            "stage": stage.name.lower(),
            "mnemonic": insn.MNEMONIC,
            "fields": insn.fields(),
            "pop": [token_queue_name(*q) for q in tokens["pop"]],
            "push": [token_queue_name(*q) for q in tokens["push"]],
            "clock": list(clock),
            "writes": _written(access, state),
        }
        self.records[index] = json.dumps(record)
