"""What an instruction read and wrote: scratchpad indices and DRAM byte ranges.

The task-level runner feeds these to the race checker and the tracer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class ByteRanges:
    """Disjoint, sorted physical byte ranges ``[starts[i], ends[i])``."""

    starts: np.ndarray
    ends: np.ndarray

    def __post_init__(self):
        # The first and last byte's bounds, as Python integers: most overlap checks end there.
        self.span = (int(self.starts[0]), int(self.ends[-1])) if len(self.starts) else None

    @classmethod
    def rows(cls, first: int, count: int, pitch: int, length: int) -> ByteRanges:
        """Return ``count`` ranges of ``length`` bytes, ``pitch`` bytes apart, merged."""
        if count and pitch == length:  # rows back to back: one range
            return cls(np.array([first], dtype=np.int64),
                       np.array([first + count * length], dtype=np.int64))
        starts = first + pitch * np.arange(count, dtype=np.int64)
        if pitch > length:  # gaps between rows: nothing to merge
            return cls(starts, starts + length)
        order = np.argsort(starts, kind="stable")
        starts = starts[order]
        ends = starts + length
        # Merge ranges that touch or overlap (a stride smaller than a row).
        running_end = np.maximum.accumulate(ends)
        new_run = np.ones(len(starts), dtype=bool)
        new_run[1:] = starts[1:] > running_end[:-1]
        run_ids = np.cumsum(new_run) - 1
        merged_ends = np.zeros(int(new_run.sum()), dtype=np.int64)
        np.maximum.at(merged_ends, run_ids, running_end)
        return cls(starts[new_run], merged_ends)

    def overlap(self, other: ByteRanges) -> tuple[int, int] | None:
        """Return one overlapping byte range of ``self`` and ``other``, or None."""
        if (self.span is None or other.span is None or self.span[1] <= other.span[0]
                or other.span[1] <= self.span[0]):
            return None
        idx = np.searchsorted(self.ends, other.starts, side="right")
        valid = idx < len(self.starts)
        hits = np.flatnonzero(valid & (self.starts[np.minimum(idx, len(self.starts) - 1)]
                                       < other.ends))
        if not len(hits):
            return None
        j = hits[0]
        i = idx[j]
        return max(int(self.starts[i]), int(other.starts[j])), min(int(self.ends[i]),
                                                                   int(other.ends[j]))

    def total(self) -> int:
        return int((self.ends - self.starts).sum())


def each_once(entries: np.ndarray, bound: int) -> np.ndarray:
    """Return the scratchpad ``entries`` (each below ``bound``) with every one once, ascending."""
    touched = np.zeros(bound, dtype=bool)
    touched[entries.reshape(-1)] = True
    return np.flatnonzero(touched)


@dataclass
class Access:
    """The locations one instruction read and wrote (scratchpad indices may repeat)."""

    reads: dict[str, np.ndarray] = field(default_factory=dict)
    writes: dict[str, np.ndarray] = field(default_factory=dict)
    dram_reads: ByteRanges | None = None
    dram_writes: ByteRanges | None = None
