"""Two signed int8 products with one multiplier, packed as a Xilinx DSP48E1 computes them.

A DSP48E1 multiplies a 25-bit signed A by an 18-bit signed B. :class:`PackedMul` computes
``p0 = a0 * b`` and ``p1 = a1 * b`` (shared ``b``) with the one product
``((a1 << SHIFT) + a0) * b = (p1 << SHIFT) + p0``: the low ``SHIFT`` bits hold ``p0`` in two's
complement, and the bits above hold ``p1`` less one when ``p0`` is negative (the borrow of the
low field), so ``p1`` is those bits plus the sign bit of the low field. ``SHIFT`` is 16, not
the 18 of the 27-bit DSP48E2's packing: the packed operand must fit the 25-bit A port, and
``(-128 << 17) - 128`` already does not; with 16 it fits, and the low field's 16 bits hold any
int8 x int8 product (from -16256 to 16384) with its sign. :mod:`vtaref.proofs.smt.packed_mul`
proves the unit's formula equal to two separate products for every input.
"""

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

OPERAND_BITS = 8  # only int8 x int8 products pack
PRODUCT_BITS = 2 * OPERAND_BITS
SHIFT = 16  # where a1 sits in the wide operand
WIDE_BITS = 25  # the DSP48E1's A port
B_BITS = 18  # the DSP48E1's B port


class PackedMul(wiring.Component):
    """``p0 = a0 * b`` and ``p1 = a1 * b``, combinational, with one 25 x 18 multiplication."""

    a0: In(signed(OPERAND_BITS))
    a1: In(signed(OPERAND_BITS))
    b: In(signed(OPERAND_BITS))
    p0: Out(signed(PRODUCT_BITS))
    p1: Out(signed(PRODUCT_BITS))

    def elaborate(self, platform):
        m = Module()
        wide = Signal(signed(WIDE_BITS))
        b = Signal(signed(B_BITS))
        product = Signal(signed(WIDE_BITS + B_BITS))
        m.d.comb += [wide.eq((self.a1 << SHIFT) + self.a0), b.eq(self.b),
                     product.eq(wide * b),
                     self.p0.eq(product[:PRODUCT_BITS]),
                     self.p1.eq(product[SHIFT:SHIFT + PRODUCT_BITS] + product[SHIFT - 1])]
        return m
