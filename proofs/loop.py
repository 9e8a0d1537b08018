"""The harness of the GEMM and ALU unit proofs: one arbitrary command, the scratchpads, and an
in-order walk of the micro-op loop, the model the units are checked against."""

from __future__ import annotations

from amaranth.asserts import AnyConst
from amaranth.hdl import Array, Assert, Assume, Module, Mux, Signal, Value
from amaranth.lib import data

from vtaref.impl import scratchpad
from vtaref.impl.isa import uop_layout
from vtaref.spec.config import VtaConfig
from vtaref.spec.isa import LoopInsn, visit_index

MAX_ITER = 2  # the bound on the command's iter_out and iter_in


def bound(config: VtaConfig, latency: int) -> int:
    """Return the number of steps that covers the longest command of a unit of ``latency``."""
    return MAX_ITER * MAX_ITER * config.uop_buff_depth + latency + 2


def one_command(m: Module, dut, config: VtaConfig, steps: int):
    """Offer ``dut`` one arbitrary command in the first cycle and assert that it takes it.

    The command has ``iter_out``, ``iter_in`` <= :data:`MAX_ITER` and ``uop_end`` within the uop
    buffer. Returns the command, ``started`` (low in the first cycle only) and ``cycle`` (the
    cycles since, up to ``steps``).
    """
    started = Signal()
    cycle = Signal(range(steps + 1))
    m.d.sync += [started.eq(1), cycle.eq(Mux(cycle == steps, cycle, cycle + 1))]
    cmd = Signal(dut.cmd.payload.shape())
    m.d.comb += [Value.cast(cmd).eq(AnyConst(len(Value.cast(cmd)))),
                 dut.cmd.payload.eq(cmd), dut.cmd.valid.eq(~started)]
    m.d.comb += [Assume(cmd.iter_out <= MAX_ITER), Assume(cmd.iter_in <= MAX_ITER),
                 Assume(cmd.uop_end <= config.uop_buff_depth)]
    with m.If(~started):
        m.d.comb += Assert(dut.cmd.ready)
    return cmd, started, cycle


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


def check_idle(m: Module, dut, started, cycle, visits, done) -> None:
    """Assert that exactly ``visits`` + the unit's latency cycles after the command, the unit is
    idle, and that by then the model has walked all ``visits`` (``done`` of them so far)."""
    with m.If(started & (visits != 0)):
        m.d.comb += Assert(dut.idle == (cycle >= visits + dut.LATENCY))
    with m.If(started & dut.idle):
        m.d.comb += Assert(done == visits)


def visit_count(cmd):
    """Return the number of visits of ``cmd``'s loop, as :attr:`LoopInsn.visit_count` does."""
    empty = (cmd.iter_out == 0) | (cmd.iter_in == 0) | (cmd.uop_end <= cmd.uop_bgn)
    return Mux(empty, 0, cmd.iter_out * cmd.iter_in * (cmd.uop_end - cmd.uop_bgn))


def walk_loop(m: Module, name: str, step, cmd, uops, config: VtaConfig, started, bound: int,
              insn_cls: type[LoopInsn]) -> dict:
    """Walk ``cmd``'s loop in order, one visit per cycle with ``step`` high.

    Returns the current visit's index for each target of ``insn_cls.BUFFERS`` (``dst``, ``src``
    and, for GEMM, ``wgt``) and ``count``, the number of visits walked so far (the walk starts
    at ``cmd.uop_bgn`` while ``started`` is low).
    """
    outer = Signal.like(cmd.iter_out, name=f"{name}_outer")
    inner = Signal.like(cmd.iter_in, name=f"{name}_inner")
    uop_idx = Signal.like(cmd.uop_end, name=f"{name}_uop")
    count = Signal(range(bound + 1), name=f"{name}_count")
    with m.If(~started):
        m.d.sync += uop_idx.eq(cmd.uop_bgn)
    uop = data.View(uop_layout(config), uops[uop_idx])
    walk = {"count": count}
    for target, buffer in insn_cls.BUFFERS.items():
        walk[target] = Signal(scratchpad.addr_width(buffer, config), name=f"{name}_{target}")
        m.d.comb += walk[target].eq(visit_index(cmd, target, uop[f"{target}_idx"], outer, inner))
    with m.If(step):
        m.d.sync += count.eq(count + 1)
        with m.If(uop_idx + 1 != cmd.uop_end):
            m.d.sync += uop_idx.eq(uop_idx + 1)
        with m.Else():
            m.d.sync += uop_idx.eq(cmd.uop_bgn)
            with m.If(inner + 1 != cmd.iter_in):
                m.d.sync += inner.eq(inner + 1)
            with m.Else():
                m.d.sync += [inner.eq(0), outer.eq(outer + 1)]
    return walk
