"""Hypothesis strategies that draw valid VTA configurations and programs, for any configuration.

Every program strategy draws a :class:`ProgramImage` (built with :class:`ProgramBuilder`) that
:func:`vtaref.spec.run_image` runs with its default options (fsim flavor, race checking on, token
queues 8 deep) without any error. Each program is valid by construction:

- every LOAD, STORE, GEMM and ALU access lies inside the scratchpads and inside DRAM, and every
  field fits its bit width;
- no scratchpad element (micro-ops included) is read before some instruction wrote it, so the
  result never depends on the zeroed start-up state;
- every pair of accesses from different stages to the same scratchpad element or DRAM byte, at
  least one of them a write, is ordered by dependency tokens (so the result does not depend on
  how the stages interleave), and every instruction of every stage is ordered before FINISH,
  which comes last;
- tokens are balanced (every push is popped), no pop waits forever, and no token queue may ever
  hold more than ``max_tokens`` tokens (in any legal interleaving, as the runner counts them).

The programs follow the default (fsim) semantics: ALU MUL, signed SHR amounts and ACC_8BIT loads
appear; pass ``alu_ops`` to leave operations out.

Tokens are placed by a scheduler that replays the program in program order with the runner's
vector clocks: before each instruction it finds the accesses of other stages that conflict with
it and are not yet ordered before it, and adds the fewest token pairs that order them, pushing
from the earliest instruction that can (so stages still run ahead of each other) and relaying
through an ``x_size == 0`` compute no-op between the load and store stages. When a token queue
gets close to ``max_tokens`` outstanding tokens it inserts a no-op handshake, as TVM-VTA's
runtime does.

Structured strategies can also return a :class:`Reference` holding their inputs and expected
outputs in logical (untiled) form; their images always carry ``expected`` (the whole DRAM after
the run), computed with numpy.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from .builder import ProgramBuilder
from .config import KEY_RANGES, LOG_DEPTH_RANGE, VtaConfig
from .errors import ConfigError
from .image import ProgramImage
from .isa import Alu, AluOp, Finish, Gemm, Insn, Load, MemType, Stage, Store, Uop
from .packing import pack, unpack, wrap
from .semantics import FSIM, alu_apply
from .state import element_formats

__all__ = [
    "Reference", "configs", "conv2d_programs", "pipelined_programs", "programs",
    "random_programs", "requantize_programs", "small_configs", "tiled_gemm_programs",
]

LOAD, COMPUTE, STORE = Stage.LOAD, Stage.COMPUTE, Stage.STORE

# Token queue (producer, consumer) -> (push flag on the producer, pop flag on the consumer).
QUEUE_FLAGS = {
    (LOAD, COMPUTE): ("push_next_dep", "pop_prev_dep"),
    (COMPUTE, LOAD): ("push_prev_dep", "pop_next_dep"),
    (COMPUTE, STORE): ("push_next_dep", "pop_prev_dep"),
    (STORE, COMPUTE): ("push_prev_dep", "pop_next_dep"),
}
NEIGHBOURS = {LOAD: (COMPUTE,), COMPUTE: (LOAD, STORE), STORE: (COMPUTE,)}
# Which stages touch each scratchpad (fsim flavor).
BUFFER_STAGES = {"uop": (COMPUTE,), "inp": (LOAD, COMPUTE), "wgt": (LOAD, COMPUTE),
                 "acc": (COMPUTE, STORE)}
HARDWARE_TOKEN_DEPTH = 8


# -- configurations ---------------------------------------------------------------------------


def _span(value, name: str, allowed: tuple[int, int]) -> tuple[int, int]:
    """Return the range ``value`` (an int or a pair) within ``allowed``."""
    low, high = (value, value) if isinstance(value, int) else value
    low, high = max(low, allowed[0]), min(high, allowed[1])
    if low > high:
        raise InvalidArgument(f"{name}={value!r} allows no value in {list(allowed)}")
    return low, high


@st.composite
def configs(draw, *, log_inp_width=(0, 3), log_wgt_width=(0, 3), log_acc_width=(3, 5),
            log_batch=(0, 2), log_block=(0, 4), log_depth=(1, 16), log_uop_depth=None,
            log_inp_depth=None, log_wgt_depth=None, log_acc_depth=None) -> VtaConfig:
    """Draw a valid :class:`VtaConfig`.

    Every argument is an ``int`` or an inclusive ``(low, high)`` range: the base-2 logarithms of
    the operand widths (``log_inp_width``, ``log_wgt_width``: sub-byte widths from 0), the
    accumulator width, BATCH and BLOCK, and of the scratchpad depths in elements (``log_depth``
    for all four buffers, or ``log_uop_depth`` ... ``log_acc_depth`` for one). Configs are
    constructed inside the derived limits (an element fills whole bytes, the buffer sizes stay
    in range, micro-ops fit 32 bits and instructions 128 bits), shrinking the largest buffer
    depth when the fields would not fit; nothing is filtered. Bounds that no config satisfies
    raise InvalidArgument.
    """
    ranges = {key: _span(value, name, KEY_RANGES[name.upper()]) for key, value, name in (
        ("inp_w", log_inp_width, "log_inp_width"), ("wgt_w", log_wgt_width, "log_wgt_width"),
        ("acc_w", log_acc_width, "log_acc_width"), ("batch", log_batch, "log_batch"),
        ("block", log_block, "log_block"))}
    depth_range = {
        name: _span(log_depth if override is None else override, f"log_{name}_depth",
                    LOG_DEPTH_RANGE)
        for name, override in (("uop", log_uop_depth), ("inp", log_inp_depth),
                               ("wgt", log_wgt_depth), ("acc", log_acc_depth))}
    # LOG_<X>_BUFF_SIZE = log depth + (width + batch + block terms) - 3 must be >= 3, and each
    # element must fill whole bytes: the terms must reach max(3, 6 - the largest log depth).
    need = {name: max(3, 6 - depth_range[name][1]) for name in ("inp", "wgt", "acc")}
    hi = {key: high for key, (_, high) in ranges.items()}

    def pick(key, low):
        low = max(low, ranges[key][0])
        if low > ranges[key][1]:
            raise InvalidArgument(f"no valid config within the given bounds ({key})")
        return draw(st.integers(low, ranges[key][1]))

    block = pick("block", max(need["inp"] - hi["inp_w"] - hi["batch"],
                              -((hi["wgt_w"] - need["wgt"]) // 2),
                              need["acc"] - hi["acc_w"] - hi["batch"]))
    batch = pick("batch", max(need["inp"] - hi["inp_w"] - block,
                              need["acc"] - hi["acc_w"] - block))
    keys = {"LOG_BLOCK": block, "LOG_BATCH": batch,
            "LOG_INP_WIDTH": pick("inp_w", need["inp"] - batch - block),
            "LOG_WGT_WIDTH": pick("wgt_w", need["wgt"] - 2 * block),
            "LOG_ACC_WIDTH": pick("acc_w", need["acc"] - batch - block)}
    terms = {"uop": 5, "inp": keys["LOG_INP_WIDTH"] + batch + block,
             "wgt": keys["LOG_WGT_WIDTH"] + 2 * block,
             "acc": keys["LOG_ACC_WIDTH"] + batch + block}
    limits = {"uop": 18, "inp": 24, "wgt": 26, "acc": 26}
    depths, lows = {}, {}
    for name in ("uop", "inp", "wgt", "acc"):
        low, high = depth_range[name]
        low = max(low, 6 - terms[name])
        high = min(high, limits[name] + 3 - terms[name])
        if low > high:
            raise InvalidArgument(f"no valid {name} buffer depth within the given bounds")
        lows[name] = low
        depths[name] = draw(st.integers(low, high))
    while True:
        sizes = {f"LOG_{name.upper()}_BUFF_SIZE": depths[name] + terms[name] - 3
                 for name in depths}
        try:
            return VtaConfig(**keys, **sizes)
        except ConfigError:
            shrinkable = [name for name in depths if depths[name] > lows[name]]
            if not shrinkable:
                raise InvalidArgument("no valid config within the given depth bounds") from None
            largest = max(shrinkable, key=lambda name: (depths[name], name))
            depths[largest] -= 1


def small_configs(**bounds) -> st.SearchStrategy[VtaConfig]:
    """Draw configs whose buffers are at most 2^6 elements deep (quick to simulate)."""
    return configs(**{"log_depth": (1, 6), **bounds})


# -- accesses and the token scheduler ---------------------------------------------------------


@dataclass
class _Access:
    """Scratchpad indices and physical DRAM byte ranges one instruction reads and writes."""

    reads: dict = field(default_factory=dict)
    writes: dict = field(default_factory=dict)
    dram_reads: list = field(default_factory=list)
    dram_writes: list = field(default_factory=list)


def _grid(uops: Sequence[Uop], name: str, iter_out: int, iter_in: int, f_out: int,
          f_in: int) -> np.ndarray:
    """Return every index a uop loop visits for the uop field ``name``, in visit order."""
    base = np.array([getattr(uop, name) for uop in uops], dtype=np.int64)
    outer = np.arange(iter_out, dtype=np.int64)[:, None, None] * f_out
    inner = np.arange(iter_in, dtype=np.int64)[None, :, None] * f_in
    return (base[None, None, :] + outer + inner).reshape(-1)


def _offsets(iter_out: int, iter_in: int, f_out: int, f_in: int) -> np.ndarray:
    return np.unique(_grid([Uop(0, 0, 0)], "dst_idx", iter_out, iter_in, f_out, f_in))


class _Assembler:
    """Builds a program instruction by instruction, adding the dependency tokens it needs.

    It replays the runner's bookkeeping in program order (every push precedes its pop in
    program order, so that order is a legal schedule and no pop can wait forever): per stage the
    vector clock of each instruction, per token queue the stage positions of pushes and pops,
    and per scratchpad element and stage the last position that read and wrote it.
    """

    def __init__(self, config: VtaConfig, max_tokens: int = HARDWARE_TOKEN_DEPTH):
        if max_tokens < 2:
            raise InvalidArgument(f"max_tokens must be at least 2, not {max_tokens}")
        self.config = config
        self.max_tokens = max_tokens
        self.builder = ProgramBuilder(config)
        self.formats = element_formats(config)
        self.depth = {"uop": config.uop_buff_depth, "inp": config.inp_buff_depth,
                      "wgt": config.wgt_buff_depth, "acc": config.acc_buff_depth}
        self.insns: list[Insn] = []
        self.clocks: list[tuple[int, int, int]] = []
        self.order = {stage: [] for stage in Stage}
        self.pushes = {q: [] for q in QUEUE_FLAGS}
        self.pops = {q: [] for q in QUEUE_FLAGS}
        self.written = {}
        self.last = {}
        self.dram_log = []  # (stage, position, is_write, start, end)
        self.uop_cache = {}
        self.uop_next = 0
        self.finished = False

    # -- scratchpad bookkeeping -----------------------------------------------------------

    def mask(self, name: str) -> np.ndarray:
        """Return which elements of scratchpad ``name`` hold written data (do not modify)."""
        if name not in self.written:
            self.written[name] = np.zeros(self.depth[name], dtype=bool)
        return self.written[name]

    def _last(self, name: str, stage: Stage, kind: str) -> np.ndarray:
        key = (name, stage, kind)
        if key not in self.last:
            self.last[key] = np.zeros(self.depth[name], dtype=np.int64)
        return self.last[key]

    # -- clocks and tokens ----------------------------------------------------------------

    def clock(self, stage: Stage) -> tuple[int, int, int]:
        order = self.order[stage]
        return self.clocks[order[-1]] if order else (0, 0, 0)

    def count(self, stage: Stage) -> int:
        return len(self.order[stage])

    def _known_pops(self, q, clock) -> int:
        return bisect.bisect_right(self.pops[q], clock[q[1]])

    def _starved(self, q) -> int:
        """Pops from ``q`` that the producer's latest instruction does not know about."""
        return len(self.pops[q]) - self._known_pops(q, self.clock(q[0]))

    def _append(self, insn: Insn, pops=()) -> int:
        stage = insn.stage
        clock = list(self.clock(stage))
        clock[stage] += 1
        flags = {}
        for q, pusher in pops:
            clock = [max(a, b) for a, b in zip(clock, self.clocks[pusher])]
            flags[QUEUE_FLAGS[q][1]] = 1
        for q, _ in pops:
            self.pops[q].append(clock[stage])
        index = len(self.insns)
        self.insns.append(insn.with_deps(**flags) if flags else insn)
        self.clocks.append(tuple(clock))
        self.order[stage].append(index)
        return index

    def _noop(self, stage: Stage, pops=()) -> int:
        insn = {LOAD: Load(memory_type=MemType.INP), COMPUTE: Load(memory_type=MemType.UOP),
                STORE: Store(memory_type=MemType.OUT)}[stage]
        return self._append(insn, pops)

    def _push(self, q, needed: int) -> int:
        """Make the earliest possible producer instruction at position >= ``needed`` push into
        ``q`` (a fresh no-op if none can); return its program index."""
        producer = q[0]
        order = self.order[producer]
        start = max(needed, self.pushes[q][-1] + 1 if self.pushes[q] else 1)
        tokens = len(self.pushes[q]) + 1
        chosen = None
        for position in range(start, len(order) + 1):
            if tokens - self._known_pops(q, self.clocks[order[position - 1]]) <= self.max_tokens:
                chosen = order[position - 1]
                break
        if chosen is None:
            chosen = self._noop(producer)
            assert tokens - self._known_pops(q, self.clocks[chosen]) <= self.max_tokens
        position = len([i for i in order if i <= chosen])
        self.insns[chosen] = self.insns[chosen].with_deps(**{QUEUE_FLAGS[q][0]: 1})
        self.pushes[q].append(position)
        return chosen

    def _balance(self) -> None:
        """Keep every queue's unacknowledged pops below ``max_tokens`` with no-op handshakes,
        so that the next push into any queue can never overflow it."""
        changed = True
        while changed:
            changed = False
            for q in QUEUE_FLAGS:
                if self._starved(q) >= self.max_tokens:
                    producer, consumer = q
                    back = (consumer, producer)
                    pusher = self._push(back, self.count(consumer) + 1)
                    self._noop(producer, pops=[(back, pusher)])
                    changed = True

    def _needed(self, stage: Stage, access: _Access) -> list[int]:
        """Return, per stage, the last position whose accesses conflict with ``access``."""
        need = [0, 0, 0]
        for verb, table in (("reads", access.reads), ("writes", access.writes)):
            for name, idx in table.items():
                if not idx.size:
                    continue
                for other in BUFFER_STAGES[name]:
                    if other == stage:
                        continue
                    kinds = ("w",) if verb == "reads" else ("w", "r")
                    for kind in kinds:
                        last = self._last(name, other, kind)
                        need[other] = max(need[other], int(last[idx].max()))
        if self.dram_log and (access.dram_reads or access.dram_writes):
            log = np.array(self.dram_log, dtype=np.int64)
            for ranges, writing in ((access.dram_reads, False), (access.dram_writes, True)):
                for start, end in ranges:
                    hit = (log[:, 3] < end) & (log[:, 4] > start) & (log[:, 0] != stage)
                    if not writing:
                        hit &= log[:, 2] == 1
                    for other_stage, position in log[hit][:, :2]:
                        need[other_stage] = max(need[other_stage], int(position))
        return need

    def _record(self, index: int, access: _Access) -> None:
        stage = self.insns[index].stage
        position = self.clocks[index][stage]
        for name, idx in access.reads.items():
            if not self.mask(name)[idx].all():
                raise AssertionError(f"strategy bug: instruction {index} reads unwritten {name}")
            if stage in BUFFER_STAGES[name]:
                self._last(name, stage, "r")[idx] = position
        for name, idx in access.writes.items():
            if idx.size and idx.max() >= self.depth[name]:
                raise AssertionError(f"strategy bug: instruction {index} writes past {name}")
            self._last(name, stage, "w")[idx] = position
            self.mask(name)[idx] = True
        for ranges, writing in ((access.dram_reads, 0), (access.dram_writes, 1)):
            for start, end in ranges:
                self.dram_log.append((int(stage), position, writing, start, end))

    def emit(self, insn: Insn, access: _Access | None = None, sync: dict | None = None) -> int:
        """Append ``insn`` with the pops that order every conflicting access before it.

        ``sync`` maps stages to positions that must also happen before ``insn`` (extra tokens).
        Returns the instruction's program index.
        """
        if self.finished:
            raise AssertionError("strategy bug: instruction after FINISH")
        access = access or _Access()
        stage = insn.stage
        need = self._needed(stage, access)
        for other, position in (sync or {}).items():
            need[other] = max(need[other], position)
        if isinstance(insn, Finish):
            need = [self.count(LOAD), self.count(COMPUTE), self.count(STORE)]
            self.finished = True
        clock = self.clock(stage)
        far = {LOAD: STORE, STORE: LOAD}.get(stage)
        if far is not None and need[far] > clock[far]:
            # No queue links load and store: go through the first compute instruction that
            # knows the far stage far enough, or relay through a new compute no-op.
            knowing = [position for position, index in enumerate(self.order[COMPUTE], 1)
                       if self.clocks[index][far] >= need[far]]
            if knowing:
                need[COMPUTE] = max(need[COMPUTE], knowing[0])
            else:
                q = (far, COMPUTE)
                self._noop(COMPUTE, pops=[(q, self._push(q, need[far]))])
                need[COMPUTE] = self.count(COMPUTE)
        pops = []
        for other in NEIGHBOURS[stage]:
            if need[other] > clock[other]:
                q = (other, stage)
                pops.append((q, self._push(q, need[other])))
        index = self._append(insn, pops)
        self._record(index, access)
        if not self.finished:
            self._balance()
        return index

    def sync_point(self, draw, stage: Stage) -> dict | None:
        """Draw an optional extra ordering of ``stage`` after some instruction of a neighbour."""
        sync = None
        if draw(st.integers(0, 5)) == 5:
            other = draw(st.sampled_from(NEIGHBOURS[stage]))
            if self.count(other):
                sync = {other: draw(st.integers(1, self.count(other)))}
        return sync

    # -- instructions ---------------------------------------------------------------------

    def _rows(self, dram_base: int, y: int, x: int, stride: int, elem: int) -> list:
        return [((dram_base + r * stride) * elem, (dram_base + r * stride + x) * elem)
                for r in range(y)]

    def load(self, memory_type: MemType, sram_base: int, dram_base: int, y: int, x: int,
             stride: int, pads=(0, 0, 0, 0), sync=None) -> int:
        """LOAD ``y`` x ``x`` elements (rows ``stride`` apart) padded by (y0, y1, x0, x1)."""
        y0, y1, x0, x1 = pads
        insn = Load(memory_type=int(memory_type), sram_base=sram_base, dram_base=dram_base,
                    y_size=y, x_size=x, x_stride=stride, y_pad_0=y0, y_pad_1=y1, x_pad_0=x0,
                    x_pad_1=x1)
        access = _Access()
        if x:
            fmt = self.formats[memory_type]
            total = (y0 + y + y1) * (x0 + x + x1)
            access.writes[fmt.buffer] = np.arange(sram_base, sram_base + total)
            access.dram_reads = self._rows(dram_base, y, x, stride, fmt.bytes)
        return self.emit(insn, access, sync)

    def store(self, sram_base: int, dram_base: int, y: int, x: int, stride: int,
              sync=None) -> int:
        """STORE acc rows [sram_base, sram_base + y*x) to ``y`` DRAM rows ``stride`` apart."""
        insn = Store(memory_type=MemType.OUT, sram_base=sram_base, dram_base=dram_base,
                     y_size=y, x_size=x, x_stride=stride)
        access = _Access(reads={"acc": np.arange(sram_base, sram_base + y * x)},
                         dram_writes=self._rows(dram_base, y, x, stride,
                                                self.formats[MemType.OUT].bytes))
        return self.emit(insn, access, sync)

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
        dst = _grid(uops, "dst_idx", iter_out, iter_in, f["dst_factor_out"], f["dst_factor_in"])
        access = _Access(reads={"uop": np.arange(bgn, end)}, writes={"acc": dst})
        if not reset:
            access.reads["inp"] = _grid(uops, "src_idx", iter_out, iter_in, f["src_factor_out"],
                                        f["src_factor_in"])
            access.reads["wgt"] = _grid(uops, "wgt_idx", iter_out, iter_in, f["wgt_factor_out"],
                                        f["wgt_factor_in"])
            access.reads["acc"] = dst
        return self.emit(insn, access, sync)

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
        dst = _grid(uops, "dst_idx", iter_out, iter_in, f["dst_factor_out"], f["dst_factor_in"])
        reads = dst
        if imm is None:
            reads = np.concatenate([dst, _grid(uops, "src_idx", iter_out, iter_in,
                                               f["src_factor_out"], f["src_factor_in"])])
        access = _Access(reads={"uop": np.arange(bgn, end), "acc": reads}, writes={"acc": dst})
        return self.emit(insn, access, sync)

    def noop(self, stage: Stage, sync=None) -> int:
        """An ``x_size == 0`` instruction of ``stage`` (it only moves tokens)."""
        insn = {LOAD: Load(memory_type=MemType.INP), COMPUTE: Load(memory_type=MemType.UOP),
                STORE: Store(memory_type=MemType.OUT)}[stage]
        return self.emit(insn, None, sync)

    def finish(self) -> int:
        return self.emit(Finish())

    # -- data -----------------------------------------------------------------------------

    def place(self, memory_type: MemType, values: np.ndarray) -> int:
        return self.builder.place(memory_type, values)

    def reserve_out(self, count: int, rng: np.random.Generator) -> int:
        """Reserve ``count`` OUT elements of DRAM filled with random bytes."""
        nbytes = count * self.formats[MemType.OUT].bytes
        return self.builder.reserve(MemType.OUT, count, rng.bytes(nbytes))

    def build(self) -> ProgramImage:
        if not self.finished:
            self.finish()
        self.builder.program = list(self.insns)
        return self.builder.build()


