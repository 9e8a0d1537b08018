"""Proofs that an AXI error response halts the DMA engine and ends the run with a readable status.

:class:`DmaBusErrorSpec` drives every input of a :class:`~vtaref.impl.dma.DmaEngine` with
arbitrary values in every cycle, as :class:`~.axi.AxiManagerSpec` does (the subordinate answers
SLVERR, DECERR or EXOKAY whenever it likes, the reset comes at any time), and checks its
``error`` port (:data:`~vtaref.impl.dma.BUS_ERROR`) against the bus and the element ports:

- a non-OKAY R or B handshake while ``error.valid`` is low sets it in the next cycle, with the
  direction, the response, the port (a reader's index: the port of the oldest read burst
  awaiting data, or the number of readers plus a writer's index) and the address of the last
  command that port took (a read) or that the write direction took (either handshake's, if
  both come in one cycle);
- ``error.valid`` rises in no other cycle, so an OKAY-only history keeps it low;
- once set, ``error`` keeps its value until reset;
- while ``error.valid`` is high, no element port's ``cmd.ready`` is high: no command is taken.

The checker tracks each read port's and the write direction's last command from the element
ports' handshakes; helper invariants tie that to the engine's own record (``cmd_addr``,
``client``), which makes the
assertions inductive: k-induction proves them for every reachable state. Cover statements show
an error latched on a read and on a write, and a command refused while halted.

:class:`VcrBusErrorSpec` does the same for :class:`~vtaref.impl.vcr.Vcr`, assuming of ``error``
what the DMA proof guarantees (it holds its value once valid), and the same of the core's index
``fault`` (:class:`vtaref.impl.fault.FirstFault`): a start is never taken while either is valid,
and a register read accepted once one has been valid for a cycle answers CTRL with ERROR set
and BUSY and DONE clear, and ERROR and ERROR_ADDR with the bus error if there is one, else the
fault, as :mod:`vtaref.impl.vcr`'s register map says. Its covers show, after a run started,
such a CTRL read, a start written and refused, and a fault read from ERROR.
"""

from __future__ import annotations

from collections.abc import Callable

from amaranth.hdl import Assert, Assume, Cat, Cover, Elaboratable, Module, Mux, Signal, Value

from vtaref.impl import axi, vcr
from vtaref.impl.dma import BUS_ERROR, PORT_INDEX_BITS, DmaEngine
from vtaref.impl.fault import INDEX_FAULT
from vtaref.impl.vcr import Vcr

from .axi import drive_arbitrarily, proof_engine

COVER_DEPTH = 8  # cycles from reset within which every cover statement must be reached


def _last_command(m: Module, port_list: list, first: int) -> tuple[Signal, Signal]:
    """Return the port number (``first`` + index) and the address of the last command taken
    on any of ``port_list``."""
    port_number = Signal(PORT_INDEX_BITS, init=first)
    addr = Signal(axi.ADDR_WIDTH)
    for index, port in enumerate(port_list, start=first):
        with m.If(port.cmd.valid & port.cmd.ready):
            m.d.sync += [port_number.eq(index), addr.eq(port.cmd.payload.addr)]
    return port_number, addr


def _due_error(m: Module, error, valid: Value, ready: Value, resp: Value, port_number: Value,
               addr: Value, *, write: bool) -> tuple[Signal, Signal]:
    """Return ``due``, high in the cycle after a handshake with a non-OKAY ``resp`` while
    ``error.valid`` is low, and the :data:`BUS_ERROR` that ``error`` must hold latched."""
    direction = "write" if write else "read"
    due = Signal(name=f"{direction}_error_due")
    record = Signal(BUS_ERROR, name=f"{direction}_error_record")
    m.d.sync += [due.eq(~error.valid & valid & ready & (resp != axi.RESP_OKAY)),
                 record.valid.eq(1), record.write.eq(write), record.resp.eq(resp),
                 record.port.eq(port_number), record.addr.eq(addr)]
    return due, record


