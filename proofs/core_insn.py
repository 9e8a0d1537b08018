"""Per-instruction checks of the whole core on its retirement port (:mod:`vtaref.impl.retire`).

:class:`CoreChecks` runs a :class:`~vtaref.impl.core.VtaCore` with ``retire=True`` under an
arbitrary host (AXI4-Lite) and an arbitrary DRAM (AXI4), both driven with ``AnySeq``; the only
assumption is that the host starts one run (a second run would number its instructions from 0
again). Each check is one family of assertions, chosen by name (:func:`check_names`), with a
``Cover`` of its trigger so a cover run shows the check can fire:

- ``alu_OP`` and ``alu_OP_imm``, for each opcode of :class:`vtaref.spec.isa.AluOp`: whenever an
  ALU visit of that opcode writes, every lane of the row written is ``alu_apply(op, a, b)`` of
  the operands read (:class:`.alu.AluModel`), ``b`` being the instruction's ``imm`` with
  immediates;
- ``gemm`` and ``gemm_reset``: a GEMM visit writes ``acc[dst] + inp[src] . wgt[wgt]^T`` (wrapped
  to the accumulator width), or 0 with ``reset_reg``;
- ``load_padding``: an inp or wgt row a LOAD writes but did not read from DRAM is all zeros;
- ``reads``: what a visit reports reading from one arbitrary tracked entry of inp, wgt and acc is
  what the last write to that entry before the read wrote (riscv-formal's trick), so the
  per-instruction checks speak of the scratchpads' real contents (a GEMM with ``reset_reg``
  reads nothing);
- ``order``: each stage retires only instructions the spec gives it, in program order, each
  once, and each unit's visits follow program order;
- ``tokens``: no stage retires an instruction that popped a token before the neighbour retired
  the instruction that pushed it.

The instruction fields are read through :func:`vtaref.impl.isa.insn_layout`, built from the
spec's field tables. Not checked here: LOAD data against DRAM contents, STORE data, liveness.
"""

from __future__ import annotations

from amaranth.asserts import AnyConst
from amaranth.hdl import Assert, Assume, Cover, Elaboratable, Module, Signal, Value
from amaranth.lib import data

from vtaref.impl import vcr
from vtaref.impl.compute import GEMM_READ_TO_WRITE
from vtaref.impl.core import VtaCore
from vtaref.impl.isa import AluOp, MemType, Opcode, insn_layout
from vtaref.spec import isa as spec_isa
from vtaref.spec.config import VtaConfig

from .alu import AluModel
from .axi import drive_arbitrarily

# Cycles from a GEMM visit's inp and wgt reads (the address, one cycle before the data) to its
# acc write. Its acc row, and the ALU's operands, see every write before the visit's own.
GEMM_READ_AGE = GEMM_READ_TO_WRITE + 1
INSN_QUEUE_DEPTH = 2  # the checks do not depend on queue depth; a short queue keeps state small
# Neighbouring stages by token stream: (producer, its push flag, consumer, its pop flag).
TOKEN_LINKS = (("load", "push_next", "compute", "pop_prev"),
               ("compute", "push_prev", "load", "pop_next"),
               ("compute", "push_next", "store", "pop_prev"),
               ("store", "push_prev", "compute", "pop_next"))


def check_names() -> list[str]:
    """Return the name of every check :class:`CoreChecks` can make."""
    alu = [f"alu_{op.name.lower()}{suffix}" for op in spec_isa.AluOp for suffix in ("", "_imm")]
    return [*alu, "gemm", "gemm_reset", "load_padding", "reads", "order", "tokens"]


class CoreChecks(Elaboratable):
    """The core ``core_type(config, retire=True)`` under an arbitrary host and DRAM, with the
    assertions of ``check`` (one of :func:`check_names`) and a ``Cover`` of their trigger."""

    def __init__(self, config: VtaConfig, check: str, core_type: type[VtaCore] = VtaCore):
        if check not in check_names():
            raise ValueError(f"unknown core check {check!r}")
        self.config = config
        self.check = check
        self.dut = core_type(config, retire=True, insn_queue_depth=INSN_QUEUE_DEPTH)

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = self.dut
        drive_arbitrarily(m, dut)
        self._one_run(m, dut.ctrl)
        port = dut.retire
        if self.check.startswith("alu_"):
            self._alu(m, port.alu.valid, port.alu.payload)
        elif self.check.startswith("gemm"):
            self._gemm(m, port.gemm.valid, port.gemm.payload)
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
        for b in range(config.batch):
            for o in range(config.block_out):
                lane = visit.acc_new[b][o]
                expected = 0 if reset else (visit.acc_old[b][o] + sum(
                    visit.inp_value[b][i] * visit.wgt_value[o][i]
                    for i in range(config.block_in)))[:len(lane)]
                with m.If(trigger):
                    m.d.comb += Assert(lane == expected)

    def _load_padding(self, m: Module, port) -> None:
        for space in ("inp", "wgt"):
            event = getattr(port, space)
            trigger = event.valid & ~event.payload.from_dram
            m.d.comb += Cover(trigger)
            with m.If(trigger):
                m.d.comb += Assert(Value.cast(event.payload.data) == 0)

    def _reads(self, m: Module, port) -> None:
        shadows = {space: _Shadow(m, space, getattr(port, space)) for space in ("inp", "wgt",
                                                                                 "acc")}
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


class _Shadow:
    """The last row written to one arbitrary entry of scratchpad ``space``, from its write
    events, and whether a write has happened, as of each of the last cycles."""

    def __init__(self, m: Module, space: str, event):
        self.space = space
        self.addr = Signal.like(event.payload.addr, name=f"{space}_tracked")
        self.value = Signal.like(Value.cast(event.payload.data), name=f"{space}_last")
        self.known = Signal(name=f"{space}_known")
        m.d.comb += self.addr.eq(AnyConst(len(self.addr)))
        with m.If(event.valid & (event.payload.addr == self.addr)):
            m.d.sync += [self.value.eq(event.payload.data), self.known.eq(1)]

    def check_read(self, m: Module, valid, addr, value, age: int) -> None:
        """Assert that a read of the tracked entry, reported in ``valid`` and made ``age``
        cycles before, got what the last write before it wrote."""
        known, last = self.known, self.value
        for step in range(age):
            earlier = (Signal.like(known, name=f"{self.space}_known_{step + 1}"),
                       Signal.like(last, name=f"{self.space}_last_{step + 1}"))
            m.d.sync += [earlier[0].eq(known), earlier[1].eq(last)]
            known, last = earlier
        trigger = valid & (addr == self.addr) & known
        m.d.comb += Cover(trigger)
        with m.If(trigger):
            m.d.comb += Assert(Value.cast(value) == last)
