"""The task level: fetch, the three stage queues, dependency tokens, and a checked run.

Fetch dispatches instructions in program order: INP and WGT loads to the load stage, STOREs to
the store stage, everything else (GEMM, ALU, FINISH, UOP and ACC loads) to compute. Each stage
runs its queue in order; an instruction with a pop flag waits until the matching token queue
holds a token. Four token queues link the stages: load->compute, compute->load,
compute->store and store->compute.

Instead of hanging or guessing, a run raises DeadlockError (a pop that no remaining push can
satisfy), TokenOverflowError (a token queue that may hold more tokens than ``token_depth``),
RaceError (see :mod:`races`) or ProgramError (a bad instruction).
"""

from __future__ import annotations

import bisect
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from threadpoolctl import threadpool_limits

from .access import Access
from .config import VtaConfig
from .errors import DeadlockError, ProgramError, RaceError, TokenOverflowError
from .isa import INSN_BYTES, DecodeError, Finish, Gemm, Insn, LoopInsn, Stage, decode
from .pipeline import DEFAULT_TOKEN_DEPTH, DEP_FLAGS, flag_queue, token_queue_name
from .races import RaceChecker
from .semantics import EXECUTE, FSIM, Flavor
from .state import Dram, MachineState

if TYPE_CHECKING:
    from .image import ProgramImage


@dataclass
class RunStats:
    """Counts from one run."""

    instructions: Counter = field(default_factory=Counter)
    uops: int = 0
    macs: int = 0
    max_tokens: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"instructions": dict(self.instructions), "uops": self.uops, "macs": self.macs,
                "max_tokens": self.max_tokens}


Tracer = Callable[[int, Insn, Stage, tuple, dict, Access, MachineState], None]


def fetch(dram: Dram, insn_addr: int, insn_count: int, config: VtaConfig) -> list[Insn]:
    """Decode ``insn_count`` instructions stored from physical address ``insn_addr``."""
    end = insn_addr + insn_count * INSN_BYTES
    if not dram.contains(insn_addr, end):
        raise ProgramError(0, "fetch", "insn_addr",
                           f"instructions [{insn_addr:#x}, {end:#x}) fall outside DRAM "
                           f"[{dram.base:#x}, {dram.base + len(dram.data):#x})")
    raw = dram.data[insn_addr - dram.base:end - dram.base].tobytes()
    program = []
    decoded = {}  # equal words decode to one instruction (immutable; programs repeat them)
    for index in range(insn_count):
        word = raw[index * INSN_BYTES:(index + 1) * INSN_BYTES]
        if word not in decoded:
            try:
                decoded[word] = decode(word, config)
            except DecodeError as err:
                raise ProgramError(index, "?", err.field, str(err)) from None
        program.append(decoded[word])
    return program


def _token_queues(insn: Insn, index: int) -> tuple[list[tuple], list[tuple]]:
    """Return the (producer, consumer) queues ``insn`` pops from and pushes to."""
    stage = insn.stage
    pops, pushes = [], []
    for flag in DEP_FLAGS:
        if not getattr(insn, flag):
            continue
        q = flag_queue(stage, flag)
        if q is None:
            side = "previous" if flag.endswith("prev_dep") else "next"
            raise ProgramError(index, insn.MNEMONIC, flag,
                               f"the {stage.name.lower()} stage has no {side} stage")
        (pops if flag.startswith("pop") else pushes).append(q)
    return pops, pushes


def check_portable(insn: Insn, index: int) -> None:
    """Raise ProgramError for an empty uop loop, which TVM-VTA's implementations disagree on.

    The functional simulator runs no iteration; the Chisel design tests ``count - 1`` for the
    last iteration, so its counters wrap and run 2^14 iterations (or wrap the uop index).
    """
    if not isinstance(insn, LoopInsn):
        return
    for name in ("iter_out", "iter_in"):
        if getattr(insn, name) == 0:
            raise ProgramError(index, insn.MNEMONIC, name,
                               "loop count of zero (fsim runs nothing, Chisel runs 2^14 times)")
    if insn.uop_end <= insn.uop_bgn:
        raise ProgramError(index, insn.MNEMONIC, "uop_end",
                           f"empty uop range [{insn.uop_bgn}, {insn.uop_end}) (fsim runs "
                           "nothing, Chisel wraps around the uop buffer)")


