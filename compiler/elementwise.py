"""Elementwise operators: residual add, ReLU and clip on activations, bias add and requantization of
accumulators.

- :func:`compile_sum` adds activations (int8 under the default config): each tile of every input
  goes through an identity GEMM into the accumulator, which is then requantized. The layout does
  not matter, so tensors of any shape are flattened into elements.
- :func:`compile_bias_requantize` takes accumulator-wide values (int32), loaded with LOAD ACC,
  adds a per-channel bias with ALU ADD and requantizes. Channels run along axis 1 of ``(N, C, H,
  W)`` tensors or ``(M, C)`` matrices; a tile covers a few channel blocks of one image.
"""

from __future__ import annotations

import math

import numpy as np

from vtaref.spec import AluOp, MemType, VtaConfig

from .epilogue import emit_requantize
from .identity import load_identity
from .layout import (
    activations_as_matrix,
    ceil_div,
    matrix_as_activations,
    pack_activations,
    pack_channels,
    unpack_activations,
)
from .loops import MAX_ITER, Affine, Nest, block_nest, zeroing_nest
from .reference import out_range
from .runtime import CommandStream, Compiled
from .slots import double_buffered
from .tiling import split
from .validate import integers, same_shape_activations, shift_amount


def compile_sum(inputs: list[np.ndarray], *, shift: int = 0, relu: bool = False,
                bounds: tuple[int, int] | None = None, config: VtaConfig) -> Compiled:
    """Compile ``requantize(sum(inputs))`` for activations of one shape, then clipped to
    ``bounds = (low, high)`` (within the output range) if given; decodes to that shape."""
    shape = np.shape(inputs[0])
    inputs = same_shape_activations(inputs, config.inp_width)
    shift = shift_amount(shift, config.acc_width)
    if bounds is not None:
        bounds = clip_bounds(bounds, config)
    stream = CommandStream(config)
    lanes = config.batch * config.block
    count = ceil_div(math.prod(shape), lanes)
    buffers = []
    for x in inputs:
        flat = np.pad(x.reshape(-1), (0, count * lanes - x.size))
        buffers.append(stream.upload(MemType.INP, flat, (count,)))
    y = stream.allocate(MemType.OUT, (count,))
    load_identity(stream)
    k = len(inputs)
    inp = double_buffered(config.inp_buff_depth, k)
    acc = double_buffered(config.acc_buff_depth)
    for start, n in split(count, min(MAX_ITER, inp.size // k, acc.size)):
        ibase, base = inp.take(), acc.take()
        for j, buffer in enumerate(buffers):
            stream.load_box(buffer, ibase + j * n, (start,), (n,))
        stream.gemm(zeroing_nest(base, (n,), ibase, 0), reset=True)
        stream.gemm(Nest((k, n), dst=Affine(base, (0, 1)), src=Affine(ibase, (n, 1)),
                         wgt=Affine(0, (0, 0))))
        emit_requantize(stream, base, (n,), shift, relu)
        if bounds is not None:
            stream.alu(AluOp.MAX, block_nest(base, (n,)), imm=bounds[0])
            stream.alu(AluOp.MIN, block_nest(base, (n,)), imm=bounds[1])
        stream.store_box(y, base, (start,), (n,))
    return stream.compile(lambda read: read(y).reshape(-1)[:math.prod(shape)].reshape(shape))


def clip_bounds(bounds: tuple[int, int], config: VtaConfig) -> tuple[int, int]:
    """Return ``(low, high)`` as integers after checking ``low <= high`` lie in the output
    range; raise ValueError naming them otherwise."""
    low, high = (int(b) for b in bounds)
    out_low, out_high = out_range(config)
    if not out_low <= low <= high <= out_high:
        raise ValueError(f"the clip bounds [{low}, {high}] must be ordered and lie in the "
                         f"output range [{out_low}, {out_high}]")
    return low, high


def compile_bias_requantize(x, bias=None, *, shift: int = 0, relu: bool = False,
                            config: VtaConfig) -> Compiled:
    """Compile ``requantize(x + bias)`` for accumulators ``x``; ``bias`` (C,) runs along axis 1."""
    x = integers("x", x, config.acc_width, (2, 4))
    shift = shift_amount(shift, config.acc_width)
    rows, channels = x.shape[:2]
    if bias is not None:
        bias = integers("bias", bias, config.acc_width, (1,))
        if bias.shape != (channels,):
            raise ValueError(f"bias must have shape ({channels},), not {bias.shape}")
    image = matrix_as_activations(x, config) if x.ndim == 2 else x
    packed = pack_activations(image, config)
    nb, cb = packed.shape[:2]
    plane = packed.shape[2] * packed.shape[3]
    stream = CommandStream(config)
    xb = stream.upload(MemType.ACC, packed, (nb, cb, plane))
    bb = None if bias is None else stream.upload(MemType.ACC, pack_channels(bias, config), (cb,))
    y = stream.allocate(MemType.OUT, (nb, cb, plane))
    extra = 0 if bias is None else 1
    acc = double_buffered(config.acc_buff_depth, 1 + extra)
    per_channel = min(plane, MAX_ITER, acc.size - extra)
    blocks = min(cb, acc.size // (per_channel + extra))
    for n in range(nb):
        for (c0, cn), (p0, pn) in ((c, p) for c in split(cb, blocks)
                                   for p in split(plane, per_channel)):
            base = acc.take()
            stream.load_box(xb, base, (n, c0, p0), (1, cn, pn))
            if bb is not None:
                stream.load_box(bb, base + cn * pn, (c0,), (cn,))
                stream.alu(AluOp.ADD, Nest((cn, pn), dst=Affine(base, (pn, 1)),
                                           src=Affine(base + cn * pn, (1, 0))))
            emit_requantize(stream, base, (cn, pn), shift, relu)
            stream.store_box(y, base, (n, c0, p0), (1, cn, pn))

    def decode(read):
        out = unpack_activations(read(y).reshape(packed.shape), image.shape[0], channels, config)
        return activations_as_matrix(out, rows) if x.ndim == 2 else out

    return stream.compile(decode)
