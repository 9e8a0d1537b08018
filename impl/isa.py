"""Amaranth views of VTA instructions and micro-ops, built from the spec's field tables.

Nothing here restates a width, an offset or an enum value: :func:`insn_layout` and
:func:`uop_layout` place every field exactly where :func:`vtaref.spec.isa.insn_layout` /
:func:`~vtaref.spec.isa.uop_layout` put it for the given config, so
``data.View(insn_layout(Gemm, config), raw)`` reads the bits :func:`vtaref.spec.isa.encode` wrote,
and the enums take their members from the spec's. The layouts are built when asked for; no file
is generated.

The C bit-field placement leaves gaps (a field that would straddle a 64-bit boundary starts at the
next one), so the layouts are :class:`~amaranth.lib.data.FlexibleLayout` with explicit offsets
rather than back-to-back structs.
"""

from __future__ import annotations

from enum import IntEnum
from functools import cache

from amaranth.hdl import signed, unsigned
from amaranth.lib import data, enum

from vtaref.spec import isa
from vtaref.spec.bitfields import BitField
from vtaref.spec.config import (
    ALU_OPCODE_BIT_WIDTH,
    INS_WIDTH,
    MEMOP_ID_BIT_WIDTH,
    OPCODE_BIT_WIDTH,
    UOP_WIDTH,
    VtaConfig,
)


def _from_spec(spec_enum: type[IntEnum], shape: int) -> type[enum.Enum]:
    """Return an Amaranth enum of ``shape`` bits with the members and values of ``spec_enum``."""
    name = spec_enum.__name__
    namespace = enum.EnumMeta.__prepare__(name, (enum.Enum,))
    namespace["__module__"] = __name__
    namespace["__qualname__"] = name
    namespace["__doc__"] = f"The spec's :class:`vtaref.spec.isa.{name}` in {shape} bits."
    for member in spec_enum:
        namespace[member.name] = member.value
    return enum.EnumMeta(name, (enum.Enum,), namespace, shape=shape)


Opcode = _from_spec(isa.Opcode, OPCODE_BIT_WIDTH)
MemType = _from_spec(isa.MemType, MEMOP_ID_BIT_WIDTH)
AluOp = _from_spec(isa.AluOp, ALU_OPCODE_BIT_WIDTH)

# Fields whose values are enumerations get the enum as their shape.
ENUM_FIELDS = {"opcode": Opcode, "memory_type": MemType, "alu_opcode": AluOp}


def field_shape(field: BitField):
    """Return the Amaranth shape of one placed spec field (its enum, signed or unsigned)."""
    if field.name in ENUM_FIELDS:
        return ENUM_FIELDS[field.name]
    return signed(field.width) if field.signed else unsigned(field.width)


def layout_of(fields: list[BitField], size: int) -> data.FlexibleLayout:
    """Return a ``size``-bit layout with each spec field at its offset, in its shape."""
    return data.FlexibleLayout(size, {f.name: data.Field(field_shape(f), f.offset)
                                      for f in fields})


@cache
def insn_layout(cls: type[isa.Insn], config: VtaConfig) -> data.FlexibleLayout:
    """Return the 128-bit layout of instruction class ``cls`` (e.g. ``isa.Gemm``)."""
    return layout_of(isa.insn_layout(cls, config), INS_WIDTH)


@cache
def generic_layout(config: VtaConfig) -> data.FlexibleLayout:
    """Return the fields every instruction shares: the opcode and the four dependency flags.

    Decoding starts here: read ``opcode`` and the flags, then view the same bits through the
    opcode's own :func:`insn_layout`.
    """
    return layout_of(isa.insn_layout(isa.Insn, config), INS_WIDTH)


@cache
def uop_layout(config: VtaConfig) -> data.FlexibleLayout:
    """Return the 32-bit layout of a micro-op."""
    return layout_of(isa.uop_layout(config), UOP_WIDTH)
