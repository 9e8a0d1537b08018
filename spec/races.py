"""Data-race detection between the load, compute and store stages.

Two accesses race when they come from different stages, touch the same scratchpad entry or DRAM
byte, at least one writes, and neither happens before the other. Happens-before is program order
within a stage plus dependency tokens (the k-th push to a token queue happens before its k-th
pop). Each executed instruction carries a vector clock: for every stage, how many of that stage's
instructions happen before it (itself included). An access at stage position ``p`` happens before
an instruction with clock ``v`` exactly when ``p <= v[stage]``.

For each scratchpad entry the checker keeps, per stage, the latest position that wrote it and the
latest that read it; checking a new access against those latest positions finds a race if and
only if one exists (positions grow along each stage).
"""

from __future__ import annotations

import bisect

import numpy as np

from .access import Access, ByteRanges, each_once
from .errors import RaceError
from .pipeline import BUFFER_STAGES, Stage

STAGES = tuple(Stage)  # iterating the enum itself costs more than a check of one record


class LastAccess:
    """For each scratchpad and stage: the latest stage position that accessed (read, or wrote)
    each entry, and the latest of all, which bounds every entry's (positions only grow)."""

    def __init__(self, depths: dict[str, int]):
        self.by_entry = {(name, stage): np.zeros(depths[name], dtype=np.int64)
                         for name, stages in BUFFER_STAGES.items() for stage in stages}
        self.newest = dict.fromkeys(self.by_entry, 0)

    def unordered(self, name: str, stage: Stage, entries: np.ndarray, ordered: int):
        """Return ``(k, position)`` for the first of ``entries`` whose latest access by
        ``stage`` is past stage position ``ordered``, or None if there is none."""
        if self.newest[name, stage] <= ordered or not entries.size:
            return None  # no entry was accessed after ``ordered``: nothing to look up
        last = self.by_entry[name, stage][entries]
        if last.max() <= ordered:
            return None
        k = int(np.argmax(last > ordered))
        return k, int(last[k])

    def set(self, name: str, stage: Stage, entries: np.ndarray, position: int) -> None:
        self.by_entry[name, stage][entries] = position
        self.newest[name, stage] = position


class RaceChecker:
    """Records every access in execution order and raises RaceError at the first race."""

    def __init__(self, depths: dict[str, int]):
        self._depths = depths
        self._last_write = LastAccess(depths)
        self._last_read = LastAccess(depths)
        # Program index of each stage's instructions, by stage position (1-based).
        self._program_index = {stage: [None] for stage in Stage}
        self._dram_reads = {stage: ([], []) for stage in Stage}  # positions, ranges
        self._dram_writes = {stage: ([], []) for stage in Stage}

    def record(self, index: int, mnemonic: str, stage: Stage, clock: tuple[int, ...],
               access: Access) -> None:
        """Check ``access`` by instruction ``index`` against earlier ones, then remember it."""
        position = clock[stage]
        self._program_index[stage].append((index, mnemonic))
        reads = [(name, self._distinct(name, entries)) for name, entries in access.reads.items()]
        writes = [(name, self._distinct(name, entries))
                  for name, entries in access.writes.items()]
        for name, entries in reads:
            self._check(index, mnemonic, stage, clock, name, entries, self._last_write, "reads",
                        "writes")
        for name, entries in writes:
            self._check(index, mnemonic, stage, clock, name, entries, self._last_write, "writes",
                        "writes")
            self._check(index, mnemonic, stage, clock, name, entries, self._last_read, "writes",
                        "reads")
        for name, entries in reads:
            self._last_read.set(name, stage, entries, position)
        for name, entries in writes:
            self._last_write.set(name, stage, entries, position)
        if access.dram_reads is not None:
            self._check_dram(index, mnemonic, stage, clock, access.dram_reads, self._dram_writes,
                             "reads", "writes")
            self._remember(self._dram_reads[stage], position, access.dram_reads)
        if access.dram_writes is not None:
            self._check_dram(index, mnemonic, stage, clock, access.dram_writes,
                             self._dram_writes, "writes", "writes")
            self._check_dram(index, mnemonic, stage, clock, access.dram_writes,
                             self._dram_reads, "writes", "reads")
            self._remember(self._dram_writes[stage], position, access.dram_writes)

    def _distinct(self, name: str, entries: np.ndarray) -> np.ndarray:
        """Return the entries an access touches, each once, if it lists more than the buffer
        holds (a loop revisiting rows); else ``entries`` as they are."""
        if entries.size <= self._depths[name]:
            return entries
        return each_once(entries, self._depths[name])

    def _describe(self, stage: Stage, position: int) -> str:
        index, mnemonic = self._program_index[stage][position]
        return f"{mnemonic} #{index} ({stage.name.lower()} stage)"

    def _check(self, index, mnemonic, stage, clock, name, entries, last: LastAccess, verb,
               other_verb):
        for other in BUFFER_STAGES[name]:
            if other == stage:
                continue
            hit = last.unordered(name, other, entries, clock[other])
            if hit is not None:
                k, position = hit
                raise RaceError(
                    f"data race on {name}[{int(entries[k])}]: {mnemonic} #{index} "
                    f"({stage.name.lower()} stage) {verb} it while "
                    f"{self._describe(other, position)} {other_verb} it, and no dependency "
                    "token orders the two")

    @staticmethod
    def _remember(log, position: int, ranges: ByteRanges) -> None:
        log[0].append(position)
        log[1].append(ranges)

    def _check_dram(self, index, mnemonic, stage, clock, ranges, logs, verb, other_verb):
        for other in STAGES:
            if other == stage:
                continue
            positions, records = logs[other]
            first_unordered = bisect.bisect_right(positions, clock[other])
            for position, other_ranges in zip(positions[first_unordered:],
                                              records[first_unordered:]):
                hit = other_ranges.overlap(ranges)
                if hit is not None:
                    raise RaceError(
                        f"data race on DRAM [{hit[0]:#x}, {hit[1]:#x}): {mnemonic} #{index} "
                        f"({stage.name.lower()} stage) {verb} it while "
                        f"{self._describe(other, position)} {other_verb} it, and no dependency "
                        "token orders the two")
