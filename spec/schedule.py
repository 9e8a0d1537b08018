"""Dependency tokens: order the load, compute and store stages exactly where they share data.

A :class:`TokenSchedule` builds a program one instruction at a time and sets the dependency flags
that order each new instruction after what it must follow. It mirrors the task level of the
spec (:mod:`.runner`) at build time. Each stage runs its instructions in program order and the
k-th push on a token queue pairs with its k-th pop, so every instruction has a vector clock (for
each stage, how many of that stage's instructions happen before it) that is known as soon as it
is appended, provided each pop is appended after the push it pairs with. The schedule
guarantees that, which also rules out deadlock: program order is always a valid execution order.

Appending an instruction names, per other stage, the latest position it must follow (its
*needs*; a :class:`Conflicts` tracker derives them from what instructions touch). Each need the
instruction's clock does not already cover is met with the fewest tokens:

- between adjacent stages (load-compute, compute-store) with one token, popped by the new
  instruction and pushed (the flag set after the fact) by the needed producer instruction, or,
  with ``group_pushes``, by the last of the producer instructions that follow it without popping
  anything (one token then covers a whole group of loads or stores);
- between load and store, through the first compute instruction already ordered after the
  needed one, or a compute NOP (an ``x_size == 0`` instruction) that pops it when there is none.

A push that could leave more than ``token_depth`` tokens outstanding in its queue (the runner
counts pushes minus the pops ordered before the push) moves to a later producer instruction
that knows of more pops, or to a producer NOP that first waits for the consumer's latest
instruction. If that NOP's own token would overflow the opposite queue, TokenOverflowError is
raised. :meth:`TokenSchedule.balance` avoids that proactively: it adds such a NOP handshake
whenever a queue's producer lags ``token_depth`` pops behind, so the next push always fits.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from .errors import TokenOverflowError
from .isa import Insn
from .pipeline import (
    ADJACENT,
    DEFAULT_TOKEN_DEPTH,
    NOPS,
    QUEUES,
    Stage,
    pop_flag,
    push_flag,
    token_queue_name,
)

# The stage that load and store reach only through compute.
FAR = {Stage.LOAD: Stage.STORE, Stage.STORE: Stage.LOAD}


# -- what instructions touch ------------------------------------------------------------------


@dataclass(frozen=True)
class Footprint:
    """What one instruction touches.

    ``reads`` and ``writes`` hold ``(scratchpad, lo, hi)`` half-open entry ranges or
    ``(scratchpad, indices)`` index arrays (a superset of the entries is fine: it only adds
    ordering). ``dram_reads`` and ``dram_writes`` hold DRAM buffer identities (any hashable;
    equal identities conflict) or, for a ``Conflicts(..., dram_bytes=True)`` tracker,
    ``(start, end)`` byte ranges (overlapping ranges conflict).
    """

    reads: tuple = ()
    writes: tuple = ()
    dram_reads: tuple = ()
    dram_writes: tuple = ()


NOTHING = Footprint()


def _entries(items: tuple):
    """Yield (scratchpad, index) for footprint entries, skipping empty ones."""
    for item in items:
        if len(item) == 3:
            name, lo, hi = item
            if hi > lo:
                yield name, slice(lo, hi)
        elif len(item[1]):
            yield item


class _DramBuffers:
    """Last positions per stage that read and wrote each DRAM buffer identity."""

    def __init__(self):
        self._last = {}  # (identity, is_write) -> last position per stage

    def needs(self, reads, writes) -> np.ndarray:
        need = np.zeros(len(Stage), np.int64)
        for keys, kinds in ((reads, (True,)), (writes, (True, False))):
            for key in keys:
                for kind in kinds:
                    last = self._last.get((key, kind))
                    if last is not None:
                        need = np.maximum(need, last)
        return need

    def record(self, stage: Stage, position: int, reads, writes) -> None:
        for keys, kind in ((reads, False), (writes, True)):
            for key in keys:
                last = self._last.setdefault((key, kind), np.zeros(len(Stage), np.int64))
                last[stage] = position


class _DramBytes:
    """Every DRAM byte range read and written so far, with its stage and position."""

    def __init__(self):
        self._log = []  # (stage, position, is_write, start, end)

    def needs(self, reads, writes) -> np.ndarray:
        need = np.zeros(len(Stage), np.int64)
        if not self._log or not (reads or writes):
            return need
        log = np.array(self._log, dtype=np.int64)
        for ranges, writing in ((reads, False), (writes, True)):
            for start, end in ranges:
                hit = (log[:, 3] < end) & (log[:, 4] > start)
                if not writing:
                    hit &= log[:, 2] == 1
                np.maximum.at(need, log[hit, 0], log[hit, 1])
        return need

    def record(self, stage: Stage, position: int, reads, writes) -> None:
        for ranges, writing in ((reads, 0), (writes, 1)):
            for start, end in ranges:
                self._log.append((int(stage), position, writing, start, end))


class Conflicts:
    """Turns footprints into needs: two accesses from different stages to the same scratchpad
    entry or DRAM location conflict when one of them writes.

    ``depths`` maps each scratchpad name to its depth; DRAM is keyed by buffer identities, or by
    byte ranges with ``dram_bytes``.
    """

    def __init__(self, depths: Mapping[str, int], *, dram_bytes: bool = False):
        self._last_write = {name: np.zeros((len(Stage), depth), np.int64)
                            for name, depth in depths.items()}
        self._last_read = {name: np.zeros((len(Stage), depth), np.int64)
                           for name, depth in depths.items()}
        self._dram = _DramBytes() if dram_bytes else _DramBuffers()

    def needs(self, stage: Stage, footprint: Footprint) -> dict[Stage, int]:
        """Return, per other stage, the latest position whose access conflicts with these."""
        need = self._dram.needs(footprint.dram_reads, footprint.dram_writes)
        for name, index in _entries(footprint.reads):
            need = np.maximum(need, self._last_write[name][:, index].max(axis=1))
        for name, index in _entries(footprint.writes):
            need = np.maximum(need, self._last_write[name][:, index].max(axis=1))
            need = np.maximum(need, self._last_read[name][:, index].max(axis=1))
        return {other: int(need[other]) for other in Stage if other != stage and need[other]}

    def record(self, stage: Stage, position: int, footprint: Footprint) -> None:
        """Remember the accesses of ``stage``'s instruction at ``position``."""
        for name, index in _entries(footprint.reads):
            self._last_read[name][stage, index] = position
        for name, index in _entries(footprint.writes):
            self._last_write[name][stage, index] = position
        self._dram.record(stage, position, footprint.dram_reads, footprint.dram_writes)

    def written(self, name: str) -> np.ndarray:
        """Return which entries of scratchpad ``name`` some recorded instruction wrote."""
        return self._last_write[name].any(axis=0)


