"""Per-instruction checks of the whole core on its retirement port (:mod:`vtaref.impl.retire`).

:class:`CoreChecks` runs a :class:`~vtaref.impl.core.VtaCore` with ``retire=True`` under an
arbitrary host (AXI4-Lite) and an arbitrary DRAM (AXI4), both driven with ``AnySeq``; the only
assumption is that the host starts one run (a second run would number its instructions from 0
again), and for the DRAM checks, that the DRAM behaves as a memory for one tracked byte
(:class:`.core_dram.Dram`). Each check is one family of assertions, chosen by name
(:func:`check_names`), with a ``Cover`` of its trigger so a cover run shows the check can fire:

- ``alu_OP`` and ``alu_OP_imm``, for each opcode of :class:`vtaref.spec.isa.AluOp`: whenever an
  ALU visit of that opcode writes, every lane of the row written is ``alu_apply(op, a, b)`` of
  the operands read (:class:`.alu.AluModel`), ``b`` being the instruction's ``imm`` with
  immediates;
- ``gemm`` and ``gemm_reset``: a GEMM visit writes ``acc[dst] + inp[src] . wgt[wgt]^T`` (wrapped
  to the accumulator width), or 0 with ``reset_reg``; with arbitrary scratchpads, a second
  cover shows a visit whose products are nonzero, negative, and different in each batch row
  (:func:`batched_core_config` is the config where that catches a GEMM that gets rows or signs
  wrong);
- ``load_padding``: an inp or wgt row a LOAD writes but did not read from DRAM is all zeros;
- ``load_data``, ``local_load_data`` and ``store_data`` (:mod:`.core_dram`, with a DRAM that
  behaves as a memory for one tracked byte): an inp or wgt row read from DRAM holds the DRAM
  bytes, and a retired LOAD wrote the tracked row from the spec's DRAM address, or padding;
  a retired LOAD of UOP, ACC or ACC_8BIT wrote the tracked uop or acc row from the spec's
  DRAM address, with the spec's bytes, or padding; a retired STORE left the spec's narrowed
  acc row at the spec's DRAM address;
- ``finish``: after a FINISH retires, no visit or write of an earlier instruction follows, and
  the host reads DONE only after a FINISH retired;
- ``liveness`` (:mod:`.core_live`): with a DRAM that answers in time and a program without
  dependency flags, the core never stalls for long while instructions remain;
- ``retire_bound`` (:mod:`.core_live`): with that DRAM and short flag-free programs of unit
  work, every instruction retires within a bound of reaching its stage;
- ``reads``: what a visit reports reading from one arbitrary tracked entry of inp, wgt and acc is
  what the last write to that entry before the read wrote (riscv-formal's trick), so the
  per-instruction checks speak of the scratchpads' real contents (a GEMM with ``reset_reg``
  reads nothing);
- ``order``: each stage retires only instructions the spec gives it, in program order, each
  once, and each unit's visits follow program order;
- ``tokens``: no stage retires an instruction that popped a token before the neighbour retired
  the instruction that pushed it.

The instruction fields are read through :func:`vtaref.impl.isa.insn_layout`, built from the
spec's field tables.
"""

from __future__ import annotations

from amaranth.asserts import AnyConst
from amaranth.hdl import Assert, Assume, Cover, Elaboratable, Fragment, Module, Signal, Value
from amaranth.lib import data

from vtaref.impl import vcr
from vtaref.impl.core import VtaCore
from vtaref.impl.gemm import TensorGemm
from vtaref.impl.isa import AluOp, MemType, Opcode, insn_layout
from vtaref.spec import isa as spec_isa
from vtaref.spec.config import VtaConfig

from .alu import AluModel
from .axi import drive_arbitrarily
from .core_dram import Dram, load_data, local_load_data, store_data
from .core_live import liveness, retirement_bound

# Cycles from a GEMM visit's inp and wgt reads (the address, one cycle before the data) to its
# acc write. Its acc row, and the ALU's operands, see every write before the visit's own.
GEMM_READ_AGE = TensorGemm.READ_TO_WRITE + 1
SCRATCHPAD_MEMORIES = "*_buffer"  # the names VtaCore gives its scratchpads' memories
INSN_QUEUE_DEPTH = 2  # the checks do not depend on queue depth; a short queue keeps state small
# Neighbouring stages by token stream: (producer, its push flag, consumer, its pop flag).
TOKEN_LINKS = (("load", "push_next", "compute", "pop_prev"),
               ("compute", "push_prev", "load", "pop_next"),
               ("compute", "push_next", "store", "pop_prev"),
               ("store", "push_prev", "compute", "pop_next"))


