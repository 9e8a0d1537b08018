"""Global average pooling computes its documented definition, for every input.

:func:`vtaref.compiler.pooling.compile_global_avg_pool` sums the ``H*W`` positions of a channel
with a GEMM against the weight ``m * I`` and requantizes by ``k``, ``(m, k) =
average_scale(H*W)``; docs/compiler.md defines the result as ``(sum * m) >> k`` clipped to the
output range (the accumulator wrapping at ``acc_width`` bits, as everywhere), with ``m / 2**k``
within ``2**-(k+1)`` of ``1 / (H*W)``, and as the floor of the mean when ``H*W`` is a power of two.

For every input, weight and accumulator width a configuration allows and every plane ``H*W``
up to the bound, and every sum the inputs can have: ``m`` is a weight the identity can hold
(``1 <= m <= high``), ``m / 2**k`` is that close to ``1 / (H*W)``, the accumulator (the
GEMM's wrapped sum of products) requantized by the instructions ``emit_requantize`` queues is
``clip(wrap(sum * m) >> k)``, and, for a power-of-two plane whose ``sum * m`` fits the
accumulator, the floor of the mean, clipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import product

import z3

from vtaref.compiler.epilogue import emit_requantize
from vtaref.compiler.reference import average_scale, out_range
from vtaref.spec.config import KEY_RANGES, VtaConfig

from .requantize import SMALL_BUFFERS, clipped, emitted
from .solver import Obligation

SUM_BITS = 64  # sums and their products with m, exact


def average_configs() -> list[VtaConfig]:
    """Return a valid configuration for every input, weight (>= 2 bits, as average pooling
    needs) and accumulator width."""
    ranges = [range(KEY_RANGES[key][0], KEY_RANGES[key][1] + 1)
              for key in ("LOG_INP_WIDTH", "LOG_WGT_WIDTH", "LOG_ACC_WIDTH")]
    return [VtaConfig(LOG_INP_WIDTH=inp, LOG_WGT_WIDTH=wgt, LOG_ACC_WIDTH=acc, **SMALL_BUFFERS)
            for inp, wgt, acc in product(*ranges) if wgt >= 1]


def average_obligations(ctx: z3.Context, *, planes: int, scale: Callable = average_scale,
                        emit: Callable = emit_requantize) -> Iterator[Obligation]:
    """Yield one obligation per configuration's widths and plane of up to ``planes``
    positions; ``scale`` and ``emit`` are the compiler's functions under proof (tests pass
    broken ones)."""
    for config, plane in product(average_configs(), range(1, planes + 1)):
        m, k = scale(plane, config)
        weight_high = (1 << (config.wgt_width - 1)) - 1
        inp_low, inp_high = -(1 << (config.inp_width - 1)), (1 << (config.inp_width - 1)) - 1
        total = z3.BitVec("sum", SUM_BITS, ctx)
        scaled = total * m
        acc = z3.Extract(config.acc_width - 1, 0, scaled)
        result = z3.SignExt(SUM_BITS - config.acc_width,
                            emitted(emit, config, acc, shift=k, relu=False))
        low, high = out_range(config)
        definition = clipped(z3.SignExt(SUM_BITS - config.acc_width, acc) >> k, low, high)
        goal = [z3.BoolVal(1 <= m <= weight_high and 2 * abs(m * plane - (1 << k)) <= plane,
                           ctx), result == definition]
        if plane & (plane - 1) == 0:
            half = 1 << (config.acc_width - 1)
            fits = z3.And(-half <= scaled, scaled < half)
            goal.append(z3.Implies(fits, result == clipped(total >> (plane.bit_length() - 1),
                                                           low, high)))
        yield Obligation(
            f"inp_width {config.inp_width}, wgt_width {config.wgt_width}, acc_width "
            f"{config.acc_width}, {plane} positions: (sum * {m}) >> {k} as documented",
            [plane * inp_low <= total, total <= plane * inp_high], z3.And(goal),
            {"m": z3.IntVal(m, ctx), "k": z3.IntVal(k, ctx), "sum": total, "emitted": result,
             "definition": definition})
