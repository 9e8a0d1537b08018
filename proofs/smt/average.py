"""Average pooling computes the floor of the mean, or rounds it halves up, for every input it
accepts.

:func:`vtaref.compiler.pooling.compile_global_avg_pool` sums the ``H*W`` positions of a channel
with a GEMM against the identity (the accumulator wrapping at ``acc_width`` bits), then queues
:func:`~vtaref.compiler.pooling.emit_floor_mean`: ALU ADDs that multiply by ``m`` and add
``bias``, and the requantization by ``k``, ``(m, k) = average_scale(H*W)``; ``avg_pool2d`` does
the same for each ``kh*kw`` window sum, with ``offset = average_offset(kh*kw, rounding)``
(``kh*kw // 2`` to round halves up) passed to ``average_scale`` and ``average_bias``.
docs/compiler.md defines the result as ``floor((sum + offset) / (H*W))``; planes for which
``average_scale`` raises CompileError are refused and have no obligation.

For every input and accumulator width a configuration allows (with 2-bit weights: the identity
weight is 1, so wider ones change nothing), every plane ``H*W`` up to
the bound and every sum the inputs can have, the instructions queued (recorded, then run
lane-wise with the spec's ALU operations, :mod:`.alu_lanes`, from a scratch entry holding any
value) give ``clip(wrap(sum * m + bias) >> k)``; and, in linear integer arithmetic, for every
sum with ``sum + offset = q * H*W + r`` (``0 <= r < H*W``) ``sum * m + bias`` fits the
accumulator, shifts by ``k`` to ``q``, and ``q`` lies in the output range: so the result is
``q``, the floor of the mean of ``sum + offset``. Every floor is checked before any rounding
halves up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import product

import z3

from vtaref.compiler.epilogue import ROUNDINGS
from vtaref.compiler.errors import CompileError
from vtaref.compiler.pooling import emit_floor_mean
from vtaref.compiler.reference import average_bias, average_offset, average_scale, out_range
from vtaref.spec.config import KEY_RANGES, VtaConfig

from .alu_lanes import alu_lane
from .requantize import SMALL_BUFFERS, clipped
from .solver import Obligation

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
    """Return a valid configuration for every input and accumulator width (the weight, 1,
    needs 2 bits and the result depends on no other width)."""
    ranges = [range(KEY_RANGES[key][0], KEY_RANGES[key][1] + 1)
              for key in ("LOG_INP_WIDTH", "LOG_ACC_WIDTH")]
    return [VtaConfig(LOG_INP_WIDTH=inp, LOG_WGT_WIDTH=1, LOG_ACC_WIDTH=acc, **SMALL_BUFFERS)
            for inp, acc in product(*ranges)]


def average_obligations(ctx: z3.Context, *, planes: int, scale: Callable = average_scale,
                        emit: Callable = emit_floor_mean) -> Iterator[Obligation]:
    """Yield two obligations per rounding, configuration's widths and accepted plane of up to
    ``planes`` positions; ``scale`` and ``emit`` are the compiler's functions under proof (tests
    pass broken ones: ``scale`` is called without an offset for the floors)."""
    for rounding, config, plane in product(ROUNDINGS, average_configs(),
                                           range(1, planes + 1)):
        offset = average_offset(plane, rounding)
        if rounding != "floor" and not offset:
            continue  # the floor, checked already
        try:
            m, k = scale(plane, config, offset) if offset else scale(plane, config)
        except CompileError:
            continue
        bias = average_bias(plane, m, k, config, offset)
        label = (f"inp_width {config.inp_width}, acc_width {config.acc_width}, {plane} "
                 f"positions, {rounding}: (sum * {m} + {bias}) >> {k}")
        shown = {"m": z3.IntVal(m, ctx), "k": z3.IntVal(k, ctx)}
        yield _emitted_obligation(ctx, config, plane, (m, k, bias), emit, label, shown)
        yield _floor_obligation(ctx, config, plane, (m, k, bias), offset, label, shown)


def _sum_range(config: VtaConfig, plane: int) -> tuple[int, int]:
    """Return the lowest and highest sum of ``plane`` activations."""
    return -plane << (config.inp_width - 1), plane * ((1 << (config.inp_width - 1)) - 1)


def _emitted_obligation(ctx, config, plane, scale, emit, label, shown) -> Obligation:
    """The instructions, run on the wrapped sum (the identity GEMM's result) and any scratch
    value, give ``clip(wrap(sum * m + bias) >> k)``."""
    m, k, bias = scale
    bits = max(config.acc_width, config.inp_width + 1) + plane.bit_length() + m.bit_length() + 2
    total = z3.BitVec("sum", bits, ctx)  # sum * m + bias fits: no term wraps
    recorder = LaneRecorder(config, {SUM: z3.Extract(config.acc_width - 1, 0, total),
                                     SCRATCH: z3.BitVec("scratch", config.acc_width, ctx)})
    emit(recorder, SUM, SCRATCH, 1, scale)
    wrapped = z3.Extract(config.acc_width - 1, 0, total * m + bias)
    low, high = out_range(config)
    definition = clipped(z3.SignExt(64 - config.acc_width, wrapped) >> k, low, high)
    emitted = z3.SignExt(64 - config.acc_width, recorder.lanes[SUM])
    lowest, highest = _sum_range(config, plane)
    return Obligation(f"{label}: the emitted instructions", [lowest <= total, total <= highest],
                      emitted == definition, {**shown, "sum": total, "emitted": emitted,
                                              "definition": definition})


def _floor_obligation(ctx, config, plane, scale, offset, label, shown) -> Obligation:
    """For every sum with ``sum + offset = q * plane + r`` (``0 <= r < plane``),
    ``sum * m + bias`` fits the accumulator, shifts by ``k`` to ``q`` and ``q`` lies in the
    output range: so the emitted value is the floor of the mean of ``sum + offset`` (linear
    integer arithmetic)."""
    m, k, bias = scale
    q, r = z3.Int("q", ctx), z3.Int("r", ctx)
    total = q * plane + r - offset
    value = total * m + bias
    limit = 1 << (config.acc_width - 1)
    low, high = out_range(config)
    lowest, highest = _sum_range(config, plane)
    goal = z3.And(-limit <= value, value < limit, q * (1 << k) <= value,
                  value < (q + 1) * (1 << k), low <= q, q <= high)
    return Obligation(f"{label} is the floor of the mean",
                      [0 <= r, r < plane, lowest <= total, total <= highest], goal,
                      {**shown, "q": q, "r": r})
