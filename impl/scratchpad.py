"""The on-chip scratchpads as the RTL sees them: one row layout and one depth per buffer.

A row holds one scratchpad element with its lanes packed as in DRAM (:mod:`vtaref.spec.packing`:
lane ``i`` at bits ``[i*width, (i+1)*width)``), so LOAD and STORE can move raw bits:

- ``inp[b][i]``: batch ``b``, input channel ``i`` (``batch x block_in`` lanes of inp_width);
- ``wgt[o][i]``: output channel ``o``, input channel ``i`` (``block_out x block_in``);
- ``acc[b][o]``: batch ``b``, output channel ``o`` (``batch x block_out`` lanes of acc_width);
- ``uop``: a micro-op (:func:`vtaref.impl.isa.uop_layout`).

The units take memory ports (:class:`amaranth.lib.memory.ReadPort` / ``WritePort``) with the
signatures below and never own the memories, which the load, compute and store stages share.
"""

from __future__ import annotations

from amaranth.hdl import signed
from amaranth.lib import data, memory

from vtaref.spec.config import VtaConfig

from .isa import uop_layout

BUFFERS = ("uop", "inp", "wgt", "acc")

RACE_ONLY_COLLISIONS = ("inp", "wgt")
"""The scratchpads whose row can be written (by a LOAD) and read (by a GEMM) in the same cycle only
in a program with a data race (docs/isa.md §6.4, refused by the spec): the read's value then
does not matter, so synthesis may leave it undefined instead of emulating read-before-write."""


def memory_name(buffer: str) -> str:
    """Return the name of scratchpad ``buffer``'s memory in the core (and in its netlist)."""
    return f"{buffer}_buffer"


def row_layout(buffer: str, config: VtaConfig):
    """Return the shape of one row of scratchpad ``buffer`` (one of :data:`BUFFERS`)."""
    if buffer == "uop":
        return uop_layout(config)
    if buffer == "inp":
        lane, outer, inner = config.inp_width, config.batch, config.block_in
    elif buffer == "wgt":
        lane, outer, inner = config.wgt_width, config.block_out, config.block_in
    elif buffer == "acc":
        lane, outer, inner = config.acc_width, config.batch, config.block_out
    else:
        raise ValueError(f"unknown scratchpad {buffer!r} (known: {', '.join(BUFFERS)})")
    return data.ArrayLayout(data.ArrayLayout(signed(lane), inner), outer)


def addr_width(buffer: str, config: VtaConfig) -> int:
    """Return the address width of scratchpad ``buffer`` (log2 of its depth)."""
    return getattr(config, f"log_{buffer}_buff_depth")


def read_port(buffer: str, config: VtaConfig) -> memory.ReadPort.Signature:
    """Return the signature of a read port of scratchpad ``buffer`` (memory side)."""
    return memory.ReadPort.Signature(addr_width=addr_width(buffer, config),
                                     shape=row_layout(buffer, config))


def write_port(buffer: str, config: VtaConfig) -> memory.WritePort.Signature:
    """Return the signature of a whole-row write port of scratchpad ``buffer`` (memory side)."""
    return memory.WritePort.Signature(addr_width=addr_width(buffer, config),
                                      shape=row_layout(buffer, config))


def lanes(row) -> list:
    """Return the lanes of a two-level row (such as an acc row), outer index first."""
    return [lane for inner in row for lane in inner]
