"""Put a design with more port bits than a package has pins behind five pins, for place and route.

The core's ports (340 bits with a 64-bit AXI4 port) exceed an ECP5 package's user pins (197 to
205 on the CABGA381), and a port left unconnected would let synthesis remove the logic behind
it. :class:`PinWrapper` keeps every port alive through two shift registers: one shifts
``shift_in`` into all of the design's inputs, one captures all of its outputs (on ``capture``)
and shifts them out through ``shift_out``. With the clock and reset, that is five pins. The
registers add one flip-flop per port bit; every path into or out of the design starts or ends
at a flip-flop, as it would behind a registered interconnect.
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

PINS = ("clk", "rst", "shift_in", "capture", "shift_out")


class PinWrapper(wiring.Component):
    """``design`` with its ports reached through the shift registers (see the module).

    ``design`` is a component whose signature has only ports (no nested interfaces that are
    not made of ports). Its submodule name in the wrapper is ``core``, so its nets keep their
    hierarchical names under ``core.``.
    """

    def __init__(self, design: wiring.Component):
        self.design = design
        super().__init__({"shift_in": In(1), "capture": In(1), "shift_out": Out(1)})

    def ports(self) -> tuple[list[Signal], list[Signal]]:
        """Return the design's input and output port values, in signature order."""
        inputs, outputs = [], []
        for _path, member, value in self.design.signature.flatten(self.design):
            (inputs if member.flow == wiring.In else outputs).append(value)
        return inputs, outputs

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = self.design
        inputs, outputs = self.ports()
        in_bits = Signal(len(Cat(*inputs)))
        out_bits = Signal(len(Cat(*outputs)))
        m.d.sync += in_bits.eq(Cat(self.shift_in, in_bits[:-1]))
        m.d.comb += Cat(*inputs).eq(in_bits)
        with m.If(self.capture):
            m.d.sync += out_bits.eq(Cat(*outputs))
        with m.Else():
            m.d.sync += out_bits.eq(out_bits[1:])
        m.d.comb += self.shift_out.eq(out_bits[0])
        return m