class DmaBusErrorSpec(Elaboratable):
    """A :class:`~vtaref.impl.dma.DmaEngine` latches the first error response and halts
    (module docstring)."""

    def __init__(self, dut: DmaEngine):
        self.dut = dut

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = self.dut
        drive_arbitrarily(m, dut)
        bus, error = dut.axi, dut.error
        readers = [getattr(dut, name) for name in dut.reads.readers]
        writers = [getattr(dut, name) for name in dut.writes.writers]

        # Reads: each port's last command; an R beat belongs to the port of the oldest burst
        # awaiting data (which port that is, :class:`~.axi.AxiBurstSpec` proves).
        read_addrs = [_last_command(m, [port], index)[1] for index, port in enumerate(readers)]
        read_port = dut.reads.r_client
        read_addr = Signal(axi.ADDR_WIDTH)
        for index, addr in enumerate(read_addrs):
            with m.If(read_port == index):
                m.d.comb += read_addr.eq(addr)
        write_port, write_addr = _last_command(m, writers, len(readers))
        # Helper invariants: the engine's record of each command is the last one taken.
        m.d.comb += [Assert(addr == dut.reads.cmd_addr[index])
                     for index, addr in enumerate(read_addrs)]
        m.d.comb += [Assert(write_port == len(readers) + dut.writes.client),
                     Assert(write_addr == dut.writes.cmd_addr)]

        read_due, read_record = _due_error(m, error, bus.rvalid, bus.rready, bus.rresp,
                                           read_port, read_addr, write=False)
        write_due, write_record = _due_error(m, error, bus.bvalid, bus.bready, bus.bresp,
                                             write_port, write_addr, write=True)
        latched = Signal(BUS_ERROR)  # error in the previous cycle
        m.d.sync += latched.eq(error)
        with m.If(read_due | write_due):
            m.d.comb += Assert((read_due & (error.as_value() == read_record.as_value()))
                               | (write_due & (error.as_value() == write_record.as_value())))
        with m.Elif(~latched.valid):
            m.d.comb += Assert(~error.valid)
        with m.Else():
            m.d.comb += Assert(error.as_value() == latched.as_value())

        with m.If(error.valid):
            m.d.comb += [Assert(~port.cmd.ready) for port in readers + writers]
        waiting = Cat(port.cmd.valid for port in readers + writers).any()
        m.d.comb += [Cover(error.valid & ~latched.valid & ~error.write),
                     Cover(error.valid & ~latched.valid & error.write),
                     Cover(error.valid & waiting)]
        return m


class VcrBusErrorSpec(Elaboratable):
    """A :class:`~vtaref.impl.vcr.Vcr` ends the run on a bus error and reports it (module
    docstring)."""

    def __init__(self, dut: Vcr):
        self.dut = dut

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = self.dut
        drive_arbitrarily(m, dut)
        bus, error, fault = dut.bus, dut.error, dut.fault
        latched, latched_fault = Signal(BUS_ERROR), Signal(INDEX_FAULT)
        m.d.sync += [latched.eq(error), latched_fault.eq(fault)]
        with m.If(latched.valid):
            m.d.comb += Assume(error.as_value() == latched.as_value())
        with m.If(latched_fault.valid):
            m.d.comb += Assume(fault.as_value() == latched_fault.as_value())
        stopped = error.valid | fault.valid
        m.d.comb += Assert(~(dut.start & stopped))

        # A read accepted a cycle or more after the error or fault: the register it reads.
        accepted = bus.arvalid & bus.arready & (latched.valid | latched_fault.valid)
        register = Signal(bus.araddr.shape())
        answer_due = Signal()
        m.d.sync += [answer_due.eq(accepted), register.eq(bus.araddr)]
        # What the VCR saw when the read was accepted (a bus error may come later).
        bus_error = (latched.resp | Mux(latched.write, vcr.ERROR_WRITE, 0)
                     | (latched.port << vcr.ERROR_PORT_SHIFT))
        index_fault = (vcr.ERROR_FAULT | (latched_fault.buffer << vcr.ERROR_PORT_SHIFT)
                       | (latched_fault.stage << vcr.ERROR_STAGE_SHIFT))
        expected = {
            vcr.CTRL: vcr.CTRL_ERROR,
            vcr.ERROR: Mux(latched.valid, bus_error, index_fault),
            vcr.ERROR_ADDR: Mux(latched.valid, latched.addr, 0),
        }
        for offset, value in expected.items():
            with m.If(answer_due & (register[2:] == offset >> 2)):
                m.d.comb += [Assert(bus.rvalid), Assert(bus.rdata == value)]

        # Covers: after a run started, the error ends it, CTRL says so and a start is refused.
        started = Signal()
        m.d.sync += started.eq(started | dut.start)
        start_written = (bus.awvalid & bus.awready & (bus.awaddr[2:] == vcr.CTRL >> 2)
                         & (bus.wdata & vcr.CTRL_START).any())
        m.d.comb += [Cover(started & answer_due & (register[2:] == vcr.CTRL >> 2)),
                     Cover(started & start_written & error.valid),
                     Cover(started & answer_due & (register[2:] == vcr.ERROR >> 2)
                           & fault.valid & ~error.valid)]
        return m


def dma_spec(engine: type[DmaEngine] = DmaEngine) -> DmaBusErrorSpec:
    """Return the DMA spec over :func:`.axi.proof_engine` on a 64-bit bus."""
    return DmaBusErrorSpec(proof_engine(64, engine))


def vcr_spec(vcr_class: type[Vcr] = Vcr) -> VcrBusErrorSpec:
    """Return the VCR spec over a ``vcr_class``."""
    return VcrBusErrorSpec(vcr_class())


def bus_error_proofs() -> list[tuple[str, Callable[[], Elaboratable], str, int]]:
    """Return the bus error proofs as (name, build, mode, depth): each spec by k-induction (of
    depth 2 for the VCR, whose BUSY is its own state), and each spec's cover statements reached
    within :data:`COVER_DEPTH` cycles. Each takes a few seconds.
    """
    return [("dma_bus_error", dma_spec, "prove", 1),
            ("dma_bus_error_cover", dma_spec, "cover", COVER_DEPTH),
            ("vcr_bus_error", vcr_spec, "prove", 2),
            ("vcr_bus_error_cover", vcr_spec, "cover", COVER_DEPTH)]
