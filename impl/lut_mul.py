"""A signed multiplier built from LUTs and carry chains (radix-4 Booth), for the products a part
has no DSP block left for.

Radix-4 Booth recoding reads the multiplier ``b`` in overlapping groups of three bits
``(b[2j+1], b[2j], b[2j-1])`` (``b[-1] = 0``; ``b`` sign-extended to an even width) and turns
each into a digit ``d_j`` in -2..2 (:data:`BOOTH_DIGITS`), so that ``b = sum d_j * 4**j``. The
product is the sum of the partial products ``d_j * a << 2j``: each is ``a`` or ``2a`` (or 0),
inverted when ``d_j < 0``, and the ones that complete those inversions (``-x = ~x + 1``) are
added as one more term, so no partial product needs an adder of its own. An 8 x 8 product has
four partial products and five terms. :mod:`vtaref.proofs.smt.lut_mul` proves the recoding and
the sum equal to ``a * b`` for the widths the GEMM uses.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

# The Booth digit of each group of three multiplier bits, indexed by the group's value
# (b[2j+1] * 4 + b[2j] * 2 + b[2j-1]).
BOOTH_DIGITS = (0, 1, 1, 2, -2, -1, -1, 0)


def booth_groups(b_width: int) -> int:
    """Return how many radix-4 digits (partial products) a ``b_width``-bit multiplier has."""
    return (b_width + 1) // 2


def tree_sum(values: list):
    """Return the sum of ``values`` as a balanced tree of two-input adders (no truncation)."""
    while len(values) > 1:
        pairs = [values[i] + values[i + 1] for i in range(0, len(values) - 1, 2)]
        values = pairs + values[len(values) - len(values) % 2:]
    return values[0]


class LutMul(wiring.Component):
    """``p = a * b`` for signed ``a`` (``a_width`` bits) and ``b`` (``b_width`` bits),
    combinational, without a multiplier cell (yosys maps it to LUTs and carry chains).

    The user registers the inputs and the product: the sum of the partial products is an
    adder tree of ``ceil(log2(booth_groups(b_width) + 1))`` levels.
    """

    def __init__(self, a_width: int, b_width: int):
        self.a_width, self.b_width = a_width, b_width
        super().__init__({"a": In(signed(a_width)), "b": In(signed(b_width)),
                          "p": Out(signed(a_width + b_width))})

    def elaborate(self, platform):
        m = Module()
        groups = booth_groups(self.b_width)
        # b[-1] = 0, then b sign-extended to 2 * groups bits.
        bits = Cat(Const(0, 1), self.b,
                   *[self.b[-1]] * (2 * groups - self.b_width))
        terms, negated = [], []
        for j in range(groups):
            magnitude = Signal(signed(self.a_width + 1), name=f"magnitude_{j}")
            negative = Signal(name=f"negative_{j}")
            with m.Switch(bits[2 * j:2 * j + 3]):
                for code, digit in enumerate(BOOTH_DIGITS):
                    with m.Case(code):
                        scaled = {0: 0, 1: self.a, 2: self.a << 1}[abs(digit)]
                        m.d.comb += [magnitude.eq(scaled), negative.eq(digit < 0)]
            partial = Signal(signed(self.a_width + 1), name=f"partial_{j}")
            m.d.comb += partial.eq(magnitude ^ negative.as_signed())  # ~magnitude if negative
            terms.append(partial << (2 * j))
            negated += [negative, Const(0, 1)]
        terms.append(Cat(*negated))  # the +1 of each inversion, at its digit's weight
        m.d.comb += self.p.eq(tree_sum(terms))
        return m
