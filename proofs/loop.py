"""The harness of the GEMM and ALU unit proofs: commands offered at arbitrary times, the
scratchpads, and an in-order walk of the accepted commands' micro-op loops, the model the units
are checked against."""

from __future__ import annotations

from amaranth.asserts import AnyConst, AnySeq
from amaranth.hdl import Array, Assert, Assume, Module, Mux, Signal, Value
from amaranth.lib import data

from vtaref.impl import scratchpad
from vtaref.impl.isa import uop_layout
from vtaref.spec.config import VtaConfig
from vtaref.spec.isa import LoopInsn, visit_index

MAX_ITER = 2  # the bound on each command's iter_out and iter_in


def bound(config: VtaConfig, latency: int) -> int:
    """Return the number of steps that covers the longest command of a unit of ``latency``
    (and, within them, any sequence of shorter commands)."""
    return MAX_ITER * MAX_ITER * config.uop_buff_depth + latency + 2


def visit_count(cmd):
    """Return the number of visits of ``cmd``'s loop, as :attr:`LoopInsn.visit_count` does."""
    empty = (cmd.iter_out == 0) | (cmd.iter_in == 0) | (cmd.uop_end <= cmd.uop_bgn)
    return Mux(empty, 0, cmd.iter_out * cmd.iter_in * (cmd.uop_end - cmd.uop_bgn))


class Commands:
    """``count`` arbitrary commands offered to ``dut.cmd`` in turn: the first in the first
    cycle, each of the others from an arbitrary later cycle on, so they arrive back to back or
    apart.

    Each command has ``iter_out``, ``iter_in`` <= :data:`MAX_ITER` and ``uop_end`` within the
    uop buffer, and may have no visits. Runs in which the unit stops on an index past the end of
    a buffer are left out (assumed away): :mod:`.fault` proves that it stops exactly there.
    ``records[k]`` is the ``k``-th command, ``accepted`` the number taken so far; ``started`` is
    low in the first cycle only.

    The timing contract of the units is asserted: with ``remaining`` the cycles until every
    visit of the accepted commands has been written (a command with ``n`` visits accepted in
    cycle ``c`` is done in cycle ``c + n + latency``), ``idle`` is high exactly when
    ``remaining`` is 0, and ``cmd.ready`` exactly when the loop has generated every visit so
    far (``remaining <= latency``), so a command follows the previous one without a gap.
    """

    def __init__(self, m: Module, dut, config: VtaConfig, latency: int, count: int):
        shape = dut.cmd.payload.shape()
        self.count = count
        self.started = Signal()
        m.d.sync += self.started.eq(1)
        self.records = Array(Signal(shape, name=f"command_{k}") for k in range(count))
        for record in self.records:
            m.d.comb += [Value.cast(record).eq(AnyConst(shape.size)),
                         Assume(record.iter_out <= MAX_ITER), Assume(record.iter_in <= MAX_ITER),
                         Assume(record.uop_end <= config.uop_buff_depth)]
        self.accepted = Signal(range(count + 1))
        offered = self.records[self.accepted]
        m.d.comb += [dut.cmd.payload.eq(offered),
                     dut.cmd.valid.eq(Mux(self.started, AnySeq(1) & (self.accepted < count), 1))]
        taken = dut.cmd.valid & dut.cmd.ready
        m.d.sync += self.accepted.eq(self.accepted + taken)
        m.d.comb += Assume(~dut.fault.valid)

        remaining = Signal(range(bound(config, latency) + 1))
        later = Mux(remaining == 0, 0, remaining - 1)
        visits = visit_count(offered)
        fresh = visits + latency - 1
        m.d.sync += remaining.eq(Mux(taken & (visits != 0) & (fresh > later), fresh, later))
        m.d.comb += [Assert(dut.idle == (remaining == 0)),
                     Assert(dut.cmd.ready == (remaining <= latency))]


def read_only(m: Module, port) -> Array:
    """Return arbitrary constant contents for the memory behind synchronous read ``port``."""
    contents = Array(AnyConst(len(Value.cast(port.data))) for _ in range(1 << len(port.addr)))
    with m.If(port.en):
        m.d.sync += port.data.eq(contents[port.addr])
    return contents


