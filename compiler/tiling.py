"""Tile search under a simple cost model.

Operators describe a tiling by a few integer parameters (tile extents); :func:`search` tries every
combination of candidate values at once with numpy, keeps those that fit the scratchpads, and
returns the cheapest. :func:`cycles` is the search's cost model, a vectorized simplification of
:mod:`.timing` with its constants: the three stages overlap (double buffering), so a program
takes about as long as its busiest stage, plus a fixed cost per instruction.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .errors import CompileError
from .timing import DEFAULT_TIMING

DRAM_BYTES_PER_CYCLE = DEFAULT_TIMING.bus_bytes  # one beat per cycle
CYCLES_PER_INSN = DEFAULT_TIMING.insn_cycles


def candidates(extent: int) -> np.ndarray:
    """Return the tile extents worth trying along a dimension: ``ceil(extent / k)`` for all k."""
    k = np.arange(1, extent + 1)
    return np.unique(-(-extent // k))


def cycles(load_bytes, compute, store_bytes, instructions):
    """Estimate run time in cycles (arrays broadcast): the busiest stage plus issue overhead."""
    load = np.asarray(load_bytes) / DRAM_BYTES_PER_CYCLE
    store = np.asarray(store_bytes) / DRAM_BYTES_PER_CYCLE
    return np.maximum(np.maximum(load, compute), store) + CYCLES_PER_INSN * np.asarray(instructions)


def search(options: dict[str, np.ndarray], fits: Callable[..., np.ndarray],
           cost: Callable[..., np.ndarray]) -> dict[str, int]:
    """Return the combination of ``options`` (name -> candidate values) with the lowest cost.

    ``fits`` and ``cost`` take the combinations as keyword arrays of equal shape; ties go to the
    combination that comes first in ``options`` order (smallest values first).
    """
    grids = np.meshgrid(*options.values(), indexing="ij")
    params = {name: grid.reshape(-1).astype(np.int64) for name, grid in zip(options, grids)}
    feasible = np.flatnonzero(fits(**params))
    if not feasible.size:
        raise CompileError("no tiling fits the scratchpads")
    chosen = {name: values[feasible] for name, values in params.items()}
    best = int(np.argmin(cost(**chosen)))
    return {name: int(values[best]) for name, values in chosen.items()}


def split(extent: int, size: int) -> list[tuple[int, int]]:
    """Return ``(start, length)`` of the tiles of ``size`` covering ``range(extent)``."""
    return [(start, min(size, extent - start)) for start in range(0, extent, size)]
