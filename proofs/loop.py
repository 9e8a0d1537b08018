"""An in-order walk of a GEMM or ALU micro-op loop, the model the unit proofs check against."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data

from vtaref.impl import scratchpad
from vtaref.impl.isa import uop_layout
from vtaref.spec.config import VtaConfig
from vtaref.spec.isa import LoopInsn, visit_index


def visit_count(cmd):
    """Return the number of visits of ``cmd``'s loop, as :attr:`LoopInsn.visit_count` does."""
    empty = (cmd.iter_out == 0) | (cmd.iter_in == 0) | (cmd.uop_end <= cmd.uop_bgn)
    return Mux(empty, 0, cmd.iter_out * cmd.iter_in * (cmd.uop_end - cmd.uop_bgn))


def walk_loop(m: Module, name: str, step, cmd, uops, config: VtaConfig, started, bound: int,
              insn_cls: type[LoopInsn]) -> dict:
    """Walk ``cmd``'s loop in order, one visit per cycle with ``step`` high.

    Returns the current visit's index for each target of ``insn_cls.BUFFERS`` (``dst``, ``src``
    and, for GEMM, ``wgt``) and ``count``, the number of visits walked so far (the walk starts
    at ``cmd.uop_bgn`` while ``started`` is low).
    """
    outer = Signal.like(cmd.iter_out, name=f"{name}_outer")
    inner = Signal.like(cmd.iter_in, name=f"{name}_inner")
    uop_idx = Signal.like(cmd.uop_end, name=f"{name}_uop")
    count = Signal(range(bound + 1), name=f"{name}_count")
    with m.If(~started):
        m.d.sync += uop_idx.eq(cmd.uop_bgn)
    uop = data.View(uop_layout(config), uops[uop_idx])
    walk = {"count": count}
    for target, buffer in insn_cls.BUFFERS.items():
        walk[target] = Signal(scratchpad.addr_width(buffer, config), name=f"{name}_{target}")
        m.d.comb += walk[target].eq(visit_index(cmd, target, uop[f"{target}_idx"], outer, inner))
    with m.If(step):
        m.d.sync += count.eq(count + 1)
        with m.If(uop_idx + 1 != cmd.uop_end):
            m.d.sync += uop_idx.eq(uop_idx + 1)
        with m.Else():
            m.d.sync += uop_idx.eq(cmd.uop_bgn)
            with m.If(inner + 1 != cmd.iter_in):
                m.d.sync += inner.eq(inner + 1)
            with m.Else():
                m.d.sync += [inner.eq(0), outer.eq(outer + 1)]
    return walk
