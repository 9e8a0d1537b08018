"""Liveness of the whole core as bounded progress, for :class:`.core_insn.CoreChecks`.

With a DRAM that answers within :data:`DRAM_LATENCY` cycles (:meth:`.core_dram.Dram.
answer_within`: READY for a VALID it can take, R beats and B responses when due, all OKAY)
and a program without dependency flags (so that no instruction waits for a token its program
never pushes), the core, from the start of a run until it has retired all ``INSN_COUNT``
instructions or the run ends (DONE, a fault or a bus error), never goes
:data:`PROGRESS_BOUND` cycles without progress: something reported on its retirement port (a
retirement, a scratchpad write, a GEMM or ALU visit, an OUT element) or moved on its AXI4 port
(an address, a data beat or a response taken). A deadlock or a bus that hangs fails it.

Bus moves count because the core cannot do better: fetch holds the read channel for its whole
command, up to ``INSN_COUNT`` instructions (two beats each), so a LOAD fetched first waits for
all of them; a bound on retirements alone would grow with ``INSN_COUNT``.

The run's state is read from the control registers' own signals (``start``, ``finished``,
``insn_count`` of :class:`~vtaref.impl.vcr.Vcr`), as the token proofs read stage internals.

:func:`retirement_bound` bounds each instruction instead, under the same DRAM, for runs of at
most :data:`BOUND_INSNS` flag-free instructions of one element or one visit each
(:func:`unit_work`): an arbitrary tracked instruction retires within :data:`RETIRE_BOUND`
cycles of reaching the head of its stage's instruction queue (its stage's ``insn`` stream
offering it), unless the run ends first (a fault, a bus error). Without dependency flags no
instruction waits for a token, so a stage that stops taking instructions, or holds one
forever, fails it. The bound covers the stage finishing the instruction before it and the
read channel's other bursts (fetch's and the other stages').
"""

from __future__ import annotations

from amaranth.asserts import AnyConst
from amaranth.hdl import Assert, Assume, Cat, Cover, Fragment, Module, Mux, Signal, Value
from amaranth.lib import data

from vtaref.impl.isa import Opcode, generic_layout, insn_layout
from vtaref.impl.retire import INDEX_WIDTH, STAGES
from vtaref.spec import isa as spec_isa
from vtaref.spec.config import INS_WIDTH, VtaConfig

from .core_dram import Dram
from .tokens import internal

DRAM_LATENCY = 1  # cycles the DRAM may keep a VALID or a due answer waiting
PROGRESS_BOUND = 8  # cycles the core may go without an event while instructions remain
RETIRE_BOUND = 16  # cycles from its stage's queue head to retiring, for unit work
BOUND_INSNS = 2  # the most instructions a run of the retirement bound has
DEP_FLAGS = ("pop_prev_dep", "pop_next_dep", "push_prev_dep", "push_next_dep")


def subfragment(fragment: Fragment, name: str) -> Fragment:
    """Return the subfragment of ``fragment`` called ``name``."""
    return next(sub for sub, sub_name, _ in fragment.subfragments if sub_name == name)


def liveness(m: Module, config: VtaConfig, core: Fragment, port, dram: Dram) -> None:
    """Assume the DRAM and the program of the module docstring for the elaborated ``core``;
    assert its progress on the retirement ``port``."""
    bus = _fair_run(m, config, dram)
    vcr = subfragment(core, "vcr")
    started = Signal(name="run_started")
    count = Signal(32, name="run_insn_count")  # as fetch latches it at the start
    with m.If(internal(vcr, "start")):
        m.d.sync += [started.eq(1), count.eq(internal(vcr, "insn_count"))]
    retired = Signal(16, name="retired_count")
    m.d.sync += retired.eq(retired + sum(getattr(port, stage).valid for stage in STAGES))
    pending = started & ~internal(vcr, "finished") & (retired < count)
    handshakes = [getattr(bus, f"{channel}valid") & getattr(bus, f"{channel}ready")
                  for channel in ("ar", "r", "aw", "w", "b")]
    events = Cat(*(getattr(port, name).valid for name in port.signature.members),
                 *handshakes).any()
    silent = Signal(range(PROGRESS_BOUND + 1), name="silent_cycles")
    with m.If(pending & ~events):
        m.d.sync += silent.eq(silent + 1)
    with m.Else():
        m.d.sync += silent.eq(0)
    m.d.comb += [Assert(silent < PROGRESS_BOUND), Cover(pending & events & (retired != 0))]


