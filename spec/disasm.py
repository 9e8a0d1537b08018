"""A readable listing of a program: one line per instruction, fields named as in hw_spec.h."""

from __future__ import annotations

from .config import VtaConfig
from .image import ProgramImage
from .isa import INSN_BYTES, Alu, AluOp, DecodeError, Insn, MemInsn, MemType, decode

MARK = "=>"  # marks the instruction an excerpt is about

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


def disassemble(raw: bytes, config: VtaConfig, first_address: int = 0,
                first_index: int = 0) -> list[str]:
    """Return one listing line per 16-byte instruction in ``raw``; undecodable ones say why.

    Each line starts with the instruction's program index, counted from ``first_index``, and
    its address, counted from ``first_address``.
    """
    lines = []
    for offset in range(len(raw) // INSN_BYTES):
        chunk = raw[offset * INSN_BYTES:(offset + 1) * INSN_BYTES]
        address = first_address + offset * INSN_BYTES
        try:
            text = format_insn(decode(chunk, config))
        except DecodeError as err:
            text = f"<invalid: {err}> raw={chunk.hex()}"
        lines.append(f"{first_index + offset:6d} {address:#010x}  {text}")
    return lines


def disassemble_image(image: ProgramImage, start: int = 0, stop: int | None = None) -> list[str]:
    """Return the listing of instructions ``start`` to ``stop`` (exclusive; default: to the
    end) of the program in ``image``."""
    stop = image.insn_count if stop is None else min(stop, image.insn_count)
    address = image.insn_addr + start * INSN_BYTES
    first = address - image.dram_base
    raw = image.dram[first:first + (stop - start) * INSN_BYTES]
    return disassemble(raw, image.config, address, start)


def marked_excerpt(image: ProgramImage, index: int, before: int = 8, after: int = 2) -> list[str]:
    """Return the listing of ``image``'s program from ``before`` instructions ahead of
    instruction ``index`` to ``after`` past it, that instruction's line marked ``=>`` and the
    others indented alike, with a line counting the instructions left out at either end."""
    start, stop = max(0, index - before), min(image.insn_count, index + after + 1)
    blank = " " * len(MARK)
    lines = [f"{MARK if number == index else blank} {line}"
             for number, line in enumerate(disassemble_image(image, start, stop), start)]
    if start:
        lines.insert(0, f"{blank} {_count(start)} before")
    if stop < image.insn_count:
        lines.append(f"{blank} {_count(image.insn_count - stop)} after")
    return lines


def _count(instructions: int) -> str:
    return f"... {instructions} instruction{'' if instructions == 1 else 's'}"
