"""Every convolution tile the compiler accepts addresses only its scratchpad slots and the
insides of its DRAM arrays.

:func:`vtaref.compiler.conv.emit_conv` cuts the output into tiles of ``ob x oh x ow`` elements
and the reduction into chunks of ``cb x kh x kw``, each tile in one of two halves of the
accumulator, each chunk's input window and weights in one of two halves of the inp and wgt
scratchpads. For every shape with every extent and stride up to the bound (and the padding
the LOADs do as ``compile_conv2d`` leaves it to them: at most 15, less than the kernel, and
only when the chunk spans the whole kernel), every half size a scratchpad can have, every
tiling :func:`~vtaref.compiler.conv.tile_fits` accepts and every tile and chunk of it
(starting at a multiple of its size, the last one cut short, as
:func:`~vtaref.compiler.tiling.split` does):

- the accumulator block, which the bias LOADs, the GEMMs, the requantization and the STORE
  address, fits its half; so does the weight chunk;
- the padded input window fits its half, and every index the chunk's GEMM nest reads lies in it;
- the window's rows and columns of data lie inside the input, at least one of each, with LOAD
  padding in ``[0, 15]`` around them; the channel, weight and output boxes lie inside their
  arrays.

The GEMM nest's index ranges are those of ``emit_conv``'s nest (its affine maps at the box's
far corner); the rest is the compiler's own :func:`~vtaref.compiler.conv.tile_fits` and
:func:`~vtaref.compiler.conv.window` evaluated on integer terms.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import z3

from vtaref.compiler.conv import ConvShape, tile_fits, window
from vtaref.compiler.transfer import MAX_PAD
from vtaref.spec.config import LOG_DEPTH_RANGE

from .solver import Obligation

DIMENSIONS = ("ob", "oh", "ow", "cb", "kh", "kw")
MAX_HALF = 1 << (LOG_DEPTH_RANGE[1] - 1)  # half of the deepest scratchpad


def smaller(a, b):
    """Return the smaller of two integer terms."""
    return z3.If(a <= b, a, b)


def larger(a, b):
    """Return the larger of two integer terms."""
    return z3.If(a >= b, a, b)


def conv_obligations(ctx: z3.Context, *, bound: int,
                     fits: Callable = tile_fits) -> Iterator[Obligation]:
    """Yield the obligations (see the module) for shapes of extents up to ``bound``; ``fits``
    is the tiler's acceptance under proof (tests pass broken ones)."""
    def ints(names: str) -> list[z3.ArithRef]:
        return [z3.Int(name, ctx) for name in names.split()]

    nb, cb, h, w, ob, kh, kw, sh, sw, ph, pw = ints("nb cb h w ob kh kw sh sw ph pw")
    s = ConvShape(nb, cb, h, w, ob, kh, kw, sh, sw, ph, pw)
    oh, ow = (h + 2 * ph - kh) / sh + 1, (w + 2 * pw - kw) / sw + 1  # floor division
    extents = dict(ob=ob, oh=oh, ow=ow, cb=cb, kh=kh, kw=kw)
    halves = ints("inp_half wgt_half acc_half")
    tile = dict(zip(DIMENSIONS, ints(" ".join(f"tile.{d}" for d in DIMENSIONS))))
    start = dict(zip(DIMENSIONS, ints(" ".join(f"{d}0" for d in DIMENSIONS))))
    image, = ints("image")
    # The tile or chunk at start[d]: split() cuts the last one short.
    size = {d: smaller(tile[d], extents[d] - start[d]) for d in DIMENSIONS}

    assumptions = [z3.And(1 <= v, v <= bound) for v in (nb, cb, h, w, ob, kh, kw, sh, sw)]
    assumptions += [z3.And(1 <= half, half <= MAX_HALF) for half in halves]
    assumptions += [h + 2 * ph >= kh, w + 2 * pw >= kw]
    for pad, kernel, dimension in ((ph, kh, "kh"), (pw, kw, "kw")):
        assumptions.append(z3.Or(pad == 0, z3.And(0 < pad, pad <= MAX_PAD, pad < kernel,
                                                  tile[dimension] == kernel)))
    assumptions += [z3.And(1 <= tile[d], tile[d] <= extents[d]) for d in DIMENSIONS]
    assumptions.append(fits(s, tuple(halves), *(tile[d] for d in DIMENSIONS)))
    steps = dict(zip(DIMENSIONS, ints(" ".join(f"step.{d}" for d in DIMENSIONS))))
    assumptions += [z3.And(0 <= steps[d], start[d] == steps[d] * tile[d], start[d] < extents[d])
                    for d in DIMENSIONS]
    assumptions.append(z3.And(0 <= image, image < nb))

    inp_half, wgt_half, acc_half = halves
    ihn, iwn = window(size["oh"], sh, size["kh"]), window(size["ow"], sw, size["kw"])
    y0, x0 = start["oh"] * sh - ph + start["kh"], start["ow"] * sw - pw + start["kw"]
    ylo, yhi = larger(y0, 0), smaller(y0 + ihn, h)
    xlo, xhi = larger(x0, 0), smaller(x0 + iwn, w)
    # emit_conv's GEMM nest over (ob, cb, kh, kw, oh, ow) at its far corner.
    last = {d: size[d] - 1 for d in DIMENSIONS}
    src_last = (last["cb"] * ihn * iwn + last["kh"] * iwn + last["kw"]
                + last["oh"] * sh * iwn + last["ow"] * sw)
    shown = {**{f.name: getattr(s, f.name) for f in dataclasses.fields(s)},
             "oh": oh, "ow": ow, **dict(zip(("inp_half", "wgt_half", "acc_half"), halves)),
             **{f"tile.{d}": tile[d] for d in DIMENSIONS},
             **{f"{d}0": start[d] for d in DIMENSIONS}, **{f"{d}n": size[d] for d in DIMENSIONS}}
    claims = {
        "the accumulator block fits its half":
            size["ob"] * size["oh"] * size["ow"] <= acc_half,
        "the weight chunk fits its half":
            size["ob"] * size["cb"] * size["kh"] * size["kw"] <= wgt_half,
        "the padded input window fits its half and holds every index the GEMM reads":
            z3.And(size["cb"] * ihn * iwn <= inp_half, src_last < size["cb"] * ihn * iwn),
        "the window's data lies inside the input, padded by 0 to 15 on each side":
            z3.And(0 <= ylo, ylo < yhi, yhi <= h, 0 <= xlo, xlo < xhi, xhi <= w,
                   *(z3.And(0 <= pad, pad <= MAX_PAD)
                     for pad in (ylo - y0, y0 + ihn - yhi, xlo - x0, x0 + iwn - xhi))),
        "the channel, weight and output boxes lie inside their arrays":
            z3.And(*(start[d] + size[d] <= extents[d] for d in DIMENSIONS)),
    }
    for label, goal in claims.items():
        yield Obligation(f"shapes up to {bound}: {label}", assumptions, goal, shown)
