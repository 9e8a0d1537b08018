"""Nearest-neighbour upsampling by integer factors on VTA, by micro-op addressing.

Each tile of input pixels (channel blocks, rows, columns) is loaded once; one identity GEMM
whose nest runs over ``(channel block, row, row copy, column, column copy)`` reads every input
element once per copy (the copy variables have source stride 0) and writes each output element
once, so the accumulator holds the upsampled tile, which is stored as it is (the values are
activations already). No ALU operation is needed.
"""

from __future__ import annotations

from vtaref.spec import MemType, VtaConfig

from .errors import CompileError
from .identity import load_identity
from .layout import pack_activations, unpack_activations
from .loops import MAX_ITER, Affine, Nest, contiguous, zeroing_nest
from .runtime import CommandStream, Compiled
from .slots import double_buffered
from .tiling import split
from .validate import integers, pair


def compile_upsample_nearest(x, scale=2, *, config: VtaConfig) -> Compiled:
    """Compile activations ``x (N, C, H, W)`` with every pixel repeated ``scale`` (an integer
    or a pair ``(along H, along W)``) times along H and W; decodes to ``(N, C, H*sh, W*sw)``.
    Raises CompileError when one upsampled pixel does not fit a tile."""
    x = integers("x", x, config.inp_width, (4,))
    sh, sw = pair(scale, "scale", 1)
    n, c, height, width = x.shape
    packed = pack_activations(x, config)
    nb, cb = packed.shape[:2]
    stream = CommandStream(config)
    xb = stream.upload(MemType.INP, packed, (nb, cb, height, width))
    y = stream.allocate(MemType.OUT, (nb, cb, height * sh, width * sw))
    load_identity(stream)
    inp, acc = double_buffered(config.inp_buff_depth), double_buffered(config.acc_buff_depth)
    outputs = min(acc.size, MAX_ITER)  # per tile
    if sh * sw > outputs:
        raise CompileError(f"a pixel upsampled {sh}x{sw} does not fit the {outputs}-entry "
                           f"accumulator tiles")
    cols = min(width, outputs // (sh * sw), inp.size)
    rows = min(height, outputs // (sh * cols * sw), inp.size // cols)
    blocks = min(cb, outputs // (rows * sh * cols * sw), inp.size // (rows * cols))
    for b in range(nb):
        for (c0, cn), (r0, rn), (x0, xn) in ((p, q, r) for p in split(cb, blocks)
                                             for q in split(height, rows)
                                             for r in split(width, cols)):
            ibase, out = inp.take(), acc.take()
            stream.load_box(xb, ibase, (b, c0, r0, x0), (1, cn, rn, xn))
            dims = (cn, rn, sh, xn, sw)
            stream.gemm(zeroing_nest(out, (cn * rn * sh * xn * sw,), ibase, 0), reset=True)
            stream.gemm(Nest(dims, dst=contiguous(out, dims),
                             src=Affine(ibase, (rn * xn, xn, 0, 1, 0)),
                             wgt=Affine(0, (0,) * len(dims))))
            stream.store_box(y, out, (b, c0, r0 * sh, x0 * sw), (1, cn, rn * sh, xn * sw))
    return stream.compile(lambda read: unpack_activations(read(y), n, c, config))
