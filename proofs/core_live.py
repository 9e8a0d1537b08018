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
"""

from __future__ import annotations

from amaranth.hdl import Assert, Assume, Cat, Cover, Fragment, Module, Signal
from amaranth.lib import data

from vtaref.impl.isa import generic_layout
from vtaref.impl.retire import STAGES
from vtaref.spec.config import INS_WIDTH, VtaConfig

from .core_dram import Dram
from .tokens import internal

DRAM_LATENCY = 1  # cycles the DRAM may keep a VALID or a due answer waiting
PROGRESS_BOUND = 8  # cycles the core may go without an event while instructions remain
DEP_FLAGS = ("pop_prev_dep", "pop_next_dep", "push_prev_dep", "push_next_dep")


def subfragment(fragment: Fragment, name: str) -> Fragment:
    """Return the subfragment of ``fragment`` called ``name``."""
    return next(sub for sub, sub_name, _ in fragment.subfragments if sub_name == name)


def liveness(m: Module, config: VtaConfig, core: Fragment, port, dram: Dram) -> None:
    """Assume the DRAM and the program of the module docstring for the elaborated ``core``;
    assert its progress on the retirement ``port``."""
    dram.answer_within(m, DRAM_LATENCY)
    bus = dram.bus
    # Each R beat holds whole instructions' low halves at the same offsets (a 128-bit
    # instruction is two full beats), so zero flag bits in every beat make a flag-free program.
    beat = data.View(generic_layout(config), Cat(bus.rdata, bus.rdata)[:INS_WIDTH])
    with m.If(bus.rvalid):
        m.d.comb += Assume(Cat(beat[flag] for flag in DEP_FLAGS) == 0)

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
