"""Execution traces: one JSON line per executed instruction (format in docs/image-format.md).

Another implementation that writes the same lines can be diffed against ours to find the first
instruction where the two diverge (:mod:`.trace_diff`). :func:`replay` writes the trace of a run
on another implementation from what it reports each instruction wrote (the RTL's retirement
port does), through the same runner and tracer as the spec's own runs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TextIO

import numpy as np

from .access import Access, ByteRanges
from .config import VtaConfig
from .isa import INSN_CLASSES, Insn, Stage
from .pipeline import token_queue_name
from .runner import Runner, Tracer
from .state import Dram, MachineState


def _written(access: Access, state: MachineState, values: bool) -> list[dict]:
    entries = []
    for space, indices in sorted(access.writes.items()):
        if not len(indices):
            continue
        rows = np.unique(indices)
        contents = np.ascontiguousarray(state[space].data[rows])
        entries.append({"space": space, "count": int(rows.size), "first": int(rows[0]),
                        "last": int(rows[-1]),
                        "sha256": hashlib.sha256(contents.astype("<i8").tobytes()).hexdigest()})
        if values:
            entries[-1] |= {"rows": rows.tolist(), "values": contents.tolist()}
    if access.dram_writes is not None:
        ranges = access.dram_writes
        dram = state.dram
        written = b"".join(dram.data[start - dram.base:end - dram.base].tobytes()
                           for start, end in zip(ranges.starts.tolist(), ranges.ends.tolist()))
        entries.append({"space": "dram", "count": ranges.total(),
                        "first": int(ranges.starts[0]), "last": int(ranges.ends[-1]) - 1,
                        "sha256": hashlib.sha256(written).hexdigest()})
        if values:
            entries[-1] |= {"ranges": [[int(start), int(end)] for start, end
                                       in zip(ranges.starts, ranges.ends)],
                            "bytes": written.hex()}
    return entries


class JsonTracer:
    """A runner tracer that records one JSON object per executed instruction.

    :meth:`dump` writes them in program order: for a race-free program, what an instruction
    writes does not depend on how the stages interleave, so traces of two implementations
    compare line by line. Scratchpad digests cover the written entries (in increasing index
    order) as little-endian int64 lanes; DRAM digests cover the written bytes in address order.
    With ``values``, each entry also carries what was written: a scratchpad entry its ``rows``
    and their lanes (``values``), a DRAM entry its byte ``ranges`` and their ``bytes`` (hex).
    """

    def __init__(self, values: bool = False):
        self.values = values
        self.records: dict[int, str] = {}

    def lines(self) -> list[str]:
        """Return the recorded lines, in program order."""
        return [self.records[index] for index in sorted(self.records)]

    def dump(self, out: TextIO) -> None:
        """Write the recorded lines, in program order."""
        for line in self.lines():
            out.write(line + "\n")

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
            "writes": _written(access, state, self.values),
        }
        self.records[index] = json.dumps(record)


@dataclass
class Effects:
    """What one instruction wrote, as another implementation reports it: the final lanes of
    each scratchpad row (``rows[space][row]``) and each DRAM byte (``dram[address]``)."""

    rows: dict[str, dict[int, list[int]]] = field(default_factory=dict)
    dram: dict[int, int] = field(default_factory=dict)


def replay(config: VtaConfig, dram: Dram, program: list[Insn], effects: dict[int, Effects],
           tokens: dict[int, dict], tracer: Tracer) -> None:
    """Call ``tracer`` for each instruction of a run of ``program`` on another implementation,
    which reports that instruction ``i`` wrote ``effects[i]`` and took the tokens ``tokens[i]``
    (``{"pop": [(producer, consumer), ...], "push": [...]}``, as the runner passes them).

    The spec's runner orders the instructions and computes their clocks, as in its own runs;
    instead of executing them, it applies their reported writes to a machine state over
    ``dram`` (the run's initial DRAM), which the tracer reads.
    """
    state = MachineState(config, dram)

    def apply(insn: Insn, state: MachineState, index: int, flavor) -> Access:
        done = effects.get(index, Effects())
        access = Access()
        for space, rows in sorted(done.rows.items()):
            indices = np.array(sorted(rows), dtype=np.int64)
            state[space].data[indices] = [rows[row] for row in indices.tolist()]
            access.writes[space] = indices
        if done.dram:
            addresses = np.array(sorted(done.dram), dtype=np.int64)
            state.dram.data[addresses - state.dram.base] = [done.dram[a]
                                                            for a in addresses.tolist()]
            breaks = np.flatnonzero(np.diff(addresses) != 1) + 1
            access.dram_writes = ByteRanges(addresses[np.r_[0, breaks]],
                                            addresses[np.r_[breaks - 1, len(addresses) - 1]] + 1)
        return access

    def traced(index, insn, stage, clock, spec_tokens, access, state) -> None:
        tracer(index, insn, stage, clock, tokens.get(index, spec_tokens), access, state)

    Runner(state, program, check_races=False, tracer=traced,
           execute={cls.MNEMONIC: apply for cls in INSN_CLASSES.values()}).run()
