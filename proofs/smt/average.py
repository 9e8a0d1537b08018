"""Global average pooling computes the floor of the mean, for every input it accepts.

:func:`vtaref.compiler.pooling.compile_global_avg_pool` sums the ``H*W`` positions of a channel
with a GEMM against the identity (the accumulator wrapping at ``acc_width`` bits), then queues
:func:`~vtaref.compiler.pooling.emit_floor_mean`: ALU ADDs that multiply by ``m`` and add
``bias``, and the requantization by ``k``, ``(m, k) = average_scale(H*W)``. docs/compiler.md
defines the result as ``floor(sum / (H*W))``; planes for which ``average_scale`` raises
CompileError are refused and have no obligation.

For every input, weight and accumulator width a configuration allows, every plane ``H*W`` up to
the bound and every sum the inputs can have, the instructions queued (recorded, then run
lane-wise with the spec's ALU operations, :mod:`.alu_lanes`, from a scratch entry holding any
value) leave ``q`` with ``q * H*W <= sum < (q + 1) * H*W``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import product

import z3

from vtaref.compiler.errors import CompileError
from vtaref.compiler.pooling import emit_floor_mean
from vtaref.compiler.reference import average_bias, average_scale
from vtaref.spec.config import KEY_RANGES, VtaConfig

from .alu_lanes import alu_lane
from .requantize import SMALL_BUFFERS
from .solver import Obligation

SUM_BITS = 64  # sums and their products with the plane, exact
SUM, SCRATCH = 0, 1  # the accumulator entries the recorded instructions work on


class LaneRecorder:
    """A stand-in for a :class:`~vtaref.compiler.runtime.CommandStream` that runs the ALU
    instructions and resetting GEMMs queued on it on one symbolic lane per accumulator entry."""

    def __init__(self, config: VtaConfig, lanes: dict[int, z3.BitVecRef]):
        self.config = config
        self.lanes = lanes

    def gemm(self, nest, reset: bool = False) -> None:
        if not reset:
            raise ValueError("the average emits only resetting GEMMs")
        lane = self.lanes[nest.dst.base]
        self.lanes[nest.dst.base] = z3.BitVecVal(0, lane.size(), lane.ctx)

    def alu(self, op, nest, imm=None) -> None:
        operand = imm if imm is not None else self.lanes[nest.src.base]
        self.lanes[nest.dst.base] = alu_lane(op, self.lanes[nest.dst.base], operand)


def average_configs() -> list[VtaConfig]:
    """Return a valid configuration for every input, weight (>= 2 bits, as the identity
    weight needs) and accumulator width."""
    ranges = [range(KEY_RANGES[key][0], KEY_RANGES[key][1] + 1)
              for key in ("LOG_INP_WIDTH", "LOG_WGT_WIDTH", "LOG_ACC_WIDTH")]
    return [VtaConfig(LOG_INP_WIDTH=inp, LOG_WGT_WIDTH=wgt, LOG_ACC_WIDTH=acc, **SMALL_BUFFERS)
            for inp, wgt, acc in product(*ranges) if wgt >= 1]


def average_obligations(ctx: z3.Context, *, planes: int, scale: Callable = average_scale,
                        emit: Callable = emit_floor_mean) -> Iterator[Obligation]:
    """Yield one obligation per configuration's widths and accepted plane of up to ``planes``
    positions; ``scale`` and ``emit`` are the compiler's functions under proof (tests pass
    broken ones)."""
    for config, plane in product(average_configs(), range(1, planes + 1)):
        try:
            m, k = scale(plane, config)
        except CompileError:
            continue
        bias = average_bias(plane, m, k, config)
        inp_low, inp_high = -(1 << (config.inp_width - 1)), (1 << (config.inp_width - 1)) - 1
        total = z3.BitVec("sum", SUM_BITS, ctx)
        recorder = LaneRecorder(config, {
            SUM: z3.Extract(config.acc_width - 1, 0, total),
            SCRATCH: z3.BitVec("scratch", config.acc_width, ctx)})
        emit(recorder, SUM, SCRATCH, 1, (m, k, bias))
        result = z3.SignExt(SUM_BITS - config.acc_width, recorder.lanes[SUM])
        goal = z3.And(result * plane <= total, total < (result + 1) * plane)
        yield Obligation(
            f"inp_width {config.inp_width}, wgt_width {config.wgt_width}, acc_width "
            f"{config.acc_width}, {plane} positions: (sum * {m} + {bias}) >> {k} is the floor "
            f"of the mean", [plane * inp_low <= total, total <= plane * inp_high], goal,
            {"m": z3.IntVal(m, ctx), "k": z3.IntVal(k, ctx), "sum": total, "emitted": result})
