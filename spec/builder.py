"""Assemble programs into images: DRAM allocation, element packing, instruction encoding.

A small assembler for tests, strategies and examples (the compiler has its own runtime)::

    b = ProgramBuilder(config)
    x = b.place(MemType.INP, inputs)          # element index of the data in DRAM
    b.emit(Load(memory_type=MemType.INP, dram_base=x, y_size=1, x_size=n, x_stride=n))
    ...
    image = b.build()
"""

from __future__ import annotations

import numpy as np

from .config import VtaConfig
from .image import ProgramImage
from .isa import INSN_BYTES, Finish, Insn, MemType, Uop, encode, encode_uop
from .packing import pack
from .state import element_formats

DEFAULT_DRAM_BASE = 0x1000


class ProgramBuilder:
    """Collects DRAM contents and instructions, then lays them out as a ProgramImage."""

    def __init__(self, config: VtaConfig, dram_base: int = DEFAULT_DRAM_BASE):
        self.config = config
        self.dram_base = dram_base
        self.formats = element_formats(config)
        self.memory = bytearray()
        self.program: list[Insn] = []

    def allocate(self, nbytes: int, align: int, fill: bytes | None = None) -> int:
        """Reserve ``nbytes`` at a physical address that is a multiple of ``align``."""
        address = self.dram_base + len(self.memory)
        address += -address % align
        start = address - self.dram_base
        self.memory.extend(bytes(start + nbytes - len(self.memory)))
        if fill is not None:
            self.memory[start:start + nbytes] = fill
        return address

    def reserve(self, memory_type: MemType, count: int, fill: bytes | None = None) -> int:
        """Reserve ``count`` elements of ``memory_type``; return the first element's index."""
        size = self.formats[memory_type].bytes
        return self.allocate(count * size, size, fill) // size

    def place(self, memory_type: MemType, values: np.ndarray) -> int:
        """Store elements ``(count, lanes)`` of ``memory_type``; return the first's index."""
        fmt = self.formats[memory_type]
        values = np.asarray(values).reshape(-1, fmt.lanes)
        raw = pack(values, fmt.width).tobytes()
        return self.reserve(memory_type, len(values), raw)

    def place_uops(self, uops: list[Uop]) -> int:
        """Store micro-ops; return the first's element index (a LOAD UOP dram_base)."""
        raw = b"".join(encode_uop(uop, self.config) for uop in uops)
        return self.reserve(MemType.UOP, len(uops), raw)

    def read(self, memory_type: MemType, index: int, count: int, dram: bytes) -> bytes:
        """Return the raw bytes of ``count`` elements from index ``index`` of a DRAM dump."""
        size = self.formats[memory_type].bytes
        start = index * size - self.dram_base
        return dram[start:start + count * size]

    def emit(self, insn: Insn) -> int:
        """Append an instruction; return its program index."""
        self.program.append(insn)
        return len(self.program) - 1

    def build(self, finish: bool = True) -> ProgramImage:
        """Lay out the instructions after the data and return the image.

        With ``finish`` a FINISH is appended unless the program already ends with one.
        """
        program = list(self.program)
        if finish and not (program and isinstance(program[-1], Finish)):
            program.append(Finish())
        raw = b"".join(encode(insn, self.config) for insn in program)
        memory = bytearray(self.memory)
        insn_addr = self.dram_base + len(memory)
        insn_addr += -insn_addr % INSN_BYTES
        memory.extend(bytes(insn_addr - self.dram_base - len(memory)))
        memory.extend(raw)
        return ProgramImage(self.config, bytes(memory), self.dram_base, insn_addr, len(program))
