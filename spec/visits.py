"""The visits of a micro-op loop (GEMM and ALU): their scratchpad indices, checked, computed once.

A loop's visits depend only on its loop fields, the micro-ops it runs and the configuration, not
on the data. Programs run the same loop many times (every tile of a layer), so
:func:`loop_visits` keeps the last loops it computed, keyed on exactly those inputs, and hands
the same read-only index grids (and whatever analyses of them the execute functions derived) to
every instruction that runs the same loop again.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from operator import attrgetter

import numpy as np

from .errors import ProgramError
from .isa import LoopInsn, uop_layout, visit_index
from .state import MachineState

CACHED_LOOPS = 64  # distinct loops remembered (a layer's program runs a handful)


def decode_uops(words: np.ndarray, state: MachineState) -> dict[str, np.ndarray]:
    """Split raw micro-op words into their fields (int64 arrays)."""
    words = words.astype(np.int64)
    return {f.name: (words >> f.offset) & f.mask for f in uop_layout(state.config)}


def check_uop_range(insn: LoopInsn, state: MachineState, index: int) -> None:
    """Raise ProgramError if a loop that visits anything runs past the uop buffer.

    An empty loop (:attr:`~vtaref.spec.isa.LoopInsn.is_empty`) visits nothing and so is never
    at fault, whatever ``uop_end`` is, as in TVM-VTA's simulator.
    """
    if not insn.is_empty and insn.uop_end > state["uop"].depth:
        raise ProgramError(index, insn.MNEMONIC, "uop_end",
                           f"{insn.uop_end} exceeds the uop buffer depth {state['uop'].depth}")


def index_fault(insn: LoopInsn, index: int, target: str, u: int, o: int, i: int,
                value: int, depth: int) -> ProgramError:
    """Return the error for index ``target`` of visit ``(o, i, u)`` past its buffer's depth."""
    return ProgramError(index, insn.MNEMONIC, f"{target}_factor_out/{target}_factor_in",
                        f"uop {u} at iteration ({o}, {i}) indexes {insn.BUFFERS[target]}"
                        f"[{value}], past the buffer depth {depth}")


class LoopVisits:
    """One loop's index grids (read-only, shaped ``(iter_out, iter_in, uops)``) and analyses
    derived from them, each computed on first use."""

    def __init__(self, idx: dict[str, np.ndarray]):
        for grid in idx.values():
            grid.setflags(write=False)
        self.idx = idx
        self._derived: dict[str, object] = {}

    def derived(self, name: str, compute: Callable[[dict[str, np.ndarray]], object]):
        """Return ``compute(self.idx)``, computed once per loop under ``name``."""
        if name not in self._derived:
            self._derived[name] = compute(self.idx)
        return self._derived[name]


_loops: dict[tuple, LoopVisits] = {}


def loop_visits(insn: LoopInsn, state: MachineState, index: int,
                keys: tuple[str, ...] = ("dst", "src", "wgt")) -> LoopVisits:
    """Return the visits of ``insn``'s loop for the indices of ``insn.BUFFERS`` named in ``keys``.

    The indices are computed and checked in ``insn.BUFFERS`` order; an index past its buffer's
    depth, or a loop past the uop buffer, raises ProgramError. An empty loop visits nothing.
    """
    check_uop_range(insn, state, index)
    keys = tuple(key for key in insn.BUFFERS if key in keys)
    if insn.is_empty:
        return LoopVisits({key: np.zeros((0, 0, 0), dtype=np.int64) for key in keys})
    words = state["uop"].data[insn.uop_bgn:insn.uop_end, 0]
    cache_key = (type(insn), keys, _loop_fields(keys)(insn), words.tobytes(), state.config)
    visits = _loops.get(cache_key)
    if visits is None:
        visits = LoopVisits(_indices(insn, state, index, keys, decode_uops(words, state)))
        if len(_loops) >= CACHED_LOOPS:
            del _loops[next(iter(_loops))]
        _loops[cache_key] = visits
    return visits


@cache
def _loop_fields(keys: tuple[str, ...]) -> Callable[[LoopInsn], tuple[int, ...]]:
    """Return a getter of the loop fields that decide the visits of indices ``keys``: the two
    counts and each index's two factors."""
    return attrgetter("iter_out", "iter_in", *(f"{key}_factor_{level}" for key in keys
                                                for level in ("out", "in")))


def _indices(insn: LoopInsn, state: MachineState, index: int, keys: tuple[str, ...],
             uops: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    outer = np.arange(insn.iter_out, dtype=np.int64)[:, None, None]
    inner = np.arange(insn.iter_in, dtype=np.int64)[None, :, None]
    result = {}
    for key in keys:
        # The loop part (iter_out, iter_in, 1) plus the uop part (1, 1, uops): the largest index
        # is the sum of the two parts' largest, found without scanning the whole grid.
        loop_part = visit_index(insn, key, 0, outer, inner)
        uop_part = uops[f"{key}_idx"][None, None, :]
        idx = loop_part + uop_part
        depth = state[insn.BUFFERS[key]].depth
        if loop_part.max() + uop_part.max() >= depth:
            o, i, u = np.unravel_index(int(np.argmax(idx >= depth)), idx.shape)
            raise index_fault(insn, index, key, insn.uop_bgn + u, o, i, idx[o, i, u], depth)
        result[key] = idx
    return result


def rows_index(rows: np.ndarray) -> np.ndarray | slice:
    """Return ``rows`` (distinct) as a slice when they are consecutive and ascending, else as
    they are: indexing a buffer with either selects the same rows, but a slice does not gather
    (a view, read and written in place)."""
    if rows.size and rows[-1] - rows[0] == rows.size - 1 and np.all(np.diff(rows) == 1):
        return slice(int(rows[0]), int(rows[-1]) + 1)
    return rows


def uop_indices(insn: LoopInsn, state: MachineState, index: int,
                keys: tuple[str, ...] = ("dst", "src", "wgt")) -> dict[str, np.ndarray]:
    """Return each index the uop loop visits (read-only grids), as :func:`loop_visits`."""
    return loop_visits(insn, state, index, keys).idx
