"""The VTA instruction set: opcodes, decoded instructions and micro-ops, and their bit encodings.

Each instruction class lists its fields in the order of TVM-VTA's ``hw_spec.h`` structs, with the
field's width as a rule over the config. That single table gives the 128-bit encoding (via
:mod:`bitfields`), decoding, and anything else that needs the layout (disassembly, RTL structs).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from functools import cache
from typing import TYPE_CHECKING, ClassVar

from . import bitfields
from .config import (
    ALU_OPCODE_BIT_WIDTH,
    ALUOP_IMM_BIT_WIDTH,
    INS_WIDTH,
    LOOP_ITER_WIDTH,
    MEMOP_DRAM_ADDR_BIT_WIDTH,
    MEMOP_ID_BIT_WIDTH,
    MEMOP_PAD_BIT_WIDTH,
    MEMOP_SIZE_BIT_WIDTH,
    MEMOP_SRAM_ADDR_BIT_WIDTH,
    MEMOP_STRIDE_BIT_WIDTH,
    OPCODE_BIT_WIDTH,
    UOP_WIDTH,
)
from .errors import ConfigError

if TYPE_CHECKING:
    from .config import VtaConfig

INSN_BYTES = INS_WIDTH // 8
UOP_BYTES = UOP_WIDTH // 8


class Opcode(enum.IntEnum):
    LOAD = 0
    STORE = 1
    GEMM = 2
    FINISH = 3
    ALU = 4


class MemType(enum.IntEnum):
    UOP = 0
    WGT = 1
    INP = 2
    ACC = 3
    OUT = 4
    ACC_8BIT = 5


class AluOp(enum.IntEnum):
    MIN = 0
    MAX = 1
    ADD = 2
    SHR = 3
    MUL = 4


class Stage(enum.IntEnum):
    """The three task-level modules, in the order the paper draws them."""

    LOAD = 0
    COMPUTE = 1
    STORE = 2


Width = int | Callable[["VtaConfig"], int]


def bits(width: Width, *, signed: bool = False, default: int = 0):
    """Declare an instruction field of ``width`` bits (a constant or a rule over the config)."""
    return field(default=default, metadata={"width": width, "signed": signed})


def factor(target: str):
    """Declare a loop factor of index ``target``, as wide as the scratchpad address it steps.

    The scratchpad is the instruction class's ``BUFFERS[target]`` (see :class:`LoopInsn`).
    """
    return field(default=0, metadata={"width": None, "index": target, "signed": False})


def _width(f, config: VtaConfig, cls: type | None = None) -> int:
    if "index" in f.metadata:
        return getattr(config, f"log_{cls.BUFFERS[f.metadata['index']]}_buff_depth")
    width = f.metadata["width"]
    return width if isinstance(width, int) else width(config)


@dataclass(frozen=True)
class Insn:
    """Fields every instruction shares (``VTAGenericInsn``): the dependency-token flags.

    ``prev`` and ``next`` are relative to the issuing stage in the pipeline load -> compute ->
    store: compute's prev is load and its next is store.
    """

    OPCODE: ClassVar[Opcode]
    MNEMONIC: ClassVar[str]
    pop_prev_dep: int = bits(1)
    pop_next_dep: int = bits(1)
    push_prev_dep: int = bits(1)
    push_next_dep: int = bits(1)

    @property
    def opcode(self) -> Opcode:
        return self.OPCODE

    @property
    def stage(self) -> Stage:
        """Return the module fetch dispatches this instruction to."""
        return Stage.COMPUTE

    def fields(self) -> dict[str, int]:
        """Return the field values in encoding order, opcode first."""
        values = {"opcode": int(self.OPCODE)}
        values.update((f.name, getattr(self, f.name)) for f in fields(self))
        return values

    def with_deps(self, **deps: int) -> Insn:
        """Return a copy with some dependency flags changed."""
        return replace(self, **deps)


@dataclass(frozen=True)
class MemInsn(Insn):
    """LOAD and STORE (``VTAMemInsn``): a 2D strided transfer with zero padding.

    ``dram_base``, ``x_size`` and ``x_stride`` count elements of ``memory_type``; ``sram_base``
    counts scratchpad elements.
    """

    memory_type: int = bits(MEMOP_ID_BIT_WIDTH)
    sram_base: int = bits(MEMOP_SRAM_ADDR_BIT_WIDTH)
    dram_base: int = bits(MEMOP_DRAM_ADDR_BIT_WIDTH)
    y_size: int = bits(MEMOP_SIZE_BIT_WIDTH)
    x_size: int = bits(MEMOP_SIZE_BIT_WIDTH)
    x_stride: int = bits(MEMOP_STRIDE_BIT_WIDTH)
    y_pad_0: int = bits(MEMOP_PAD_BIT_WIDTH)
    y_pad_1: int = bits(MEMOP_PAD_BIT_WIDTH)
    x_pad_0: int = bits(MEMOP_PAD_BIT_WIDTH)
    x_pad_1: int = bits(MEMOP_PAD_BIT_WIDTH)


@dataclass(frozen=True)
class Load(MemInsn):
    OPCODE = Opcode.LOAD
    MNEMONIC = "LOAD"

    @property
    def stage(self) -> Stage:
        # INP and WGT loads go to the load module; UOP and ACC loads are done by compute.
        if self.memory_type in (MemType.INP, MemType.WGT):
            return Stage.LOAD
        return Stage.COMPUTE


@dataclass(frozen=True)
class Store(MemInsn):
    OPCODE = Opcode.STORE
    MNEMONIC = "STORE"

    @property
    def stage(self) -> Stage:
        return Stage.STORE


@dataclass(frozen=True)
class LoopInsn(Insn):
    """GEMM and ALU (the head of ``VTAGemInsn`` and ``VTAAluInsn``): a two-level micro-op loop.

    The loop is ``for o in iter_out: for i in iter_in: for u in [uop_bgn, uop_end)``. Each visit
    carries one scratchpad index per name in ``BUFFERS`` (``dst``, ``src`` and, for GEMM,
    ``wgt``): index ``t`` is :func:`visit_index`, ``uop[u].<t>_idx + o * <t>_factor_out +
    i * <t>_factor_in``, into scratchpad ``BUFFERS[t]``. A factor is as wide as that
    scratchpad's address, so GEMM's ``src`` factors (INP) and ALU's (ACC) differ in width.
    """

    BUFFERS: ClassVar[dict[str, str]]  # index name -> the scratchpad it addresses
    reset_reg: int = bits(1)
    uop_bgn: int = bits(lambda c: c.log_uop_buff_depth)
    uop_end: int = bits(lambda c: c.log_uop_buff_depth + 1)
    iter_out: int = bits(LOOP_ITER_WIDTH)
    iter_in: int = bits(LOOP_ITER_WIDTH)
    dst_factor_out: int = factor("dst")
    dst_factor_in: int = factor("dst")
    src_factor_out: int = factor("src")
    src_factor_in: int = factor("src")

    @property
    def visit_count(self) -> int:
        """Return how many uop visits the loop makes (0 for an empty or reversed uop range)."""
        return self.iter_out * self.iter_in * max(0, self.uop_end - self.uop_bgn)

    @property
    def is_empty(self) -> bool:
        """Return whether the loop visits nothing (a zero count or ``uop_end <= uop_bgn``)."""
        return self.visit_count == 0


def visit_index(loop, target: str, uop_idx, outer, inner):
    """Return index ``target`` of a visit: ``uop_idx + outer * <target>_factor_out + inner *
    <target>_factor_in``.

    ``uop_idx`` is the micro-op's ``<target>_idx`` field; ``loop`` is anything with the factor
    fields as attributes (a :class:`LoopInsn`, an RTL view of one). The arguments may be ints,
    numpy arrays or Amaranth values.
    """
    return (uop_idx + outer * getattr(loop, f"{target}_factor_out")
            + inner * getattr(loop, f"{target}_factor_in"))


@dataclass(frozen=True)
class Gemm(LoopInsn):
    """GEMM (``VTAGemInsn``): ``acc[dst] += inp[src] . wgt[wgt]^T`` over a two-level uop loop."""

    OPCODE = Opcode.GEMM
    MNEMONIC = "GEMM"
    BUFFERS = {"dst": "acc", "src": "inp", "wgt": "wgt"}
    wgt_factor_out: int = factor("wgt")
    wgt_factor_in: int = factor("wgt")

    def macs(self, config: VtaConfig) -> int:
        """Return the multiply-accumulates the instruction makes (none with ``reset_reg``)."""
        if self.reset_reg:
            return 0
        return self.visit_count * config.batch * config.block_in * config.block_out


@dataclass(frozen=True)
class Alu(LoopInsn):
    """ALU (``VTAAluInsn``): ``acc[dst] = op(acc[dst], acc[src] or imm)`` over a uop loop."""

    OPCODE = Opcode.ALU
    MNEMONIC = "ALU"
    BUFFERS = {"dst": "acc", "src": "acc"}
    alu_opcode: int = bits(ALU_OPCODE_BIT_WIDTH)
    use_imm: int = bits(1)
    imm: int = bits(ALUOP_IMM_BIT_WIDTH, signed=True)


@dataclass(frozen=True)
class Finish(Insn):
    """FINISH: raises the done flag once every earlier compute instruction has run."""

    OPCODE = Opcode.FINISH
    MNEMONIC = "FINISH"


@dataclass(frozen=True)
class Uop:
    """A micro-op (``VTAUop``). ``src_idx`` indexes INP for GEMM and ACC for ALU."""

    dst_idx: int = bits(lambda c: c.log_acc_buff_depth)
    src_idx: int = bits(lambda c: c.uop_src_idx_width)
    wgt_idx: int = bits(lambda c: c.log_wgt_buff_depth)


INSN_CLASSES: dict[Opcode, type[Insn]] = {
    cls.OPCODE: cls for cls in (Load, Store, Gemm, Finish, Alu)
}


def _insn_specs(cls: type[Insn], config: VtaConfig) -> list[tuple[str, int, bool]]:
    specs = [("opcode", OPCODE_BIT_WIDTH, False)]
    return specs + [(f.name, _width(f, config, cls), f.metadata["signed"])
                    for f in fields(cls)]


def _uop_specs(config: VtaConfig) -> list[tuple[str, int, bool]]:
    return [(f.name, _width(f, config), False) for f in fields(Uop)]


@cache
def insn_layout(cls: type[Insn], config: VtaConfig) -> list[bitfields.BitField]:
    """Return the placed bit-fields of instruction class ``cls`` under ``config``."""
    return bitfields.place(_insn_specs(cls, config), unit=64)[0]


@cache
def uop_layout(config: VtaConfig) -> list[bitfields.BitField]:
    """Return the placed bit-fields of a micro-op under ``config``."""
    return bitfields.place(_uop_specs(config), unit=UOP_WIDTH)[0]


def check_layouts_fit(config: VtaConfig) -> None:
    """Raise ConfigError unless every instruction fits 128 bits and a micro-op 32 bits."""
    for cls in INSN_CLASSES.values():
        _, used = bitfields.place(_insn_specs(cls, config), unit=64)
        if used > INS_WIDTH:
            raise ConfigError(
                f"LOG_UOP_BUFF_SIZE and the LOG_*_BUFF_SIZE keys give {cls.MNEMONIC} "
                f"instructions of {used} bits, which must be <= {INS_WIDTH}"
            )
    _, used = bitfields.place(_uop_specs(config), unit=UOP_WIDTH)
    if used > UOP_WIDTH:
        raise ConfigError(f"micro-op fields take {used} bits, which must be <= {UOP_WIDTH}")


class DecodeError(ValueError):
    """Raw bits that are not a VTA instruction; ``field`` names the offending field."""

    def __init__(self, field_name: str, message: str):
        self.field = field_name
        super().__init__(message)


def encode(insn: Insn, config: VtaConfig) -> bytes:
    """Encode an instruction as 16 little-endian bytes; out-of-range fields raise ValueError."""
    word = bitfields.pack(insn_layout(type(insn), config), insn.fields())
    return word.to_bytes(INSN_BYTES, "little")


def decode(raw: bytes, config: VtaConfig) -> Insn:
    """Decode 16 little-endian bytes; an opcode that is not a VTA opcode raises DecodeError."""
    word = int.from_bytes(raw, "little")
    opcode = word & ((1 << OPCODE_BIT_WIDTH) - 1)
    if opcode not in INSN_CLASSES:
        names = ", ".join(f"{op.name}={op.value}" for op in Opcode)
        raise DecodeError("opcode", f"opcode {opcode} is not a VTA opcode ({names})")
    cls = INSN_CLASSES[Opcode(opcode)]
    values = bitfields.unpack(insn_layout(cls, config), word)
    del values["opcode"]
    return cls(**values)


def encode_uop(uop: Uop, config: VtaConfig) -> bytes:
    """Encode a micro-op as 4 little-endian bytes."""
    values = {f.name: getattr(uop, f.name) for f in fields(Uop)}
    return bitfields.pack(uop_layout(config), values).to_bytes(UOP_BYTES, "little")


def decode_uop(raw: bytes, config: VtaConfig) -> Uop:
    """Decode 4 little-endian bytes into a micro-op (unused high bits are ignored)."""
    return Uop(**bitfields.unpack(uop_layout(config), int.from_bytes(raw, "little")))
