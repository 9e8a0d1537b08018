"""Dependency tokens: order the load, compute and store stages exactly where they share data.

The schedule mirrors the task level of the spec (``vtaref.spec.runner``) at compile time. Each
stage runs its instructions in program order; the k-th push on a token queue pairs with its k-th
pop; so every instruction has a vector clock (for each stage, how many of that stage's instructions
happen before it) that is known as soon as it is appended, provided each pop is appended after the
push it pairs with, which the schedule guarantees (and which also rules out deadlock: program order
is always a valid execution order).

For every scratchpad entry and DRAM buffer the schedule keeps the last position of each stage that
read and wrote it. Appending an instruction finds, in every other stage, the latest position that
conflicts with it (two accesses conflict when one writes) and orders the new instruction after it:

- between adjacent stages (load-compute, compute-store) with one token, pushed by the conflicting
  instruction, or by the last of the producer instructions that follow it without popping
  anything (one token then covers a whole group of loads or stores), and popped by the new one;
- between load and store, through the first compute instruction already ordered after the
  producer, or a compute NOP when there is none.

A push that could leave more than ``token_depth`` tokens outstanding in its queue (the spec counts
pushes minus the pops ordered before the push) moves to a later producer instruction that knows of
more pops, or to a producer NOP that first waits for the consumer's latest instruction. If that
NOP's own token would overflow the opposite queue, :class:`CompileError` is raised; random streams
never get there at depths 2 and 8, but can at depth 1.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

from vtaref.spec import Load, MemType, Stage, Store
from vtaref.spec.isa import Insn

from .errors import CompileError

PREV = {Stage.COMPUTE: Stage.LOAD, Stage.STORE: Stage.COMPUTE}
NEXT = {Stage.LOAD: Stage.COMPUTE, Stage.COMPUTE: Stage.STORE}
# The stages a stage exchanges tokens with, and the one it can only reach through compute.
ADJACENT = {stage: [s for s in (PREV.get(stage), NEXT.get(stage)) if s is not None]
            for stage in Stage}
FAR = {Stage.LOAD: Stage.STORE, Stage.STORE: Stage.LOAD}

# Instructions that do nothing but carry dependency flags, one per stage.
NOPS = {
    Stage.LOAD: Load(memory_type=MemType.INP),
    Stage.COMPUTE: Load(memory_type=MemType.UOP),
    Stage.STORE: Store(memory_type=MemType.OUT),
}


@dataclass(frozen=True)
class Footprint:
    """What one instruction touches.

    ``reads`` and ``writes`` hold ``(scratchpad, lo, hi)`` half-open entry ranges (a superset of
    the entries is fine: it only adds ordering); ``dram_reads`` and ``dram_writes`` hold DRAM
    buffer identities.
    """

    reads: tuple[tuple[str, int, int], ...] = ()
    writes: tuple[tuple[str, int, int], ...] = ()
    dram_reads: tuple[int, ...] = ()
    dram_writes: tuple[int, ...] = ()


@dataclass
class _Entry:
    insn: Insn
    flags: dict[str, int] = field(default_factory=dict)


def _pop_flag(consumer: Stage, producer: Stage) -> str:
    return "pop_prev_dep" if PREV.get(consumer) == producer else "pop_next_dep"


def _push_flag(producer: Stage, consumer: Stage) -> str:
    return "push_next_dep" if NEXT.get(producer) == consumer else "push_prev_dep"


class Schedule:
    """An instruction queue that inserts the dependency tokens its instructions need.

    ``depths`` maps each scratchpad name to its depth; ``token_depth`` is the hardware's token
    queue depth, which no queue exceeds.
    """

    def __init__(self, depths: dict[str, int], token_depth: int):
        self.token_depth = token_depth
        self._entries: list[_Entry] = []
        self.nops = 0
        self._program_index = {stage: [] for stage in Stage}  # by stage position - 1
        self._clocks = {stage: [] for stage in Stage}
        self._popped = {stage: [] for stage in Stage}
        self._pushes = {}  # (producer, consumer) -> producer positions, increasing
        self._pops = {}  # (producer, consumer) -> consumer positions, increasing
        for stage in Stage:
            for other in ADJACENT[stage]:
                self._pushes[other, stage] = []
                self._pops[other, stage] = []
        self._last_write = {name: np.zeros((len(Stage), depth), np.int64)
                            for name, depth in depths.items()}
        self._last_read = {name: np.zeros((len(Stage), depth), np.int64)
                           for name, depth in depths.items()}
        self._dram_write = {}  # buffer identity -> last position per stage
        self._dram_read = {}

    # -- public ----------------------------------------------------------------------------

    def append(self, insn: Insn, footprint: Footprint = Footprint()) -> int:
        """Append ``insn`` after whatever it conflicts with; return its program index."""
        stage = insn.stage
        position = self._append(insn, stage, self._conflicts(stage, footprint), allow_nop=True)
        self._remember(stage, position, footprint)
        return self._program_index[stage][position - 1]

    def finish(self, insn: Insn) -> int:
        """Append a compute-stage ``insn`` (FINISH) ordered after every instruction so far."""
        needs = {stage: len(self._clocks[stage]) for stage in (Stage.LOAD, Stage.STORE)}
        position = self._append(insn, Stage.COMPUTE, needs, allow_nop=True)
        return self._program_index[Stage.COMPUTE][position - 1]

    def instructions(self) -> list[Insn]:
        """Return the program with its dependency flags set."""
        return [entry.insn.with_deps(**entry.flags) for entry in self._entries]

    def tokens(self) -> dict[str, int]:
        """Return how many tokens each queue carries, e.g. ``{"load->compute": 12, ...}``."""
        return {f"{p.name.lower()}->{c.name.lower()}": len(v) for (p, c), v in self._pushes.items()}

    # -- ordering --------------------------------------------------------------------------

    def _conflicts(self, stage: Stage, footprint: Footprint) -> dict[Stage, int]:
        """Return, per other stage, the latest position whose access conflicts with these."""
        need = np.zeros(len(Stage), np.int64)
        for name, lo, hi in footprint.reads:
            if hi > lo:
                need = np.maximum(need, self._last_write[name][:, lo:hi].max(axis=1))
        for name, lo, hi in footprint.writes:
            if hi > lo:
                need = np.maximum(need, self._last_write[name][:, lo:hi].max(axis=1))
                need = np.maximum(need, self._last_read[name][:, lo:hi].max(axis=1))
        zero = np.zeros(len(Stage), np.int64)
        for buffer in footprint.dram_reads:
            need = np.maximum(need, self._dram_write.get(buffer, zero))
        for buffer in footprint.dram_writes:
            need = np.maximum(need, self._dram_write.get(buffer, zero))
            need = np.maximum(need, self._dram_read.get(buffer, zero))
        return {other: int(need[other]) for other in Stage if other != stage and need[other]}

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
            pusher.flags[_push_flag(producer, stage)] = 1
            entry.flags[_pop_flag(stage, producer)] = 1
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
        popped = self._popped[producer]
        site = position
        while site < len(popped) and not popped[site]:
            site += 1
        for candidate in range(site, len(popped) + 1):
            if self._outstanding(producer, consumer, candidate) <= self.token_depth:
                return candidate
        if not allow_nop:
            raise CompileError(
                f"the {producer.name.lower()}->{consumer.name.lower()} token queue would hold "
                f"more than {self.token_depth} tokens; the program needs more synchronisation")
        self.nops += 1
        latest = len(self._clocks[consumer])
        return self._append(NOPS[producer], producer, {consumer: latest}, allow_nop=False)

    def _outstanding(self, producer: Stage, consumer: Stage, site: int) -> int:
        """Return the tokens the queue may hold right after a push by position ``site``."""
        known = self._clocks[producer][site - 1][consumer]
        pops = self._pops[producer, consumer]
        return len(self._pushes[producer, consumer]) + 1 - bisect.bisect_right(pops, known)

    def _remember(self, stage: Stage, position: int, footprint: Footprint) -> None:
        for name, lo, hi in footprint.reads:
            self._last_read[name][stage, lo:hi] = position
        for name, lo, hi in footprint.writes:
            self._last_write[name][stage, lo:hi] = position
        for buffer in footprint.dram_reads:
            self._dram_read.setdefault(buffer, np.zeros(len(Stage), np.int64))[stage] = position
        for buffer in footprint.dram_writes:
            self._dram_write.setdefault(buffer, np.zeros(len(Stage), np.int64))[stage] = position
