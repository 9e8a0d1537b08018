"""The configuration as z3 terms: the LOG_* keys as bit-vector constants, every derived value
of :class:`~vtaref.spec.config.VtaConfig` evaluated on them, and the spec's validity rules.

Nothing here restates a formula of the spec: derived values are the spec's own properties
run on terms, and the rules come from its tables (``KEY_RANGES``, ``ELEMENT_KEYS``,
``BUFFER_KEYS``, ``LOG_DEPTH_RANGE``) and its layout functions.
"""

from __future__ import annotations

import z3

from vtaref.spec.config import (
    BUFFER_KEYS,
    ELEMENT_KEYS,
    INS_WIDTH,
    KEY_RANGES,
    LOG_DEPTH_RANGE,
    UOP_WIDTH,
    VtaConfig,
)
from vtaref.spec.isa import INSN_CLASSES, insn_layout, uop_layout
from vtaref.spec.symbolic import choose

# Every term is a bit-vector this wide: a few bits more than an instruction, so that in a
# valid configuration nothing wraps and an encoded word is never negative. Comparisons on z3
# bit-vectors are signed, which matches Python's ints on such terms.
WORD_BITS = INS_WIDTH + 8


@choose.register
def _choose_term(condition: z3.BoolRef, if_true, if_false):
    """A symbolic choice; two int branches become bit-vectors (a term's sort is needed)."""
    if not (z3.is_expr(if_true) or z3.is_expr(if_false)):
        if_true, if_false = (z3.BitVecVal(value, WORD_BITS, condition.ctx)
                             for value in (if_true, if_false))
    return z3.If(condition, if_true, if_false)


def constant(name: str, ctx: z3.Context) -> z3.BitVecRef:
    """Return a fresh bit-vector constant of :data:`WORD_BITS` bits."""
    return z3.BitVec(name, WORD_BITS, ctx)


class SymbolicConfig:
    """The LOG_* keys as constants; any property of :class:`VtaConfig` (``log_inp_buff_depth``,
    ``uop_src_idx_width``...) is the spec's own formula evaluated on them."""

    def __init__(self, ctx: z3.Context):
        self.ctx = ctx
        self.keys = {key: constant(key, ctx) for key in KEY_RANGES}
        for key, term in self.keys.items():
            setattr(self, key, term)

    def __getattr__(self, name: str):
        derived = getattr(VtaConfig, name, None)
        if not isinstance(derived, property):
            raise AttributeError(name)
        return derived.fget(self)


def insn_layouts(config) -> dict:
    """Return the spec's layout of every instruction class under ``config`` (uncached, so that
    a symbolic config works), by class."""
    return {cls: insn_layout.__wrapped__(cls, config) for cls in INSN_CLASSES.values()}


def micro_op_layout(config) -> list:
    """Return the spec's micro-op layout under ``config`` (uncached)."""
    return uop_layout.__wrapped__(config)


def bits_used(layout: list) -> object:
    """Return the bits a placed layout takes (its last field's end)."""
    return layout[-1].offset + layout[-1].width


def validity(config: SymbolicConfig) -> list:
    """Return the constraints under which ``config`` is valid: what ``VtaConfig()`` accepts.

    The key ranges, whole-byte elements, scratchpad depths, and that every instruction fits
    128 bits and a micro-op 32 (which is the micro-op fields' rule).
    """
    rules = [z3.And(low <= config.keys[key], config.keys[key] <= high)
             for key, (low, high) in KEY_RANGES.items()]
    rules += [sum(config.keys[key] for key in keys) >= 3 for keys in ELEMENT_KEYS.values()]
    low, high = LOG_DEPTH_RANGE
    for name in BUFFER_KEYS:
        depth = getattr(config, f"log_{name}_buff_depth")
        rules.append(z3.And(low <= depth, depth <= high))
    rules += [bits_used(layout) <= INS_WIDTH for layout in insn_layouts(config).values()]
    rules.append(bits_used(micro_op_layout(config)) <= UOP_WIDTH)
    return rules

