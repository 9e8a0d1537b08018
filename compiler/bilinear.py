"""Bilinear upsampling x2 on VTA (:func:`.reference.upsample_bilinear`), by micro-op addressing.

The input is padded in DRAM with a copy of its edge pixels (data movement, as for padding), so
output ``(2i + a, 2j + b)`` of the padded input's rows ``i .. i+2`` reads the near row ``i + 1``
(weight 3) and the far row ``i + 2a`` (weight 1), both affine in ``(i, a)``, and likewise along
W. Each tile of input pixels (with a one-pixel halo) is loaded once; four identity GEMMs whose
nests run over ``(channel block, row, a, column, b)``, one per pair (near or far row, near or far
column) with the weight ``9 I``, ``3 I`` or ``I``, sum 16 times the bilinear value into the
accumulator, and :func:`.epilogue.emit_round_half_even` divides it by 16.
"""

from __future__ import annotations

import numpy as np

from vtaref.spec import MemType, VtaConfig

from .epilogue import emit_round_half_even
from .errors import CompileError
from .identity import load_identity
from .layout import pack_activations, unpack_activations
from .loops import MAX_ITER, Affine, Nest, contiguous, zeroing_nest
from .runtime import CommandStream, Compiled
from .slots import double_buffered
from .tiling import split
from .validate import integers

WEIGHTS = (1, 3, 9)  # far-far, near-far, near-near: weight entries 0, 1, 2
SHIFT = 4  # the weights sum to 2**SHIFT


def compile_upsample_bilinear(x, *, config: VtaConfig) -> Compiled:
    """Compile activations ``x (N, C, H, W)`` upsampled bilinearly by 2 along H and W; decodes
    to ``(N, C, 2H, 2W)``. Raises CompileError when the weight 9 or 16 times an activation
    (plus 16) does not fit the weights or the accumulator."""
    x = integers("x", x, config.inp_width, (4,))
    if config.acc_width < config.inp_width + SHIFT + 1:  # 16 * high + 16 must fit
        raise CompileError(f"bilinear upsampling of {config.inp_width}-bit values needs "
                           f"accumulators of at least {config.inp_width + SHIFT + 1} bits, not "
                           f"{config.acc_width}")
    n, c, height, width = x.shape
    packed = pack_activations(np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge"), config)
    nb, cb = packed.shape[:2]
    stream = CommandStream(config)
    xb = stream.upload(MemType.INP, packed, packed.shape[:4])
    y = stream.allocate(MemType.OUT, (nb, cb, 2 * height, 2 * width))
    load_identity(stream, WEIGHTS)
    inp, acc = double_buffered(config.inp_buff_depth), double_buffered(config.acc_buff_depth)
    outputs = min(acc.size // 3, MAX_ITER // 2)  # per tile, beside two scratch blocks
    if outputs < 4 or inp.size < 9:
        raise CompileError(f"a pixel upsampled 2x2 and its neighbours do not fit the "
                           f"{inp.size}-entry input and {acc.size}-entry accumulator tiles")
    cols = min(width, outputs // 4, inp.size // 3 - 2)
    rows = min(height, outputs // (4 * cols), inp.size // (cols + 2) - 2)
    blocks = min(cb, outputs // (4 * rows * cols), inp.size // ((rows + 2) * (cols + 2)))
    for b in range(nb):
        for (c0, cn), (r0, rn), (x0, xn) in ((p, q, r) for p in split(cb, blocks)
                                             for q in split(height, rows)
                                             for r in split(width, cols)):
            ibase, out = inp.take(), acc.take()
            stream.load_box(xb, ibase, (b, c0, r0, x0), (1, cn, rn + 2, xn + 2))
            dims, count = (cn, rn, 2, xn, 2), cn * rn * 4 * xn
            stream.gemm(zeroing_nest(out, (count,), ibase, 0), reset=True)
            emit_taps(stream, dims, out, ibase)
            emit_round_half_even(stream, out, out + count, count, SHIFT)
            stream.store_box(y, out, (b, c0, 2 * r0, 2 * x0), (1, cn, 2 * rn, 2 * xn))
    return stream.compile(lambda read: unpack_activations(read(y), n, c, config))


def emit_taps(stream: CommandStream, dims: tuple[int, ...], out: int, ibase: int) -> None:
    """Queue the four GEMMs that add the weighted taps of the input tile at ``ibase`` (rows and
    columns with their halo) to the output tile ``dims = (cn, rn, 2, xn, 2)`` at ``out``."""
    _, rn, _, xn, _ = dims
    row, col = xn + 2, 1  # the input tile's strides
    for near_row in (True, False):
        for near_col in (True, False):
            # near: offset 1 whatever a (or b); far: offset 2a (or 2b)
            start = (row if near_row else 0) + (col if near_col else 0)
            coefs = ((rn + 2) * row, row, 0 if near_row else 2 * row, col,
                     0 if near_col else 2 * col)
            weight = int(near_row) + int(near_col)  # the entry of 1, 3 or 9 times I
            stream.gemm(Nest(dims, dst=contiguous(out, dims), src=Affine(ibase + start, coefs),
                             wgt=Affine(weight, (0,) * len(dims))))
