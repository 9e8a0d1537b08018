"""Random programs of every instruction kind, as a sequence of actions on a growing program.

:class:`RandomProgram` holds a program under construction and offers one method per action
(:data:`ACTIONS`: ``load_inp``, ``gemm``, ``store``, ...) that appends instructions through the
:class:`~.assembler.Assembler`. An action draws nothing: it takes the blocks it reads and returns
the block it writes (:func:`signatures` says which), and it fits its other arguments (one small
dataclass of :mod:`.arguments`, drawn from a fixed strategy) to the program: a tile smaller than
asked for when its slot is small, a loop that stays inside its blocks. So a step means the same
whatever steps ran before it, and deleting a step leaves the others' meaning intact.

:class:`ProgramMachine` runs the actions as the rules of a Hypothesis state machine, blocks
passing between steps through Bundles, so that a failure shrinks to a few readable steps;
:func:`random_programs` draws the same actions as a plain strategy. Every program ends by
storing every accumulator element it wrote, so its final DRAM shows what every step did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, multiple, rule

from ..config import VtaConfig
from ..image import ProgramImage
from ..isa import AluOp, Load, MemType, Stage, Uop
from ..pipeline import ADJACENT, DEFAULT_TOKEN_DEPTH
from . import arguments
from .arguments import OPERANDS, AluLoop, Kernel, Loop, Nop, Rows, Sync, Tile
from .assembler import Assembler, grid, random_lanes

__all__ = ["ACTIONS", "POOLS", "Block", "ProgramMachine", "RandomProgram", "Signature", "Stored",
           "random_programs", "signatures", "slot_counts"]

# The pools that blocks pass through from the action that writes them to those that read them.
POOLS = ("inp", "wgt", "acc", "stored")


@dataclass(frozen=True)
class Block:
    """Scratchpad elements that one action wrote, all of them: ``buffer`` (inp, wgt or acc)
    rows ``rows``."""

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


@dataclass(frozen=True)
class Signature:
    """An action's arguments: ``blocks`` maps each block argument to the pool it is taken
    from, ``values`` every other argument to its strategy; the block it returns (None when it
    writes none) joins pool ``result``."""

    blocks: dict[str, str]
    values: dict[str, st.SearchStrategy]
    result: str | None = None


# The actions, each name once per unit of weight: random_programs picks uniformly among the
# feasible entries, and ProgramMachine has a rule per entry.
ACTIONS = ("load_inp", "load_inp", "load_wgt", "load_wgt", "load_acc", "reset", "noop", "alu",
           "alu", "alu_vector", "store", "store", "gemm", "gemm", "gemm", "gemm", "reload")


def signatures(alu_ops: Sequence[AluOp] = tuple(AluOp)) -> dict[str, Signature]:
    """Return the :class:`Signature` of every action that can run: ALU ops are drawn from
    ``alu_ops`` (no ALU actions if it is empty)."""
    table = {
        "load_inp": Signature({}, {"tile": arguments.tiles(Stage.LOAD)}, "inp"),
        "load_wgt": Signature({}, {"tile": arguments.tiles(Stage.LOAD)}, "wgt"),
        "load_acc": Signature({}, {"memory_type": st.sampled_from([MemType.ACC,
                                                                    MemType.ACC_8BIT]),
                                   "tile": arguments.tiles(Stage.COMPUTE)}, "acc"),
        "reload": Signature({"source": "stored"}, {"tile": arguments.tiles(Stage.LOAD)}, "inp"),
        "reset": Signature({}, {"loop": arguments.loops(1)}, "acc"),
        "gemm": Signature({"dst": "acc", "src": "inp", "wgt": "wgt"},
                          {"loop": arguments.loops(3)}),
        "store": Signature({"src": "acc"}, {"rows": arguments.rows()}, "stored"),
        # One argument and no result: the first of ProgramMachine's rules in Hypothesis's order,
        # so a step the shrinker blanks out becomes a no-op it can then delete.
        "noop": Signature({}, {"nop": arguments.nops()}),
    }
    if alu_ops:
        table["alu"] = Signature({"dst": "acc"},
                                 {"loop": arguments.alu_loops(alu_ops, vector=False)})
        table["alu_vector"] = Signature({"dst": "acc", "src": "acc"},
                                        {"loop": arguments.alu_loops(alu_ops, vector=True)})
    return table


def slot_counts() -> st.SearchStrategy[dict[str, int]]:
    """Draw how many slots each scratchpad's region is split into (see RandomProgram)."""
    return st.fixed_dictionaries({name: st.integers(1, 4) for name in ("inp", "wgt", "acc")})


