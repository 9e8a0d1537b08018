"""What the stages that run LOADs and STOREs share: the DRAM commands of a 2D block, the walk
of a padded scratchpad block, and taking the next instruction.

The signals keep the names the token proofs read (:func:`vtaref.proofs.tokens.internal`):
``cmd_addr``, ``cmd_count``, ``cmds_left``, ``x``, ``y``, ``sram``.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, Value
from amaranth.lib.wiring import In, Out

from vtaref.spec.config import MEMOP_SIZE_BIT_WIDTH

from . import fault, ports
from . import retire as retire_port


def stage_members(retire: bool) -> dict:
    """Return the members every stage beside compute has: its instruction queue ``insn``, its
    token streams to and from compute, ``busy`` and ``token_wait``; with ``retire``, those of
    :func:`vtaref.impl.retire.stage_members`."""
    return {
        "insn": In(ports.instructions()),
        "to_compute": Out(ports.token()),
        "from_compute": In(ports.token()),
        "busy": Out(1),
        "token_wait": Out(1),
        **(retire_port.stage_members() if retire else {}),
    }


def commands_of(view) -> Value:
    """Return how many element commands the LOAD or STORE ``view`` sends: one when its rows are
    contiguous in DRAM (``x_stride == x_size``), else one per row; none when ``y_size == 0``."""
    return Mux(view.y_size == 0, 0, Mux(view.x_stride == view.x_size, 1, view.y_size))


def command_count(view) -> Value:
    """Return the elements of each element command of the LOAD or STORE ``view``: all of them
    when its rows are contiguous in DRAM (``x_stride == x_size``), else a row's."""
    return Mux(view.x_stride == view.x_size, view.y_size * view.x_size, view.x_size)


class BlockCommands:
    """The DRAM side of a LOAD or STORE: element commands of ``count`` elements each, from
    ``addr``, ``cmds_left`` of them still to send. All three are registers set by
    :meth:`start`, when the instruction is decoded: the multiplication of ``count`` is not on
    the path of a command's handshake."""

    def __init__(self):
        self.count = Signal(ports.COUNT_WIDTH, name="cmd_count")
        self.addr = Signal(ports.ADDR_WIDTH, name="cmd_addr")
        self.left = Signal(MEMOP_SIZE_BIT_WIDTH, name="cmds_left")

    def start(self, view, first_addr) -> list:
        """Return the statements that begin the commands of ``view`` at byte ``first_addr``."""
        return [self.addr.eq(first_addr), self.left.eq(commands_of(view)),
                self.count.eq(command_count(view))]

    def sent(self, pitch) -> list:
        """Return the statements that account for one command sent; rows are ``pitch`` apart."""
        return [self.addr.eq(self.addr + pitch), self.left.eq(self.left - 1)]


class PaddedWalk:
    """The scratchpad side of a LOAD ``insn``: its padded block, one element per step, column
    ``x`` of row ``y`` at scratchpad row ``sram``; ``in_data`` when that element comes from
    DRAM rather than from the zero padding, ``last`` at the block's last element. ``sram`` is
    :data:`.fault.WALK_WIDTH` bits wide: it reaches the first row past a buffer's end without
    wrapping, for the stage to stop there (:mod:`.fault`)."""

    def __init__(self, insn):
        self.x_total = insn.x_pad_0 + insn.x_size + insn.x_pad_1
        self.y_total = insn.y_pad_0 + insn.y_size + insn.y_pad_1
        self.x = Signal(self.x_total.shape(), name="x")
        self.y = Signal(self.y_total.shape(), name="y")
        self.sram = Signal(fault.WALK_WIDTH, name="sram")
        self.in_data = ((self.x >= insn.x_pad_0) & (self.x < insn.x_pad_0 + insn.x_size)
                        & (self.y >= insn.y_pad_0) & (self.y < insn.y_pad_0 + insn.y_size))
        self.last = (self.x == self.x_total - 1) & (self.y == self.y_total - 1)

    def start(self, sram_base) -> list:
        """Return the statements that begin a walk writing from scratchpad row ``sram_base``."""
        return [self.x.eq(0), self.y.eq(0), self.sram.eq(sram_base)]

    def advance(self, m: Module, step, running: Signal) -> None:
        """Move to the next element whenever ``step``; clear ``running`` after the last one."""
        with m.If(step):
            m.d.sync += self.sram.eq(self.sram + 1)
            with m.If(self.x == self.x_total - 1):
                m.d.sync += [self.x.eq(0), self.y.eq(self.y + 1)]
            with m.Else():
                m.d.sync += self.x.eq(self.x + 1)
            with m.If(self.last):
                m.d.sync += running.eq(0)


def take_insn(m: Module, queue, raw: Signal, then: str) -> None:
    """In the current FSM state: take the next instruction of ``queue`` into ``raw``, then go
    to state ``then``."""
    m.d.comb += queue.ready.eq(1)
    with m.If(queue.valid):
        m.d.sync += raw.eq(queue.payload)
        m.next = then

