"""Requantization on the accumulator: shift right, clip to the output range, optional ReLU.

The ALU sequence every operator ends with before its STORE (which keeps the low ``out_width``
bits of each accumulator, so values must already lie in the output range).
"""

from __future__ import annotations

from vtaref.spec import AluOp

from .loops import block_nest
from .reference import out_range
from .runtime import CommandStream


def emit_requantize(stream: CommandStream, base: int, dims: tuple[int, ...], shift: int,
                    relu: bool) -> None:
    """Queue ``acc = clip(acc >> shift)`` over the row-major block ``dims`` from ``base``."""
    low, high = out_range(stream.config)
    nest = block_nest(base, dims)
    # Accumulators hold acc_width-bit values, which any larger shift takes to the same 0 or -1;
    # larger amounts would not fit the HLS design's SHR operand (it keeps LOG_ACC_WIDTH bits).
    shift = min(shift, stream.config.acc_width - 1)
    if shift:
        stream.alu(AluOp.SHR, nest, imm=shift)
    stream.alu(AluOp.MAX, nest, imm=0 if relu else low)
    stream.alu(AluOp.MIN, nest, imm=high)
