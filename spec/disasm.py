"""A readable listing of a program: one line per instruction, fields named as in hw_spec.h."""

from __future__ import annotations

from .config import VtaConfig
from .isa import INSN_BYTES, Alu, AluOp, DecodeError, Insn, MemInsn, MemType, decode

_DEPS = (("pop_prev_dep", "pop_prev"), ("pop_next_dep", "pop_next"),
         ("push_prev_dep", "push_prev"), ("push_next_dep", "push_next"))


def _name(enum, value: int) -> str:
    try:
        return enum(value).name
    except ValueError:
        return f"?{value}"


def format_insn(insn: Insn) -> str:
    """Return ``MNEMONIC stage operands [deps]`` for one decoded instruction."""
    head = insn.MNEMONIC
    values = insn.fields()
    del values["opcode"]
    deps = [short for flag, short in _DEPS if values.pop(flag)]
    if isinstance(insn, MemInsn):
        head += f".{_name(MemType, values.pop('memory_type'))}"
    if isinstance(insn, Alu):
        head += f".{_name(AluOp, values.pop('alu_opcode'))}"
        if not values.pop("use_imm"):
            values.pop("imm")
    operands = " ".join(f"{key}={value}" for key, value in values.items())
    text = f"{head:<14} {insn.stage.name.lower():<8} {operands}"
    return text + (f"  [{', '.join(deps)}]" if deps else "")


def disassemble(raw: bytes, config: VtaConfig, first_address: int = 0) -> list[str]:
    """Return one listing line per 16-byte instruction in ``raw``; undecodable ones say why."""
    lines = []
    for index in range(len(raw) // INSN_BYTES):
        chunk = raw[index * INSN_BYTES:(index + 1) * INSN_BYTES]
        address = first_address + index * INSN_BYTES
        try:
            text = format_insn(decode(chunk, config))
        except DecodeError as err:
            text = f"<invalid: {err}> raw={chunk.hex()}"
        lines.append(f"{index:6d} {address:#010x}  {text}")
    return lines
