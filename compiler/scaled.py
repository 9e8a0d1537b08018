"""Operators whose requantization needs multipliers that are not powers of two (ALU MUL):

- :func:`compile_scaled_sum`: ``clip((a * ma + b * mb + bias) >> shift)`` for activations
  (a quantized residual add, whose inputs have scales of their own; :class:`.epilogue.ScaledSum`);
- :func:`compile_global_sum`: the sum over H and W of activations plus a bias, requantized by a
  :class:`.epilogue.FixedPoint` (a quantized global average pool, exactly).

Activations reach the accumulator through identity GEMMs (:mod:`.identity`). Both need ALU MUL,
which TVM-VTA's HLS design lacks (docs/divergences.md §2).
"""

from __future__ import annotations

import math

import numpy as np

from vtaref.spec import AluOp, MemType, VtaConfig

from .epilogue import (
    FixedPoint,
    ScaledSum,
    emit_fixed_point,
    operand_count,
    upload_fixed_point,
    working_blocks,
)
from .identity import load_identity
from .layout import ceil_div, pack_activations, pack_channels, unpack_activations
from .loops import MAX_ITER, Affine, Nest, block_nest, zeroing_nest
from .pooling import emit_plane_sum
from .runtime import CommandStream, Compiled
from .slots import Slots, double_buffered
from .tiling import split
from .validate import integers, same_shape_activations


def compile_scaled_sum(inputs: list[np.ndarray], *, requant: ScaledSum,
                       config: VtaConfig) -> Compiled:
    """Compile ``requant.apply(inputs)`` for activations of one shape; decodes to that shape."""
    shape = np.shape(inputs[0])
    inputs = same_shape_activations(inputs, config.inp_width)
    requant.check(inputs, config)
    stream = CommandStream(config)
    lanes = config.batch * config.block
    count = ceil_div(math.prod(shape), lanes)
    buffers = [stream.upload(MemType.INP, np.pad(x.reshape(-1), (0, count * lanes - x.size)),
                             (count,)) for x in inputs]
    k = len(inputs)
    # The multipliers and the bias, each in every lane, stay in the last accumulator entries.
    values = np.array([*requant.multipliers, requant.bias], np.int64)
    constants = config.acc_buff_depth - len(values)
    stream.load_box(stream.upload(MemType.ACC, np.repeat(values[:, None], lanes, axis=1),
                                  (len(values),)), constants, (0,), (len(values),))
    y = stream.allocate(MemType.OUT, (count,))
    load_identity(stream)
    inp = double_buffered(config.inp_buff_depth, k)
    acc = double_buffered(constants, k)
    for start, n in split(count, min(MAX_ITER, inp.size // k, acc.size // k)):
        ibase, base = inp.take(), acc.take()
        for j, buffer in enumerate(buffers):
            region = base + j * n
            stream.load_box(buffer, ibase + j * n, (start,), (n,))
            stream.gemm(zeroing_nest(region, (n,), ibase, 0), reset=True)
            stream.gemm(Nest((n,), dst=Affine(region, (1,)), src=Affine(ibase + j * n, (1,)),
                             wgt=Affine(0, (0,))))
            stream.alu(AluOp.MUL, Nest((n,), Affine(region, (1,)), Affine(constants + j, (0,))))
            if j:
                stream.alu(AluOp.ADD, Nest((n,), Affine(base, (1,)), Affine(region, (1,))))
        nest = block_nest(base, (n,))
        stream.alu(AluOp.ADD, Nest((n,), Affine(base, (1,)), Affine(constants + k, (0,))))
        if requant.shift:
            stream.alu(AluOp.SHR, nest, imm=requant.shift)
        stream.alu(AluOp.MAX, nest, imm=requant.low)
        stream.alu(AluOp.MIN, nest, imm=requant.high)
        stream.store_box(y, base, (start,), (n,))
    return stream.compile(lambda read: read(y).reshape(-1)[:math.prod(shape)].reshape(shape))


def compile_global_sum(x, bias=None, *, requant: FixedPoint, config: VtaConfig) -> Compiled:
    """Compile ``requant.apply(sum of x over H and W + bias)`` for activations
    ``x (N, C, H, W)`` and ``bias (C,)``; decodes to ``(N, C)``."""
    x = integers("x", x, config.inp_width, (4,))
    n, c, height, width = x.shape
    requant.check(c, config)
    plane = height * width
    packed = pack_activations(x, config)
    nb, cb = packed.shape[:2]
    stream = CommandStream(config)
    xb = stream.upload(MemType.INP, packed, (nb, cb, plane))
    bb = None
    if bias is not None:
        bias = integers("bias", bias, config.acc_width, (1,))
        bb = stream.upload(MemType.ACC, pack_channels(bias, config), (cb,))
    operands, limbs = upload_fixed_point(stream, requant)
    working, count = working_blocks(limbs), operand_count(limbs)
    y = stream.allocate(MemType.OUT, (nb, cb, 1, 1))
    load_identity(stream)
    inp = double_buffered(config.inp_buff_depth)
    per_block = 2 + working + count  # the sums, the working blocks, the bias, the operands
    acc = Slots(config.acc_buff_depth // 2)
    positions = min(plane, MAX_ITER, inp.size)
    blocks = min(cb, inp.size // positions, acc.size // per_block)
    if blocks < 1:
        raise ValueError(f"an accumulator slot of {acc.size} entries cannot hold {per_block}")
    for b in range(nb):
        for c0, cn in split(cb, blocks):
            out = acc.take()
            work = tuple(out + (i + 1) * cn for i in range(working))
            extra = out + (working + 1) * cn
            start = extra + cn
            emit_plane_sum(stream, xb, (b, c0, cn), out, inp, plane, positions)
            if bb is not None:
                stream.load_box(bb, extra, (c0,), (cn,))
                stream.alu(AluOp.ADD, Nest((cn,), Affine(out, (1,)), Affine(extra, (1,))))
            stream.load_box(operands, start, (c0, 0), (cn, count))
            emit_fixed_point(stream, out, work, start, (cn,), requant, limbs)
            stream.store_box(y, out, (b, c0, 0, 0), (1, cn, 1, 1))
    return stream.compile(lambda read: unpack_activations(read(y), n, c, config)[:, :, 0, 0])
