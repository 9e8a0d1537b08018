"""Random programs of every instruction kind, as a sequence of actions on a growing program.

:class:`RandomProgram` holds a program under construction and offers one method per action
(``load_inp``, ``gemm``, ``store``, ...), each drawing its operands with a ``draw`` function and
appending its instructions through the :class:`~.assembler.Assembler`. :func:`random_programs`
picks actions at random; a Hypothesis state machine can use them as its rules (see
``tests/test_impl_core.py``), so that a failure shrinks to a short list of steps.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from hypothesis import strategies as st

from ..config import VtaConfig
from ..image import ProgramImage
from ..isa import AluOp, Load, MemType, Stage, Uop
from ..pipeline import DEFAULT_TOKEN_DEPTH
from .assembler import Assembler, draw_rng, grid, random_lanes

__all__ = ["ACTIONS", "RandomProgram", "random_programs"]

def _draw_block(draw, capacity: int, max_x: int = 4, max_y: int = 3,
                max_pad: int = 2) -> tuple[int, int, tuple]:
    """Draw a padded 2D block (y, x, pads) whose padded size fits ``capacity`` elements."""
    x = draw(st.integers(1, max(1, min(max_x, capacity))))
    x0 = draw(st.integers(0, min(max_pad, capacity - x)))
    x1 = draw(st.integers(0, min(max_pad, capacity - x - x0)))
    rows = capacity // (x + x0 + x1)
    y = draw(st.integers(1, max(1, min(max_y, rows))))
    y0 = draw(st.integers(0, min(max_pad, rows - y)))
    y1 = draw(st.integers(0, min(max_pad, rows - y - y0)))
    return y, x, (y0, y1, x0, x1)


class _Rings:
    """Each scratchpad's used region split into a ring of equal slots."""

    def __init__(self, draw, regions: dict):
        self.regions = regions
        self.slots = {name: draw(st.integers(1, min(4, size))) for name, size in regions.items()}
        self.next = dict.fromkeys(regions, 0)

    def slot(self, draw, name: str) -> tuple[int, int]:
        """Return (start, size) of the next slot of ``name``'s ring (or a random one)."""
        count = self.slots[name]
        size = self.regions[name] // count
        if draw(st.integers(0, 3)) == 3:
            index = draw(st.integers(0, count - 1))
        else:
            index = self.next[name]
        self.next[name] = (index + 1) % count
        return index * size, size


def _loop_operands(draw, asm: Assembler, targets: dict, uop_count: int) -> tuple:
    """Draw loop counts, factors and uop bases so that every visited index is allowed.

    ``targets`` maps an operand (dst, src, wgt) to (allowed mask, region size); returns
    (iter_out, iter_in, factors, bases per operand).
    """
    iter_out = draw(st.integers(1, 3))
    iter_in = draw(st.integers(1, 3))
    factors, bases = {}, {}
    for operand, (mask, limit) in targets.items():
        top = min(2, limit - 1)
        f_out = draw(st.integers(0, top)) if iter_out > 1 else 0
        f_in = draw(st.integers(0, top)) if iter_in > 1 else 0
        choices = _candidates(mask, _offsets(iter_out, iter_in, f_out, f_in), limit)
        if not choices.size:
            f_out = f_in = 0
            choices = _candidates(mask, np.zeros(1, dtype=np.int64), limit)
        factors[f"{operand}_factor_out"] = f_out
        factors[f"{operand}_factor_in"] = f_in
        bases[operand] = [int(choices[draw(st.integers(0, choices.size - 1))])
                          for _ in range(uop_count)]
    return iter_out, iter_in, factors, bases


def _kernel_layout(draw, count: int, uop_region: int) -> dict:
    """Draw how a kernel of ``count`` uops is laid out in DRAM and padded in the uop buffer."""
    shape = draw(st.integers(0, 2))
    if shape == 1 and count > 1 and count % 2 == 0:
        return {"rows": 2, "gap": draw(st.integers(0, 2))}
    if shape == 2:
        spare = uop_region - count
        x0 = draw(st.integers(0, min(2, spare)))
        x1 = draw(st.integers(0, min(2, spare - x0)))
        rows = uop_region // (count + x0 + x1)
        y0 = draw(st.integers(0, min(1, rows - 1)))
        y1 = draw(st.integers(0, min(1, rows - 1 - y0)))
        return {"pads": (y0, y1, x0, x1)}
    return {}