def _rng(draw) -> np.random.Generator:
    return np.random.default_rng(draw(st.integers(0, 2**32 - 1)))


def _lanes(rng: np.random.Generator, count: int, lanes: int, width: int) -> np.ndarray:
    half = 1 << (width - 1)
    return rng.integers(-half, half, size=(count, lanes), dtype=np.int64)


def _candidates(mask: np.ndarray, offsets: np.ndarray, limit: int) -> np.ndarray:
    """Bases b < limit - max(offsets) such that every ``mask[b + offset]`` holds."""
    span = int(offsets.max()) if offsets.size else 0
    if span >= limit:
        return np.zeros(0, dtype=np.int64)
    bases = np.arange(limit - span)
    return bases[np.all(mask[bases[:, None] + offsets[None, :]], axis=1)]


def _fixed(draw, value, strategy):
    """Return ``value`` if given, else draw from ``strategy``."""
    return draw(strategy) if value is None else value


# -- reference results --------------------------------------------------------------------------


@dataclass
class Reference:
    """What a structured program computes, in logical (untiled) numpy form.

    ``inputs`` holds the operands and parameters (arrays of int64, ints, lists), ``expected``
    each output as the program must leave it in DRAM, ``regions`` where each output lives: its
    first OUT element in DRAM, the element count and a function from the elements
    ``(count, lanes)`` to the logical array.
    """

    kind: str
    config: VtaConfig
    inputs: dict
    expected: dict
    regions: dict = field(repr=False)

    def read(self, dram: bytes | np.ndarray, dram_base: int) -> dict[str, np.ndarray]:
        """Decode every output from a DRAM dump starting at physical address ``dram_base``."""
        raw = np.frombuffer(bytes(dram), dtype=np.uint8)
        fmt = element_formats(self.config)[MemType.OUT]
        result = {}
        for name, (index, count, untile) in self.regions.items():
            start = index * fmt.bytes - dram_base
            elements = raw[start:start + count * fmt.bytes].reshape(count, fmt.bytes)
            result[name] = untile(unpack(elements, fmt.width, fmt.lanes).astype(np.int64))
        return result


