"""The JIT runtime: a command stream that becomes one synchronous VTA program.

Like TVM-VTA's runtime, a :class:`CommandStream` allocates DRAM buffers, queues instructions,
inserts the dependency tokens between the load, compute and store stages (:mod:`.deps`), builds
micro-op kernels once and loads them into the uop buffer on demand (:mod:`.uops`), and ends the
program with a FINISH that every instruction happens before::

    stream = CommandStream(config)
    x = stream.upload(MemType.INP, elements, shape=(4, 8))   # element grid in DRAM
    y = stream.allocate(MemType.OUT, shape=(4, 8))
    stream.load_box(x, 0, start=(0, 0), extent=(4, 8))
    stream.gemm(nest)                                          # a loops.Nest
    stream.store_box(y, 0, start=(0, 0), extent=(4, 8))
    program = stream.compile(lambda read: read(y))
    result = program.run("spec")                               # runs, then decodes the result
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from vtaref.spec import (
    Alu,
    AluOp,
    Finish,
    Gemm,
    Load,
    MemType,
    ProgramBuilder,
    ProgramImage,
    Store,
    VtaConfig,
)
from vtaref.spec.packing import unpack
from vtaref.spec.pipeline import DEFAULT_TOKEN_DEPTH
from vtaref.spec.state import element_formats

from .backend import Backend, get_backend
from .deps import Footprint, Schedule
from .errors import CompileError
from .loops import Nest, lower
from .transfer import NO_PADS, box_transfers
from .uops import UopCache


@dataclass(frozen=True)
class DramBuffer:
    """A DRAM array of ``memory_type`` elements laid out row-major as ``shape``."""

    ident: int
    memory_type: MemType
    index: int  # element index (physical address / element size) of the first element
    shape: tuple[int, ...]

    @property
    def count(self) -> int:
        return math.prod(self.shape)


@dataclass
class Compiled:
    """A finished program: its image, what it holds, and how to decode its result.

    ``stats`` counts instructions by kind (``"NOP"`` for token carriers), micro-ops placed in
    DRAM and loaded, kernels, uop-buffer flushes and tokens per queue.
    """

    image: ProgramImage
    stats: dict
    decode: Callable[[bytes], np.ndarray]

    def run(self, backend: str | Backend = "spec") -> np.ndarray:
        """Run the program on ``backend`` and return its decoded result."""
        return self.decode(get_backend(backend).run(self.image))


@dataclass
class CommandStream:
    """Buffers and instructions of one program for ``config``."""

    config: VtaConfig
    token_depth: int = DEFAULT_TOKEN_DEPTH
    counts: Counter = field(default_factory=Counter, init=False)

    def __post_init__(self):
        config = self.config
        self.formats = element_formats(config)
        self._builder = ProgramBuilder(config)
        depths = {"uop": config.uop_buff_depth, "inp": config.inp_buff_depth,
                  "wgt": config.wgt_buff_depth, "acc": config.acc_buff_depth}
        self._schedule = Schedule(depths, self.token_depth)
        self._uop_buffer = UopCache(config.uop_buff_depth)
        self._uop_dram: dict[tuple, int] = {}
        self._buffers = 0
        # A kernel takes at most an eighth of the uop buffer, so the kernels of a tile's buffer
        # slots and its epilogue stay resident together.
        self.kernel_budget = max(1, config.uop_buff_depth // 8)

    # -- DRAM --------------------------------------------------------------------------------

    def upload(self, memory_type: MemType, elements: np.ndarray, shape: tuple[int, ...]
               ) -> DramBuffer:
        """Place ``elements`` (``(prod(shape), lanes)`` values) in DRAM as a ``shape`` grid."""
        elements = np.asarray(elements).reshape(math.prod(shape), -1)
        return self._buffer(memory_type, self._builder.place(memory_type, elements), shape)

    def allocate(self, memory_type: MemType, shape: tuple[int, ...]) -> DramBuffer:
        """Reserve a zeroed ``shape`` grid of ``memory_type`` elements in DRAM."""
        return self._buffer(memory_type, self._builder.reserve(memory_type, math.prod(shape)),
                            shape)

    def _buffer(self, memory_type: MemType, index: int, shape: tuple[int, ...]) -> DramBuffer:
        self._buffers += 1
        return DramBuffer(self._buffers, memory_type, index, tuple(shape))

    def read(self, buffer: DramBuffer, dram: bytes) -> np.ndarray:
        """Return ``buffer``'s elements in a final DRAM dump, shaped ``(*shape, lanes)``."""
        fmt = self.formats[buffer.memory_type]
        raw = self._builder.read(buffer.memory_type, buffer.index, buffer.count, dram)
        lanes = unpack(np.frombuffer(raw, np.uint8).reshape(buffer.count, fmt.bytes),
                       fmt.width, fmt.lanes)
        return lanes.reshape(*buffer.shape, fmt.lanes)

    # -- transfers ---------------------------------------------------------------------------

    def load(self, buffer: DramBuffer, sram_base: int, offset: int, y_size: int, x_size: int,
             x_stride: int, pads: tuple[int, int, int, int] = NO_PADS) -> None:
        """Queue one LOAD of ``buffer`` elements from ``offset`` into its scratchpad."""
        y0, y1, x0, x1 = pads
        scratchpad = self.formats[buffer.memory_type].buffer
        size = (y0 + y_size + y1) * (x0 + x_size + x1)
        footprint = Footprint(writes=((scratchpad, sram_base, sram_base + size),),
                              dram_reads=(buffer.ident,))
        self._append(Load(memory_type=buffer.memory_type, sram_base=sram_base,
                          dram_base=buffer.index + offset, y_size=y_size, x_size=x_size,
                          x_stride=x_stride, y_pad_0=y0, y_pad_1=y1, x_pad_0=x0, x_pad_1=x1),
                     footprint)

    def store(self, buffer: DramBuffer, sram_base: int, offset: int, y_size: int, x_size: int,
              x_stride: int) -> None:
        """Queue one STORE of accumulator entries to ``buffer`` elements from ``offset``."""
        footprint = Footprint(reads=(("acc", sram_base, sram_base + y_size * x_size),),
                              dram_writes=(buffer.ident,))
        self._append(Store(memory_type=MemType.OUT, sram_base=sram_base,
                           dram_base=buffer.index + offset, y_size=y_size, x_size=x_size,
                           x_stride=x_stride), footprint)

    def load_box(self, buffer: DramBuffer, sram_base: int, start: tuple[int, ...],
                 extent: tuple[int, ...], pads: tuple[int, int, int, int] = NO_PADS) -> int:
        """Load a box of ``buffer`` into a block from ``sram_base`` (see transfer.box_transfers).

        Returns the number of scratchpad entries the (padded) block takes.
        """
        transfers = box_transfers(buffer.shape, start, extent, pads)
        for t in transfers:
            self.load(buffer, sram_base + t.sram_offset, t.dram_offset, t.y_size, t.x_size,
                      t.x_stride, t.pads)
        return len(transfers) * transfers[0].sram_size

    def store_box(self, buffer: DramBuffer, sram_base: int, start: tuple[int, ...],
                  extent: tuple[int, ...]) -> None:
        """Store a block of accumulators from ``sram_base`` into a box of ``buffer``."""
        for t in box_transfers(buffer.shape, start, extent):
            self.store(buffer, sram_base + t.sram_offset, t.dram_offset, t.y_size, t.x_size,
                       t.x_stride)

    # -- compute -----------------------------------------------------------------------------

    def gemm(self, nest: Nest, reset: bool = False) -> None:
        """Queue GEMMs: ``acc[dst] += inp[src] . wgt[wgt]^T`` over ``nest``, or zero acc[dst].

        ``nest`` needs a ``wgt`` index even to reset (see :func:`.loops.zeroing_nest`).
        """
        for lowered in lower(nest, self.kernel_budget):
            spans = {name: (lo, hi) for name, lo, hi in lowered.spans}
            acc = ("acc", *spans["dst"])
            # A reset still reads inp and wgt in the HLS design: keep it ordered like any GEMM.
            footprint = Footprint(reads=(acc, ("inp", *spans["src"]), ("wgt", *spans["wgt"])),
                                  writes=(acc,))
            begin = self._kernel(lowered.uops)
            self._append(Gemm(reset_reg=int(reset), uop_bgn=begin,
                              uop_end=begin + len(lowered.uops), **lowered.fields()), footprint)

    def alu(self, op: AluOp, nest: Nest, imm: int | None = None) -> None:
        """Queue ALU instructions: ``acc[dst] = op(acc[dst], imm or acc[src])`` over ``nest``.

        Raises CompileError for MUL if the config has none (``ALU_MUL`` false).
        """
        if op == AluOp.MUL and not self.config.ALU_MUL:
            raise CompileError(f"this computation needs ALU MUL, which config {self.config.name} "
                               "has not (ALU_MUL is false)")
        for lowered in lower(nest, self.kernel_budget):
            spans = {name: (lo, hi) for name, lo, hi in lowered.spans}
            reads = (("acc", *spans["dst"]),) + ((("acc", *spans["src"]),) if imm is None else ())
            footprint = Footprint(reads=reads, writes=(("acc", *spans["dst"]),))
            begin = self._kernel(lowered.uops)
            self._append(Alu(alu_opcode=op, use_imm=int(imm is not None), imm=imm or 0,
                             uop_bgn=begin, uop_end=begin + len(lowered.uops),
                             **lowered.fields()), footprint)

    def _kernel(self, uops: tuple) -> int:
        """Return where ``uops`` start in the uop buffer, loading them first if needed."""
        begin = self._uop_buffer.find(uops)
        if begin is not None:
            return begin
        if uops not in self._uop_dram:
            self._uop_dram[uops] = self._builder.place_uops(list(uops))
            self.counts["uops placed"] += len(uops)
        begin = self._uop_buffer.place(uops)
        self.counts["uops loaded"] += len(uops)
        load = Load(memory_type=MemType.UOP, sram_base=begin, dram_base=self._uop_dram[uops],
                    y_size=1, x_size=len(uops), x_stride=len(uops))
        self._append(load, Footprint(writes=(("uop", begin, begin + len(uops)),)))
        return begin

    def _append(self, insn, footprint: Footprint) -> None:
        self._schedule.append(insn, footprint)
        if isinstance(insn, Load):
            self.counts[f"LOAD {MemType(insn.memory_type).name}"] += 1
        else:
            self.counts[insn.MNEMONIC] += 1

    # -- the program -------------------------------------------------------------------------

    def compile(self, decode: Callable[[Callable[[DramBuffer], np.ndarray]], np.ndarray]
                ) -> Compiled:
        """End the stream with a FINISH ordered after every instruction, and build the program.

        ``decode(read)`` turns the final DRAM into the result, where ``read(buffer)`` returns a
        buffer's elements (see :meth:`read`).
        """
        self._schedule.finish(Finish())
        for insn in self._schedule.instructions():
            self._builder.emit(insn)
        image = self._builder.build()
        stats = dict(self.counts)
        stats.update(FINISH=1, NOP=self._schedule.nops, kernels=len(self._uop_dram),
                     flushes=self._uop_buffer.flushes, tokens=self._schedule.tokens(),
                     instructions=image.insn_count)
        return Compiled(image, stats, lambda dram: decode(lambda buffer: self.read(buffer, dram)))
