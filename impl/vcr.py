"""The VTA control registers (VCR): an AXI4-Lite register file that starts a run and counts.

Register map (32-bit registers, byte offsets):

======  ===========  ==========================================================================
offset  name         meaning
======  ===========  ==========================================================================
0x00    CTRL         write bit 0 = 1: start a run (ignored while one is running or after a bus
                     error). Read: bit 0 BUSY (a run is in progress), bit 1 DONE (the last
                     run's FINISH retired; cleared by start), bit 2 ERROR (a DRAM access got an
                     error response, or an instruction addressed past the end of a scratchpad:
                     the run stopped; only a reset clears it)
0x04    INSN_ADDR    byte address of the first instruction (read/write)
0x08    INSN_COUNT   number of instructions (read/write)
0x0C    ERROR        read-only, 0 if none. The first error response: bits 1:0 the response
                     (2 SLVERR, 3 DECERR, 1 EXOKAY), bit 2 set for a write, bits 15:8 the DMA
                     port (:func:`vtaref.impl.core.dma_ports`: readers, then writers). Else
                     the index fault (:mod:`.fault`): bit 3 set, bits 15:8 the scratchpad
                     (an index into :data:`.scratchpad.BUFFERS`), bits 17:16 the stage (an
                     index into :data:`.fault.STAGES`)
0x10    ERROR_ADDR   read-only, the DRAM byte address of that port's transfer (0 for a fault)
0x14 +  counters     read-only, one per name in :data:`COUNTERS`, in that order, each counting
4*i                  cycles of the last run (cleared by start, frozen at DONE or ERROR)
======  ===========  ==========================================================================

A bus error ends the run: the DMA engine takes no further transfer (:mod:`.dma`), BUSY falls
and ERROR rises; the stages stay where they stopped, so the core needs a reset before the next
run. An index fault ends it the same way: the stage that found it stops (:mod:`.fault`); the
others run on until they wait for it. Without errors, runs follow each other without reset.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from . import axi
from .dma import BUS_ERROR
from .fault import INDEX_FAULT

CTRL = 0x00
INSN_ADDR = 0x04
INSN_COUNT = 0x08
ERROR = 0x0C
ERROR_ADDR = 0x10
COUNTERS_BASE = 0x14
CTRL_START = 1 << 0  # write
CTRL_BUSY = 1 << 0  # read
CTRL_DONE = 1 << 1  # read
CTRL_ERROR = 1 << 2  # read
ERROR_RESP_BITS = 2  # ERROR: the response, then the write bit, then the port from bit 8
ERROR_WRITE = 1 << 2
ERROR_PORT_SHIFT = 8
ERROR_FAULT = 1 << 3  # an index fault: the port field holds the buffer
ERROR_STAGE_SHIFT = 16  # a fault's stage

# Each counter counts the cycles of a run in which its condition held.
COUNTERS = (
    "cycles",  # every cycle from start to DONE
    "fetch_busy",  # fetch has instructions left to read or dispatch
    "load_busy",  # load executes an instruction (including token waits)
    "load_token_wait",  # load waits for a token to pop or for room to push one
    "compute_busy",
    "compute_token_wait",
    "store_busy",
    "store_token_wait",
    "gemm_visits",  # the GEMM core retires a micro-op visit
    "alu_visits",  # the tensor ALU retires a micro-op visit
)


def counter_offset(name: str) -> int:
    """Return the register offset of counter ``name``."""
    return COUNTERS_BASE + 4 * COUNTERS.index(name)


class Vcr(wiring.Component):
    """The control register file on an AXI4-Lite port, with the run state machine.

    ``start`` pulses for one cycle when CTRL is written with bit 0 set while no run is in
    progress and neither ``error`` (the DMA engine's, :data:`~.dma.BUS_ERROR`) nor ``fault``
    (the core's first index fault, :data:`~.fault.INDEX_FAULT`) is valid; ``insn_addr`` and
    ``insn_count`` hold the registers. A run ends in the first cycle ``done``, ``error.valid``
    or ``fault.valid`` is high after the start pulse. Each counter counts the cycles of the run
    in which its ``events`` bit is high (``cycles``: every cycle). Writes to read-only or
    unmapped registers are ignored; reads of unmapped registers return 0; every response is
    OKAY. Byte strobes are ignored (registers are written whole).
    """

    def __init__(self):
        super().__init__({
            "bus": In(axi.axi4_lite()),
            "start": Out(1),
            "insn_addr": Out(32),
            "insn_count": Out(32),
            "done": In(1),
            "error": In(BUS_ERROR),
            "fault": In(INDEX_FAULT),
            "events": In(data.StructLayout({name: 1 for name in COUNTERS[1:]})),
        })

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        busy, finished = Signal(), Signal()
        error, fault = self.error, self.fault
        stopped = error.valid | fault.valid
        counters = [Signal(32, name=f"counter_{name}") for name in COUNTERS]

        # Runs and counters.
        with m.If(self.start):
            m.d.sync += [busy.eq(1), finished.eq(0)]
            m.d.sync += [counter.eq(0) for counter in counters]
        with m.Elif(busy):
            with m.If(self.done | stopped):
                m.d.sync += [busy.eq(0), finished.eq(1)]
            m.d.sync += counters[0].eq(counters[0] + 1)
            for name, counter in zip(COUNTERS[1:], counters[1:]):
                with m.If(self.events[name]):
                    m.d.sync += counter.eq(counter + 1)

        # Writes: take an address and its data together, then answer OKAY.
        write = bus.awvalid & bus.wvalid & ~bus.bvalid
        m.d.comb += [bus.awready.eq(write), bus.wready.eq(write), bus.bresp.eq(axi.RESP_OKAY)]
        with m.If(bus.bvalid & bus.bready):
            m.d.sync += bus.bvalid.eq(0)
        with m.If(write):
            m.d.sync += bus.bvalid.eq(1)
            with m.Switch(bus.awaddr[2:]):
                with m.Case(CTRL >> 2):
                    m.d.comb += self.start.eq(bus.wdata[0] & ~busy & ~stopped)
                with m.Case(INSN_ADDR >> 2):
                    m.d.sync += self.insn_addr.eq(bus.wdata)
                with m.Case(INSN_COUNT >> 2):
                    m.d.sync += self.insn_count.eq(bus.wdata)

        # Reads: one at a time, answered the cycle after the address.
        read = bus.arvalid & ~bus.rvalid
        m.d.comb += [bus.arready.eq(read), bus.rresp.eq(axi.RESP_OKAY)]
        with m.If(bus.rvalid & bus.rready):
            m.d.sync += bus.rvalid.eq(0)
        with m.If(read):
            m.d.sync += [bus.rvalid.eq(1), bus.rdata.eq(0)]
            with m.Switch(bus.araddr[2:]):
                with m.Case(CTRL >> 2):
                    m.d.sync += bus.rdata.eq(Cat(busy, finished & ~stopped, stopped))
                with m.Case(ERROR >> 2):
                    with m.If(error.valid):
                        m.d.sync += bus.rdata.eq(Cat(error.resp, error.write,
                                                     Const(0, ERROR_PORT_SHIFT - 3), error.port))
                    with m.Elif(fault.valid):
                        m.d.sync += bus.rdata.eq(ERROR_FAULT | (fault.buffer << ERROR_PORT_SHIFT)
                                                 | (fault.stage << ERROR_STAGE_SHIFT))
                with m.Case(ERROR_ADDR >> 2):
                    m.d.sync += bus.rdata.eq(Mux(error.valid, error.addr, 0))
                with m.Case(INSN_ADDR >> 2):
                    m.d.sync += bus.rdata.eq(self.insn_addr)
                with m.Case(INSN_COUNT >> 2):
                    m.d.sync += bus.rdata.eq(self.insn_count)
                for index, counter in enumerate(counters):
                    with m.Case((COUNTERS_BASE >> 2) + index):
                        m.d.sync += bus.rdata.eq(counter)
        return m