def _finish_image(asm: _Assembler, outputs: dict, kind: str, inputs: dict, with_reference: bool):
    """Build the image, set its expected DRAM from ``outputs`` and return what was asked for.

    ``outputs``: name -> (OUT element index, tiled expected elements, untile function).
    """
    image = asm.build()
    fmt = asm.formats[MemType.OUT]
    expected = bytearray(image.dram)
    for index, tiles, _ in outputs.values():
        raw = pack(tiles, fmt.width).tobytes()
        start = index * fmt.bytes - image.dram_base
        expected[start:start + len(raw)] = raw
    image.expected = bytes(expected)
    if not with_reference:
        return image
    reference = Reference(
        kind, asm.config, inputs,
        {name: untile(tiles) for name, (_, tiles, untile) in outputs.items()},
        {name: (index, len(tiles), untile) for name, (index, tiles, untile) in outputs.items()})
    return image, reference


def _tile(matrix: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Split ``matrix`` into ``rows`` x ``cols`` tiles, row-major, each flattened."""
    m, n = matrix.shape
    return matrix.reshape(m // rows, rows, n // cols, cols).transpose(0, 2, 1, 3).reshape(
        -1, rows * cols)


def _untiler(m: int, n: int, rows: int, cols: int) -> Callable[[np.ndarray], np.ndarray]:
    def untile(tiles: np.ndarray) -> np.ndarray:
        grid = tiles.reshape(m // rows, n // cols, rows, cols).transpose(0, 2, 1, 3)
        return grid.reshape(m, n)
    return untile


def _requantize(acc: np.ndarray, shift: int | None, clip: bool, config: VtaConfig) -> np.ndarray:
    """What SHR ``shift`` then MIN/MAX to the output range do (None/False: skipped)."""
    if shift is not None:
        acc = acc >> shift
    if clip:
        high = (1 << (config.out_width - 1)) - 1
        acc = np.clip(acc, -high - 1, high)
    return acc


def _emit_requantize(asm: _Assembler, base: int, rows: int, cols: int, shift: int | None,
                     clip: bool, uop_region: int) -> None:
    """SHR by ``shift`` and clip to the output range, over acc[base + r*cols + c]."""
    uops = [Uop(base, base, 0)]
    loop = {"dst_factor_out": cols, "dst_factor_in": 1}
    high = (1 << (asm.config.out_width - 1)) - 1
    steps = ([(AluOp.SHR, shift)] if shift is not None else []) + (
        [(AluOp.MIN, high), (AluOp.MAX, -high - 1)] if clip else [])
    for op, imm in steps:
        asm.alu(uops, rows, cols, loop, op, imm, uop_region)


# -- random programs ----------------------------------------------------------------------------


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


def _loop_operands(draw, asm: _Assembler, targets: dict, uop_count: int) -> tuple:
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


@st.composite
def random_programs(draw, config: VtaConfig, *, min_actions: int = 4, max_actions: int = 16,
                    max_rows: int = 16, max_tokens: int = HARDWARE_TOKEN_DEPTH,
                    alu_ops: Sequence[AluOp] = tuple(AluOp)) -> ProgramImage:
    """Draw a random mix of every instruction kind; valid by construction (module docstring).

    ``min_actions`` to ``max_actions`` steps (tens of instructions), each one of: a 2D
    strided, padded LOAD of INP, WGT, ACC or ACC_8BIT into the next slot of a ring of buffer
    slots; a GEMM with reset; a GEMM accumulating over both loop levels; an ALU op from
    ``alu_ops`` with an immediate (SHR: also negative or past ACC_WIDTH) or a vector operand; a
    STORE of written accumulator rows (strided) to fresh DRAM or over data an earlier LOAD
    read; a LOAD INP of data an earlier STORE wrote; an ``x_size == 0`` no-op. Later
    instructions prefer the blocks written last, so stages run ahead with several tokens
    outstanding. Micro-ops are loaded just before use (1D, 2D strided or zero-padded loads).
    Each scratchpad uses at most ``max_rows`` elements; extra tokens are sometimes added at
    random; token queues hold at most ``max_tokens`` (at least 2; the hardware's 8 by default).
    The image has no ``expected`` DRAM (run it on the spec to get one).
    """
    asm = _Assembler(config, max_tokens)
    rng = _rng(draw)
    regions = {name: min(asm.depth[name], max_rows) for name in ("inp", "wgt", "acc")}
    uop_region = min(asm.depth["uop"], max(8, max_rows))
    rings = _Rings(draw, regions)
    formats = asm.formats
    alu_ops = list(alu_ops)
    stored = []  # (dram_base, y, x, stride) of STOREs
    sources = []  # (dram_base, element count) read by INP loads
    # Blocks written but not yet consumed, oldest first: later instructions prefer to read
    # them, which makes stages run ahead of each other with several tokens outstanding.
    fresh = {name: [] for name in ("inp", "wgt", "acc")}

    def written(name, prefer=False):
        mask = asm.mask(name)[:regions[name]]
        if prefer and fresh[name] and draw(st.integers(0, 3)) != 0:
            low, high = fresh[name].pop(0)
            window = np.zeros_like(mask)
            window[low:high] = True
            if (mask & window).any():
                return mask & window
        return mask

    def data_load(name, memory_type, dram=None):
        start, size = rings.slot(draw, name)
        if dram is None:
            y, x, pads = _draw_block(draw, size)
            stride = draw(st.integers(0, x + 2))
            fmt = formats[memory_type]
            width = 8 if memory_type == MemType.ACC_8BIT else fmt.width
            count = (y - 1) * stride + x
            dram_base = asm.place(memory_type, _lanes(rng, count, fmt.lanes, width))
            if memory_type == MemType.INP:
                sources.append((dram_base, count))
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
            fresh[name].append((base, base + total))

    def gemm(reset):
        count = draw(st.integers(1, min(3, uop_region)))
        if reset:
            targets = {"dst": (np.ones(regions["acc"], dtype=bool), regions["acc"])}
        else:
            targets = {"dst": (written("acc"), regions["acc"]),
                       "src": (written("inp", True), regions["inp"]),
                       "wgt": (written("wgt", True), regions["wgt"])}
        iter_out, iter_in, factors, bases = _loop_operands(draw, asm, targets, count)
        uops = [Uop(bases["dst"][i], bases["src"][i] if "src" in bases else 0,
                    bases["wgt"][i] if "wgt" in bases else 0) for i in range(count)]
        index = asm.gemm(uops, iter_out, iter_in, factors, reset, uop_region,
                         _kernel_layout(draw, count, uop_region),
                         sync=asm.sync_point(draw, COMPUTE))
        _note_written(index, uops, iter_out, iter_in, factors)

    def _note_written(index, uops, iter_out, iter_in, factors):
        dst = _grid(uops, "dst_idx", iter_out, iter_in, factors["dst_factor_out"],
                    factors["dst_factor_in"])
        fresh["acc"].append((int(dst.min()), int(dst.max()) + 1))

    def alu():
        op = draw(st.sampled_from(alu_ops))
        vector = draw(st.booleans())
        count = draw(st.integers(1, min(3, uop_region)))
        targets = {"dst": (written("acc", True), regions["acc"])}
        if vector:
            targets["src"] = (written("acc"), regions["acc"])
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
        index = asm.alu(uops, iter_out, iter_in, factors, op, imm, uop_region,
                        _kernel_layout(draw, count, uop_region),
                        sync=asm.sync_point(draw, COMPUTE))
        _note_written(index, uops, iter_out, iter_in, factors)

    def store():
        y = draw(st.integers(1, 2))
        x = draw(st.integers(1, 3))
        mask = written("acc", True)
        choices = _candidates(mask, np.arange(y * x), regions["acc"])
        if not choices.size:
            y = x = 1
            choices = _candidates(mask, np.zeros(1, dtype=np.int64), regions["acc"])
        base = int(choices[draw(st.integers(0, choices.size - 1))])
        stride = draw(st.integers(x, x + 2))
        extent = (y - 1) * stride + x
        over = [index for index, count in sources if count >= extent]
        if over and draw(st.booleans()):
            dram_base = draw(st.sampled_from(over))
        else:
            dram_base = asm.reserve_out(extent, rng)
        asm.store(base, dram_base, y, x, stride, sync=asm.sync_point(draw, STORE))
        stored.append((dram_base, y, x, stride))

    def noop():
        stage = draw(st.sampled_from(list(Stage)))
        asm.noop(stage, sync=asm.sync_point(draw, stage))

    actions = {
        "load_inp": lambda: data_load("inp", MemType.INP),
        "load_wgt": lambda: data_load("wgt", MemType.WGT),
        "load_acc": lambda: data_load("acc", draw(st.sampled_from([MemType.ACC,
                                                                   MemType.ACC_8BIT]))),
        "reset": lambda: gemm(True),
        "gemm": lambda: gemm(False),
        "alu": alu,
        "store": store,
        "reload": lambda: data_load("inp", MemType.INP, draw(st.sampled_from(stored))),
        "noop": noop,
    }
    for _ in range(draw(st.integers(min_actions, max_actions))):
        have = {name: asm.mask(name)[:regions[name]].any() for name in ("inp", "wgt", "acc")}
        feasible = ["load_inp", "load_inp", "load_wgt", "load_wgt", "load_acc", "reset", "noop"]
        if have["acc"]:
            feasible += ["alu", "alu", "store", "store"] if alu_ops else ["store", "store"]
            if have["inp"] and have["wgt"]:
                feasible += ["gemm"] * 4
        if stored:
            feasible.append("reload")
        actions[draw(st.sampled_from(feasible))]()
    return asm.build()


# -- structured programs ------------------------------------------------------------------------


def _regions(asm: _Assembler, max_rows: int) -> dict:
    return {name: min(depth, max_rows) for name, depth in asm.depth.items()}


def _chunk(draw, limit: int, value=None) -> int:
    """Draw a chunk size in [1, limit] (or clamp a given one)."""
    return max(1, min(limit, value)) if value is not None else draw(st.integers(1, max(1, limit)))


def _ring(draw, capacity: int, slot: int, slots: int | None = None) -> int:
    """Draw how many slots of ``slot`` elements a ring in ``capacity`` elements gets (1 to 3,
    or ``slots`` if given), never more than fit."""
    room = max(1, capacity // slot)
    if slots is not None:
        return max(1, min(slots, room))
    return draw(st.integers(1, min(3, room)))


class _Slots:
    """A ring of ``count`` equal slots from element 0 of a scratchpad, starting at slot
    ``start`` (modulo ``count``)."""

    def __init__(self, count: int, size: int, start: int = 0):
        self.count, self.size, self.next = count, size, start % count

    def take(self) -> int:
        base = self.next * self.size
        self.next = (self.next + 1) % self.count
        return base


def _matmul_layer(draw, asm: _Assembler, regions: dict, a: np.ndarray, a_index: int,
                  b: np.ndarray, bias: np.ndarray | None, bias_type: MemType, out_index: int,
                  shift: int | None, clip: bool, slots: int | None,
                  ring_next: dict) -> np.ndarray:
    """Emit a tiled, double-buffered ``requantize(a @ b + bias)`` and return the expected
    result (logical, wrapped to the output width).

    ``a`` (m x k) is stored as INP tiles from ``a_index`` (row-major tile grid); ``b`` (k x n)
    is placed as WGT tiles of b^T here; the result goes to OUT tiles from ``out_index``.
    """
    config = asm.config
    batch, block = config.batch, config.block
    mt, kt, nt = a.shape[0] // batch, a.shape[1] // block, b.shape[1] // block
    b_index = asm.place(MemType.WGT, _tile(b.T, block, block))
    bias_index = None
    if bias is not None:
        bias_index = asm.place(bias_type, _tile(bias, batch, block))
    # Chunk sizes (in elements) and rings of slots that fit the scratchpads.
    tm = _chunk(draw, min(mt, regions["inp"], regions["acc"]))
    tk = _chunk(draw, min(kt, regions["inp"] // tm, regions["wgt"], regions["uop"]))
    tn = _chunk(draw, min(nt, regions["wgt"] // tk, regions["acc"] // tm))
    uops_over_k = draw(st.booleans()) or tn > regions["uop"]
    rings = {name: _Slots(_ring(draw, regions[name], size, slots), size, ring_next[name])
             for name, size in (("inp", tm * tk), ("wgt", tn * tk), ("acc", tm * tn))}
    inp_slots, wgt_slots, acc_slots = rings["inp"], rings["wgt"], rings["acc"]
    uop_region = regions["uop"]
    for i0 in range(0, mt, tm):
        rows = min(tm, mt - i0)
        for j0 in range(0, nt, tn):
            cols = min(tn, nt - j0)
            acc = acc_slots.take()
            tile = {"dst_factor_out": cols, "dst_factor_in": 1}
            if bias is not None:
                asm.load(bias_type, acc, bias_index + i0 * nt + j0, rows, cols, nt)
            else:
                asm.gemm([Uop(acc, 0, 0)], rows, cols, tile, reset=True, uop_region=uop_region)
            for k0 in range(0, kt, tk):
                depth = min(tk, kt - k0)
                inp, wgt = inp_slots.take(), wgt_slots.take()
                asm.load(MemType.INP, inp, a_index + i0 * kt + k0, rows, depth, kt)
                asm.load(MemType.WGT, wgt, b_index + j0 * kt + k0, cols, depth, kt)
                if uops_over_k:
                    # acc[i, j] += sum over uops kk of inp[i, kk] . wgt[j, kk]
                    uops = [Uop(acc, inp + kk, wgt + kk) for kk in range(depth)]
                    asm.gemm(uops, rows, cols, {**tile, "src_factor_out": depth,
                                                "wgt_factor_in": depth},
                             uop_region=uop_region)
                else:
                    # uops over output columns j, inner loop over the reduction.
                    uops = [Uop(acc + j, inp, wgt + j * depth) for j in range(cols)]
                    asm.gemm(uops, rows, depth, {"dst_factor_out": cols, "src_factor_out": depth,
                                                 "src_factor_in": 1, "wgt_factor_in": 1},
                             uop_region=uop_region)
            _emit_requantize(asm, acc, rows, cols, shift, clip, uop_region)
            asm.store(acc, out_index + i0 * nt + j0, rows, cols, nt)
    ring_next.update({name: ring.next for name, ring in rings.items()})
    total = a.astype(np.int64) @ b.astype(np.int64)
    if bias is not None:
        total = total + bias
    acc_values = wrap(total, config.acc_width)
    return wrap(_requantize(acc_values, shift, clip, config), config.out_width)


def _shift_and_clip(draw, config: VtaConfig, requantize) -> tuple[int | None, bool]:
    requantize = _fixed(draw, requantize, st.booleans())
    if not requantize:
        return None, False
    return draw(st.integers(0, config.acc_width - 1)), True


@st.composite
def tiled_gemm_programs(draw, config: VtaConfig, *, m_tiles: int | None = None,
                        k_tiles: int | None = None, n_tiles: int | None = None,
                        layers: int | None = None, bias: bool | None = None,
                        requantize: bool | None = None, slots: int | None = None,
                        max_tiles: int = 2, max_rows: int = 64,
                        max_tokens: int = HARDWARE_TOKEN_DEPTH, with_reference: bool = False):
    """Draw a tiled matrix multiply ``C = requantize(A @ B + bias)``, optionally two layers.

    A is ``m_tiles*BATCH x k_tiles*BLOCK`` (INP tiles), B ``k_tiles*BLOCK x n_tiles*BLOCK``
    (WGT tiles of B^T); each is drawn up to ``max_tiles`` unless given. The output is computed
    in blocks that fit the scratchpads (at most ``max_rows`` elements each), with a ring of
    ``slots`` slots per buffer (drawn from 1 to 3 unless given; fewer if they do not fit): per
    block, the accumulator is reset (GEMM reset) or loaded with
    the bias (ACC or ACC_8BIT); INP and WGT chunks of the reduction are loaded and multiplied
    (uops over the reduction or over the output columns, both loop levels used); with
    ``requantize``, SHR by a shift in [0, ACC_WIDTH) and MIN/MAX to the output range follow;
    then a STORE (which truncates to the output width). With ``layers=2`` the stored C is loaded
    back as the input of a second multiply (a STORE -> LOAD dependency through DRAM).

    Tokens as in the module docstring (double buffering lets loads run ahead of compute and
    compute ahead of store). The image's ``expected`` is the DRAM after the run; with
    ``with_reference`` returns ``(image, Reference)`` with inputs ``a``, ``b`` (list per
    layer), ``bias`` (list, None entries), ``shift``/``clip`` (lists) and output ``c`` (and
    ``d`` for the second layer).
    """
    asm = _Assembler(config, max_tokens)
    rng = _rng(draw)
    regions = _regions(asm, max_rows)
    batch, block = config.batch, config.block
    layers = _fixed(draw, layers, st.integers(1, 2))
    mt = _fixed(draw, m_tiles, st.integers(1, max_tiles))
    kt = _fixed(draw, k_tiles, st.integers(1, max_tiles))
    a = _lanes(rng, mt * batch, kt * block, config.inp_width)
    a_index = asm.place(MemType.INP, _tile(a, batch, block))
    inputs = {"a": a, "b": [], "bias": [], "shift": [], "clip": []}
    outputs = {}
    ring_next = {"inp": 0, "wgt": 0, "acc": 0}  # the second layer goes on round the rings
    k_now = kt
    for layer, name in zip(range(layers), ("c", "d")):
        nt = _fixed(draw, n_tiles if layer == 0 else None, st.integers(1, max_tiles))
        b = _lanes(rng, k_now * block, nt * block, config.wgt_width)
        with_bias = _fixed(draw, bias, st.booleans())
        bias_type = draw(st.sampled_from([MemType.ACC, MemType.ACC_8BIT]))
        layer_bias = None
        if with_bias:
            width = 8 if bias_type == MemType.ACC_8BIT else config.acc_width
            layer_bias = _lanes(rng, mt * batch, nt * block, width)
        shift, clip = _shift_and_clip(draw, config, requantize)
        out_index = asm.reserve_out(mt * nt, rng)
        result = _matmul_layer(draw, asm, regions, a, a_index, b, layer_bias, bias_type,
                               out_index, shift, clip, slots, ring_next)
        for key, value in (("b", b), ("bias", layer_bias), ("shift", shift), ("clip", clip)):
            inputs[key].append(value)
        outputs[name] = (out_index, _tile(result, batch, block),
                         _untiler(mt * batch, nt * block, batch, block))
        # The next layer reads this output back as its input (OUT and INP elements match).
        a, a_index, k_now = result, out_index, nt
    return _finish_image(asm, outputs, "tiled_gemm", inputs, with_reference)


@st.composite
def conv2d_programs(draw, config: VtaConfig, *, max_channel_tiles: int = 2, max_size: int = 4,
                    max_kernel: int = 3, requantize: bool | None = None,
                    slots: int | None = None, max_rows: int = 64,
                    max_tokens: int = HARDWARE_TOKEN_DEPTH, with_reference: bool = False):
    """Draw a 2D convolution, NCHW: ``out = requantize(conv2d(x, w, stride, padding))``.

    ``x`` is BATCH x (ci*BLOCK) x H x W, ``w`` (co*BLOCK) x (ci*BLOCK) x KH x KW, with ci, co up
    to ``max_channel_tiles``, H, W up to ``max_size``, KH, KW up to ``max_kernel``, strides 1 or
    2 and zero padding on each side up to KH-1 / KW-1 (all shrunk to fit the scratchpads). Each
    input channel tile is one padded 2D LOAD (the padding is the convolution's zero padding).
    Per output channel tile, the weights are loaded into a ring of ``slots`` slots (drawn
    unless given); per tile of output rows, the accumulator (a ring slot) is reset and one GEMM
    runs with a uop per kernel tap and input channel tile, over output rows (outer loop) and
    columns (inner loop); optional SHR/MIN/MAX, then a STORE. Tokens and ``with_reference`` as
    for
    :func:`tiled_gemm_programs` (inputs ``x``, ``w``, ``stride``, ``padding``, ``shift``,
    ``clip``; output ``out``, BATCH x Cout x OH x OW).
    """
    asm = _Assembler(config, max_tokens)
    rng = _rng(draw)
    regions = _regions(asm, max_rows)
    batch, block = config.batch, config.block
    taps_room = min(regions["wgt"], regions["uop"], regions["inp"])
    ci = draw(st.integers(1, max(1, min(max_channel_tiles, taps_room))))
    kh = draw(st.integers(1, max(1, min(max_kernel, taps_room // ci))))
    kw = draw(st.integers(1, max(1, min(max_kernel, taps_room // (ci * kh)))))
    co = draw(st.integers(1, max_channel_tiles))
    per_channel = regions["inp"] // ci  # elements of one padded input channel tile
    acc_room = regions["acc"]
    # Padded height and width: at least the kernel, at most what fits; OW at most acc_room.
    pad_t = draw(st.integers(0, min(kh - 1, 2, per_channel // kw - 1)))
    pad_b = draw(st.integers(0, min(kh - 1, 2, per_channel // kw - 1 - pad_t)))
    hp_min = max(kh, 1 + pad_t + pad_b)
    w_room = min(per_channel // hp_min, kw - 1 + acc_room)
    pad_l = draw(st.integers(0, min(kw - 1, 2, w_room - 1)))
    pad_r = draw(st.integers(0, min(kw - 1, 2, w_room - 1 - pad_l)))
    wp_min = max(kw, 1 + pad_l + pad_r)
    w = draw(st.integers(wp_min - pad_l - pad_r, max(wp_min, min(w_room, max_size + pad_l
                                                                   + pad_r)) - pad_l - pad_r))
    wp = w + pad_l + pad_r
    h_top = max(hp_min, min(per_channel // wp, max_size + pad_t + pad_b))
    h = draw(st.integers(hp_min - pad_t - pad_b, h_top - pad_t - pad_b))
    hp = h + pad_t + pad_b
    sh = draw(st.integers(1, 2))
    sw = draw(st.integers(1, 2))
    oh, ow = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    rows_per_tile = draw(st.integers(1, max(1, min(oh, acc_room // ow))))
    shift, clip = _shift_and_clip(draw, config, requantize)

    x = _lanes(rng, batch, ci * block * h * w, config.inp_width).reshape(batch, ci * block, h, w)
    weights = _lanes(rng, co * block, ci * block * kh * kw, config.wgt_width).reshape(
        co * block, ci * block, kh, kw)
    x_tiles = x.reshape(batch, ci, block, h, w).transpose(1, 3, 4, 0, 2).reshape(
        ci * h * w, batch * block)
    w_tiles = weights.reshape(co, block, ci, block, kh, kw).transpose(0, 2, 4, 5, 1, 3).reshape(
        co * ci * kh * kw, block * block)
    x_index = asm.place(MemType.INP, x_tiles)
    w_index = asm.place(MemType.WGT, w_tiles)
    out_index = asm.reserve_out(co * oh * ow, rng)
    taps = ci * kh * kw
    wgt_slots = _Slots(_ring(draw, regions["wgt"], taps, slots), taps)
    acc_slots = _Slots(_ring(draw, acc_room, rows_per_tile * ow, slots), rows_per_tile * ow)
    for c in range(ci):
        asm.load(MemType.INP, c * hp * wp, x_index + c * h * w, h, w, w,
                 (pad_t, pad_b, pad_l, pad_r))
    for o in range(co):
        wgt = wgt_slots.take()
        asm.load(MemType.WGT, wgt, w_index + o * taps, 1, taps, taps)
        for r0 in range(0, oh, rows_per_tile):
            rows = min(rows_per_tile, oh - r0)
            acc = acc_slots.take()
            tile = {"dst_factor_out": ow, "dst_factor_in": 1}
            asm.gemm([Uop(acc, 0, 0)], rows, ow, tile, reset=True, uop_region=regions["uop"])
            uops = [Uop(acc, c * hp * wp + (r0 * sh + dy) * wp + dx, wgt + (c * kh + dy) * kw + dx)
                    for c in range(ci) for dy in range(kh) for dx in range(kw)]
            asm.gemm(uops, rows, ow, {**tile, "src_factor_out": sh * wp, "src_factor_in": sw},
                     uop_region=regions["uop"])
            _emit_requantize(asm, acc, rows, ow, shift, clip, regions["uop"])
            asm.store(acc, out_index + (o * oh + r0) * ow, rows, ow, ow)
    padded = np.pad(x, ((0, 0), (0, 0), (pad_t, pad_b), (pad_l, pad_r)))
    total = np.zeros((batch, co * block, oh, ow), dtype=np.int64)
    for dy in range(kh):
        for dx in range(kw):
            window = padded[:, :, dy:dy + sh * (oh - 1) + 1:sh, dx:dx + sw * (ow - 1) + 1:sw]
            total += np.einsum("bchw,oc->bohw", window, weights[:, :, dy, dx])
    result = wrap(_requantize(wrap(total, config.acc_width), shift, clip, config),
                  config.out_width)

    def to_tiles(array):
        return array.reshape(batch, co, block, oh, ow).transpose(1, 3, 4, 0, 2).reshape(
            co * oh * ow, batch * block)

    def untile(tiles):
        return tiles.reshape(co, oh, ow, batch, block).transpose(3, 0, 4, 1, 2).reshape(
            batch, co * block, oh, ow)

    inputs = {"x": x, "w": weights, "stride": (sh, sw), "padding": (pad_t, pad_b, pad_l, pad_r),
              "shift": shift, "clip": clip}
    return _finish_image(asm, {"out": (out_index, to_tiles(result), untile)}, "conv2d", inputs,
                         with_reference)


@st.composite
def requantize_programs(draw, config: VtaConfig, *, max_ops: int = 6, max_tiles: int = 3,
                        alu_ops: Sequence[AluOp] = tuple(AluOp), max_rows: int = 64,
                        max_tokens: int = HARDWARE_TOKEN_DEPTH, with_reference: bool = False):
    """Draw chains of ALU operations over accumulator tiles, then a STORE per tile.

    Up to ``max_tiles`` tiles of ``rows`` x ``cols`` accumulator elements are loaded (ACC or
    ACC_8BIT, 2D with a row stride) into a ring of slots, each with a second operand tile if the
    chain has vector operations; the same chain of 1 to ``max_ops`` operations from ``alu_ops``
    is applied to each (ADD, MUL, MIN, MAX with an immediate or the operand tile; SHR by an
    immediate in [0, ACC_WIDTH)); every result wraps to ACC_WIDTH and the STORE truncates it to
    the output width. With ``with_reference`` returns ``(image, Reference)``: inputs ``x``,
    ``y`` (None without vector operations), ``ops`` (list of (AluOp, imm or None)), output
    ``out`` (tiles x rows x cols x lanes).
    """
    asm = _Assembler(config, max_tokens)
    rng = _rng(draw)
    regions = _regions(asm, max_rows)
    ops = []
    for _ in range(draw(st.integers(1, max_ops))):
        op = draw(st.sampled_from(list(alu_ops)))
        if op == AluOp.SHR:
            ops.append((op, draw(st.integers(0, config.acc_width - 1))))
        elif draw(st.booleans()):
            ops.append((op, None))
        else:
            ops.append((op, draw(st.integers(-(1 << 15), (1 << 15) - 1))))
    vector = any(imm is None for _, imm in ops)
    operands = 2 if vector else 1
    room = max(1, regions["acc"] // operands)
    rows = draw(st.integers(1, max(1, min(3, room))))
    cols = draw(st.integers(1, max(1, min(3, room // rows))))
    tiles = draw(st.integers(1, max_tiles))
    ring = _Slots(_ring(draw, regions["acc"], rows * cols * operands), rows * cols * operands)
    lanes = asm.formats[MemType.ACC].lanes
    types = [draw(st.sampled_from([MemType.ACC, MemType.ACC_8BIT])) for _ in range(operands)]
    stride = cols + draw(st.integers(0, 2))
    values, indices = [], []
    for kind in types:
        width = 8 if kind == MemType.ACC_8BIT else config.acc_width
        # Tile t is rows [t*rows, (t+1)*rows) of a (tiles*rows) x stride element matrix.
        data = _lanes(rng, tiles * rows * stride, lanes, width).reshape(tiles, rows, stride,
                                                                         lanes)
        indices.append(asm.place(kind, data.reshape(-1, lanes)))
        values.append(data[:, :, :cols])
    out_index = asm.reserve_out(tiles * rows * cols, rng)
    loop = {"dst_factor_out": cols, "dst_factor_in": 1, "src_factor_out": cols,
            "src_factor_in": 1}
    for t in range(tiles):
        base = ring.take()
        other = base + rows * cols
        for operand, (kind, index) in enumerate(zip(types, indices)):
            asm.load(kind, base + operand * rows * cols, index + t * rows * stride, rows, cols,
                     stride)
        for op, imm in ops:
            asm.alu([Uop(base, other if imm is None else 0, 0)], rows, cols, loop, op, imm,
                    regions["uop"])
        asm.store(base, out_index + t * rows * cols, rows, cols, cols)
    x = values[0].astype(np.int64)
    y = values[1].astype(np.int64) if vector else None
    result = x
    for op, imm in ops:
        result = alu_apply(op, result, y if imm is None else imm, config.acc_width, FSIM)
    result = wrap(result, config.out_width)
    shape = (tiles, rows, cols, lanes)
    inputs = {"x": x, "y": y, "ops": ops}
    return _finish_image(asm, {"out": (out_index, result.reshape(-1, lanes),
                                       lambda tiles_: tiles_.reshape(shape))},
                         "requantize", inputs, with_reference)


@st.composite
def pipelined_programs(draw, config: VtaConfig, *, depth: int | None = None,
                       tasks: int | None = None, max_rows: int = 64,
                       max_tokens: int = HARDWARE_TOKEN_DEPTH, with_reference: bool = False):
    """Draw a software pipeline with several tokens outstanding between every pair of stages.

    A stream of independent tasks ``out[t] = a[t] @ b + imm`` (``a[t]`` one INP chunk of
    ``s`` elements, ``b`` ``s`` WGT elements loaded once, one OUT element per task): each task
    LOADs its input into the next slot of a ring of ``depth`` slots (2 to ``max_tokens``,
    drawn unless given, fewer if the scratchpads are too small), resets and accumulates into
    the next slot of a ring of accumulators, adds ``imm`` with the ALU and STOREs. Only slot
    reuse orders the stages, so the load stage runs up to ``depth`` tasks ahead of compute and
    compute up to the accumulator ring's size ahead of store (``RunStats.max_tokens``).
    ``tasks`` defaults to a draw in [depth, depth + 3]. With ``with_reference`` returns
    ``(image, Reference)``: inputs ``a`` (tasks x BATCH x s*BLOCK), ``b`` (s*BLOCK x BLOCK),
    ``imm``; output ``out`` (tasks x BATCH x BLOCK).
    """
    asm = _Assembler(config, max_tokens)
    rng = _rng(draw)
    regions = _regions(asm, max_rows)
    batch, block = config.batch, config.block
    depth = _fixed(draw, depth, st.integers(2, max_tokens))
    size = draw(st.integers(1, max(1, min(2, regions["inp"] // depth, regions["wgt"],
                                          regions["uop"]))))
    inp_ring = max(1, min(depth, regions["inp"] // size))
    acc_ring = max(1, min(depth, regions["acc"]))
    tasks = _fixed(draw, tasks, st.integers(inp_ring, inp_ring + 3))
    imm = draw(st.integers(-(1 << 15), (1 << 15) - 1))
    a = _lanes(rng, tasks * batch, size * block, config.inp_width).reshape(tasks, batch,
                                                                          size * block)
    b = _lanes(rng, size * block, block, config.wgt_width)
    a_index = asm.place(MemType.INP, np.concatenate([_tile(a[t], batch, block)
                                                     for t in range(tasks)]))
    b_index = asm.place(MemType.WGT, _tile(b.T, block, block))
    out_index = asm.reserve_out(tasks, rng)
    inp_slots, acc_slots = _Slots(inp_ring, size), _Slots(acc_ring, 1)
    asm.load(MemType.WGT, 0, b_index, 1, size, size)
    for t in range(tasks):
        inp = inp_slots.take()
        acc = acc_slots.take()
        asm.load(MemType.INP, inp, a_index + t * size, 1, size, size)
        asm.gemm([Uop(acc, 0, 0)], 1, 1, {}, reset=True, uop_region=regions["uop"])
        asm.gemm([Uop(acc, inp + j, j) for j in range(size)], 1, 1, {},
                 uop_region=regions["uop"])
        asm.alu([Uop(acc, acc, 0)], 1, 1, {}, AluOp.ADD, imm, regions["uop"])
        asm.store(acc, out_index + t, 1, 1, 1)
    total = wrap(a.astype(np.int64) @ b.astype(np.int64), config.acc_width)
    result = wrap(wrap(total + imm, config.acc_width), config.out_width)  # tasks x batch x block
    inputs = {"a": a, "b": b, "imm": imm, "depth": inp_ring, "acc_depth": acc_ring}
    return _finish_image(asm, {"out": (out_index, result.reshape(tasks, -1),
                                       lambda tiles_: tiles_.reshape(tasks, batch, block))},
                         "pipelined", inputs, with_reference)



@st.composite
def programs(draw, config: VtaConfig | None = None, *,
             max_tokens: int = HARDWARE_TOKEN_DEPTH) -> ProgramImage:
    """Draw a program from any of the strategies above (random or structured).

    Without ``config``, a config is drawn from :func:`configs` with buffers at most 2^6 deep.
    Valid by construction as described in the module docstring.
    """
    if config is None:
        config = draw(small_configs())
    return draw(st.one_of(
        random_programs(config, max_tokens=max_tokens),
        tiled_gemm_programs(config, max_tokens=max_tokens),
        conv2d_programs(config, max_tokens=max_tokens),
        requantize_programs(config, max_tokens=max_tokens),
        pipelined_programs(config, max_tokens=max_tokens)))
