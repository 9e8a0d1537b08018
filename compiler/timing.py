"""An instruction-level timing model of the core (:mod:`vtaref.impl.core`): predicts a program's
cycles from its instruction stream and a few :class:`Timing` parameters.

The model follows what the RTL does, at the grain of instructions and DMA commands:

- fetch reads the instructions over the bus and dispatches them in program order, one per cycle,
  into each stage's instruction queue (``insn_queue_depth`` deep): a full queue stops fetch,
  whatever stage comes next;
- each stage (load, compute, store) runs its queue in order: it takes an instruction, pops its
  tokens (a pop waits for the matching push), executes it, then pushes its tokens (a push waits
  while its queue holds ``token_depth`` tokens);
- LOADs and STOREs move their rows as DMA commands (one per row, or one for a contiguous
  block): each command costs a fixed latency plus one cycle per bus beat, plus a cost per AXI
  burst (bursts end at 4 KiB boundaries and after 256 beats); zero-padding elements take a
  cycle each;
- the read channel is granted one burst at a time: a compute-stage (micro-op, accumulator) read
  waits behind at most the bursts of the load stage's command under way that were accepted
  before it, and delays that command's later bursts by its own beats; fetch's reads (a small
  share of the beats) do not take it from the stages;
- the compute stage issues GEMM and ALU to their unit (the other unit idle) and goes on, with a
  fixed cost plus a cycle per micro-op visit (an ALU visit with two operands may take more:
  ``alu_visit``); its micro-op and accumulator LOADs send their commands once both units are
  idle, and a LOAD of one element into every row (``x_stride == 0``, ``x_size == 1``) reads it
  once and writes a row per cycle.

:func:`predict` returns the total cycles and each stage's busy cycles. The parameters are fitted
to the RTL's counters (``benchmarks/timing_fit.py``); re-fit them when the RTL's timing changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from vtaref.spec import VtaConfig
from vtaref.spec.isa import Alu, Finish, Gemm, Insn, Load, MemType, Stage, Store
from vtaref.spec.pipeline import DEFAULT_TOKEN_DEPTH, NEXT, PREV
from vtaref.spec.state import element_formats

BOUNDARY_BYTES = 4096  # an AXI4 burst does not cross a 4 KiB boundary
MAX_BURST_BEATS = 256
READ_BURSTS = 4  # vtaref.impl.dma.READ_BURSTS: read bursts accepted before their data


@dataclass(frozen=True)
class Timing:
    """The model's parameters, in cycles; the defaults are fitted to the RTL at the default
    config (``benchmarks/timing_fit.py --fit``), the structure's sizes are the core's."""

    data_width: int = 64  # bits of the memory bus: one beat per cycle
    insn_queue_depth: int = 32  # vtaref.impl.core.INSN_QUEUE_DEPTH
    token_depth: int = DEFAULT_TOKEN_DEPTH
    read_command: int = 3  # a load-stage read command's latency before its first beat
    local_command: int = 0  # the same for a compute-stage (micro-op, accumulator) command
    write_command: int = 0  # a write command's latency, its response included
    burst: int = 0  # extra cycles per AXI burst
    load_insn: int = 1  # what an instruction costs its stage beyond its data and visits
    compute_insn: int = 4
    store_insn: int = 0
    gemm_insn: int = 4  # a GEMM's pipeline: from issue to its first write
    alu_insn: int = 3
    alu_visit: float = 1.0  # cycles per ALU micro-op visit
    fetch_command: int = 0  # a fetch read command's latency
    run_overhead: int = 12  # start and DONE

    @property
    def bus_bytes(self) -> int:
        return self.data_width // 8

    @property
    def insn_cycles(self) -> int:
        """Return the tile search's cost per instruction (:data:`.tiling.CYCLES_PER_INSN`):
        the GEMM or ALU pipeline, which the compute stage (a convolution's busiest) pays each
        time an instruction follows one on the other unit. Per-instruction costs of the other
        stages mostly overlap with it (the largest of them made ResNet-18's tilings 0.6 %
        slower under this model)."""
        return max(self.gemm_insn, self.alu_insn)


DEFAULT_TIMING = Timing()


def stage_of(insn: Insn) -> Stage:
    """Return the stage that runs ``insn`` (as fetch dispatches it)."""
    if isinstance(insn, Load) and insn.memory_type in (MemType.INP, MemType.WGT):
        return Stage.LOAD
    if isinstance(insn, Store):
        return Stage.STORE
    return Stage.COMPUTE


def command_bursts(addr: int, size: int, timing: Timing) -> list[int]:
    """Return the bus beats of each AXI burst of a DMA command of ``size`` bytes from ``addr``."""
    bus = timing.bus_bytes
    position, end = addr - addr % bus, -(-(addr + size) // bus) * bus
    bursts = []
    while position < end:
        span = min(end, (position // BOUNDARY_BYTES + 1) * BOUNDARY_BYTES,
                   position + MAX_BURST_BEATS * bus)
        bursts.append((span - position) // bus)
        position = span
    return bursts


def command_beats(addr: int, size: int, timing: Timing) -> tuple[int, int]:
    """Return the bus beats and AXI bursts of a DMA command of ``size`` bytes from ``addr``."""
    bursts = command_bursts(addr, size, timing)
    return sum(bursts), len(bursts)


def fetched_once(insn: Load) -> bool:
    """Return whether a compute-stage LOAD reads one DRAM element for every row (one element
    per row from one address: a bias broadcast), as :func:`vtaref.impl.compute.fetched_once`."""
    return insn.x_stride == 0 and insn.x_size == 1


def memory_commands(insn: Load | Store, config: VtaConfig, timing: Timing, *,
                    once: bool = False) -> list[list[int]]:
    """Return the bursts' beats of each DMA command of a LOAD or STORE: one command for
    contiguous rows (or, with ``once``, for the one element of a :func:`fetched_once` LOAD),
    else one per row."""
    if insn.x_size == 0 or insn.y_size == 0:
        return []
    elem = element_formats(config)[MemType(insn.memory_type)].bytes
    if insn.x_stride == insn.x_size or once:
        rows = 1 if once else insn.y_size
        return [command_bursts(insn.dram_base * elem, rows * insn.x_size * elem, timing)]
    return [command_bursts((insn.dram_base + y * insn.x_stride) * elem, insn.x_size * elem,
                           timing) for y in range(insn.y_size)]


def padding(insn: Load) -> int:
    """Return the zero elements a LOAD writes around its DRAM block."""
    if insn.x_size == 0:
        return 0
    rows = insn.y_pad_0 + insn.y_size + insn.y_pad_1
    columns = insn.x_pad_0 + insn.x_size + insn.x_pad_1
    return rows * columns - insn.y_size * insn.x_size


@dataclass
class Prediction:
    """The predicted cycles of a run and each stage's busy cycles (token waits included)."""

    cycles: float
    busy: dict[Stage, float]
    token_wait: dict[Stage, float]


class _Channel:
    """The DMA read channel, granted one burst at a time among its clients.

    The load stage's INP and WGT commands are the long transfers (``bulk``: each command's
    bursts, as (start, end) of their data, are kept); a short read (a compute-stage micro-op or
    accumulator LOAD) waits behind the bursts of the bulk command under way whose address was
    accepted before its own (at most :data:`READ_BURSTS`: the one on R and those queued), then
    goes, delaying the bulk bursts after it by its own cycles (a bulk command's end, once
    returned, stays: the delay shows in the commands after it)."""

    def __init__(self):
        self.free = 0.0  # when every beat reserved so far has moved
        self.bulk: list[list[list[float]]] = []  # the bulk commands' bursts not yet moved

    def bulk_read(self, ready: float, latency: float, bursts: list[float]) -> float:
        """Return when a load-stage command ready at ``ready`` has moved its ``bursts`` (each
        burst's cycles): after every beat reserved before it."""
        now = max(ready + latency, self.free)
        command = []
        for cycles in bursts:
            command.append([now, now + cycles])
            now += cycles
        if command:
            self.bulk.append(command)
        self.free = now
        return now

    def short_read(self, ready: float, latency: float, cycles: float) -> float:
        """Return when a short command ready at ``ready`` has moved its data (``cycles``)."""
        start = ready + latency
        self.bulk = [command for command in self.bulk if command[-1][1] > start]
        if start >= self.free:
            self.free = start + cycles
            return self.free
        if not self.bulk:  # only short reads ahead
            start = self.free
        else:
            ahead = [burst for burst in self.bulk[0] if burst[1] > start][:READ_BURSTS]
            if ahead[0][0] <= start:  # else it goes in the gap before the next command
                start = ahead[-1][1]
        for command in self.bulk:
            for burst in command:
                if burst[0] >= start:
                    burst[0] += cycles
                    burst[1] += cycles
        self.free += cycles
        return start + cycles


class _Units:
    """The compute stage's GEMM and ALU units and its accumulator/micro-op loader: when each
    is idle again."""

    def __init__(self):
        self.gemm = self.alu = self.loader = 0.0

    @property
    def settled(self) -> float:
        """Return when every write issued so far has landed."""
        return max(self.gemm, self.alu, self.loader)


def _load_reads(insn: Load, start: float, config: VtaConfig, timing: Timing,
                reads: _Channel) -> float:
    """Return when a load-stage LOAD begun at ``start`` has written its block: its commands
    one after another, each a bulk read, then its padding."""
    now = start
    for bursts in memory_commands(insn, config, timing):
        now = reads.bulk_read(now, timing.read_command, [beats + timing.burst
                                                         for beats in bursts])
    return now + padding(insn)


def _local_reads(insn: Load, start: float, config: VtaConfig, timing: Timing,
                 reads: _Channel) -> float:
    """Return when a compute-stage LOAD whose commands may go at ``start`` has written its
    block: its commands one after another, each a short read; a :func:`fetched_once` LOAD
    reads its element once and writes its rows one per cycle."""
    once = fetched_once(insn)
    now = start
    for bursts in memory_commands(insn, config, timing, once=once):
        now = reads.short_read(now, timing.local_command, sum(bursts) + timing.burst * len(bursts))
    return now + padding(insn) + (insn.y_size - 1 if once else 0)


def _execute(insn: Insn, stage: Stage, start: float, config: VtaConfig, timing: Timing,
             reads: _Channel, units: _Units) -> tuple[float, float]:
    """Return when the stage may take its next instruction after ``insn``, begun (tokens
    popped) at ``start``, and when ``insn``'s work is done (its pushes may go)."""
    if stage is Stage.LOAD:
        done = _load_reads(insn, start, config, timing, reads)
        return done, done
    if stage is Stage.STORE:
        now = start
        for bursts in memory_commands(insn, config, timing):
            now += timing.write_command + sum(bursts) + timing.burst * len(bursts)
        return now, now
    # Compute: GEMM and ALU are issued to their unit (the other unit idle) and leave the
    # stage at once; a LOAD's commands go once both units are idle (the stage waits for its
    # writes); pushes wait for every write.
    if isinstance(insn, Gemm):
        issue = max(start, units.gemm - timing.gemm_insn, units.alu)
        units.gemm = issue + timing.gemm_insn + insn.visit_count
        return issue + 1, units.settled
    if isinstance(insn, Alu):
        issue = max(start, units.alu - timing.alu_insn, units.gemm)
        units.alu = issue + timing.alu_insn + insn.visit_count * timing.alu_visit
        return issue + 1, units.settled
    if isinstance(insn, Load) and insn.x_size:
        units.loader = _local_reads(insn, max(start, units.settled), config, timing, reads)
        return units.loader, units.settled
    return start, units.settled


def predict(insns: list[Insn], config: VtaConfig, timing: Timing = DEFAULT_TIMING
            ) -> Prediction:
    """Return the predicted cycles of running ``insns`` on the core under ``timing``."""
    overhead = {Stage.LOAD: timing.load_insn, Stage.COMPUTE: timing.compute_insn,
                Stage.STORE: timing.store_insn}
    queues = {stage: [] for stage in Stage}
    for index, insn in enumerate(insns):
        queues[stage_of(insn)].append(index)
    rank = {index: k for stage in Stage for k, index in enumerate(queues[stage])}
    reads, units = _Channel(), _Units()
    # Fetch: instructions arrive in commands of up to 8, each a read command on the channel.
    insn_beats = max(1, config.ins_elem_bytes // timing.bus_bytes)
    dispatched = [0.0] * len(insns)
    taken = {stage: [] for stage in Stage}  # when each stage took each of its instructions
    pushes = {}  # (producer, consumer) -> push times
    pops = {}  # (producer, consumer) -> pop times
    free = dict.fromkeys(Stage, 0.0)
    busy = dict.fromkeys(Stage, 0.0)
    waits = dict.fromkeys(Stage, 0.0)
    next_dispatch, arrival, done, end = 0, 0.0, dict.fromkeys(Stage, 0), 0.0

    def advance_fetch() -> None:
        nonlocal next_dispatch, arrival
        while next_dispatch < len(insns):
            index = next_dispatch
            stage, k = stage_of(insns[index]), rank[index]
            ready = dispatched[index - 1] + 1 if index else 0.0
            if index % 8 == 0:
                chunk = min(8, len(insns) - index)
                arrival = ready + timing.fetch_command + chunk * insn_beats
            if k >= timing.insn_queue_depth:
                if len(taken[stage]) <= k - timing.insn_queue_depth:
                    return
                ready = max(ready, taken[stage][k - timing.insn_queue_depth] + 1)
            dispatched[index] = max(ready, arrival)
            next_dispatch += 1

    def pop_queues(stage: Stage, insn: Insn) -> list[tuple[Stage, Stage]]:
        result = []
        if insn.pop_prev_dep and stage in PREV:
            result.append((PREV[stage], stage))
        if insn.pop_next_dep and stage in NEXT:
            result.append((NEXT[stage], stage))
        return result

    def push_queues(stage: Stage, insn: Insn) -> list[tuple[Stage, Stage]]:
        result = []
        if insn.push_prev_dep and stage in PREV:
            result.append((stage, PREV[stage]))
        if insn.push_next_dep and stage in NEXT:
            result.append((stage, NEXT[stage]))
        return result

    while any(done[stage] < len(queues[stage]) for stage in Stage):
        advance_fetch()
        candidates = []  # (when it can begin, stage, index, when the stage took it)
        for stage in Stage:
            k = done[stage]
            if k == len(queues[stage]):
                continue
            index = queues[stage][k]
            if index >= next_dispatch:
                continue
            take = max(free[stage], dispatched[index] + 1)
            ready = take + 1
            blocked = False
            for queue in pop_queues(stage, insns[index]):
                j = len(pops.get(queue, ()))
                if j >= len(pushes.get(queue, ())):
                    blocked = True
                    break
                ready = max(ready, pushes[queue][j] + 1)
            if not blocked:
                candidates.append((ready, stage, index, take))
        if not candidates:
            raise ValueError("the timing model found the program deadlocked")
        ready, stage, index, take = min(candidates, key=lambda c: (c[0], c[1].value))
        insn = insns[index]
        taken[stage].append(take)
        for queue in pop_queues(stage, insn):
            pops.setdefault(queue, []).append(ready)
        following, finish = _execute(insn, stage, ready, config, timing, reads, units)
        following += overhead[stage]
        drains = bool(push_queues(stage, insn)) or isinstance(insn, Finish)
        finish = max(following, finish) if drains else following
        pushed = finish
        for queue in push_queues(stage, insn):
            times = pushes.setdefault(queue, [])
            k = len(times) - timing.token_depth
            popped = pops.get(queue, [])
            if 0 <= k < len(popped):  # a full queue: wait for that pop (one still to come
                pushed = max(pushed, popped[k] + 1)  # is not waited for: approximated)
            times.append(pushed)
        waits[stage] += (ready - take - 1) + (pushed - finish)
        busy[stage] += pushed - take
        free[stage] = pushed if drains else following
        done[stage] += 1
        end = max(end, pushed)
    return Prediction(end + timing.run_overhead, busy, waits)
