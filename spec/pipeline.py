"""The pipeline's fixed facts: its three stages, the token queues that link them, their depth.

The load, compute and store stages (:class:`Stage`) sit in a line. Each pair of adjacent stages
is linked by two token queues, one each way; load and store share no queue. An instruction pops
from or pushes to a queue through its four dependency flags: ``*_prev_dep`` names the queue to
or from the previous stage, ``*_next_dep`` the one to or from the next stage.
"""

from __future__ import annotations

from functools import cache

from .isa import Insn, Load, MemType, Stage, Store

__all__ = [
    "ADJACENT", "BUFFER_STAGES", "DEFAULT_TOKEN_DEPTH", "DEP_FLAGS", "NEXT", "NOPS", "PREV",
    "QUEUES", "Stage", "flag_queue", "pop_flag", "push_flag", "token_queue_name",
]

# Token queue depth checked by default: the smallest TVM-VTA declares (STREAM_IN_DEPTH = 8 in
# the HLS sources; its Vivado build uses 1024-deep FIFOs and the Chisel design 8-bit counters).
DEFAULT_TOKEN_DEPTH = 8

PREV = {Stage.COMPUTE: Stage.LOAD, Stage.STORE: Stage.COMPUTE}
NEXT = {Stage.LOAD: Stage.COMPUTE, Stage.COMPUTE: Stage.STORE}
# The stages each stage exchanges tokens with.
ADJACENT = {stage: tuple(s for s in (PREV.get(stage), NEXT.get(stage)) if s is not None)
            for stage in Stage}
# The four token queues, as (producer, consumer).
QUEUES = tuple((producer, consumer) for producer in Stage for consumer in ADJACENT[producer])

# The dependency flags of every instruction, pops first.
DEP_FLAGS = ("pop_prev_dep", "pop_next_dep", "push_prev_dep", "push_next_dep")

# Which stages may touch each scratchpad (fsim flavor; every other pair is ordered by program
# order within a stage).
BUFFER_STAGES = {
    "inp": (Stage.LOAD, Stage.COMPUTE),
    "wgt": (Stage.LOAD, Stage.COMPUTE),
    "acc": (Stage.COMPUTE, Stage.STORE),
    "out": (Stage.COMPUTE, Stage.STORE),
    "uop": (Stage.COMPUTE,),
}

# Instructions that do nothing but carry dependency flags (``x_size == 0``), one per stage.
NOPS: dict[Stage, Insn] = {
    Stage.LOAD: Load(memory_type=MemType.INP),
    Stage.COMPUTE: Load(memory_type=MemType.UOP),
    Stage.STORE: Store(memory_type=MemType.OUT),
}


def push_flag(producer: Stage, consumer: Stage) -> str:
    """Return the flag with which a ``producer`` instruction pushes a token to ``consumer``."""
    return "push_next_dep" if NEXT.get(producer) == consumer else "push_prev_dep"


def pop_flag(consumer: Stage, producer: Stage) -> str:
    """Return the flag with which a ``consumer`` instruction pops a token from ``producer``."""
    return "pop_prev_dep" if PREV.get(consumer) == producer else "pop_next_dep"


@cache
def flag_queue(stage: Stage, flag: str) -> tuple[Stage, Stage] | None:
    """Return the (producer, consumer) queue a ``stage`` instruction's ``flag`` pops or pushes,
    or None when the stage has no neighbour on that side."""
    other = (PREV if flag.endswith("prev_dep") else NEXT).get(stage)
    if other is None:
        return None
    return (other, stage) if flag.startswith("pop") else (stage, other)


@cache
def token_queue_name(producer: Stage, consumer: Stage) -> str:
    """Return a queue's name as errors, traces and statistics print it, e.g. ``load->compute``."""
    return f"{producer.name.lower()}->{consumer.name.lower()}"
