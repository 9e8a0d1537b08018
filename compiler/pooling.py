"""Pooling: window maxima with ALU MAX, window and global averages by sums and ALU ADDs.

Max and average pooling: an output tile ``cb x oh x ow`` of one image starts at the lowest
output value (ALU MIN, then MAX, with it) or at zero (a resetting GEMM); for each chunk
``kh x kw`` of the window, the input rows it needs are loaded, copied into the accumulator by an
identity GEMM, and folded in with one ALU MAX or ADD per window position (so no instruction
updates an output twice); an average then ends with :func:`emit_floor_mean`. The input is padded
in DRAM with the lowest output value for maxima (LOAD pads with zeros, which would win against
negative inputs) and with zeros for averages (the padding counts in the mean).

Global average pooling: the floor of the mean, exactly, as ``(sum * m + b) >> k``
(:func:`.reference.average_scale`): a GEMM against the identity sums positions into one
accumulator per channel block, ALU ADDs multiply by ``m`` (doubling and adding, so no ALU MUL is
needed and every flavor runs it) and add ``b``, and the requantization shifts by ``k``. Planes
whose ``sum * m + b`` would not fit the accumulator are refused (CompileError).
"""

from __future__ import annotations

import math

import numpy as np

from vtaref.spec import AluOp, MemType, VtaConfig

from .epilogue import check_rounding, emit_requantize
from .identity import load_identity
from .layout import ceil_div, pack_activations, unpack_activations
from .loops import MAX_ITER, Affine, Nest, block_nest, contiguous, zeroing_nest
from .reference import average_bias, average_offset, average_scale, out_range
from .runtime import CommandStream, Compiled
from .slots import Slots, double_buffered
from .tiling import candidates, cycles, search, split
from .validate import integers, pair


def _choose_pool_tiling(totals: dict[str, int], stride: tuple[int, int], acc_size: int,
                        inp_size: int) -> dict[str, int]:
    """Choose tile extents ``cb, oh, ow`` and window chunk ``kh, kw`` for max pooling."""
    sh, sw = stride

    def window(t):
        return t["cb"] * ((t["oh"] - 1) * sh + t["kh"]) * ((t["ow"] - 1) * sw + t["kw"])

    def fits(**t):
        outputs = t["cb"] * t["oh"] * t["ow"]
        return ((outputs + window(t) <= acc_size) & (window(t) <= inp_size)
                & (np.maximum(outputs, window(t)) <= MAX_ITER))

    def cost(**t):
        tiles = math.prod(ceil_div(totals[d], t[d]) for d in ("cb", "oh", "ow"))
        chunks = tiles * ceil_div(totals["kh"], t["kh"]) * ceil_div(totals["kw"], t["kw"])
        outputs = tiles * t["cb"] * t["oh"] * t["ow"]
        # Each output takes its start (MIN, MAX) and one visit per window position, whatever
        # the chunks.
        compute = chunks * 2 * window(t) + outputs * (2 + totals["kh"] * totals["kw"])
        insns = tiles * 4 + chunks * (t["cb"] + 2 + t["kh"] * t["kw"])
        return cycles(chunks * window(t), compute, outputs, insns)

    return search({d: candidates(e) for d, e in totals.items()}, fits, cost)


def compile_max_pool2d(x, kernel, stride=None, padding=0, *, config: VtaConfig) -> Compiled:
    """Compile the window maxima of activations ``x (N, C, H, W)``; ``stride`` defaults to
    ``kernel``. Decodes to ``(N, C, OH, OW)``."""
    return _compile_window_reduction(x, kernel, stride, padding, AluOp.MAX, config)


def compile_avg_pool2d(x, kernel, stride=None, padding=0, *, rounding: str = "floor",
                       config: VtaConfig) -> Compiled:
    """Compile the window means of activations ``x (N, C, H, W)``, padding counted as zeros
    (ONNX's ``count_include_pad=1``), rounded down (``rounding="floor"``) or halves up
    (``"half_up"``); ``stride`` defaults to ``kernel``. Decodes to ``(N, C, OH, OW)``. Raises
    CompileError when the accumulator cannot hold the arithmetic (see
    :func:`.reference.average_scale`)."""
    return _compile_window_reduction(x, kernel, stride, padding, AluOp.ADD, config,
                                     check_rounding(rounding))


