"""The LUT multiplier's radix-4 Booth recoding and sum equal ``a * b``, for every input.

:class:`vtaref.impl.lut_mul.LutMul` as bit-vectors of the widths the hardware has: ``b`` with a
0 below it, sign-extended to an even width, read in overlapping three-bit groups; each group's
digit (:data:`~vtaref.impl.lut_mul.BOOTH_DIGITS`, the table the RTL is built from) selects 0,
``a`` or ``2a`` (``a_width + 1`` bits), inverted for a negative digit; the partial products,
sign-extended and shifted by two bits per group, and the ones that complete the inversions
add up, modulo the product's ``a_width + b_width`` bits, to the signed product of ``a`` and
``b``. One obligation per pair of the operand widths :data:`WIDTHS` (the GEMM's inp and wgt
lanes up to int8; 16-bit lanes did not finish in ten minutes and are only tested).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import reduce

import z3

from vtaref.impl.lut_mul import BOOTH_DIGITS, booth_groups

from .solver import Obligation

WIDTHS = (1, 2, 4, 8)  # the operand widths proved


def booth_product(a: z3.BitVecRef, b: z3.BitVecRef) -> z3.BitVecRef:
    """Return LutMul's product of ``a`` and ``b``, in ``a_width + b_width`` bits."""
    a_width, b_width = a.size(), b.size()
    width, groups = a_width + b_width, booth_groups(b_width)
    bits = z3.Concat(z3.SignExt(2 * groups - b_width, b), z3.BitVecVal(0, 1, a.ctx))
    wide_a = z3.SignExt(1, a)
    terms, corrections = [], []
    for j in range(groups):
        group = z3.Extract(2 * j + 2, 2 * j, bits)
        magnitude = z3.BitVecVal(0, a_width + 1, a.ctx)
        negative = z3.BoolVal(False, a.ctx)
        for code, digit in enumerate(BOOTH_DIGITS):
            scaled = {0: z3.BitVecVal(0, a_width + 1, a.ctx), 1: wide_a, 2: wide_a << 1}
            magnitude = z3.If(group == code, scaled[abs(digit)], magnitude)
            negative = z3.If(group == code, z3.BoolVal(digit < 0, a.ctx), negative)
        partial = z3.If(negative, ~magnitude, magnitude)
        terms.append(z3.Extract(width - 1, 0, z3.SignExt(width + 2 * j, partial) << 2 * j))
        one = z3.BitVecVal(1, width, a.ctx)
        corrections.append(z3.If(negative, one << 2 * j, z3.BitVecVal(0, width, a.ctx)))
    return reduce(lambda x, y: x + y, terms + corrections)


def lut_mul_obligations(ctx: z3.Context) -> Iterator[Obligation]:
    """Yield, for each pair of :data:`WIDTHS`, that LutMul's product is ``a * b``."""
    for a_width in WIDTHS:
        for b_width in WIDTHS:
            a, b = z3.BitVec("a", a_width, ctx), z3.BitVec("b", b_width, ctx)
            exact = z3.SignExt(b_width, a) * z3.SignExt(a_width, b)
            product = booth_product(a, b)
            yield Obligation(f"{a_width} x {b_width} bits: p = a * b", [], product == exact,
                             {"a": a, "b": b, "p": product, "a * b": exact})
