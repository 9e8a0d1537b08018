"""Random programs of every instruction kind, as a sequence of actions on a growing program.

:class:`RandomProgram` holds a program under construction and offers one method per action
(:data:`ACTIONS`: ``load_inp``, ``gemm``, ``store``, ...) that appends instructions through the
:class:`~.assembler.Assembler`. An action draws nothing: it takes the blocks it reads as
arguments and returns the block it writes (:func:`signatures` says which), and it fits its other
arguments, drawn from fixed strategies, to the program (a block smaller than asked for when the
slot is small, a loop that stays inside its blocks). So a step means the same whatever steps ran
before it, and deleting a step leaves the others' meaning intact: a Hypothesis state machine
whose rules are the actions (``tests/test_impl_core.py``, blocks passed through Bundles) shrinks
a failure to a few steps. :func:`random_programs` draws the same actions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, multiple, rule

from ..config import VtaConfig
from ..image import ProgramImage
from ..isa import AluOp, Load, MemType, Stage, Uop
from ..pipeline import ADJACENT, DEFAULT_TOKEN_DEPTH
from .assembler import Assembler, grid, random_lanes

__all__ = ["ACTIONS", "POOLS", "Block", "Kernel", "Loop", "ProgramMachine", "RandomProgram",
           "Signature", "Stored", "Sync", "random_programs", "signatures", "slot_counts"]

# The pools that blocks pass through from the action that writes them to those that read them.
POOLS = ("inp", "wgt", "acc", "stored")


class _Compact:
    """A dataclass that prints only the fields that differ from their defaults."""

    def __repr__(self) -> str:
        changed = [f"{field.name}={getattr(self, field.name)!r}"
                   for field in dataclasses.fields(self)
                   if getattr(self, field.name) != field.default]
        return f"{type(self).__name__}({', '.join(changed)})"

    def _repr_pretty_(self, printer, cycle) -> None:  # Hypothesis's pretty printer
        printer.text(repr(self))


@dataclass(frozen=True)
class Block:
    """Scratchpad rows that one action wrote, all of them: ``buffer`` (inp, wgt or acc) rows
    ``rows``."""

    buffer: str
    rows: tuple[int, ...]

    def mask(self, size: int) -> np.ndarray:
        """Return the block as a mask over the first ``size`` rows of its buffer."""
        mask = np.zeros(size, dtype=bool)
        mask[list(self.rows)] = True
        return mask


@dataclass(frozen=True)
class Stored:
    """OUT elements that a STORE wrote: ``y`` rows of ``x`` from element ``dram_base``, rows
    ``stride`` elements apart."""

    dram_base: int
    y: int
    x: int
    stride: int


@dataclass(frozen=True, repr=False)
class Sync(_Compact):
    """An extra dependency token: the instruction also waits for the instruction of the
    neighbour stage ``after`` that is ``back`` places before that stage's latest one. Ignored
    when ``after`` is not a neighbour of the instruction's stage or has no instruction yet."""

    after: Stage
    back: int = 0


@dataclass(frozen=True, repr=False)
class Loop(_Compact):
    """The loop of a GEMM or ALU: ``iter_out`` x ``iter_in`` visits of every uop, and for each
    operand (dst, src, wgt) its index steps (per outer, per inner iteration). A step that would
    leave the operand's block is taken as 0."""

    iter_out: int = 1
    iter_in: int = 1
    dst: tuple[int, int] = (0, 0)
    src: tuple[int, int] = (0, 0)
    wgt: tuple[int, int] = (0, 0)


@dataclass(frozen=True, repr=False)
class Kernel(_Compact):
    """How a GEMM or ALU's uops are loaded: from ``rows`` rows in DRAM (2 only for 2 uops)
    with ``gap`` unused uops between them, or from one row zero-padded by ``pads`` (y0, y1, x0,
    x1, cut to fit the uop region)."""

    rows: int = 1
    gap: int = 0
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)


@dataclass(frozen=True)
class Signature:
    """An action's arguments: ``blocks`` maps each block argument to the pool it is taken
    from, ``values`` every other argument to its strategy; the block it returns (None when it
    writes none) joins pool ``result``."""

    blocks: dict[str, str]
    values: dict[str, st.SearchStrategy]
    result: str | None = None


