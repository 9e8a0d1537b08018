"""The spec's ALU operations on one accumulator lane, as z3 terms.

The same operations as :func:`vtaref.spec.literal.alu_op` under the fsim flavor (a test holds
the two equal on sampled operands): MIN, MAX, ADD, MUL, and SHR, which shifts right by a
non-negative amount (floor division) and left by a negative one; each is computed on the
sign-extended operands and the result wraps to the lane's width.
"""

from __future__ import annotations

import z3

from vtaref.spec import AluOp

WIDE = 64  # operands are sign-extended to this many bits: products of two lanes fit


def alu_lane(op: AluOp, a: z3.BitVecRef, b: int | z3.BitVecRef) -> z3.BitVecRef:
    """Return ``op(a, b)`` wrapped to ``a``'s width; ``b`` is another lane or an immediate."""
    width = a.size()
    x = z3.SignExt(WIDE - width, a)
    y = z3.BitVecVal(b, WIDE, a.ctx) if isinstance(b, int) else z3.SignExt(WIDE - b.size(), b)
    if op == AluOp.MIN:
        result = z3.If(x <= y, x, y)
    elif op == AluOp.MAX:
        result = z3.If(x >= y, x, y)
    elif op == AluOp.ADD:
        result = x + y
    elif op == AluOp.MUL:
        result = x * y
    else:
        # z3 shifts by any amount: past the width, 0 or -1 to the right and 0 to the left.
        result = z3.If(y >= 0, x >> y, x << -y)
    return z3.Extract(width - 1, 0, result)
