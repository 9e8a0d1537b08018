"""The interfaces between VTA's stages: element transfers, instruction queues and tokens.

Stages never see the AXI bus. A stage moves whole DRAM *elements* (an instruction, a micro-op,
an inp/wgt/acc/out element: see :func:`vtaref.spec.state.element_formats`) through an element
port, and :mod:`.dma` turns element transfers into AXI4 bursts.

- :func:`element_read`: the stage sends ``cmd`` = (``addr``, ``count``): read ``count >= 1``
  consecutive elements starting at byte address ``addr`` (a multiple of the element size);
  the elements then arrive on ``data`` in order, one per handshake, the element at the lowest
  address first. An element's bits are its DRAM bytes read little-endian (byte ``k`` is bits
  ``8k .. 8k+7``), which is exactly the scratchpad row layout
  (:func:`vtaref.impl.scratchpad.row_layout`) for inp, wgt, acc and uop elements.
- :func:`element_write`: the stage sends ``cmd`` = (``addr``, ``count``), then ``count``
  elements on ``data``; ``done`` delivers one handshake per command once every byte of it has
  been written (all AXI write responses received).

Both directions: a ``cmd`` handshake may happen only when the previous command of that port has
finished (read: its last element delivered; write: its ``done`` taken).

Signatures are written from the stage's side (the stage drives ``cmd``); the DMA engine takes
them flipped (``In(element_read(...))``).

Dependency tokens are zero-width streams: a stage pushes a token with a handshake on an
``Out(token())`` member and pops one with a handshake on an ``In(token())`` member.
"""

from __future__ import annotations

from amaranth.hdl import Module, Value, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from vtaref.spec.config import INS_WIDTH

ADDR_WIDTH = 32  # byte addresses on the AXI bus and in element commands
COUNT_WIDTH = 32  # elements per command


def command_layout() -> data.StructLayout:
    """Return the layout of an element transfer command: a byte address and an element count."""
    return data.StructLayout({"addr": unsigned(ADDR_WIDTH), "count": unsigned(COUNT_WIDTH)})


def element_read(element_bits: int) -> wiring.Signature:
    """Return the signature of a port that reads elements of ``element_bits`` bits."""
    return wiring.Signature({
        "cmd": Out(stream.Signature(command_layout())),
        "data": In(stream.Signature(element_bits)),
    })


def element_write(element_bits: int) -> wiring.Signature:
    """Return the signature of a port that writes elements of ``element_bits`` bits."""
    return wiring.Signature({
        "cmd": Out(stream.Signature(command_layout())),
        "data": Out(stream.Signature(element_bits)),
        "done": In(stream.Signature(0)),
    })


def token() -> stream.Signature:
    """Return the signature of a dependency-token stream (no payload)."""
    return stream.Signature(0)


def pop_token(m: Module, wanted: Value, tokens, token_wait: Value) -> Value:
    """If ``wanted``, pop a token from ``tokens``, raising ``token_wait`` while there is none.

    Returns whether the instruction may go on: no token wanted, or one popped in this cycle.
    """
    with m.If(wanted):
        m.d.comb += [tokens.ready.eq(1), token_wait.eq(~tokens.valid)]
    return ~wanted | tokens.valid


def push_token(m: Module, wanted: Value, tokens, token_wait: Value) -> Value:
    """If ``wanted``, push a token to ``tokens``, raising ``token_wait`` while it has no room.

    Returns whether the instruction may go on: no token wanted, or one pushed in this cycle.
    """
    with m.If(wanted):
        m.d.comb += [tokens.valid.eq(1), token_wait.eq(~tokens.ready)]
    return ~wanted | tokens.ready


def instructions() -> stream.Signature:
    """Return the signature of an instruction stream (raw 128-bit instructions)."""
    return stream.Signature(INS_WIDTH)
