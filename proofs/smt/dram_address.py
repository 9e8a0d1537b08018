"""The DRAM byte addresses of LOAD and STORE never overflow the RTL's 32-bit address.

For every element size ``E = 2**log_bytes`` up to ``2**31`` bytes (every memory type of every
configuration), every LOAD or STORE field value (``dram_base``, ``x_size``, ``y_size``,
``x_stride`` at their full widths) and every DRAM region below 4 GiB: if the spec accepts the
instruction (:func:`vtaref.spec.semantics._dram_rows`: its first and last rows lie inside the
DRAM), then for every row the address the RTL sends (:class:`vtaref.impl.memop.BlockCommands`:
``cmd_addr``, ``ADDR_WIDTH`` bits, starts at ``dram_base << log_bytes`` and adds ``x_stride <<
log_bytes`` per command) equals the spec's exact address, and the row ends at or below
``2**32``, so the DMA engine's beat counters that walk it from there never wrap either. A
contiguous block (one command of ``y_size * x_size`` elements) is its rows back to back.

The arithmetic is on unbounded integers; a register of ``n`` bits holds its exact value modulo
``2**n`` (reduction commutes with the adds and the multiply that make an address).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import z3

from vtaref.impl.ports import ADDR_WIDTH
from vtaref.spec.config import (
    MEMOP_DRAM_ADDR_BIT_WIDTH,
    MEMOP_SIZE_BIT_WIDTH,
    MEMOP_STRIDE_BIT_WIDTH,
)

from .solver import Obligation

MAX_LOG_BYTES = ADDR_WIDTH - 1  # element sizes up to 2**31 bytes: more than any config's
FIELDS = (("dram_base", MEMOP_DRAM_ADDR_BIT_WIDTH), ("x_size", MEMOP_SIZE_BIT_WIDTH),
          ("y_size", MEMOP_SIZE_BIT_WIDTH), ("x_stride", MEMOP_STRIDE_BIT_WIDTH))


@dataclass(frozen=True)
class Transfer:
    """A LOAD/STORE's DRAM fields, the element size, a row of it and the DRAM region."""

    dram_base: z3.ArithRef
    x_size: z3.ArithRef
    y_size: z3.ArithRef
    x_stride: z3.ArithRef
    elem_bytes: int
    row: z3.ArithRef
    region: z3.ArithRef  # the DRAM's first byte address and its end
    end: z3.ArithRef


def spec_accepts(t: Transfer) -> z3.BoolRef:
    """Whether the spec's bounds check passes: the first and the last row inside the DRAM."""
    first = t.dram_base * t.elem_bytes
    pitch = t.x_stride * t.elem_bytes
    length = t.x_size * t.elem_bytes
    last_end = first + pitch * (t.y_size - 1) + length
    return z3.And(t.region <= first, first + length <= t.end,
                  t.region <= last_end - length, last_end <= t.end)


def rtl_row_address(t: Transfer) -> z3.ArithRef:
    """The RTL's ``cmd_addr`` for command ``row``: ``dram_base << log_bytes`` plus ``row``
    times ``x_stride << log_bytes``, in ``ADDR_WIDTH`` bits."""
    return (t.dram_base * t.elem_bytes + t.row * t.x_stride * t.elem_bytes) % (1 << ADDR_WIDTH)


def address_obligations(ctx: z3.Context, *, accepts: Callable = spec_accepts,
                        row_address: Callable = rtl_row_address) -> Iterator[Obligation]:
    """Yield one obligation per element size (see the module); ``accepts`` and ``row_address``
    are the spec's check and the RTL's address under proof (tests pass broken ones)."""
    fields = {name: z3.Int(name, ctx) for name, _ in FIELDS}
    ranges = [z3.And(0 <= fields[name], fields[name] < 1 << width) for name, width in FIELDS]
    row, region, end = (z3.Int(name, ctx) for name in ("row", "dram.base", "dram.end"))
    for log_bytes in range(MAX_LOG_BYTES + 1):
        t = Transfer(**fields, elem_bytes=1 << log_bytes, row=row, region=region, end=end)
        exact = (t.dram_base + t.row * t.x_stride) * t.elem_bytes
        sent = row_address(t)
        assumptions = [*ranges, t.x_size >= 1, t.y_size >= 1, 0 <= region, region <= end,
                       end <= 1 << ADDR_WIDTH, accepts(t), 0 <= row, row < t.y_size]
        goal = z3.And(sent == exact, exact + t.x_size * t.elem_bytes <= 1 << ADDR_WIDTH)
        yield Obligation(f"{1 << log_bytes}-byte elements: every row of an accepted LOAD/STORE "
                         f"has its exact address in {ADDR_WIDTH} bits and ends by 4 GiB",
                         assumptions, goal,
                         {**fields, "row": row, "dram.base": region, "dram.end": end,
                          "spec address": exact, "RTL address": sent})
