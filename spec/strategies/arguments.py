"""The arguments of the random-program actions (:mod:`.actions`), each drawn as one byte string.

Hypothesis's shrinker deletes a step of a state machine only when the step is a few choices
long (it deletes runs of at most five choices at a time), so an action draws all its values as
a single byte string, read field by field into a small frozen dataclass: one byte per small
field, scaled so that a smaller byte never gives a larger value and byte 0 gives the simplest
one. The shrinker lowers each byte on its own, so a shrunk step keeps only the values its
failure needs, and prints them alone: the dataclasses print only the fields that differ from
their defaults, e.g. ``Tile(y=2, stride=3)``.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from hypothesis import strategies as st

from ..isa import AluOp, Stage
from ..pipeline import ADJACENT

__all__ = ["OPERANDS", "AluLoop", "Kernel", "Loop", "Nop", "Rows", "Sync", "Tile", "alu_loops",
           "loops", "nops", "rows", "tiles"]

T = TypeVar("T")


class _Reader:
    """Reads field values from a byte string, one byte per small field."""

    def __init__(self, data: bytes):
        self.data = data
        self.used = 0

    def byte(self) -> int:
        value = self.data[self.used]
        self.used += 1
        return value

    def integer(self, low: int, high: int) -> int:
        """Return an integer in [low, high], ``low`` for byte 0."""
        return low + self.byte() * (high - low + 1) // 256

    def rare(self, odds: int) -> bool:
        """Return True for the largest of every ``odds`` byte values (False for byte 0)."""
        return self.byte() >= 256 - 256 // odds

    def choice(self, options: Sequence[T]) -> T:
        return options[self.integer(0, len(options) - 1)]

    def word(self, count: int) -> int:
        """Return the unsigned integer of the next ``count`` bytes, most significant first."""
        value = 0
        for _ in range(count):
            value = value << 8 | self.byte()
        return value

    def signed(self, count: int) -> int:
        """Return a signed integer from ``count`` bytes: 0, -1, 1, -2, 2, ... as they grow."""
        value = self.word(count)
        return -((value + 1) >> 1) if value & 1 else value >> 1


def _drawn(read: Callable[[_Reader], T]) -> st.SearchStrategy[T]:
    """Draw what ``read`` reads, from one byte string of the length it reads (it must read the
    same number of bytes whatever they hold)."""
    probe = _Reader(bytes(256))
    read(probe)
    size = probe.used
    return st.binary(min_size=size, max_size=size).map(lambda data: read(_Reader(data)))


class _Compact:
    """A dataclass that prints only the fields that differ from their defaults."""

    def __repr__(self) -> str:
        shown = []
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value != field.default:
                text = (f"{type(value).__name__}.{value.name}" if isinstance(value, enum.Enum)
                        else repr(value))
                shown.append(f"{field.name}={text}")
        return f"{type(self).__name__}({', '.join(shown)})"

    def _repr_pretty_(self, printer, cycle) -> None:  # Hypothesis's pretty printer
        printer.text(repr(self))


@dataclass(frozen=True, repr=False)
class Sync(_Compact):
    """An extra dependency token: the instruction also waits for the instruction of the
    neighbour stage ``after`` that is ``back`` places before that stage's latest one. Ignored
    when ``after`` is not a neighbour of the instruction's stage or has no instruction yet."""

    after: Stage
    back: int = 0

    @classmethod
    def read(cls, reader: _Reader, stages: Sequence[Stage]) -> Sync | None:
        """Read None mostly, once in 6 a Sync after one of ``stages``."""
        present, after, back = reader.rare(6), reader.choice(stages), reader.integer(0, 3)
        return cls(after, back) if present else None


@dataclass(frozen=True, repr=False)
class Tile(_Compact):
    """A LOAD: ``y`` rows (0 once in 10: padding only) of ``x`` elements, rows ``stride``
    elements apart in DRAM, padded by ``pads`` (y0, y1, x0, x1), written at ``offset`` in slot
    ``slot`` of its scratchpad (all cut to fit the slot); fresh data comes from the random
    ``seed``; ``sync`` adds a dependency."""

    slot: int = 0
    y: int = 1
    x: int = 1
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    offset: int = 0
    stride: int = 0
    seed: int = 0
    sync: Sync | None = None

    @classmethod
    def read(cls, reader: _Reader, stage: Stage) -> Tile:
        slot, padding_only, y, x = (reader.integer(0, 3), reader.rare(10), reader.integer(1, 3),
                                    reader.integer(1, 4))
        pads = tuple(reader.integer(0, 2) for _ in range(4))
        offset, stride, seed = reader.integer(0, 15), reader.integer(0, 6), reader.word(4)
        return cls(slot, 0 if padding_only else y, x, pads, offset, stride, seed,
                   Sync.read(reader, ADJACENT[stage]))


