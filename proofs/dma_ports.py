"""A proof that the DMA engine keeps the element-port contract the stage proofs assume of it.

:mod:`.tokens` assumes of every element port (:mod:`vtaref.impl.ports`) that a read port
delivers an element only while one of its current command is still to come, and that a write
port reports ``done`` only for a command it took, once it has taken every element of it.
:class:`ElementContractSpec` proves both of the real :class:`~vtaref.impl.dma.DmaEngine` with the
core's own port map (:func:`vtaref.impl.core.dma_ports`), every input driven arbitrarily in every
cycle, as :mod:`.axi` does: whatever the stages and the subordinate do. Helper invariants tie
the checker's counts to the engine's (each read port's ``busy`` and ``left``; the write side's
``active``, ``client``, ``left``), which makes
the assertions inductive: k-induction proves them for every reachable state.
"""

from __future__ import annotations

from amaranth.hdl import Assert, Elaboratable, Module, Mux, Signal

from vtaref.impl import ports
from vtaref.impl.core import DEFAULT_DATA_WIDTH, dma_ports
from vtaref.impl.dma import DmaEngine
from vtaref.spec.config import VtaConfig

from .axi import drive_arbitrarily


def _fires(stream):
    return stream.valid & stream.ready


class ElementContractSpec(Elaboratable):
    """A :class:`~vtaref.impl.dma.DmaEngine` keeps the element-port contract (module docstring)."""

    def __init__(self, dut: DmaEngine):
        self.dut = dut

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = self.dut
        drive_arbitrarily(m, dut)
        reads, writes = dut.reads, dut.writes
        # Helper invariant: a write command under way serves a port.
        with m.If(writes.active):
            m.d.comb += Assert(writes.client < len(writes.writers))

        for index, name in enumerate(reads.readers):
            port = getattr(dut, name)
            pending = Signal(ports.COUNT_WIDTH, name=f"{name}_pending")  # elements still to come
            with m.If(_fires(port.cmd)):
                m.d.sync += pending.eq(port.cmd.payload.count)
            with m.Elif(_fires(port.data)):
                m.d.sync += pending.eq(pending - 1)
            with m.If(port.data.valid):
                m.d.comb += Assert(pending != 0)
            # Helper invariants: the engine serves this port exactly while elements are pending,
            # and its count of them is the checker's.
            with m.If(reads.busy[index]):
                m.d.comb += Assert(reads.left[index] != 0)
            m.d.comb += Assert(pending == Mux(reads.busy[index], reads.left[index], 0))

        for index, name in enumerate(writes.writers):
            port = getattr(dut, name)
            open_cmd = Signal(name=f"{name}_open")  # a command taken, its done not yet
            to_take = Signal(ports.COUNT_WIDTH, name=f"{name}_to_take")  # its elements not taken
            with m.If(_fires(port.cmd)):
                m.d.sync += [open_cmd.eq(1), to_take.eq(port.cmd.payload.count)]
            with m.If(_fires(port.data)):
                m.d.sync += to_take.eq(to_take - 1)
            with m.If(_fires(port.done)):
                m.d.sync += open_cmd.eq(0)
            with m.If(port.done.valid):
                m.d.comb += Assert(open_cmd & (to_take == 0))
            with m.If(port.data.ready):
                m.d.comb += Assert(open_cmd & (to_take != 0))
            # Helper invariant: the engine serves this port exactly while its command is open.
            m.d.comb += Assert(open_cmd == (writes.active & (writes.client == index)))
            with m.If(open_cmd):
                m.d.comb += Assert(to_take == writes.left)
        return m


def core_engine(config: VtaConfig, engine: type[DmaEngine] = DmaEngine) -> DmaEngine:
    """Return the ``engine`` with the core's port map for ``config`` on its default bus."""
    return engine(DEFAULT_DATA_WIDTH, *dma_ports(config))