# The actions, each name once per unit of weight: random_programs picks uniformly among the
# feasible entries.
ACTIONS = ("load_inp", "load_inp", "load_wgt", "load_wgt", "load_acc", "reset", "noop", "alu",
           "alu_vector", "store", "store", "gemm", "gemm", "gemm", "gemm", "reload")


def _mostly(usual: st.SearchStrategy, rare: st.SearchStrategy, odds: int) -> st.SearchStrategy:
    """Draw from ``usual``, or from ``rare`` once in ``odds`` draws; shrinks to ``usual``."""
    return st.integers(1, odds).flatmap(lambda n: rare if n == odds else usual)


def _syncs(stage: Stage | None) -> st.SearchStrategy:
    """Mostly None, sometimes a :class:`Sync` after a neighbour of ``stage`` (any stage if
    None)."""
    after = st.sampled_from(list(Stage) if stage is None else ADJACENT[stage])
    return _mostly(st.none(), st.builds(Sync, after, st.integers(0, 3)), 6)


def _loops(*operands: str) -> st.SearchStrategy:
    steps = st.tuples(st.integers(0, 2), st.integers(0, 2))
    return st.builds(Loop, st.integers(1, 3), st.integers(1, 3),
                     **{operand: steps for operand in operands})


def _uops(operands: int) -> st.SearchStrategy:
    """1 to 3 uops, each picking an element of every operand's block (a bare pick for one
    operand)."""
    pick = st.integers(0, 15)
    one = pick if operands == 1 else st.tuples(*[pick] * operands)
    return st.lists(one, min_size=1, max_size=3).map(tuple)


def signatures(alu_ops: Sequence[AluOp] = tuple(AluOp)) -> dict[str, Signature]:
    """Return the :class:`Signature` of every action that can run: ALU ops are drawn from
    ``alu_ops`` (no ALU actions if it is empty)."""
    kernels = st.one_of(st.just(Kernel()),
                        st.builds(Kernel, rows=st.just(2), gap=st.integers(0, 2)),
                        st.builds(Kernel, pads=st.tuples(st.integers(0, 1), st.integers(0, 1),
                                                         st.integers(0, 2), st.integers(0, 2))))
    block = {"slot": st.integers(0, 3), "y": _mostly(st.integers(1, 3), st.just(0), 10),
             "x": st.integers(1, 4), "pads": st.tuples(*[st.integers(0, 2)] * 4),
             "offset": st.integers(0, 15)}
    data = {**block, "stride": st.integers(0, 6), "seed": st.integers(0, 2**32 - 1)}
    compute = {"kernel": kernels, "sync": _syncs(Stage.COMPUTE)}
    table = {
        "load_inp": Signature({}, {**data, "sync": _syncs(Stage.LOAD)}, "inp"),
        "load_wgt": Signature({}, {**data, "sync": _syncs(Stage.LOAD)}, "wgt"),
        "load_acc": Signature({}, {"memory_type": st.sampled_from([MemType.ACC,
                                                                    MemType.ACC_8BIT]),
                                   **data, "sync": _syncs(Stage.COMPUTE)}, "acc"),
        "reload": Signature({"source": "stored"}, {**block, "sync": _syncs(Stage.LOAD)}, "inp"),
        "reset": Signature({}, {"uops": _uops(1), "loop": _loops("dst"), **compute}, "acc"),
        "gemm": Signature({"dst": "acc", "src": "inp", "wgt": "wgt"},
                          {"uops": _uops(3), "loop": _loops("dst", "src", "wgt"), **compute},
                          "acc"),
        "store": Signature({"src": "acc"}, {
            "y": st.integers(1, 2), "x": st.integers(1, 3), "stride": st.integers(1, 5),
            "offset": st.integers(0, 15), "over": st.one_of(st.none(), st.integers(0, 3)),
            "sync": _syncs(Stage.STORE)}, "stored"),
        "noop": Signature({}, {"stage": st.sampled_from(list(Stage)), "sync": _syncs(None)}),
    }
    if alu_ops:
        ops = st.sampled_from(list(alu_ops))
        table["alu"] = Signature({"dst": "acc"}, {
            "op": ops, "imm": st.one_of(st.integers(-34, 64),
                                        st.integers(-(1 << 15), (1 << 15) - 1)),
            "uops": _uops(1), "loop": _loops("dst"), **compute}, "acc")
        table["alu_vector"] = Signature({"dst": "acc", "src": "acc"}, {
            "op": ops, "uops": _uops(2), "loop": _loops("dst", "src"), **compute}, "acc")
    return table