# -- the schedule -----------------------------------------------------------------------------


@dataclass
class _Entry:
    insn: Insn
    flags: dict[str, int] = field(default_factory=dict)


class TokenSchedule:
    """An instruction list that inserts the dependency tokens its instructions need.

    ``token_depth`` is the token queues' depth, which no queue exceeds; ``conflicts`` (optional)
    derives needs from footprints; ``group_pushes`` moves pushes to the end of runs of
    non-popping producer instructions. ``nops`` counts the NOPs added.
    """

    def __init__(self, token_depth: int = DEFAULT_TOKEN_DEPTH, conflicts: Conflicts | None = None,
                 *, group_pushes: bool = False):
        self.token_depth = token_depth
        self.conflicts = conflicts
        self.group_pushes = group_pushes
        self.nops = 0
        self._entries: list[_Entry] = []
        self._program_index = {stage: [] for stage in Stage}  # by stage position - 1
        self._clocks = {stage: [] for stage in Stage}
        self._popped = {stage: [] for stage in Stage}
        self._pushes = {q: [] for q in QUEUES}  # producer positions, increasing
        self._pops = {q: [] for q in QUEUES}  # consumer positions, increasing

    # -- public ----------------------------------------------------------------------------

    def append(self, insn: Insn, footprint: Footprint = NOTHING,
               after: Mapping[Stage, int] | None = None) -> int:
        """Append ``insn`` after whatever its footprint conflicts with and after position
        ``after[s]`` of each stage s; return its program index."""
        stage = insn.stage
        needs = self.conflicts.needs(stage, footprint) if self.conflicts else {}
        for other, position in (after or {}).items():
            if other != stage:
                needs[other] = max(needs.get(other, 0), position)
        position = self._append(insn, stage, needs, allow_nop=True)
        if self.conflicts:
            self.conflicts.record(stage, position, footprint)
        return self._program_index[stage][position - 1]

    def finish(self, insn: Insn) -> int:
        """Append a compute-stage ``insn`` (FINISH) ordered after every instruction so far."""
        return self.append(insn, after={stage: self.count(stage) for stage in Stage})

    def balance(self) -> None:
        """Add NOP handshakes until no queue's producer lags ``token_depth`` pops behind."""
        changed = True
        while changed:
            changed = False
            for producer, consumer in QUEUES:
                if self._starved(producer, consumer) >= self.token_depth:
                    self.nops += 1
                    self._append(NOPS[producer], producer, {consumer: self.count(consumer)},
                                 allow_nop=False)
                    changed = True

    def __len__(self) -> int:
        return len(self._entries)

    def count(self, stage: Stage) -> int:
        """Return how many instructions ``stage`` has so far (its latest position)."""
        return len(self._clocks[stage])

    def instructions(self) -> list[Insn]:
        """Return the program with its dependency flags set."""
        return [entry.insn.with_deps(**entry.flags) for entry in self._entries]

    def tokens(self) -> dict[str, int]:
        """Return how many tokens each queue carries, e.g. ``{"load->compute": 12, ...}``."""
        return {token_queue_name(*q): len(pushes) for q, pushes in self._pushes.items()}

    # -- ordering --------------------------------------------------------------------------

    def _append(self, insn: Insn, stage: Stage, needs: dict[Stage, int], allow_nop: bool) -> int:
        """Append ``insn`` after position ``needs[s]`` of each stage s; return its position."""
        clocks = self._clocks[stage]
        clock = list(clocks[-1]) if clocks else [0] * len(Stage)
        clock[stage] += 1
        far = FAR.get(stage)
        if far is not None and needs.get(far, 0) > clock[far]:
            via = self._compute_after(far, needs[far], allow_nop)
            needs = {**needs, Stage.COMPUTE: max(needs.get(Stage.COMPUTE, 0), via)}
        pops = {}
        for producer in ADJACENT[stage]:
            if needs.get(producer, 0) > clock[producer]:
                site = self._push_site(producer, stage, needs[producer], allow_nop)
                pops[producer] = site
                clock = [max(a, b) for a, b in zip(clock, self._clocks[producer][site - 1])]
        position = clock[stage]
        entry = _Entry(insn)
        for producer, site in pops.items():
            self._pushes[producer, stage].append(site)
            self._pops[producer, stage].append(position)
            pusher = self._entries[self._program_index[producer][site - 1]]
            pusher.flags[push_flag(producer, stage)] = 1
            entry.flags[pop_flag(stage, producer)] = 1
        self._program_index[stage].append(len(self._entries))
        self._entries.append(entry)
        clocks.append(tuple(clock))
        self._popped[stage].append(bool(pops))
        return position

    def _compute_after(self, producer: Stage, position: int, allow_nop: bool) -> int:
        """Return the first compute position ordered after ``position`` of ``producer``."""
        known = [clock[producer] for clock in self._clocks[Stage.COMPUTE]]
        first = bisect.bisect_left(known, position)
        if first < len(known):
            return first + 1
        self.nops += 1
        return self._append(NOPS[Stage.COMPUTE], Stage.COMPUTE, {producer: position}, allow_nop)

    def _push_site(self, producer: Stage, consumer: Stage, position: int, allow_nop: bool) -> int:
        """Choose the producer position that pushes the token ``consumer`` will pop."""
        pushes = self._pushes[producer, consumer]
        site = max(position, pushes[-1] + 1 if pushes else 1)
        if self.group_pushes:
            popped = self._popped[producer]
            while site < len(popped) and not popped[site]:
                site += 1
        for candidate in range(site, len(self._clocks[producer]) + 1):
            if self._outstanding(producer, consumer, candidate) <= self.token_depth:
                return candidate
        if not allow_nop:
            raise TokenOverflowError(
                f"the {token_queue_name(producer, consumer)} token queue would hold more than "
                f"{self.token_depth} tokens; the program needs more synchronisation")
        self.nops += 1
        latest = self.count(consumer)
        return self._append(NOPS[producer], producer, {consumer: latest}, allow_nop=False)

    def _outstanding(self, producer: Stage, consumer: Stage, site: int) -> int:
        """Return the tokens the queue may hold right after a push by position ``site``."""
        known = self._clocks[producer][site - 1][consumer]
        pops = self._pops[producer, consumer]
        return len(self._pushes[producer, consumer]) + 1 - bisect.bisect_right(pops, known)

    def _starved(self, producer: Stage, consumer: Stage) -> int:
        """Return the pops from the queue that the producer's latest instruction cannot know."""
        pops = self._pops[producer, consumer]
        clocks = self._clocks[producer]
        known = clocks[-1][consumer] if clocks else 0
        return len(pops) - bisect.bisect_right(pops, known)