def _candidates(mask: np.ndarray, offsets: np.ndarray, limit: int) -> np.ndarray:
    """Bases b < limit - max(offsets) such that every ``mask[b + offset]`` holds."""
    span = int(offsets.max()) if offsets.size else 0
    if span >= limit:
        return np.zeros(0, dtype=np.int64)
    bases = np.arange(limit - span)
    return bases[np.all(mask[bases[:, None] + offsets[None, :]], axis=1)]


def _offsets(iter_out: int, iter_in: int, f_out: int, f_in: int) -> np.ndarray:
    return np.unique(grid([Uop(0, 0, 0)], "dst_idx", iter_out, iter_in, f_out, f_in))


# The actions, each name once per unit of weight: random_programs picks uniformly among the
# feasible entries.
ACTIONS = ("load_inp", "load_inp", "load_wgt", "load_wgt", "load_acc", "reset", "noop", "alu",
           "alu", "store", "store", "gemm", "gemm", "gemm", "gemm", "reload")


class RandomProgram:
    """A program under construction and the random actions that extend it.

    Each action method takes a ``draw`` function (``data.draw`` or a composite's ``draw``),
    draws its operands and appends instructions; call it only when :meth:`can` allows it.
    Later instructions prefer the blocks written last, so stages run ahead with several tokens
    outstanding. Micro-ops are loaded just before use (1D, 2D strided or zero-padded loads).
    Each scratchpad uses at most ``max_rows`` elements; extra tokens are sometimes added at
    random; token queues hold at most ``max_tokens`` (at least 2).
    """

    def __init__(self, draw, config: VtaConfig, *, max_rows: int = 16,
                 max_tokens: int = DEFAULT_TOKEN_DEPTH, alu_ops: Sequence[AluOp] = tuple(AluOp)):
        self.config = config
        self.asm = Assembler(config, max_tokens)
        self.rng = draw_rng(draw)
        self.regions = {name: min(self.asm.depth[name], max_rows) for name in ("inp", "wgt", "acc")}
        self.uop_region = min(self.asm.depth["uop"], max(8, max_rows))
        self.rings = _Rings(draw, self.regions)
        self.alu_ops = list(alu_ops)
        self.stored = []  # (dram_base, y, x, stride) of STOREs
        self.sources = []  # (dram_base, element count) read by INP loads
        # Blocks written but not yet consumed, oldest first: later instructions prefer to read
        # them, which makes stages run ahead of each other with several tokens outstanding.
        self.fresh = {name: [] for name in ("inp", "wgt", "acc")}

    def can(self, action: str) -> bool:
        """Return whether ``action`` has what it needs (written data, an earlier STORE)."""
        have = {name: self.asm.mask(name)[:self.regions[name]].any()
                for name in ("inp", "wgt", "acc")}
        if action == "alu":
            return bool(have["acc"] and self.alu_ops)
        if action == "store":
            return bool(have["acc"])
        if action == "gemm":
            return bool(have["acc"] and have["inp"] and have["wgt"])
        if action == "reload":
            return bool(self.stored)
        return True

    def build(self) -> ProgramImage:
        """End the program with FINISH and return its image (without ``expected`` DRAM)."""
        return self.asm.build()

    # -- actions ---------------------------------------------------------------------------

    def load_inp(self, draw) -> None:
        """A 2D strided, padded LOAD of fresh INP data into the next slot of the INP ring."""
        self._data_load(draw, "inp", MemType.INP)

    def load_wgt(self, draw) -> None:
        """A 2D strided, padded LOAD of fresh WGT data into the next slot of the WGT ring."""
        self._data_load(draw, "wgt", MemType.WGT)

    def load_acc(self, draw) -> None:
        """A 2D strided, padded LOAD of fresh ACC or ACC_8BIT data."""
        self._data_load(draw, "acc", draw(st.sampled_from([MemType.ACC, MemType.ACC_8BIT])))

    def reload(self, draw) -> None:
        """A LOAD INP of data an earlier STORE wrote."""
        self._data_load(draw, "inp", MemType.INP, draw(st.sampled_from(self.stored)))

    def reset(self, draw) -> None:
        """A GEMM with reset over accumulator elements."""
        self._gemm(draw, True)

    def gemm(self, draw) -> None:
        """A GEMM accumulating written INP . WGT into written accumulators, both loop levels."""
        self._gemm(draw, False)

    def alu(self, draw) -> None:
        """An ALU op with an immediate (SHR: also negative or past ACC_WIDTH) or a vector
        operand."""
        asm, config, regions = self.asm, self.config, self.regions
        op = draw(st.sampled_from(self.alu_ops))
        vector = draw(st.booleans())
        count = draw(st.integers(1, min(3, self.uop_region)))
        targets = {"dst": (self._written(draw, "acc", True), regions["acc"])}
        if vector:
            targets["src"] = (self._written(draw, "acc"), regions["acc"])
        iter_out, iter_in, factors, bases = _loop_operands(draw, asm, targets, count)
        uops = [Uop(bases["dst"][i], bases["src"][i] if vector else 0, 0) for i in range(count)]
        if vector:
            imm = None
        elif op == AluOp.SHR:
            # Mostly in [0, ACC_WIDTH); sometimes left shifts (negative) or past the width.
            width = config.acc_width
            ranges = [(0, width - 1), (0, width - 1), (-width - 2, -1), (width, 2 * width)]
            imm = draw(st.integers(*ranges[draw(st.integers(0, 3))]))
        else:
            imm = draw(st.integers(-(1 << 15), (1 << 15) - 1))
        asm.alu(uops, iter_out, iter_in, factors, op, imm, self.uop_region,
                _kernel_layout(draw, count, self.uop_region),
                sync=asm.sync_point(draw, Stage.COMPUTE))
        self._note_written(uops, iter_out, iter_in, factors)

    def store(self, draw) -> None:
        """A STORE of written accumulator rows (strided) to fresh DRAM or over data an earlier
        LOAD read."""
        asm, regions = self.asm, self.regions
        y = draw(st.integers(1, 2))
        x = draw(st.integers(1, 3))
        mask = self._written(draw, "acc", True)
        choices = _candidates(mask, np.arange(y * x), regions["acc"])
        if not choices.size:
            y = x = 1
            choices = _candidates(mask, np.zeros(1, dtype=np.int64), regions["acc"])
        base = int(choices[draw(st.integers(0, choices.size - 1))])
        stride = draw(st.integers(x, x + 2))
        extent = (y - 1) * stride + x
        over = [index for index, count in self.sources if count >= extent]
        if over and draw(st.booleans()):
            dram_base = draw(st.sampled_from(over))
        else:
            dram_base = asm.reserve_out(extent, self.rng)
        asm.store(base, dram_base, y, x, stride, sync=asm.sync_point(draw, Stage.STORE))
        self.stored.append((dram_base, y, x, stride))

    def noop(self, draw) -> None:
        """An ``x_size == 0`` instruction of any stage (it only moves tokens)."""
        stage = draw(st.sampled_from(list(Stage)))
        self.asm.noop(stage, sync=self.asm.sync_point(draw, stage))

    # -- helpers ---------------------------------------------------------------------------

    def _written(self, draw, name: str, prefer: bool = False) -> np.ndarray:
        """Return the written elements of ``name``'s region, or with ``prefer`` often just
        those of the oldest block written but not yet consumed."""
        mask = self.asm.mask(name)[:self.regions[name]]
        fresh = self.fresh[name]
        if prefer and fresh and draw(st.integers(0, 3)) != 0:
            low, high = fresh.pop(0)
            window = np.zeros_like(mask)
            window[low:high] = True
            if (mask & window).any():
                return mask & window
        return mask

    def _data_load(self, draw, name: str, memory_type: MemType, dram=None) -> None:
        asm = self.asm
        start, size = self.rings.slot(draw, name)
        if dram is None:
            y, x, pads = _draw_block(draw, size)
            stride = draw(st.integers(0, x + 2))
            fmt = asm.formats[memory_type]
            width = 8 if memory_type == MemType.ACC_8BIT else fmt.width
            count = (y - 1) * stride + x
            dram_base = asm.place(memory_type, random_lanes(self.rng, count, fmt.lanes, width))
            if memory_type == MemType.INP:
                self.sources.append((dram_base, count))
        else:
            dram_base, rows, cols, stride = dram
            y, x, pads = _draw_block(draw, size, max_x=cols, max_y=rows)
        y0, y1, x0, x1 = pads
        total = (y0 + y + y1) * (x0 + x + x1)
        base = start + draw(st.integers(0, size - total))
        if draw(st.integers(0, 9)) == 9:
            y = 0  # only padding is written
            total = (y0 + y1) * (x0 + x + x1)
        asm.load(memory_type, base, dram_base, y, x, stride, pads,
                 sync=asm.sync_point(draw, Load(memory_type=memory_type).stage))
        if total:
            self.fresh[name].append((base, base + total))

    def _gemm(self, draw, reset: bool) -> None:
        asm, regions = self.asm, self.regions
        count = draw(st.integers(1, min(3, self.uop_region)))
        if reset:
            targets = {"dst": (np.ones(regions["acc"], dtype=bool), regions["acc"])}
        else:
            targets = {"dst": (self._written(draw, "acc"), regions["acc"]),
                       "src": (self._written(draw, "inp", True), regions["inp"]),
                       "wgt": (self._written(draw, "wgt", True), regions["wgt"])}
        iter_out, iter_in, factors, bases = _loop_operands(draw, asm, targets, count)
        uops = [Uop(bases["dst"][i], bases["src"][i] if "src" in bases else 0,
                    bases["wgt"][i] if "wgt" in bases else 0) for i in range(count)]
        asm.gemm(uops, iter_out, iter_in, factors, reset, self.uop_region,
                 _kernel_layout(draw, count, self.uop_region),
                 sync=asm.sync_point(draw, Stage.COMPUTE))
        self._note_written(uops, iter_out, iter_in, factors)

    def _note_written(self, uops, iter_out, iter_in, factors) -> None:
        dst = grid(uops, "dst_idx", iter_out, iter_in, factors["dst_factor_out"],
                   factors["dst_factor_in"])
        self.fresh["acc"].append((int(dst.min()), int(dst.max()) + 1))


