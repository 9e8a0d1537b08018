"""Amaranth views of VTA instructions and micro-ops, built from the spec's field tables.

Nothing here restates a width or an offset: :func:`insn_layout` and :func:`uop_layout` place every
field exactly where :func:`vtaref.spec.isa.insn_layout` / :func:`~vtaref.spec.isa.uop_layout` put
it for the given config, so ``data.View(insn_layout(Gemm, config), raw)`` reads the bits
:func:`vtaref.spec.isa.encode` wrote. The layouts are built when asked for; no file is generated.

The C bit-field placement leaves gaps (a field that would straddle a 64-bit boundary starts at the
next one), so the layouts are :class:`~amaranth.lib.data.FlexibleLayout` with explicit offsets
rather than back-to-back structs.
"""

from __future__ import annotations

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


class Opcode(enum.Enum, shape=OPCODE_BIT_WIDTH):
    """The instruction opcode (same values as :class:`vtaref.spec.isa.Opcode`)."""

    LOAD = isa.Opcode.LOAD.value
    STORE = isa.Opcode.STORE.value
    GEMM = isa.Opcode.GEMM.value
    FINISH = isa.Opcode.FINISH.value
    ALU = isa.Opcode.ALU.value


class MemType(enum.Enum, shape=MEMOP_ID_BIT_WIDTH):
    """The memory type of a LOAD or STORE (same values as :class:`vtaref.spec.isa.MemType`)."""

    UOP = isa.MemType.UOP.value
    WGT = isa.MemType.WGT.value
    INP = isa.MemType.INP.value
    ACC = isa.MemType.ACC.value
    OUT = isa.MemType.OUT.value
    ACC_8BIT = isa.MemType.ACC_8BIT.value


class AluOp(enum.Enum, shape=ALU_OPCODE_BIT_WIDTH):
    """The ALU operation (same values as :class:`vtaref.spec.isa.AluOp`)."""

    MIN = isa.AluOp.MIN.value
    MAX = isa.AluOp.MAX.value
    ADD = isa.AluOp.ADD.value
    SHR = isa.AluOp.SHR.value
    MUL = isa.AluOp.MUL.value


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