def acc_and_model(m: Module, config: VtaConfig, started, write, reads) -> tuple[Array, Array]:
    """Return the accumulator rows and the model's copy, equal and arbitrary at the start.

    ``write`` writes the rows; each read port of ``reads`` sees the same-cycle write.
    """
    size = scratchpad.row_layout("acc", config).size
    rows = config.acc_buff_depth
    acc = Array(Signal(size, name=f"acc_{k}") for k in range(rows))
    model_acc = Array(Signal(size, name=f"model_acc_{k}") for k in range(rows))
    with m.If(~started):
        for k in range(rows):
            initial = AnyConst(size)
            m.d.sync += [acc[k].eq(initial), model_acc[k].eq(initial)]
    with m.If(write.en):
        m.d.sync += acc[write.addr].eq(write.data)
    for port in reads:
        with m.If(port.en):
            bypass = write.en & (write.addr == port.addr)
            m.d.sync += port.data.eq(Mux(bypass, Value.cast(write.data), acc[port.addr]))
    return acc, model_acc


def walk_loop(m: Module, name: str, step, commands: Commands, uops, config: VtaConfig,
              insn_cls: type[LoopInsn]) -> dict:
    """Walk the loops of the accepted ``commands`` in order, one visit per cycle with ``step``
    high, and assert that a step comes only while an accepted visit is left to walk.

    Returns ``cmd``, the command being walked, the current visit's index for each target of
    ``insn_cls.BUFFERS`` (``dst``, ``src`` and, for GEMM, ``wgt``) and ``number``, the index of
    the command being walked (commands without visits are passed over).
    """
    done = Signal(range(commands.count + 1), name=f"{name}_done")  # commands walked to the end
    number = Signal(range(commands.count + 1), name=f"{name}_number")
    m.d.comb += number.eq(commands.count)
    for k in reversed(range(commands.count)):  # the first command from ``done`` with visits
        with m.If((k >= done) & (visit_count(commands.records[k]) != 0)):
            m.d.comb += number.eq(k)
    cmd = commands.records[number]
    outer = Signal.like(cmd.iter_out, name=f"{name}_outer")
    inner = Signal.like(cmd.iter_in, name=f"{name}_inner")
    offset = Signal.like(cmd.uop_end, name=f"{name}_offset")  # of the micro-op from uop_bgn
    uop = data.View(uop_layout(config), uops[(cmd.uop_bgn + offset)[:len(cmd.uop_end)]])
    walk = {"cmd": cmd, "number": number}
    for target, buffer in insn_cls.BUFFERS.items():
        walk[target] = Signal(scratchpad.addr_width(buffer, config), name=f"{name}_{target}")
        m.d.comb += walk[target].eq(visit_index(cmd, target, uop[f"{target}_idx"], outer, inner))
    with m.If(step):
        m.d.comb += Assert(number < commands.accepted)
        with m.If(cmd.uop_bgn + offset + 1 != cmd.uop_end):
            m.d.sync += offset.eq(offset + 1)
        with m.Else():
            m.d.sync += offset.eq(0)
            with m.If(inner + 1 != cmd.iter_in):
                m.d.sync += inner.eq(inner + 1)
            with m.Elif(outer + 1 != cmd.iter_out):
                m.d.sync += [inner.eq(0), outer.eq(outer + 1)]
            with m.Else():
                m.d.sync += [inner.eq(0), outer.eq(0), done.eq(number + 1)]
    return walk


def check_done(m: Module, dut, commands: Commands, walk: dict) -> None:
    """Assert that whenever the unit is idle, ``walk`` has walked every accepted command with
    visits."""
    with m.If(dut.idle):
        m.d.comb += Assert(walk["number"] >= commands.accepted)


def batched_config() -> VtaConfig:
    """Return a 2x2x2 config (batch 2) with 4-bit inputs and weights and 8-bit accumulators
    (products overflow their operands' width and sums the accumulator's), 2 micro-ops and 8
    rows per data buffer."""
    return VtaConfig(LOG_INP_WIDTH=2, LOG_WGT_WIDTH=2, LOG_ACC_WIDTH=3, LOG_BATCH=1,
                     LOG_BLOCK=1, LOG_UOP_BUFF_SIZE=3, LOG_INP_BUFF_SIZE=4, LOG_WGT_BUFF_SIZE=4,
                     LOG_ACC_BUFF_SIZE=5)