@st.composite
def random_programs(draw, config: VtaConfig, *, min_actions: int = 4, max_actions: int = 16,
                    max_rows: int = 16, max_tokens: int = DEFAULT_TOKEN_DEPTH,
                    alu_ops: Sequence[AluOp] = tuple(AluOp)) -> ProgramImage:
    """Draw a random mix of every instruction kind; valid by construction (package docstring).

    ``min_actions`` to ``max_actions`` steps (tens of instructions), each one of the actions of
    :class:`RandomProgram`: a 2D strided, padded LOAD of INP, WGT, ACC or ACC_8BIT into the
    next slot of a ring of buffer slots; a GEMM with reset; a GEMM accumulating over both loop
    levels; an ALU op from ``alu_ops`` with an immediate (SHR: also negative or past
    ACC_WIDTH) or a vector operand; a STORE of written accumulator rows (strided) to fresh DRAM
    or over data an earlier LOAD read; a LOAD INP of data an earlier STORE wrote; an
    ``x_size == 0`` no-op. Each scratchpad uses at most ``max_rows`` elements; token queues
    hold at most ``max_tokens`` (at least 2; the hardware's 8 by default). The image has no
    ``expected`` DRAM (run it on the spec to get one).
    """
    program = RandomProgram(draw, config, max_rows=max_rows, max_tokens=max_tokens,
                            alu_ops=alu_ops)
    for _ in range(draw(st.integers(min_actions, max_actions))):
        action = draw(st.sampled_from([name for name in ACTIONS if program.can(name)]))
        getattr(program, action)(draw)
    return program.build()