@dataclass(frozen=True, repr=False)
class Kernel(_Compact):
    """How a GEMM or ALU's uops are loaded: from ``rows`` rows in DRAM (2 only for 2 uops)
    with ``gap`` unused uops between them, or from one row zero-padded by ``pads`` (y0, y1, x0,
    x1, cut to fit the uop region)."""

    rows: int = 1
    gap: int = 0
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)

    @classmethod
    def read(cls, reader: _Reader) -> Kernel:
        shape, gap = reader.integer(0, 2), reader.integer(0, 2)
        pads = (reader.integer(0, 1), reader.integer(0, 1), reader.integer(0, 2),
                reader.integer(0, 2))
        return (cls(), cls(rows=2, gap=gap), cls(pads=pads))[shape]


# The operands of a uop, in Uop field order.
OPERANDS = ("dst", "src", "wgt")


@dataclass(frozen=True, repr=False)
class Loop(_Compact):
    """A GEMM's loop: ``iter_out`` x ``iter_in`` visits of its ``uops``; per operand (dst, src,
    wgt) the index steps per outer and inner iteration (taken as 0 where they would leave the
    operand's block); each uop picks, per operand (a bare pick for a single operand), the
    how-many-th of the indices from which the loop stays inside the block (the last if there
    are fewer); how the uops are loaded; ``sync`` adds a dependency."""

    uops: tuple = (0,)
    iter_out: int = 1
    iter_in: int = 1
    dst: tuple[int, int] = (0, 0)
    src: tuple[int, int] = (0, 0)
    wgt: tuple[int, int] = (0, 0)
    kernel: Kernel = Kernel()
    sync: Sync | None = None


@dataclass(frozen=True, repr=False)
class AluLoop(Loop):
    """An ALU's loop (:class:`Loop`) and its ``op`` (always printed), with the immediate
    ``imm`` (``alu``; ``alu_vector`` reads a second block instead): in [-64, 63] half the time,
    else any signed 16-bit value."""

    op: AluOp | None = None
    imm: int = 0


def _loop_fields(reader: _Reader, operands: int) -> dict:
    """Read the fields of a :class:`Loop` whose uops have ``operands`` operands."""
    count = reader.integer(1, 3)
    picks = [tuple(reader.integer(0, 15) for _ in range(operands)) for _ in range(3)]
    fields = {"uops": tuple(pick if operands > 1 else pick[0] for pick in picks[:count]),
              "iter_out": reader.integer(1, 3), "iter_in": reader.integer(1, 3)}
    for operand in OPERANDS[:operands]:
        fields[operand] = (reader.integer(0, 2), reader.integer(0, 2))
    return {**fields, "kernel": Kernel.read(reader),
            "sync": Sync.read(reader, ADJACENT[Stage.COMPUTE])}


@dataclass(frozen=True, repr=False)
class Nop(_Compact):
    """An ``x_size == 0`` instruction of ``stage`` (it only moves tokens); ``sync`` adds a
    dependency."""

    stage: Stage = Stage.LOAD
    sync: Sync | None = None

    @classmethod
    def read(cls, reader: _Reader) -> Nop:
        stage = reader.choice(list(Stage))
        return cls(stage, Sync.read(reader, ADJACENT[stage]))


@dataclass(frozen=True, repr=False)
class Rows(_Compact):
    """A STORE: ``y`` rows of ``x`` consecutive accumulator elements from ``offset`` in its
    block (fewer rows or columns if the block has no such run), rows ``max(stride, x)``
    elements apart in DRAM; to fresh DRAM, or with ``over`` over the data of an earlier INP load
    (the ``over``-th of those large enough); ``sync`` adds a dependency."""

    y: int = 1
    x: int = 1
    stride: int = 1
    offset: int = 0
    over: int | None = None
    sync: Sync | None = None

    @classmethod
    def read(cls, reader: _Reader) -> Rows:
        y, x, stride, offset = (reader.integer(1, 2), reader.integer(1, 3), reader.integer(1, 5),
                                reader.integer(0, 15))
        over = reader.integer(-4, 3)
        return cls(y, x, stride, offset, over if over >= 0 else None,
                   Sync.read(reader, ADJACENT[Stage.STORE]))


def nops() -> st.SearchStrategy[Nop]:
    """Draw the :class:`Nop` of a no-op."""
    return _drawn(Nop.read)


def tiles(stage: Stage) -> st.SearchStrategy[Tile]:
    """Draw a :class:`Tile` for a LOAD that runs in ``stage``."""
    return _drawn(lambda reader: Tile.read(reader, stage))


def loops(operands: int) -> st.SearchStrategy[Loop]:
    """Draw the :class:`Loop` of a GEMM with ``operands`` operands (1: with reset)."""
    return _drawn(lambda reader: Loop(**_loop_fields(reader, operands)))


def alu_loops(ops: Sequence[AluOp], vector: bool) -> st.SearchStrategy[AluLoop]:
    """Draw the :class:`AluLoop` of an ALU op from ``ops``, with a vector operand (two
    operands) or an immediate."""
    def read(reader: _Reader) -> AluLoop:
        fields = _loop_fields(reader, 2 if vector else 1)
        op, small = reader.choice(ops), not reader.rare(2)
        imm = reader.signed(2)
        if small:
            imm = (imm + 64) % 128 - 64
        return AluLoop(**fields, op=op, imm=0 if vector else imm)

    return _drawn(read)


def rows() -> st.SearchStrategy[Rows]:
    """Draw the :class:`Rows` of a STORE."""
    return _drawn(Rows.read)
