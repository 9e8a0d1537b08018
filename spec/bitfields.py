"""C bit-field layout as GCC lays it out on x86-64, and packing of values into such layouts.

A struct of bit-fields whose declared type is ``unit`` bits wide (``uint64_t``: 64) is filled from
bit 0 upward in declaration order; a field that would straddle a ``unit``-bit boundary starts at
the next boundary instead.

Widths, offsets, values and words may be symbolic integers (z3 bit-vectors, see
:mod:`.symbolic`) as well as ints: :mod:`vtaref.proofs.smt` proves these functions a bijection
for every configuration by running them on such terms.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from .symbolic import choose


@dataclass(frozen=True)
class BitField:
    """One placed field: ``width`` bits from bit ``offset``; signed means two's complement."""

    name: str
    offset: int
    width: int
    signed: bool = False

    @cached_property
    def mask(self) -> int:
        return (1 << self.width) - 1

    @property
    def low(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def high(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else self.mask


def place(specs: list[tuple[str, int, bool]], unit: int) -> tuple[list[BitField], int]:
    """Place ``(name, width, signed)`` fields; return the fields and the bits used.

    Raises ValueError for a field wider than its unit or narrower than one bit.
    Symbolic widths are not checked: their range is the caller's to constrain.
    """
    placed, offset = [], 0
    for name, width, signed in specs:
        if isinstance(width, int) and not 1 <= width <= unit:
            raise ValueError(f"field {name} has width {width}, outside [1, {unit}]")
        room = unit - offset % unit  # bits left in the current unit
        offset = choose(width > room, offset + room, offset)
        placed.append(BitField(name, offset, width, signed))
        offset += width
    return placed, offset


def pack(layout: list[BitField], values: dict[str, int]) -> int:
    """Pack field values into an integer; a value outside its field's range raises ValueError."""
    for field in layout:
        value = values[field.name]
        if not field.low <= value <= field.high:
            raise ValueError(f"{field.name}={value} outside [{field.low}, {field.high}]")
    return join(layout, values)


def join(layout: list[BitField], values: dict[str, int]) -> int:
    """Return the word holding each field's value (in its range, unchecked) at its place."""
    word = 0
    for field in layout:
        word |= (values[field.name] & field.mask) << field.offset
    return word


def unpack(layout: list[BitField], word: int) -> dict[str, int]:
    """Extract every field of ``layout`` from an integer, sign-extending signed fields."""
    values = {}
    for field in layout:
        value = (word >> field.offset) & field.mask
        if field.signed:  # minus 2**width when the sign bit is set
            value -= (value >> (field.width - 1)) << field.width
        values[field.name] = value
    return values
