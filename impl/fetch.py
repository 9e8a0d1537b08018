"""The fetch stage: read a run's instructions from DRAM and hand each to its stage's queue."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from vtaref.spec import isa as spec_isa
from vtaref.spec.config import INS_WIDTH, VtaConfig

from . import ports
from .isa import MemType, Opcode, generic_layout, insn_layout
from .queue import Queue
from .retire import INDEX_WIDTH

BUFFER_DEPTH = 16  # instructions fetch reads ahead of dispatch


class Fetch(wiring.Component):
    """Read ``insn_count`` instructions from byte address ``insn_addr`` and dispatch them in order.

    A one-cycle ``start`` while ``busy`` is low latches ``insn_addr`` and ``insn_count`` (a
    ``start`` while ``busy`` is high is ignored). Fetch hands each instruction, in program order,
    to ``load`` (a LOAD of INP or WGT), ``store`` (a STORE) or ``compute`` (everything else: LOADs
    of UOP, ACC and ACC_8BIT, GEMM, ALU, FINISH and unknown opcodes), one per cycle while the
    target stream is ready. ``busy`` is high from the cycle after ``start`` until the cycle after
    the last instruction was handed on; ``insn_count == 0`` reads nothing and leaves ``busy`` low.

    Instructions are read ahead into a buffer of ``depth`` entries, with element commands of at
    most the free space (and at least half of it, or the rest of the run): a command on ``mem``
    therefore always finishes, even while the stage queues are full, and never holds the DMA
    engine's read channel away from the stages that would drain them.

    With ``retire``, ``index`` is the program index of the instruction on offer (0 for the
    first of a run), for :mod:`.retire`.
    """

    def __init__(self, config: VtaConfig, *, depth: int = BUFFER_DEPTH, retire: bool = False):
        if not isinstance(depth, int) or depth < 2:
            raise TypeError(f"Fetch buffer depth must be an integer of at least 2, not {depth!r}")
        self._config = config
        self.depth = depth
        self.retire = retire
        super().__init__({
            **({"index": Out(INDEX_WIDTH)} if retire else {}),
            "start": In(1),
            "insn_addr": In(ports.ADDR_WIDTH),
            "insn_count": In(ports.COUNT_WIDTH),
            "mem": Out(ports.element_read(INS_WIDTH)),
            "load": Out(ports.instructions()),
            "compute": Out(ports.instructions()),
            "store": Out(ports.instructions()),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cmd = self.mem.cmd
        m.submodules.buffer = buffer = Queue(INS_WIDTH, self.depth)

        # Latch the run.
        addr = Signal(ports.ADDR_WIDTH)  # of the next instruction to request
        unrequested = Signal(ports.COUNT_WIDTH)
        undispatched = Signal(ports.COUNT_WIDTH)
        with m.If(self.start & ~self.busy & (self.insn_count != 0)):
            m.d.sync += [addr.eq(self.insn_addr), unrequested.eq(self.insn_count),
                         undispatched.eq(self.insn_count), self.busy.eq(1)]
            if self.retire:
                m.d.sync += self.index.eq(0)

        # Request what the buffer has room for, once the previous command has finished.
        requesting = Signal()
        count = Signal(range(self.depth + 1))  # of the command on offer
        arriving = Signal(range(self.depth + 1))  # elements of the last command still to come
        free = self.depth - buffer.level  # only grows while no command is arriving
        room = Mux(unrequested < free, unrequested, free)
        worth = Mux(unrequested < self.depth // 2, unrequested, self.depth // 2)
        with m.If(~requesting & (unrequested != 0) & (arriving == 0) & (free >= worth)):
            m.d.sync += [requesting.eq(1), count.eq(room)]
        m.d.comb += [cmd.valid.eq(requesting), cmd.payload.addr.eq(addr),
                     cmd.payload.count.eq(count)]
        delivered = self.mem.data.valid & self.mem.data.ready
        with m.If(cmd.valid & cmd.ready):
            m.d.sync += [requesting.eq(0), addr.eq(addr + count * (INS_WIDTH // 8)),
                         unrequested.eq(unrequested - count), arriving.eq(count)]
        with m.Elif(delivered):
            m.d.sync += arriving.eq(arriving - 1)
        m.d.comb += [buffer.w.payload.eq(self.mem.data.payload),
                     buffer.w.valid.eq(self.mem.data.valid),
                     self.mem.data.ready.eq(buffer.w.ready)]

        # Dispatch each buffered instruction to its stage.
        head = buffer.r
        generic = data.View(generic_layout(self._config), head.payload)
        memory = data.View(insn_layout(spec_isa.Load, self._config), head.payload)
        to_load = (generic.opcode == Opcode.LOAD) & ((memory.memory_type == MemType.INP)
                                                     | (memory.memory_type == MemType.WGT))
        to_store = generic.opcode == Opcode.STORE
        to_compute = ~to_load & ~to_store
        for target, selected in ((self.load, to_load), (self.store, to_store),
                                 (self.compute, to_compute)):
            m.d.comb += [target.payload.eq(head.payload),
                         target.valid.eq(head.valid & selected)]
        m.d.comb += head.ready.eq(Mux(to_load, self.load.ready,
                                      Mux(to_store, self.store.ready, self.compute.ready)))
        with m.If(head.valid & head.ready):
            m.d.sync += undispatched.eq(undispatched - 1)
            if self.retire:
                m.d.sync += self.index.eq(self.index + 1)
            with m.If(undispatched == 1):
                m.d.sync += self.busy.eq(0)
        return m
