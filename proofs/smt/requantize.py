"""The requantization the compiler emits equals its documented definition, for every input.

Every operator ends with :func:`vtaref.compiler.epilogue.emit_requantize`; docs/compiler.md and
:func:`vtaref.compiler.reference.requantize` define the result as ``clip(acc >> shift)`` to the
``out_width``-bit range (``[0, high]`` after a ReLU), ``acc`` an ``acc_width``-bit accumulator.
For every accumulator and output width a configuration allows, every shift the operators accept
(``[0, acc_width)``, :func:`vtaref.compiler.validate.shift_amount`) and both ReLU settings, the
ALU instructions ``emit_requantize`` queues (recorded, then run lane-wise with the spec's ALU
operations, :mod:`.alu_lanes`) give exactly that for every accumulator value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import product

import z3

from vtaref.compiler.epilogue import emit_requantize
from vtaref.compiler.reference import out_range
from vtaref.spec.config import KEY_RANGES, VtaConfig

from .alu_lanes import alu_lane
from .solver import Obligation

# Buffer sizes that make every width pair a valid configuration.
SMALL_BUFFERS = dict(LOG_UOP_BUFF_SIZE=10, LOG_INP_BUFF_SIZE=12, LOG_WGT_BUFF_SIZE=14,
                     LOG_ACC_BUFF_SIZE=14)


class AluRecorder:
    """A stand-in for a :class:`~vtaref.compiler.runtime.CommandStream` that keeps the ALU
    instructions queued on it, as ``(op, imm)``."""

    def __init__(self, config: VtaConfig):
        self.config = config
        self.queued: list = []

    def alu(self, op, nest, imm=None) -> None:
        if imm is None:
            raise ValueError("requantization reads only immediates")
        self.queued.append((op, imm))


def emitted(emit: Callable, config: VtaConfig, value: z3.BitVecRef, **arguments):
    """Return ``value`` after the ALU instructions ``emit(stream, base, dims, **arguments)``
    queues, applied in order."""
    stream = AluRecorder(config)
    emit(stream, 0, (1,), **arguments)
    for op, imm in stream.queued:
        value = alu_lane(op, value, imm)
    return value


def width_configs() -> list[VtaConfig]:
    """Return a valid configuration for every pair of accumulator and output widths (the
    requantization depends on nothing else)."""
    return [VtaConfig(LOG_ACC_WIDTH=acc, LOG_INP_WIDTH=out, **SMALL_BUFFERS)
            for acc, out in product(range(KEY_RANGES["LOG_ACC_WIDTH"][0],
                                          KEY_RANGES["LOG_ACC_WIDTH"][1] + 1),
                                    range(KEY_RANGES["LOG_INP_WIDTH"][0],
                                          KEY_RANGES["LOG_INP_WIDTH"][1] + 1))]


def clipped(value, low: int, high: int):
    """Return ``value`` clipped to ``[low, high]`` (signed bit-vectors; bounds in range)."""
    return z3.If(value < low, low, z3.If(value > high, high, value))


def requantized(value: z3.BitVecRef, shift: int, relu: bool, config: VtaConfig):
    """The definition: ``clip(value >> shift)`` to the output range, computed wide enough that
    the bounds are not wrapped."""
    low, high = out_range(config)
    wide = z3.SignExt(64 - value.size(), value) >> shift
    return clipped(wide, 0 if relu else low, high)


def requantize_obligations(ctx: z3.Context, *,
                           emit: Callable = emit_requantize) -> Iterator[Obligation]:
    """Yield one obligation per widths, shift and ReLU setting; ``emit`` is the emitter under
    proof (tests pass broken ones)."""
    for config in width_configs():
        acc = z3.BitVec("acc", config.acc_width, ctx)
        for shift, relu in product(range(config.acc_width), (False, True)):
            result = emitted(emit, config, acc, shift=shift, relu=relu)
            definition = requantized(acc, shift, relu, config)
            yield Obligation(
                f"acc_width {config.acc_width}, out_width {config.out_width}, shift {shift}"
                f"{', relu' if relu else ''}: the emitted requantization is clip(acc >> shift)",
                [], z3.SignExt(64 - config.acc_width, result) == definition,
                {"acc": acc, "emitted": result, "definition": definition})