def batched_core_config() -> VtaConfig:
    """Return the smallest config with batch 2 and sub-byte inputs for the whole-core GEMM
    check: 1x1 blocks, 4-bit inputs, 8-bit weights (the least a 1x1 weight element can have)
    and accumulators, 2 micro-ops, 8 inp and wgt rows and 4 acc rows. A product of a negative
    input differs signed and unsigned modulo 2**8, and each batch row has its own."""
    return VtaConfig(LOG_INP_WIDTH=2, LOG_WGT_WIDTH=3, LOG_ACC_WIDTH=3, LOG_BATCH=1,
                     LOG_BLOCK=0, LOG_UOP_BUFF_SIZE=3, LOG_INP_BUFF_SIZE=3,
                     LOG_WGT_BUFF_SIZE=3, LOG_ACC_BUFF_SIZE=3)


def check_names() -> list[str]:
    """Return the name of every check :class:`CoreChecks` can make."""
    alu = [f"alu_{op.name.lower()}{suffix}" for op in spec_isa.AluOp for suffix in ("", "_imm")]
    return [*alu, "gemm", "gemm_reset", "load_padding", "load_data", "local_load_data",
            "store_data", "finish",
            "liveness", "retire_bound", "reads", "order", "tokens"]


class CoreChecks(Elaboratable):
    """The core ``core_type(config, retire=True)`` under an arbitrary host and DRAM, with the
    assertions of ``check`` (one of :func:`check_names`) and a ``Cover`` of their trigger.

    With ``arbitrary_memories``, the scratchpads start with arbitrary contents rather than zeros
    (:func:`.sby.prove`), so a GEMM or ALU needs no LOAD first to see data; the checks then
    know an entry's contents only once written."""

    def __init__(self, config: VtaConfig, check: str, core_type: type[VtaCore] = VtaCore, *,
                 arbitrary_memories: bool = False):
        if check not in check_names():
            raise ValueError(f"unknown core check {check!r}")
        self.config = config
        self.check = check
        # The Yosys pattern of the memories that start arbitrary: the core's scratchpads.
        self.arbitrary_memories = SCRATCHPAD_MEMORIES if arbitrary_memories else ""
        self.dut = core_type(config, retire=True, insn_queue_depth=INSN_QUEUE_DEPTH)

    def elaborate(self, platform):
        m = Module()
        dut = self.dut
        # Liveness reads stage and control register signals: elaborate the core to reach them.
        core = (Fragment.get(dut, platform) if self.check in ("liveness", "retire_bound")
                else dut)
        m.submodules.dut = core
        drive_arbitrarily(m, dut)
        self._one_run(m, dut.ctrl)
        port = dut.retire
        if self.check.startswith("alu_"):
            self._alu(m, port.alu.valid, port.alu.payload)
        elif self.check.startswith("gemm"):
            self._gemm(m, port.gemm.valid, port.gemm.payload)
        elif self.check == "load_data":
            records = {space: WriteRecord(m, space, getattr(port, space))
                       for space in ("inp", "wgt")}
            load_data(m, self.config, port, Dram(m, dut.axi), records)
        elif self.check == "local_load_data":
            records = {space: WriteRecord(m, space, getattr(port, space))
                       for space in ("uop", "acc")}
            local_load_data(m, self.config, port, Dram(m, dut.axi), records)
        elif self.check == "store_data":
            acc = WriteRecord(m, "acc", port.acc, zeros=not self.arbitrary_memories)
            store_data(m, self.config, port, Dram(m, dut.axi), acc)
        elif self.check == "liveness":
            liveness(m, self.config, core, port, Dram(m, dut.axi))
        elif self.check == "retire_bound":
            retirement_bound(m, self.config, core, port, Dram(m, dut.axi))
        elif self.check == "finish":
            self._finish(m, port, dut.ctrl)
        else:
            getattr(self, f"_{self.check}")(m, port)
        return m

    @staticmethod
    def _one_run(m: Module, ctrl) -> None:
        """Assume the host writes the start bit of CTRL at most once (a write is taken when
        AW and W are both valid and no response is pending, :class:`~vtaref.impl.vcr.Vcr`)."""
        start = (ctrl.awvalid & ctrl.wvalid & ~ctrl.bvalid
                 & (ctrl.awaddr[2:] == vcr.CTRL >> 2) & ctrl.wdata[0])
        started = Signal()
        with m.If(start):
            m.d.sync += started.eq(1)
        m.d.comb += Assume(~(started & start))

    def _alu(self, m: Module, valid, visit) -> None:
        name = self.check.removeprefix("alu_")
        use_imm = name.endswith("_imm")
        op = AluOp[name.removesuffix("_imm").upper()]
        insn = data.View(insn_layout(spec_isa.Alu, self.config), visit.insn)
        trigger = valid & (insn.alu_opcode == op) & (insn.use_imm == use_imm)
        m.d.comb += Cover(trigger)
        for b in range(self.config.batch):
            for o in range(self.config.block_out):
                width = len(visit.a[b][o])
                operand = insn.imm if use_imm else visit.b[b][o]
                lane = AluModel(width, len(operand))
                m.submodules[f"model_{b}_{o}"] = lane
                m.d.comb += [lane.op.eq(op), lane.a.eq(visit.a[b][o]), lane.b.eq(operand)]
                with m.If(trigger):
                    m.d.comb += Assert(visit.y[b][o] == lane.y)

    def _gemm(self, m: Module, valid, visit) -> None:
        config = self.config
        reset = self.check == "gemm_reset"
        insn = data.View(insn_layout(spec_isa.Gemm, config), visit.insn)
        trigger = valid & (insn.reset_reg == reset)
        m.d.comb += Cover(trigger)
        products = [[sum(visit.inp_value[b][i] * visit.wgt_value[o][i]
                         for i in range(config.block_in)) for o in range(config.block_out)]
                    for b in range(config.batch)]
        for b in range(config.batch):
            for o in range(config.block_out):
                lane = visit.acc_new[b][o]
                expected = 0 if reset else (visit.acc_old[b][o] + products[b][o])[:len(lane)]
                with m.If(trigger):
                    m.d.comb += Assert(lane.as_unsigned() == expected)
        if self.arbitrary_memories and not reset:
            # Row 0's first product negative and, with batch > 1, the last row's positive: a
            # visit that tells signed from unsigned products and one row from another.
            telling = trigger & (products[0][0] < 0)
            if config.batch > 1:
                telling &= products[-1][0] > 0
            m.d.comb += Cover(telling)

    def _load_padding(self, m: Module, port) -> None:
        for space in ("inp", "wgt"):
            event = getattr(port, space)
            trigger = event.valid & ~event.payload.from_dram
            m.d.comb += Cover(trigger)
            with m.If(trigger):
                m.d.comb += Assert(Value.cast(event.payload.data) == 0)

    def _reads(self, m: Module, port) -> None:
        shadows = {space: WriteRecord(m, space, getattr(port, space))
                   for space in ("inp", "wgt", "acc")}
        gemm, alu = port.gemm.payload, port.alu.payload
        gemm_insn = data.View(insn_layout(spec_isa.Gemm, self.config), gemm.insn)
        alu_insn = data.View(insn_layout(spec_isa.Alu, self.config), alu.insn)
        gemm_reads = port.gemm.valid & ~gemm_insn.reset_reg  # a reset reads nothing
        # (valid, space, entry, value, cycles from the read to the visit's write)
        for valid, space, addr, value, age in (
                (gemm_reads, "inp", gemm.src, gemm.inp_value, GEMM_READ_AGE),
                (gemm_reads, "wgt", gemm.wgt, gemm.wgt_value, GEMM_READ_AGE),
                (gemm_reads, "acc", gemm.dst, gemm.acc_old, 0),
                (port.alu.valid, "acc", alu.dst, alu.a, 0),
                (port.alu.valid & ~alu_insn.use_imm, "acc", alu.src, alu.b, 0)):
            shadows[space].check_read(m, valid, addr, value, age)

    def _order(self, m: Module, port) -> None:
        for stage in ("load", "compute", "store"):
            event = getattr(port, stage)
            last, any_yet = Signal.like(event.payload.index), Signal()
            m.d.comb += Cover(event.valid & any_yet)
            with m.If(event.valid):
                m.d.comb += Assert(self._stage_of(event.payload.insn)[stage])
                m.d.sync += [last.eq(event.payload.index), any_yet.eq(1)]
                with m.If(any_yet):
                    m.d.comb += Assert(event.payload.index > last)
        for name in ("gemm", "alu"):
            unit = getattr(port, name)
            last = Signal.like(unit.payload.index, name=f"{name}_last_index")
            m.d.comb += Cover(unit.valid)
            with m.If(unit.valid):
                m.d.comb += Assert(unit.payload.index >= last)
                m.d.sync += last.eq(unit.payload.index)

    def _finish(self, m: Module, port, ctrl) -> None:
        """Assert that once a FINISH retires, no visit or scratchpad write of an instruction
        before it follows (FINISH waits for the compute stage to drain), and that the host
        reads DONE in CTRL only after a FINISH retired."""
        insn = data.View(insn_layout(spec_isa.Finish, self.config), port.compute.payload.insn)
        finishes = port.compute.valid & (insn.opcode == Opcode.FINISH)
        m.d.comb += Cover(finishes)
        finished, finish_index = Signal(), Signal.like(port.compute.payload.index)
        with m.If(finishes & ~finished):
            m.d.sync += [finished.eq(1), finish_index.eq(port.compute.payload.index)]
        for name in ("gemm", "alu", "uop", "acc"):
            event = getattr(port, name)
            with m.If(finished & event.valid):
                m.d.comb += Assert(event.payload.index > finish_index)
        # A FINISH retiring after a GEMM visit: it waited for the GEMM's pipeline to drain.
        visited = Signal(name="gemm_visited_before")
        with m.If(port.gemm.valid):
            m.d.sync += visited.eq(1)
        m.d.comb += Cover(finishes & visited)
        # The VCR samples DONE when it takes the read address: a FINISH retiring in cycle t
        # sets the compute stage's done in t + 1 and the VCR's in t + 2.
        finished_before = [Signal(name=f"finished_{k}_before") for k in (1, 2)]
        m.d.sync += [finished_before[0].eq(finished | finishes),
                     finished_before[1].eq(finished_before[0])]
        answer_ok, answering_ctrl = Signal(), Signal()  # for the read the VCR answers
        with m.If(ctrl.arvalid & ctrl.arready):
            m.d.sync += [answering_ctrl.eq(ctrl.araddr[2:] == vcr.CTRL >> 2),
                         answer_ok.eq(finished_before[1])]
        done = ctrl.rvalid & answering_ctrl & (ctrl.rdata & vcr.CTRL_DONE).any()
        m.d.comb += Cover(done)
        with m.If(done):
            m.d.comb += Assert(answer_ok)

    def _stage_of(self, bits) -> dict[str, Value]:
        """Return the stage that runs the instruction ``bits`` as the spec assigns it
        (:attr:`vtaref.spec.isa.Insn.stage`): whether it is ``load``, ``compute`` or ``store``."""
        insn = data.View(insn_layout(spec_isa.Load, self.config), bits)
        load = (insn.opcode == Opcode.LOAD) & ((insn.memory_type == MemType.INP)
                                               | (insn.memory_type == MemType.WGT))
        store = insn.opcode == Opcode.STORE
        return {"load": load, "compute": ~load & ~store, "store": store}

    def _tokens(self, m: Module, port) -> None:
        for producer, push, consumer, pop in TOKEN_LINKS:
            pushed, popped = Signal(8), Signal(8)  # the checks run far fewer steps than 2**8
            made = getattr(port, producer)
            used = getattr(port, consumer)
            pushes = made.valid & getattr(made.payload, push)
            pops = used.valid & getattr(used.payload, pop)
            m.d.sync += [pushed.eq(pushed + pushes), popped.eq(popped + pops)]
            m.d.comb += Cover(pops)
            with m.If(pops):
                m.d.comb += Assert(popped < pushed + pushes)


