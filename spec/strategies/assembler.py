"""The assembler every program strategy builds with: instructions in, dependency tokens added.

Each instruction declares its footprint (scratchpad index arrays, DRAM byte ranges) and a
:class:`~vtaref.spec.schedule.TokenSchedule` adds the tokens that order it after every
conflicting access, pushing from the earliest instruction that can, and adds NOP handshakes as
soon as a queue's producer lags ``max_tokens`` pops behind. The assembler also checks that
nothing reads a scratchpad element no instruction wrote, and keeps micro-op kernels resident.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from ..builder import ProgramBuilder
from ..config import VtaConfig
from ..image import ProgramImage
from ..isa import Alu, AluOp, Finish, Gemm, Insn, Load, MemType, Stage, Store, Uop
from ..pipeline import DEFAULT_TOKEN_DEPTH, NOPS
from ..schedule import NOTHING, Conflicts, Footprint, TokenSchedule
from ..state import element_formats

__all__ = ["Assembler", "draw_rng", "grid", "random_lanes"]


def grid(uops: Sequence[Uop], name: str, iter_out: int, iter_in: int, f_out: int,
         f_in: int) -> np.ndarray:
    """Return every index a uop loop visits for the uop field ``name``, in visit order."""
    base = np.array([getattr(uop, name) for uop in uops], dtype=np.int64)
    outer = np.arange(iter_out, dtype=np.int64)[:, None, None] * f_out
    inner = np.arange(iter_in, dtype=np.int64)[None, :, None] * f_in
    return (base[None, None, :] + outer + inner).reshape(-1)


def draw_rng(draw) -> np.random.Generator:
    """Draw a numpy generator (its seed is what Hypothesis shrinks)."""
    return np.random.default_rng(draw(st.integers(0, 2**32 - 1)))


def random_lanes(generator: np.random.Generator, count: int, lanes: int, width: int) -> np.ndarray:
    """Return ``count`` x ``lanes`` random signed ``width``-bit values."""
    half = 1 << (width - 1)
    return generator.integers(-half, half, size=(count, lanes), dtype=np.int64)


class Assembler:
    """Builds a program instruction by instruction, adding the dependency tokens it needs.

    Every push precedes its pop in program order, so that order is a legal schedule and no pop
    can wait forever. ``max_tokens`` (at least 2, for the handshakes) bounds every token queue.
    """

    def __init__(self, config: VtaConfig, max_tokens: int = DEFAULT_TOKEN_DEPTH):
        if max_tokens < 2:
            raise InvalidArgument(f"max_tokens must be at least 2, not {max_tokens}")
        self.config = config
        self.max_tokens = max_tokens
        self.builder = ProgramBuilder(config)
        self.formats = element_formats(config)
        self.depth = {"uop": config.uop_buff_depth, "inp": config.inp_buff_depth,
                      "wgt": config.wgt_buff_depth, "acc": config.acc_buff_depth}
        self.schedule = TokenSchedule(max_tokens, Conflicts(self.depth, dram_bytes=True))
        self.uop_cache = {}
        self.uop_next = 0
        self.finished = False

    def mask(self, name: str) -> np.ndarray:
        """Return which elements of scratchpad ``name`` hold written data."""
        return self.schedule.conflicts.written(name)

    def count(self, stage: Stage) -> int:
        return self.schedule.count(stage)

    def emit(self, insn: Insn, footprint: Footprint = NOTHING, sync: dict | None = None) -> int:
        """Append ``insn`` with the pops that order every conflicting access before it.

        ``sync`` maps stages to positions that must also happen before ``insn`` (extra tokens).
        Returns the instruction's program index.
        """
        if self.finished:
            raise AssertionError("strategy bug: instruction after FINISH")
        index = len(self.schedule)
        for name, idx in footprint.reads:
            if not self.mask(name)[idx].all():
                raise AssertionError(f"strategy bug: instruction {index} reads unwritten {name}")
        for name, idx in footprint.writes:
            if idx.size and idx.max() >= self.depth[name]:
                raise AssertionError(f"strategy bug: instruction {index} writes past {name}")
        if isinstance(insn, Finish):
            self.finished = True
            return self.schedule.finish(insn)
        index = self.schedule.append(insn, footprint, sync)
        self.schedule.balance()
        return index

    # -- instructions ---------------------------------------------------------------------

    def _rows(self, dram_base: int, y: int, x: int, stride: int, elem: int) -> tuple:
        return tuple(((dram_base + r * stride) * elem, (dram_base + r * stride + x) * elem)
                     for r in range(y))

    def load(self, memory_type: MemType, sram_base: int, dram_base: int, y: int, x: int,
             stride: int, pads=(0, 0, 0, 0), sync=None) -> int:
        """LOAD ``y`` x ``x`` elements (rows ``stride`` apart) padded by (y0, y1, x0, x1)."""
        y0, y1, x0, x1 = pads
        insn = Load(memory_type=int(memory_type), sram_base=sram_base, dram_base=dram_base,
                    y_size=y, x_size=x, x_stride=stride, y_pad_0=y0, y_pad_1=y1, x_pad_0=x0,
                    x_pad_1=x1)
        footprint = NOTHING
        if x:
            fmt = self.formats[memory_type]
            total = (y0 + y + y1) * (x0 + x + x1)
            footprint = Footprint(writes=((fmt.buffer, np.arange(sram_base, sram_base + total)),),
                                  dram_reads=self._rows(dram_base, y, x, stride, fmt.bytes))
        return self.emit(insn, footprint, sync)

    def store(self, sram_base: int, dram_base: int, y: int, x: int, stride: int,
              sync=None) -> int:
        """STORE acc rows [sram_base, sram_base + y*x) to ``y`` DRAM rows ``stride`` apart."""
        insn = Store(memory_type=MemType.OUT, sram_base=sram_base, dram_base=dram_base,
                     y_size=y, x_size=x, x_stride=stride)
        footprint = Footprint(reads=(("acc", np.arange(sram_base, sram_base + y * x)),),
                              dram_writes=self._rows(dram_base, y, x, stride,
                                                     self.formats[MemType.OUT].bytes))
        return self.emit(insn, footprint, sync)

    def kernel(self, uops: Sequence[Uop], region: int | None = None, rows: int = 1,
               gap: int = 0, pads=(0, 0, 0, 0), sync=None) -> tuple[int, int]:
        """Make ``uops`` available in the uop buffer (loading them if needed); return the
        range [bgn, end) that holds them.

        ``region`` bounds the part of the uop buffer used. The load is 2D with ``rows`` rows of
        ``len(uops) / rows`` uops, ``gap`` unused uops between rows in DRAM, and zero-uop padding
        ``pads`` (only with a single row).
        """
        key = tuple(uops)
        if key in self.uop_cache and rows == 1 and not any(pads):
            return self.uop_cache[key]
        region = min(region or self.depth["uop"], self.depth["uop"])
        count = len(uops)
        x = count // rows
        assert x * rows == count and (rows == 1 or not any(pads))
        y0, y1, x0, x1 = pads
        total = (y0 + rows + y1) * (x0 + x + x1)
        assert total <= region, "strategy bug: uop kernel larger than the uop region"
        if self.uop_next + total > region:
            self.uop_next = 0
            self.uop_cache.clear()
        base = self.uop_next
        laid_out = []
        for r in range(rows):
            laid_out += list(uops[r * x:(r + 1) * x]) + [Uop(0, 0, 0)] * (gap if r < rows - 1
                                                                        else 0)
        dram = self.builder.place_uops(laid_out)
        self.load(MemType.UOP, base, dram, rows, x, x + gap, pads, sync)
        self.uop_next = base + total
        # Drop cached kernels this load overwrote.
        self.uop_cache = {k: v for k, v in self.uop_cache.items()
                          if v[1] <= base or v[0] >= base + total}
        bgn = base + y0 * (x0 + x + x1) + x0
        result = (bgn, bgn + count)
        if rows == 1 and not any(pads):
            self.uop_cache[key] = result
        return result

    def gemm(self, uops: Sequence[Uop], iter_out: int, iter_in: int, factors: dict,
             reset: bool = False, uop_region: int | None = None, kernel_layout: dict | None = None,
             sync=None) -> int:
        """GEMM over ``uops``; ``factors`` holds the six *_factor_out/_in fields (default 0)."""
        bgn, end = self.kernel(uops, uop_region, **(kernel_layout or {}))
        f = {name: 0 for name in ("dst_factor_out", "dst_factor_in", "src_factor_out",
                                  "src_factor_in", "wgt_factor_out", "wgt_factor_in")}
        f.update(factors)
        for kind, iters in (("out", iter_out), ("in", iter_in)):
            if iters == 1:
                for operand in ("dst", "src", "wgt"):
                    f[f"{operand}_factor_{kind}"] = 0
        insn = Gemm(reset_reg=int(reset), uop_bgn=bgn, uop_end=end, iter_out=iter_out,
                    iter_in=iter_in, **f)
        dst = grid(uops, "dst_idx", iter_out, iter_in, f["dst_factor_out"], f["dst_factor_in"])
        reads = [("uop", np.arange(bgn, end))]
        if not reset:
            reads += [("inp", grid(uops, "src_idx", iter_out, iter_in, f["src_factor_out"],
                                   f["src_factor_in"])),
                      ("wgt", grid(uops, "wgt_idx", iter_out, iter_in, f["wgt_factor_out"],
                                   f["wgt_factor_in"])),
                      ("acc", dst)]
        return self.emit(insn, Footprint(reads=tuple(reads), writes=(("acc", dst),)), sync)

    def alu(self, uops: Sequence[Uop], iter_out: int, iter_in: int, factors: dict, op: AluOp,
            imm: int | None, uop_region: int | None = None, kernel_layout: dict | None = None,
            sync=None) -> int:
        """ALU ``op`` over ``uops`` with immediate ``imm`` (or the vector operand if None)."""
        bgn, end = self.kernel(uops, uop_region, **(kernel_layout or {}))
        f = {name: 0 for name in ("dst_factor_out", "dst_factor_in", "src_factor_out",
                                  "src_factor_in")}
        f.update(factors)
        for kind, iters in (("out", iter_out), ("in", iter_in)):
            if iters == 1:
                f[f"dst_factor_{kind}"] = f[f"src_factor_{kind}"] = 0
        if imm is not None:
            f["src_factor_out"] = f["src_factor_in"] = 0
        insn = Alu(uop_bgn=bgn, uop_end=end, iter_out=iter_out, iter_in=iter_in,
                   alu_opcode=int(op), use_imm=int(imm is not None), imm=imm or 0, **f)
        dst = grid(uops, "dst_idx", iter_out, iter_in, f["dst_factor_out"], f["dst_factor_in"])
        reads = dst
        if imm is None:
            reads = np.concatenate([dst, grid(uops, "src_idx", iter_out, iter_in,
                                              f["src_factor_out"], f["src_factor_in"])])
        footprint = Footprint(reads=(("uop", np.arange(bgn, end)), ("acc", reads)),
                              writes=(("acc", dst),))
        return self.emit(insn, footprint, sync)

    def noop(self, stage: Stage, sync=None) -> int:
        """An ``x_size == 0`` instruction of ``stage`` (it only moves tokens)."""
        return self.emit(NOPS[stage], NOTHING, sync)

    def finish(self) -> int:
        """FINISH, ordered after every instruction so far."""
        return self.emit(Finish())

    # -- data -----------------------------------------------------------------------------

    def place(self, memory_type: MemType, values: np.ndarray) -> int:
        return self.builder.place(memory_type, values)

    def reserve_out(self, count: int, generator: np.random.Generator) -> int:
        """Reserve ``count`` OUT elements of DRAM filled with random bytes."""
        nbytes = count * self.formats[MemType.OUT].bytes
        return self.builder.reserve(MemType.OUT, count, generator.bytes(nbytes))

    def build(self) -> ProgramImage:
        """Finish the program if needed and return its image."""
        if not self.finished:
            self.finish()
        self.builder.program = self.schedule.instructions()
        return self.builder.build()