def _compile_window_reduction(x, kernel, stride, padding, op: AluOp, config: VtaConfig,
                              rounding: str = "floor") -> Compiled:
    """Compile max pooling (``op`` MAX) or average pooling (``op`` ADD: window sums, then
    :func:`emit_floor_mean` of the sums plus :func:`.reference.average_offset`)."""
    x = integers("x", x, config.inp_width, (4,))
    (kh, kw) = pair(kernel, "kernel", 1)
    (sh, sw) = pair(kernel if stride is None else stride, "stride", 1)
    (ph, pw) = pair(padding, "padding")
    n, c, height, width = x.shape
    if height + 2 * ph < kh or width + 2 * pw < kw:
        raise ValueError(f"the {kh}x{kw} window does not fit the padded {height}x{width} input")
    low, _ = out_range(config)
    if op == AluOp.ADD:
        offset = average_offset(kh * kw, rounding)
        m, k = average_scale(kh * kw, config, offset)  # refuses before anything is emitted
        scale = (m, k, average_bias(kh * kw, m, k, config, offset))
    fill = low if op == AluOp.MAX else 0
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    packed = pack_activations(padded, config)
    nb, cb = packed.shape[:2]
    oh, ow = (padded.shape[2] - kh) // sh + 1, (padded.shape[3] - kw) // sw + 1
    stream = CommandStream(config)
    xb = stream.upload(MemType.INP, packed, packed.shape[:4])
    y = stream.allocate(MemType.OUT, (nb, cb, oh, ow))
    load_identity(stream)
    acc = double_buffered(config.acc_buff_depth, 2)
    inp = Slots(config.inp_buff_depth // 2)
    t = _choose_pool_tiling(dict(cb=cb, oh=oh, ow=ow, kh=kh, kw=kw), (sh, sw), acc.size,
                            inp.size)
    for b in range(nb):
        for (c0, cn), (oh0, ohn), (ow0, own) in ((p, q, r) for p in split(cb, t["cb"])
                                                 for q in split(oh, t["oh"])
                                                 for r in split(ow, t["ow"])):
            out = acc.take()
            staged = out + cn * ohn * own
            if op == AluOp.MAX:
                stream.alu(AluOp.MIN, block_nest(out, (cn, ohn, own)), imm=low)
                stream.alu(AluOp.MAX, block_nest(out, (cn, ohn, own)), imm=low)
            for (kh0, khn), (kw0, kwn) in ((q, r) for q in split(kh, t["kh"])
                                           for r in split(kw, t["kw"])):
                rows, cols = (ohn - 1) * sh + khn, (own - 1) * sw + kwn
                start = (b, c0, oh0 * sh + kh0, ow0 * sw + kw0)
                ibase, hit = inp.acquire(start + (cn, rows, cols))
                if not hit:
                    stream.load_box(xb, ibase, start, (1, cn, rows, cols))
                window = cn * rows * cols
                if op == AluOp.ADD and (kh0, kw0) == (0, 0):
                    stream.gemm(zeroing_nest(out, (cn, ohn, own), ibase, 0), reset=True)
                stream.gemm(zeroing_nest(staged, (window,), ibase, 0), reset=True)
                stream.gemm(Nest((window,), dst=Affine(staged, (1,)), src=Affine(ibase, (1,)),
                                 wgt=Affine(0, (0,))))
                # One instruction per window position: no two visits of an instruction
                # update the same output, so they pipeline (and the spec vectorizes them).
                for i, j in np.ndindex(khn, kwn):
                    stream.alu(op, Nest(
                        (cn, ohn, own), dst=Affine(out, (ohn * own, own, 1)),
                        src=Affine(staged + i * cols + j, (rows * cols, sh * cols, sw))))
            if op == AluOp.ADD:  # the staged windows are free: they hold the copies
                emit_floor_mean(stream, out, staged, cn * ohn * own, scale)
            stream.store_box(y, out, (b, c0, oh0, ow0), (1, cn, ohn, own))
    return stream.compile(lambda read: unpack_activations(read(y), n, c, config))


def emit_plane_sum(stream: CommandStream, xb, block: tuple[int, int, int], out: int, inp,
                   plane: int, positions: int) -> None:
    """Emit GEMMs that sum the ``plane`` positions of channel blocks ``c0 .. c0 + cn`` of batch
    block ``b`` (``block = (b, c0, cn)``) of the INP buffer ``xb (nb, cb, plane)`` into acc
    entries ``out .. out + cn`` (through the identity weight), loading ``positions`` positions
    at a time into slots of ``inp``."""
    b, c0, cn = block
    for p0, pn in split(plane, positions):
        ibase = inp.take()
        stream.load_box(xb, ibase, (b, c0, p0), (1, cn, pn))
        if p0 == 0:
            stream.gemm(zeroing_nest(out, (cn,), ibase, 0), reset=True)
        stream.gemm(Nest((cn, pn), dst=Affine(out, (1, 0)), src=Affine(ibase, (pn, 1)),
                         wgt=Affine(0, (0, 0))))


def emit_floor_mean(stream: CommandStream, base: int, scratch: int, count: int,
                    scale: tuple[int, int, int]) -> None:
    """Queue ``acc = (acc * m + bias) >> k`` over the ``count`` entries from ``base``, with
    ``scale = (m, k, bias)``: the floor of the mean of sums (:func:`.reference.average_scale`).
    ``count`` entries from ``scratch`` are worked in if ``m`` has several bits set."""
    m, k, bias = scale
    acc, copy = contiguous(base, (count,)), contiguous(scratch, (count,))

    def add(dst: Affine, src: Affine) -> None:
        stream.alu(AluOp.ADD, Nest((count,), dst, src))

    if m & (m - 1):
        stream.gemm(zeroing_nest(scratch, (count,), 0, 0), reset=True)
        add(copy, acc)
    for bit in bin(m)[3:]:  # Horner's rule below the leading bit: double, then add the sum
        add(acc, acc)
        if bit == "1":
            add(acc, copy)
    while bias:  # in parts that fit the 16-bit immediate
        part = min(bias, IMM_HIGH)
        stream.alu(AluOp.ADD, block_nest(base, (count,)), imm=part)
        bias -= part
    emit_requantize(stream, base, (count,), k, relu=False)


IMM_HIGH = (1 << 15) - 1  # the largest ALU immediate


def compile_global_avg_pool(x, *, config: VtaConfig) -> Compiled:
    """Compile the floors of the means over H and W of activations ``x (N, C, H, W)``; decodes
    to (N, C). Raises CompileError when the accumulator cannot hold the arithmetic."""
    x = integers("x", x, config.inp_width, (4,))
    n, c, height, width = x.shape
    plane = height * width
    m, k = average_scale(plane, config)  # refuses before anything is emitted
    scale = (m, k, average_bias(plane, m, k, config))
    packed = pack_activations(x, config)
    nb, cb = packed.shape[:2]
    stream = CommandStream(config)
    xb = stream.upload(MemType.INP, packed, (nb, cb, plane))
    y = stream.allocate(MemType.OUT, (nb, cb, 1, 1))
    load_identity(stream)
    inp = double_buffered(config.inp_buff_depth)
    acc = double_buffered(config.acc_buff_depth, 2)  # the sums and the scratch copies
    positions = min(plane, MAX_ITER, inp.size)
    blocks = min(cb, inp.size // positions, acc.size // 2)
    for b in range(nb):
        for c0, cn in split(cb, blocks):
            out = acc.take()
            emit_plane_sum(stream, xb, (b, c0, cn), out, inp, plane, positions)
            emit_floor_mean(stream, out, out + cn, cn, scale)
            stream.store_box(y, out, (b, c0, 0, 0), (1, cn, 1, 1))
    return stream.compile(lambda read: unpack_activations(read(y), n, c, config)[:, :, 0, 0])