def _fit_tile(capacity: int, tile: Tile) -> tuple[int, int, tuple]:
    """Return ``tile``'s rows, columns and pads (y0, y1, x0, x1) cut to ``capacity``
    elements."""
    y0, y1, x0, x1 = tile.pads
    x = min(tile.x, capacity)
    x0 = min(x0, capacity - x)
    x1 = min(x1, capacity - x - x0)
    rows_fitting = capacity // (x + x0 + x1)
    y = min(tile.y, rows_fitting)
    y0 = min(y0, rows_fitting - y)
    y1 = min(y1, rows_fitting - y - y0)
    return y, x, (y0, y1, x0, x1)


def _candidates(mask: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Bases b such that every ``mask[b + offset]`` holds."""
    span = int(offsets.max()) if offsets.size else 0
    if span >= mask.size:
        return np.zeros(0, dtype=np.int64)
    bases = np.arange(mask.size - span)
    return bases[np.all(mask[bases[:, None] + offsets[None, :]], axis=1)]


def _fit_loop(loop: Loop, uops: tuple, masks: dict[str, np.ndarray]) -> tuple[dict, list[Uop]]:
    """Return the factors and the uops for ``loop`` with the picks ``uops`` such that every
    index an operand visits lies in its ``masks`` entry."""
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
    program = [Uop(*(bases[operand][i] if operand in bases else 0 for operand in OPERANDS))
               for i in range(len(uops))]
    return factors, program


def _fit_kernel(kernel: Kernel, count: int, region: int) -> dict:
    """Return the uop layout of ``kernel`` (:meth:`Assembler.kernel`'s arguments) for ``count``
    uops in a uop region of ``region`` entries."""
    if kernel.rows == 2 and count == 2:
        return {"rows": 2, "gap": kernel.gap}
    y0, y1, x0, x1 = kernel.pads
    spare = region - count
    x0 = min(x0, spare)
    x1 = min(x1, spare - x0)
    rows_fitting = region // (count + x0 + x1)
    y0 = min(y0, rows_fitting - 1)
    y1 = min(y1, rows_fitting - 1 - y0)
    return {"pads": (y0, y1, x0, x1)}


class RandomProgram:
    """A program under construction and the actions that extend it (see the module docstring).

    Each scratchpad uses at most ``max_rows`` elements, split into ``slots[buffer]`` equal
    slots (1 to 4) that LOADs write to; token queues hold at most ``max_tokens`` (at least 2).
    Micro-ops are loaded just before use (1D, 2D strided or zero-padded loads).
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

    def load_inp(self, tile: Tile) -> Block | None:
        """A 2D strided, padded LOAD of fresh INP data (:meth:`_load`)."""
        return self._load("inp", MemType.INP, tile)

    def load_wgt(self, tile: Tile) -> Block | None:
        """A 2D strided, padded LOAD of fresh WGT data (:meth:`_load`)."""
        return self._load("wgt", MemType.WGT, tile)

    def load_acc(self, memory_type: MemType, tile: Tile) -> Block | None:
        """A 2D strided, padded LOAD of fresh ACC or ACC_8BIT data (:meth:`_load`)."""
        return self._load("acc", memory_type, tile)

    def reload(self, source: Stored, tile: Tile) -> Block | None:
        """A LOAD INP of (at most ``tile.y`` rows of ``tile.x`` of) what an earlier STORE
        wrote; returns the block written."""
        tile = Tile(tile.slot, min(tile.y, source.y), min(tile.x, source.x), tile.pads,
                    tile.offset, source.stride, sync=tile.sync)
        return self._place("inp", MemType.INP, source.dram_base, tile)

    def reset(self, loop: Loop) -> Block:
        """A GEMM with reset over any accumulator elements; returns the elements reset."""
        return self._loop_insn({"dst": np.ones(self.regions["acc"], dtype=bool)}, loop,
                               reset=True)

    def gemm(self, dst: Block, src: Block, wgt: Block, loop: Loop) -> None:
        """A GEMM accumulating ``src`` . ``wgt`` elements into ``dst`` elements."""
        self._loop_insn({"dst": self._mask(dst), "src": self._mask(src),
                         "wgt": self._mask(wgt)}, loop)

    def alu(self, dst: Block, loop: AluLoop) -> None:
        """An ALU op with an immediate on ``dst`` elements (SHR by a negative amount shifts
        left)."""
        self._loop_insn({"dst": self._mask(dst)}, loop, op=loop.op, imm=loop.imm)

    def alu_vector(self, dst: Block, src: Block, loop: AluLoop) -> None:
        """An ALU op of ``dst`` elements with ``src`` elements."""
        self._loop_insn({"dst": self._mask(dst), "src": self._mask(src)}, loop, op=loop.op)

    def store(self, src: Block, rows: Rows) -> Stored:
        """A STORE of ``src`` elements as :class:`~.arguments.Rows` says (to fresh DRAM filled
        with random bytes, or over INP data); returns what it wrote."""
        mask = self._mask(src)
        for y, x in ((rows.y, rows.x), (rows.y, 1), (1, rows.x), (1, 1)):
            choices = _candidates(mask, np.arange(y * x))
            if choices.size:
                break
        base = int(choices[min(rows.offset, choices.size - 1)])
        stride = max(rows.stride, x)
        extent = (y - 1) * stride + x
        targets = [index for index, count in self.sources if count >= extent]
        if rows.over is not None and targets:
            dram_base = targets[min(rows.over, len(targets) - 1)]
        else:
            dram_base = self._fresh_out(extent)
        self.asm.store(base, dram_base, y, x, stride, sync=self._after(rows.sync, Stage.STORE))
        return Stored(dram_base, y, x, stride)

    def noop(self, nop: Nop) -> None:
        """An ``x_size == 0`` instruction (it only moves tokens)."""
        self.asm.noop(nop.stage, sync=self._after(nop.sync, nop.stage))

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

    def _load(self, name: str, memory_type: MemType, tile: Tile) -> Block | None:
        """LOAD ``tile`` of fresh random data into scratchpad ``name``; return the block
        written (None if nothing)."""
        fmt = self.asm.formats[memory_type]
        width = 8 if memory_type == MemType.ACC_8BIT else fmt.width
        count = (max(tile.y, 1) - 1) * tile.stride + tile.x
        values = random_lanes(np.random.default_rng(tile.seed), count, fmt.lanes, width)
        dram_base = self.asm.place(memory_type, values)
        if memory_type == MemType.INP:
            self.sources.append((dram_base, count))
        return self._place(name, memory_type, dram_base, tile)

    def _place(self, name: str, memory_type: MemType, dram_base: int, tile: Tile) -> Block | None:
        """LOAD ``tile`` from DRAM element ``dram_base`` into scratchpad ``name``."""
        count = self.slots[name]
        size = self.regions[name] // count
        start = min(tile.slot, count - 1) * size
        y, x, pads = _fit_tile(size, tile)
        y0, y1, x0, x1 = pads
        total = (y0 + y + y1) * (x0 + x + x1)
        base = start + min(tile.offset, size - total)
        self.asm.load(memory_type, base, dram_base, y, x, tile.stride, pads,
                      sync=self._after(tile.sync, Load(memory_type=memory_type).stage))
        return Block(name, tuple(range(base, base + total))) if total else None

    def _loop_insn(self, masks: dict[str, np.ndarray], loop: Loop, *, reset: bool = False,
                   op: AluOp | None = None, imm: int | None = None) -> Block:
        """Append a GEMM (``op`` None) or an ALU ``op`` whose operands stay inside ``masks``;
        return the accumulator elements it writes. Uops past the uop region are left out."""
        factors, program = _fit_loop(loop, loop.uops[:self.uop_region], masks)
        placement = {"uop_region": self.uop_region,
                     "kernel_layout": _fit_kernel(loop.kernel, len(program), self.uop_region),
                     "sync": self._after(loop.sync, Stage.COMPUTE)}
        if op is None:
            self.asm.gemm(program, loop.iter_out, loop.iter_in, factors, reset, **placement)
        else:
            self.asm.alu(program, loop.iter_out, loop.iter_in, factors, op, imm, **placement)
        dst = grid(program, "dst_idx", loop.iter_out, loop.iter_in, factors["dst_factor_out"],
                   factors["dst_factor_in"])
        return Block("acc", tuple(int(row) for row in np.unique(dst)))


class ProgramMachine(RuleBasedStateMachine):
    """A Hypothesis state machine whose rules are the actions of :class:`RandomProgram`
    (every ALU op), blocks passing between steps through Bundles named after the pools.

    A subclass adds an ``@initialize`` rule that sets ``program`` and a ``teardown`` that
    checks ``program.build()``. A failure then prints as a few steps such as
    ``acc_0 = state.load_acc(memory_type=..., tile=Tile(x=2))`` and
    ``acc_1 = state.alu(dst=acc_0, loop=AluLoop(op=AluOp.MAX, imm=1))``.
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
    several tokens outstanding. The program ends by storing every accumulator element written.
    Each scratchpad uses at most ``max_rows`` elements; token queues hold at most
    ``max_tokens`` (at least 2; the hardware's 8 by default). The image has no ``expected``
    DRAM (run it on the spec to get one).
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