class Runner:
    """Runs one program on a machine state under the task-level rules."""

    def __init__(self, state: MachineState, program: list[Insn], *, flavor: Flavor = FSIM,
                 check_races: bool = True, strict: bool = False,
                 token_depth: int = DEFAULT_TOKEN_DEPTH,
                 tracer: Tracer | None = None, progress: Callable[[int], None] | None = None,
                 execute: dict[str, Callable[..., Access]] = EXECUTE):
        self.state = state
        self.execute = execute  # mnemonic -> execute function (literal.EXECUTE: the oracle)
        self.program = program
        self.flavor = flavor
        self.token_depth = token_depth
        self.tracer = tracer
        self.progress = progress
        self.stats = RunStats()
        depths = {name: buf.depth for name, buf in state.buffers.items()}
        self.races = RaceChecker(depths) if check_races else None
        self.queues = {stage: deque() for stage in Stage}
        self.tokens = {}  # (producer, consumer) -> deque of producer clocks
        self.pushes = Counter()
        self.pop_positions = {}  # (producer, consumer) -> consumer positions of pops, in order
        self.clock = {stage: (0, 0, 0) for stage in Stage}
        self.deps = []
        finishes = []
        queues_of = {}  # the queues depend only on the stage and the four flags
        for index, insn in enumerate(program):
            if strict:
                check_portable(insn, index)
            key = (insn.stage, *(getattr(insn, flag) for flag in DEP_FLAGS))
            if key not in queues_of:
                queues_of[key] = _token_queues(insn, index)
            self.deps.append(queues_of[key])
            self.queues[insn.stage].append(index)
            if isinstance(insn, Finish):
                finishes.append(index)
        for queue in self.deps:
            for q in queue[0] + queue[1]:
                self.tokens.setdefault(q, deque())
                self.pop_positions.setdefault(q, [])
        if not finishes:
            raise ProgramError(len(program), "end", "opcode",
                               "the program has no FINISH, so the device never raises done")
        if len(finishes) > 1:
            raise ProgramError(finishes[1], "FINISH", "opcode",
                               f"second FINISH (the first is instruction {finishes[0]})")
        self.finish_index = finishes[0]
        self.finish_clock = None
        self.stage_order = {stage: list(queue) for stage, queue in self.queues.items()}

    def run(self) -> RunStats:
        """Run every instruction, then check that each one happens before FINISH.

        BLAS runs single-threaded: the spec's matrix products are small, and BLAS worker
        threads on a busy machine cost up to 20x the work itself.
        """
        with threadpool_limits(limits=1, user_api="blas"):
            return self._run()

    def _run(self) -> RunStats:
        remaining = len(self.program)
        while remaining:
            progressed = 0
            for stage in Stage:
                while self.queues[stage] and self._ready(self.queues[stage][0]):
                    self._execute(self.queues[stage].popleft())
                    progressed += 1
            if not progressed:
                raise DeadlockError(self._deadlock_message())
            remaining -= progressed
            if self.progress:
                self.progress(progressed)
        if self.races is not None:
            self._check_all_before_finish()
        return self.stats

    def _check_all_before_finish(self) -> None:
        """Raise RaceError unless every instruction happens before FINISH.

        Whatever may run after FINISH races with the host, which reads DRAM once done is
        raised (and TVM-VTA's simulator only stops when FINISH is the last to run).
        """
        for stage in Stage:
            order = self.stage_order[stage]
            ordered = self.finish_clock[stage]
            if ordered < len(order):
                index = order[ordered]
                raise RaceError(
                    f"{self.program[index].MNEMONIC} #{index} ({stage.name.lower()} stage) is "
                    f"not ordered before FINISH #{self.finish_index}: it may run after the "
                    "device reports done (make FINISH pop a token that follows it)")

    def _ready(self, index: int) -> bool:
        return all(self.tokens[q] for q in self.deps[index][0])

    def _execute(self, index: int) -> None:
        insn = self.program[index]
        stage = insn.stage
        pops, pushes = self.deps[index]
        clock = list(self.clock[stage])
        clock[stage] += 1
        for q in pops:
            producer_clock = self.tokens[q].popleft()
            clock = [max(a, b) for a, b in zip(clock, producer_clock)]
            self.pop_positions[q].append(clock[stage])
        clock = tuple(clock)
        self.clock[stage] = clock
        access = self.execute[insn.MNEMONIC](insn, self.state, index, self.flavor)
        if self.races is not None:
            self.races.record(index, insn.MNEMONIC, stage, clock, access)
        for q in pushes:
            self._push(q, clock, index, insn)
        self._count(insn, access)
        if isinstance(insn, Finish):
            self.finish_clock = clock
        if self.tracer:
            self.tracer(index, insn, stage, clock, {"pop": pops, "push": pushes}, access,
                        self.state)

    def _push(self, q: tuple, clock: tuple, index: int, insn: Insn) -> None:
        self.tokens[q].append(clock)
        self.pushes[q] += 1
        producer, consumer = q
        # Pops that happen before this push; every other earlier push may still be queued.
        ordered_pops = bisect.bisect_right(self.pop_positions[q], clock[consumer])
        outstanding = self.pushes[q] - ordered_pops
        name = token_queue_name(*q)
        self.stats.max_tokens[name] = max(self.stats.max_tokens.get(name, 0), outstanding)
        if outstanding > self.token_depth:
            raise TokenOverflowError(
                f"instruction {index} ({insn.MNEMONIC}): token queue {name} may hold "
                f"{outstanding} tokens, more than the hardware depth {self.token_depth}")

    def _count(self, insn: Insn, access: Access) -> None:
        self.stats.instructions[insn.MNEMONIC] += 1
        if isinstance(insn, LoopInsn):
            self.stats.uops += insn.visit_count
        if isinstance(insn, Gemm):
            self.stats.macs += insn.macs(self.state.config)

    def _deadlock_message(self) -> str:
        waits = []
        for stage in Stage:
            if self.queues[stage]:
                index = self.queues[stage][0]
                missing = [token_queue_name(*q) for q in self.deps[index][0] if not self.tokens[q]]
                waits.append(f"{self.program[index].MNEMONIC} #{index} ({stage.name.lower()} "
                             f"stage) waits for a {' and a '.join(missing)} token")
        return "deadlock: " + "; ".join(waits) + "; no instruction left can push them"


def run_program(config: VtaConfig, dram: Dram, insn_addr: int, insn_count: int,
                **options) -> tuple[MachineState, RunStats]:
    """Run a program stored in ``dram``; return the final state and the run's counts.

    ``options`` go to :class:`Runner` (flavor, check_races, strict, token_depth, tracer,
    progress, execute).
    """
    state = MachineState(config, dram)
    program = fetch(dram, insn_addr, insn_count, config)
    stats = Runner(state, program, **options).run()
    return state, stats


def run_image(image: ProgramImage, **options) -> tuple[MachineState, RunStats]:
    """Run a program image; return the final machine state and the run's counts.

    ``options``: flavor, check_races, strict, token_depth, tracer, progress (see Runner).
    """
    return run_program(image.config, image.make_dram(), image.insn_addr, image.insn_count,
                       **options)


def empty_dram(base: int, size: int) -> Dram:
    """Return a zeroed DRAM of ``size`` bytes at physical address ``base``."""
    return Dram(base, np.zeros(size, dtype=np.uint8))
