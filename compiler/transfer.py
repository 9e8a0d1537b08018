"""Box copies between a row-major DRAM array and a contiguous scratchpad block, as 2D transfers.

LOAD and STORE move ``y_size`` rows of ``x_size`` consecutive elements, rows ``x_stride`` elements
apart in DRAM and back to back in the scratchpad. :func:`box_transfers` covers an n-dimensional
box with as few of them as it can: trailing dimensions that the box spans fully merge into the row,
leading ones into the row count, and whatever is left becomes one transfer per index. Padding
(loads only) surrounds the last two dimensions of the box with zeros in the scratchpad.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vtaref.spec.config import MEMOP_PAD_BIT_WIDTH, MEMOP_SIZE_BIT_WIDTH, MEMOP_STRIDE_BIT_WIDTH

MAX_PAD = (1 << MEMOP_PAD_BIT_WIDTH) - 1
MAX_SIZE = (1 << MEMOP_SIZE_BIT_WIDTH) - 1
MAX_STRIDE = (1 << MEMOP_STRIDE_BIT_WIDTH) - 1
NO_PADS = (0, 0, 0, 0)


@dataclass(frozen=True)
class Transfer:
    """One LOAD or STORE of a box copy; offsets count elements from the array and block starts."""

    dram_offset: int
    sram_offset: int
    y_size: int
    x_size: int
    x_stride: int
    pads: tuple[int, int, int, int] = NO_PADS  # y_pad_0, y_pad_1, x_pad_0, x_pad_1

    @property
    def sram_size(self) -> int:
        y0, y1, x0, x1 = self.pads
        return (y0 + self.y_size + y1) * (x0 + self.x_size + x1)


def box_transfers(shape: tuple[int, ...], start: tuple[int, ...], extent: tuple[int, ...],
                  pads: tuple[int, int, int, int] = NO_PADS) -> list[Transfer]:
    """Return the transfers copying ``array[start : start + extent]`` to or from a block.

    The block holds the box in row-major order, its last two dimensions grown by ``pads``. With
    padding the box needs at least two dimensions and only the row count may be zero.
    """
    if not len(shape) == len(start) == len(extent):
        raise ValueError("shape, start and extent need the same number of dimensions")
    if any(s < 0 or s + e > n for s, e, n in zip(start, extent, shape)):
        raise ValueError(f"box {start}+{extent} lies outside the array {shape}")
    if max(pads) > MAX_PAD:
        raise ValueError(f"padding {pads} exceeds {MAX_PAD}")
    strides = [math.prod(shape[d + 1:]) for d in range(len(shape))]
    if any(pads):
        row, rows = len(shape) - 1, len(shape) - 2
        x_size, y_size = extent[row], extent[rows]
        block_shape = (*extent[:rows], pads[0] + y_size + pads[1], pads[2] + x_size + pads[3])
    else:
        # Merge fully spanned trailing dimensions into the row, then leading ones into the rows.
        row = len(shape) - 1
        x_size = extent[row]
        while row > 0 and extent[row] == shape[row] and x_size * extent[row - 1] <= MAX_SIZE:
            row -= 1
            x_size *= extent[row]
        rows, y_size = row, 1
        if row > 0 and strides[row - 1] <= MAX_STRIDE:
            rows, y_size = row - 1, extent[row - 1]
            while (rows > 0 and extent[rows] == shape[rows]
                   and y_size * extent[rows - 1] <= MAX_SIZE):
                rows -= 1
                y_size *= extent[rows]
        block_shape = extent
    x_stride = strides[row - 1] if rows < row else x_size
    if x_size > MAX_SIZE or y_size > MAX_SIZE or x_stride > MAX_STRIDE:
        raise ValueError(f"a row of {x_size} elements, {y_size} rows or a stride of {x_stride} "
                         "does not fit the LOAD/STORE fields")
    block_strides = [math.prod(block_shape[d + 1:]) for d in range(len(shape))]
    transfers = []
    for index in np.ndindex(*extent[:rows]):
        dram = sum((s + i) * k for s, i, k in zip(start, index, strides))
        dram += sum(start[d] * strides[d] for d in range(rows, len(shape)))
        sram = sum(i * k for i, k in zip(index, block_strides))
        transfers.append(Transfer(dram, sram, y_size, x_size, x_stride, pads))
    return transfers