class WriteRecord:
    """The last write event of one arbitrary tracked entry ``addr`` of scratchpad ``space``
    (its ``index``, ``data``, ``from_dram`` and ``dram_addr``), and whether there was one
    (``written``); ``known`` when ``data`` is the entry's contents: after a write, or from the
    start when the scratchpads start at zero (``zeros``)."""

    def __init__(self, m: Module, space: str, event, zeros: bool = False):
        self.space = space
        payload = event.payload
        self.addr = Signal.like(payload.addr, name=f"{space}_tracked")
        self.data = Signal.like(Value.cast(payload.data), name=f"{space}_last")
        self.index = Signal.like(payload.index, name=f"{space}_last_index")
        self.from_dram = Signal(name=f"{space}_last_from_dram")
        self.dram_addr = Signal.like(payload.dram_addr, name=f"{space}_last_dram_addr")
        self.written = Signal(name=f"{space}_written")
        self.known = Signal(name=f"{space}_known")
        m.d.comb += [self.addr.eq(AnyConst(len(self.addr))), self.known.eq(self.written | zeros)]
        self._writes = event.valid & (payload.addr == self.addr)
        with m.If(self._writes):
            m.d.sync += [self.data.eq(payload.data), self.index.eq(payload.index),
                         self.from_dram.eq(payload.from_dram),
                         self.dram_addr.eq(payload.dram_addr), self.written.eq(1)]

    def at_last_write(self, m: Module, value) -> Signal:
        """Return a register that holds what ``value`` was in the cycle of the tracked entry's
        last write."""
        then = Signal.like(value, name=f"{self.space}_write_saw_{value.name}")
        with m.If(self._writes):
            m.d.sync += then.eq(value)
        return then

    def check_read(self, m: Module, valid, addr, value, age: int) -> None:
        """Assert that a read of the tracked entry, reported in ``valid`` and made ``age``
        cycles before, got what the last write before it wrote."""
        known, last = self.known, self.data
        for step in range(age):
            earlier = (Signal.like(known, name=f"{self.space}_known_{step + 1}"),
                       Signal.like(last, name=f"{self.space}_last_{step + 1}"))
            m.d.sync += [earlier[0].eq(known), earlier[1].eq(last)]
            known, last = earlier
        trigger = valid & (addr == self.addr) & known
        m.d.comb += Cover(trigger)
        with m.If(trigger):
            m.d.comb += Assert(Value.cast(value) == last)