def slot_counts() -> st.SearchStrategy[dict[str, int]]:
    """Draw how many slots each scratchpad's region is split into (see RandomProgram)."""
    return st.fixed_dictionaries({name: st.integers(1, 4) for name in ("inp", "wgt", "acc")})


def _fit_block(capacity: int, y: int, x: int, pads: tuple) -> tuple[int, int, tuple]:
    """Cut a padded 2D block (y rows of x, pads y0, y1, x0, x1) to ``capacity`` elements."""
    y0, y1, x0, x1 = pads
    x = min(x, capacity)
    x0 = min(x0, capacity - x)
    x1 = min(x1, capacity - x - x0)
    rows = capacity // (x + x0 + x1)
    y = min(y, rows)
    y0 = min(y0, rows - y)
    y1 = min(y1, rows - y - y0)
    return y, x, (y0, y1, x0, x1)


def _candidates(mask: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Bases b such that every ``mask[b + offset]`` holds."""
    span = int(offsets.max()) if offsets.size else 0
    if span >= mask.size:
        return np.zeros(0, dtype=np.int64)
    bases = np.arange(mask.size - span)
    return bases[np.all(mask[bases[:, None] + offsets[None, :]], axis=1)]


def _fit_loop(loop: Loop, uops: tuple, masks: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """Return the factors and every uop's index per operand, for ``loop`` and the picks
    ``uops``, such that every visited index of an operand lies in its ``masks`` entry."""
    factors, bases = {}, {}
    for column, (operand, mask) in enumerate(masks.items()):
        f_out, f_in = getattr(loop, operand)
        f_out, f_in = f_out if loop.iter_out > 1 else 0, f_in if loop.iter_in > 1 else 0
        offsets = np.unique(grid([Uop(0, 0, 0)], "dst_idx", loop.iter_out, loop.iter_in, f_out,
                                 f_in))
        choices = _candidates(mask, offsets)
        if not choices.size:
            f_out = f_in = 0
            choices = np.flatnonzero(mask)
        factors[f"{operand}_factor_out"] = f_out
        factors[f"{operand}_factor_in"] = f_in
        picks = [uop if isinstance(uop, tuple) else (uop,) for uop in uops]
        bases[operand] = [int(choices[min(pick[column], choices.size - 1)]) for pick in picks]
    return factors, bases


def _fit_kernel(kernel: Kernel, count: int, region: int) -> dict:
    """Return the uop layout of ``kernel`` (:meth:`Assembler.kernel`'s arguments) for ``count``
    uops in a uop region of ``region`` entries."""
    if kernel.rows == 2 and count == 2:
        return {"rows": 2, "gap": kernel.gap}
    y0, y1, x0, x1 = kernel.pads
    spare = region - count
    x0 = min(x0, spare)
    x1 = min(x1, spare - x0)
    rows = region // (count + x0 + x1)
    y0 = min(y0, rows - 1)
    y1 = min(y1, rows - 1 - y0)
    return {"pads": (y0, y1, x0, x1)}


class RandomProgram:
    """A program under construction and the actions that extend it (see the module docstring).

    Each scratchpad uses at most ``max_rows`` elements, split into ``slots[buffer]`` equal
    slots (1 to 4) that data loads write to; token queues hold at most ``max_tokens`` (at least
    2). Micro-ops are loaded just before use (1D, 2D strided or zero-padded loads).
    """

    def __init__(self, config: VtaConfig, *, slots: dict[str, int] | None = None,
                 max_rows: int = 16, max_tokens: int = DEFAULT_TOKEN_DEPTH):
        self.config = config
        self.asm = Assembler(config, max_tokens)
        self.regions = {name: min(self.asm.depth[name], max_rows) for name in ("inp", "wgt", "acc")}
        self.uop_region = min(self.asm.depth["uop"], max(8, max_rows))
        self.slots = {name: min((slots or {}).get(name, 1), size)
                      for name, size in self.regions.items()}
        self.sources = []  # (dram_base, element count) read by INP loads

    def build(self) -> ProgramImage:
        """Store every accumulator element written so far (so that the final DRAM shows the
        result of every step), end the program with FINISH and return its image (without
        ``expected`` DRAM)."""
        if not self.asm.finished:
            edges = np.diff(np.concatenate(([0], self.asm.mask("acc").astype(np.int8), [0])))
            for start, stop in zip(np.flatnonzero(edges > 0).tolist(),
                                   np.flatnonzero(edges < 0).tolist(), strict=True):
                count = stop - start
                self.asm.store(start, self._fresh_out(count), 1, count, count)
        return self.asm.build()

    # -- actions ---------------------------------------------------------------------------

    def load_inp(self, **arguments) -> Block | None:
        """A 2D strided, padded LOAD of INP data (:meth:`_load`)."""
        return self._load("inp", MemType.INP, **arguments)

    def load_wgt(self, **arguments) -> Block | None:
        """A 2D strided, padded LOAD of WGT data (:meth:`_load`)."""
        return self._load("wgt", MemType.WGT, **arguments)

    def load_acc(self, memory_type: MemType, **arguments) -> Block | None:
        """A 2D strided, padded LOAD of ACC or ACC_8BIT data (:meth:`_load`)."""
        return self._load("acc", memory_type, **arguments)

    def reload(self, source: Stored, *, slot: int, y: int, x: int, pads: tuple, offset: int,
               sync: Sync | None) -> Block | None:
        """A LOAD INP of (at most ``y`` rows of ``x`` of) what an earlier STORE wrote."""
        return self._place_block("inp", MemType.INP, source.dram_base, source.stride,
                                 slot, min(y, source.y), min(x, source.x), pads, offset, sync)

    def reset(self, *, uops: tuple, loop: Loop, kernel: Kernel,
              sync: Sync | None) -> Block:
        """A GEMM with reset over any accumulator elements; returns the elements reset."""
        masks = {"dst": np.ones(self.regions["acc"], dtype=bool)}
        return self._loop_insn(masks, uops, loop, kernel, sync, reset=True)

    def gemm(self, dst: Block, src: Block, wgt: Block, *, uops: tuple, loop: Loop,
             kernel: Kernel, sync: Sync | None) -> Block:
        """A GEMM accumulating ``src`` . ``wgt`` elements into ``dst`` elements; returns the
        elements it wrote."""
        masks = {"dst": self._mask(dst), "src": self._mask(src), "wgt": self._mask(wgt)}
        return self._loop_insn(masks, uops, loop, kernel, sync)

    def alu(self, dst: Block, *, op: AluOp, imm: int, uops: tuple, loop: Loop, kernel: Kernel,
            sync: Sync | None) -> Block:
        """An ALU ``op`` with an immediate on ``dst`` elements (signed 16-bit; SHR by a
        negative amount shifts left); returns the elements it wrote."""
        return self._loop_insn({"dst": self._mask(dst)}, uops, loop, kernel, sync, op=op, imm=imm)

    def alu_vector(self, dst: Block, src: Block, *, op: AluOp, uops: tuple, loop: Loop,
                   kernel: Kernel, sync: Sync | None) -> Block:
        """An ALU ``op`` of ``dst`` elements with ``src`` elements; returns the elements it
        wrote."""
        return self._loop_insn({"dst": self._mask(dst), "src": self._mask(src)}, uops, loop, kernel,
                        sync, op=op)

    def store(self, src: Block, *, y: int, x: int, stride: int, offset: int, over: int | None,
              sync: Sync | None) -> Stored:
        """A STORE of ``y`` rows of ``x`` elements, ``y * x`` consecutive ``src`` elements
        (fewer rows or columns, down to 1 x 1, if the block has no such run), rows
        ``max(stride, x)`` apart in DRAM: to fresh DRAM (filled with random bytes), or with
        ``over`` over the data of an earlier INP load that is large enough."""
        mask = self._mask(src)
        for rows, cols in ((y, x), (y, 1), (1, x), (1, 1)):
            choices = _candidates(mask, np.arange(rows * cols))
            if choices.size:
                break
        y, x = rows, cols
        base = int(choices[min(offset, choices.size - 1)])
        stride = max(stride, x)
        extent = (y - 1) * stride + x
        targets = [index for index, count in self.sources if count >= extent]
        if over is not None and targets:
            dram_base = targets[min(over, len(targets) - 1)]
        else:
            dram_base = self._fresh_out(extent)
        self.asm.store(base, dram_base, y, x, stride, sync=self._after(sync, Stage.STORE))
        return Stored(dram_base, y, x, stride)

    def noop(self, *, stage: Stage, sync: Sync | None) -> None:
        """An ``x_size == 0`` instruction of ``stage`` (it only moves tokens)."""
        self.asm.noop(stage, sync=self._after(sync, stage))

    # -- helpers ---------------------------------------------------------------------------

    def _fresh_out(self, count: int) -> int:
        """Reserve ``count`` OUT elements of DRAM filled with random bytes."""
        return self.asm.reserve_out(count, np.random.default_rng(len(self.asm.schedule)))

    def _mask(self, block: Block) -> np.ndarray:
        return block.mask(self.regions[block.buffer])

    def _after(self, sync: Sync | None, stage: Stage) -> dict | None:
        """Return the assembler's ``sync`` for ``sync`` on an instruction of ``stage``."""
        if sync is None or sync.after not in ADJACENT[stage] or not self.asm.count(sync.after):
            return None
        return {sync.after: max(1, self.asm.count(sync.after) - sync.back)}

    def _load(self, name: str, memory_type: MemType, *, slot: int, y: int, x: int, pads: tuple,
              stride: int, offset: int, seed: int, sync: Sync | None) -> Block | None:
        """LOAD ``y`` rows (0: padding only) of ``x`` elements, rows ``stride`` apart in DRAM
        (fresh random data from ``seed``), padded by ``pads``, at ``offset`` in slot ``slot``
        (all cut to fit the slot); return the block written (None if nothing)."""
        fmt = self.asm.formats[memory_type]
        width = 8 if memory_type == MemType.ACC_8BIT else fmt.width
        count = (max(y, 1) - 1) * stride + x
        dram_base = self.asm.place(memory_type, random_lanes(np.random.default_rng(seed), count,
                                                             fmt.lanes, width))
        if memory_type == MemType.INP:
            self.sources.append((dram_base, count))
        return self._place_block(name, memory_type, dram_base, stride, slot, y, x, pads, offset,
                                 sync)

    def _place_block(self, name: str, memory_type: MemType, dram_base: int, stride: int,
                     slot: int, y: int, x: int, pads: tuple, offset: int,
                     sync: Sync | None) -> Block | None:
        count = self.slots[name]
        size = self.regions[name] // count
        start = min(slot, count - 1) * size
        y, x, pads = _fit_block(size, y, x, pads)
        y0, y1, x0, x1 = pads
        total = (y0 + y + y1) * (x0 + x + x1)
        base = start + min(offset, size - total)
        self.asm.load(memory_type, base, dram_base, y, x, stride, pads,
                      sync=self._after(sync, Load(memory_type=memory_type).stage))
        return Block(name, tuple(range(base, base + total))) if total else None

    def _loop_insn(self, masks: dict[str, np.ndarray], uops: tuple, loop: Loop, kernel: Kernel,
                   sync: Sync | None, *, reset: bool = False, op: AluOp | None = None,
                   imm: int | None = None) -> Block:
        """Append a GEMM (``op`` None) or an ALU ``op`` whose operands stay inside ``masks``;
        return the accumulator elements it writes. Uops that do not fit the uop region are left
        out."""
        uops = uops[:self.uop_region]
        factors, bases = _fit_loop(loop, uops, masks)
        program = [Uop(*(bases[operand][i] if operand in bases else 0
                         for operand in ("dst", "src", "wgt"))) for i in range(len(uops))]
        placement = {"uop_region": self.uop_region,
                     "kernel_layout": _fit_kernel(kernel, len(program), self.uop_region),
                     "sync": self._after(sync, Stage.COMPUTE)}
        if op is None:
            self.asm.gemm(program, loop.iter_out, loop.iter_in, factors, reset, **placement)
        else:
            self.asm.alu(program, loop.iter_out, loop.iter_in, factors, op, imm, **placement)
        dst = grid(program, "dst_idx", loop.iter_out, loop.iter_in, factors["dst_factor_out"],
                   factors["dst_factor_in"])
        return Block("acc", tuple(int(row) for row in np.unique(dst)))


class ProgramMachine(RuleBasedStateMachine):
    """A Hypothesis state machine with one rule per action of :class:`RandomProgram` (every
    ALU op), blocks passing between steps through Bundles named after the pools.

    A subclass adds an ``@initialize`` rule that sets ``program`` and a ``teardown`` that
    checks ``program.build()``: a failure then prints as a short list of steps such as
    ``acc_0 = state.load_acc(...)``, ``state.store(src=acc_0, y=1, x=1, ...)``.
    """

    program: RandomProgram | None = None
    inp = Bundle("inp")
    wgt = Bundle("wgt")
    acc = Bundle("acc")
    stored = Bundle("stored")


def _rule(action: str, signature: Signature):
    """Return the rule of ``ProgramMachine`` that runs ``action``."""
    def step(machine, **arguments):
        result = getattr(machine.program, action)(**arguments)
        if signature.result is not None:
            return multiple() if result is None else result
        return None

    step.__name__ = step.__qualname__ = action
    blocks = {argument: getattr(ProgramMachine, pool)
              for argument, pool in signature.blocks.items()}
    if signature.result is not None:
        blocks["target"] = getattr(ProgramMachine, signature.result)
    return rule(**blocks, **signature.values)(step)


# Each action as many times as ACTIONS names it (its weight); the copies share the action's
# name, so they print alike and Hypothesis turns them on and off together.
for _action, _signature in signatures().items():
    for _copy in range(ACTIONS.count(_action)):
        setattr(ProgramMachine, f"{_action}_{_copy}" if _copy else _action,
                _rule(_action, _signature))


@st.composite
def random_programs(draw, config: VtaConfig, *, min_actions: int = 4, max_actions: int = 16,
                    max_rows: int = 16, max_tokens: int = DEFAULT_TOKEN_DEPTH,
                    alu_ops: Sequence[AluOp] = tuple(AluOp)) -> ProgramImage:
    """Draw a random mix of every instruction kind; valid by construction (package docstring).

    ``min_actions`` to ``max_actions`` steps (tens of instructions), each one of the actions of
    :class:`RandomProgram`: a 2D strided, padded LOAD of INP, WGT, ACC or ACC_8BIT into a slot
    of its scratchpad; a GEMM with reset; a GEMM accumulating over both loop levels; an ALU op
    from ``alu_ops`` with an immediate (SHR: also negative or past ACC_WIDTH) or a vector
    operand; a STORE of written accumulator rows (strided) to fresh DRAM or over data an earlier
    LOAD read; a LOAD INP of data an earlier STORE wrote; an ``x_size == 0`` no-op. An action
    reads one of the last few blocks written, so that stages run ahead of each other with
    several tokens outstanding. Each scratchpad uses at most ``max_rows`` elements; token queues
    hold at most ``max_tokens`` (at least 2; the hardware's 8 by default). The image has no
    ``expected`` DRAM (run it on the spec to get one).
    """
    program = RandomProgram(config, slots=draw(slot_counts()), max_rows=max_rows,
                            max_tokens=max_tokens)
    table = signatures(alu_ops)
    pools = {pool: [] for pool in POOLS}
    for _ in range(draw(st.integers(min_actions, max_actions))):
        action = draw(st.sampled_from([
            name for name in ACTIONS
            if name in table and all(pools[pool] for pool in table[name].blocks.values())]))
        signature = table[action]
        blocks = {argument: pools[pool][-1 - draw(st.integers(0, min(3, len(pools[pool]) - 1)))]
                  for argument, pool in signature.blocks.items()}
        values = {argument: draw(strategy) for argument, strategy in signature.values.items()}
        result = getattr(program, action)(**blocks, **values)
        if result is not None:
            pools[signature.result].append(result)
    return program.build()
