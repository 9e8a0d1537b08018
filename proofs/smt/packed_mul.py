"""The packed DSP48E1 multiplier computes two separate int8 products, for every input.

The formula of :class:`vtaref.impl.packed_mul.PackedMul`, as bit-vectors of the widths the
hardware has: the wide operand ``(a1 << SHIFT) + a0`` wraps to the 25-bit A port, ``b`` is
sign-extended to the 18-bit B port, their product is taken at full width, ``p0`` is its low 16
bits and ``p1`` the 16 bits from ``SHIFT`` on plus bit ``SHIFT - 1`` (the low product's sign).
For all 2^24 inputs ``p0 = a0 * b`` and ``p1 = a1 * b`` exactly; and the wide operand is exact
(no wrap in the 25-bit port).
"""

from __future__ import annotations

from collections.abc import Iterator

import z3

from vtaref.impl.packed_mul import B_BITS, OPERAND_BITS, PRODUCT_BITS, SHIFT, WIDE_BITS

from .solver import Obligation


def packed_obligations(ctx: z3.Context) -> Iterator[Obligation]:
    """Yield the obligations: the A port holds the packed operand exactly, and each field of
    the product is its separate product."""
    a0, a1, b = (z3.BitVec(name, OPERAND_BITS, ctx) for name in ("a0", "a1", "b"))
    shown = {"a0": a0, "a1": a1, "b": b}

    def widen(value: z3.BitVecRef, bits: int) -> z3.BitVecRef:
        return z3.SignExt(bits - value.size(), value)

    wide = (widen(a1, WIDE_BITS) << SHIFT) + widen(a0, WIDE_BITS)
    exact = (widen(a1, WIDE_BITS + 2) << SHIFT) + widen(a0, WIDE_BITS + 2)
    yield Obligation("the packed operand fits the 25-bit A port",
                     [], widen(wide, WIDE_BITS + 2) == exact, shown)
    product_bits = WIDE_BITS + B_BITS
    product = widen(wide, product_bits) * widen(widen(b, B_BITS), product_bits)
    p0 = z3.Extract(PRODUCT_BITS - 1, 0, product)
    p1 = (z3.Extract(SHIFT + PRODUCT_BITS - 1, SHIFT, product)
          + z3.ZeroExt(PRODUCT_BITS - 1, z3.Extract(SHIFT - 1, SHIFT - 1, product)))
    yield Obligation("p0 = a0 * b", [], p0 == widen(a0, PRODUCT_BITS) * widen(b, PRODUCT_BITS),
                     {**shown, "p0": p0})
    yield Obligation("p1 = a1 * b (with the low product's sign bit)", [],
                     p1 == widen(a1, PRODUCT_BITS) * widen(b, PRODUCT_BITS), {**shown, "p1": p1})