def _fair_run(m: Module, config: VtaConfig, dram: Dram):
    """Assume a DRAM that answers within :data:`DRAM_LATENCY` cycles and a program without
    dependency flags; return the bus."""
    dram.answer_within(m, DRAM_LATENCY)
    bus = dram.bus
    # Each R beat holds whole instructions' low halves at the same offsets (a 128-bit
    # instruction is two full beats), so zero flag bits in every beat make a flag-free program.
    beat = data.View(generic_layout(config), Cat(bus.rdata, bus.rdata)[:INS_WIDTH])
    with m.If(bus.rvalid):
        m.d.comb += Assume(Cat(beat[flag] for flag in DEP_FLAGS) == 0)
    return bus


def unit_work(config: VtaConfig, bits) -> Value:
    """Return whether the instruction ``bits`` moves at most one element (a LOAD or STORE of at
    most one unpadded element) or makes at most one visit (a GEMM or ALU loop of at most one
    iteration of one micro-op); FINISH always."""
    mem = data.View(insn_layout(spec_isa.Load, config), bits)
    loop = data.View(insn_layout(spec_isa.Gemm, config), bits)
    one_element = ((mem.x_size <= 1) & (mem.y_size <= 1) & (mem.x_pad_0 == 0)
                   & (mem.x_pad_1 == 0) & (mem.y_pad_0 == 0) & (mem.y_pad_1 == 0))
    one_visit = (loop.iter_out <= 1) & (loop.iter_in <= 1) & (loop.uop_end <= loop.uop_bgn + 1)
    moves = (mem.opcode == Opcode.LOAD) | (mem.opcode == Opcode.STORE)
    loops = (mem.opcode == Opcode.GEMM) | (mem.opcode == Opcode.ALU)
    return Mux(moves, one_element, ~loops | one_visit)


def retirement_bound(m: Module, config: VtaConfig, core: Fragment, port, dram: Dram) -> None:
    """Assume the DRAM and the runs of the module docstring for the elaborated ``core`` (every
    instruction a stage is offered of :func:`unit_work`); assert that the tracked instruction
    retires within :data:`RETIRE_BOUND` cycles of being offered to its stage, counting the
    cycles before the run ends."""
    _fair_run(m, config, dram)
    vcr = subfragment(core, "vcr")
    with m.If(internal(vcr, "start")):
        m.d.comb += Assume(internal(vcr, "insn_count") <= BOUND_INSNS)
    tracked = Signal(INDEX_WIDTH, name="bound_tracked")
    m.d.comb += tracked.eq(AnyConst(INDEX_WIDTH))
    offers, retirements = [], []
    for stage in STAGES:
        fragment = subfragment(core, stage)
        valid = internal(fragment, "insn__valid")
        with m.If(valid):
            m.d.comb += Assume(unit_work(config, internal(fragment, "insn__payload")))
        offers.append(valid & (internal(fragment, "insn_index") == tracked))
        event = getattr(port, stage)
        retirements.append(event.valid & (event.payload.index == tracked))
    offered, retires = Cat(*offers).any(), Cat(*retirements).any()
    waited = Signal(range(RETIRE_BOUND + 1), name="bound_waited")  # cycles since offered
    held, retired = Signal(name="bound_held"), Signal(name="bound_retired")
    ended = internal(vcr, "finished")  # DONE, a fault or a bus error: nothing retires after
    with m.If((offered | held) & ~retires & ~retired & ~ended):
        m.d.sync += [held.eq(1), waited.eq(waited + 1)]
    with m.If(retires):
        m.d.sync += [held.eq(0), retired.eq(1)]
    # Covers: a retirement of the tracked instruction, and one after three quarters of the bound.
    m.d.comb += [Assert(waited < RETIRE_BOUND), Cover(retires & (waited != 0)),
                 Cover(retires & (waited >= RETIRE_BOUND * 3 // 4))]
