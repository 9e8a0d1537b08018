"""Convolution and dense layers as tiled, double-buffered GEMM programs.

In packed layouts (:mod:`.layout`) the input is a ``(NB, CB, H, W)`` grid of elements, the
weights ``(OB, CB, KH, KW)`` and the output ``(NB, OB, OH, OW)``. The output is cut into tiles of
``ob x oh x ow`` elements and the reduction into chunks of ``cb x kh x kw``. Each tile accumulates
in one of two accumulator slots, starting from zero (a reset GEMM, once the first chunk is on
chip, since the HLS design reads its operands) or from the bias (one LOAD per channel block
reads its DRAM element into every entry, ``x_stride`` 0); each chunk
brings its input window (zero-padded by the LOAD at the borders) and its weights into one of two
input and weight slots, skipped when the slot still holds them, and adds the products of its
taps that read data (not padding, :func:`tap_groups`); the tile
is then requantized and stored while the next one computes.

A convolution of few input channels is first folded (:mod:`.fold`) when that saves GEMM visits.
A dense layer ``(M, K) x (N, K)^T`` is the 1x1 convolution of the activation
``(batch, K, M/batch, 1)`` (see :func:`.layout.matrix_as_activations`).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np

from vtaref.spec import MemType, VtaConfig
from vtaref.spec.runner import fetch

from .epilogue import (
    FixedPoint,
    check_rounding,
    emit_fixed_point,
    emit_requantize,
    limbs_of,
    operand_count,
    upload_fixed_point,
    working_blocks,
)
from .fold import FOLDS, fold, folded_geometry
from .identity import load_identity
from .layout import (
    activations_as_matrix,
    ceil_div,
    matrix_as_activations,
    pack_activations,
    pack_channels,
    pack_weights,
    unpack_activations,
)
from .loops import MAX_ITER, Affine, Nest, contiguous, zeroing_nest
from .runtime import CommandStream, Compiled, DramBuffer
from .slots import Slots
from .tiling import DRAM_BYTES_PER_CYCLE, candidates, cycles, search, split
from .timing import predict
from .transfer import MAX_PAD
from .validate import integers, pair, shift_amount


@dataclass(frozen=True)
class ConvShape:
    """A convolution counted in elements (blocks of channels, batches of images)."""

    nb: int
    cb: int
    h: int
    w: int
    ob: int
    kh: int
    kw: int
    sh: int
    sw: int
    ph: int
    pw: int

    @property
    def oh(self) -> int:
        return (self.h + 2 * self.ph - self.kh) // self.sh + 1

    @property
    def ow(self) -> int:
        return (self.w + 2 * self.pw - self.kw) // self.sw + 1


@dataclass(frozen=True)
class ConvTiling:
    """Output tile ``ob x oh x ow``, reduction chunk ``cb x kh x kw``, and the tile order."""

    ob: int
    oh: int
    ow: int
    cb: int
    kh: int
    kw: int
    spatial_outer: bool


def window(outputs, stride, kernel):
    """Return how many input rows (or columns) ``outputs`` output rows read."""
    return (outputs - 1) * stride + kernel


def tile_fits(s: ConvShape, halves: tuple[int, int, int], ob, oh, ow, cb, kh, kw,
              acc_use: tuple[int, int] = (1, 0), residual: bool = False):
    """Return whether output tiles of ``ob x oh x ow`` with reduction chunks of ``cb x kh x kw``
    fit ``halves`` (the entries of half the inp, wgt and acc scratchpads) and the loop counters.
    A tile's accumulator slot holds ``acc_use[0]`` entries per output and ``acc_use[1]`` per
    output channel block (the working blocks and operands of
    :func:`.epilogue.emit_fixed_point`). With ``residual``, an input slot also holds the tile's
    residual (:func:`emit_conv`) after the window.

    The extents may be numpy arrays (every candidate at once) or z3 terms
    (:mod:`vtaref.proofs.smt.conv_slots` proves what the tiles emitted then address).
    """
    inp_half, wgt_half, acc_half = halves
    per_output, per_block = acc_use
    ih, iw = window(oh, s.sh, kh), window(ow, s.sw, kw)
    return ((cb * ih * iw + residual * ob * oh * ow <= inp_half) & (ob * cb * kh * kw <= wgt_half)
            & (ob * (oh * ow * per_output + per_block) <= acc_half)
            & (ob * oh * ow <= MAX_ITER) & (ih * iw <= MAX_ITER))


def _tiling_cost(s: ConvShape, config: VtaConfig, kernel_budget: int):
    """Return the estimated cycles of tilings of ``s`` as a function of their extents (numpy
    arrays, every candidate at once, as :func:`.tiling.search` takes them)."""
    def cost(ob, oh, ow, cb, kh, kw, outer):
        ih, iw = window(oh, s.sh, kh), window(ow, s.sw, kw)
        n_ob = ceil_div(s.ob, ob)
        n_sp = s.nb * ceil_div(s.oh, oh) * ceil_div(s.ow, ow)
        n_red = ceil_div(s.cb, cb) * ceil_div(s.kh, kh) * ceil_div(s.kw, kw)
        tiles = n_ob * n_sp
        # Each pair of slots caches the last two chunks it loaded.
        inputs = n_sp * n_red * np.where(outer, np.where(n_red <= 2, 1, n_ob),
                                         np.where(n_sp * n_red <= 2, 1, n_ob))
        weights = n_ob * n_red * np.where(outer, np.where(n_ob * n_red <= 2, 1, n_sp),
                                          np.where(n_red <= 2, 1, n_sp))
        dims = np.sort(np.stack([ob, oh, ow, cb, kh, kw]), axis=0)
        kernel = np.prod(dims[:4], axis=0)
        gemms = tiles * n_red * ceil_div(kernel, kernel_budget)
        reloads = np.where(8 * kernel > config.uop_buff_depth, gemms, 0)
        load_bytes = (inputs * cb * ih * iw * config.inp_elem_bytes
                      + weights * ob * cb * kh * kw * config.wgt_elem_bytes
                      + tiles * ob * config.acc_elem_bytes
                      + reloads * np.minimum(kernel, kernel_budget) * config.uop_elem_bytes)
        outputs = tiles * ob * oh * ow
        # Products of padding are not visited (tap_groups); each output also takes its bias
        # row (or reset) and the requantization's SHR, MAX and MIN.
        share = (data_share(s.oh, s.sh, s.ph, s.kh, s.h)
                 * data_share(s.ow, s.sw, s.pw, s.kw, s.w))
        compute = outputs * (n_red * cb * kh * kw * share + 4)
        insns = inputs * cb + weights + tiles * (2 * ob + 4) + gemms + reloads
        # Compute waits for the first chunk to load (smaller chunks measured fewer cycles on
        # the RTL, each layer of ResNet-18; adding the last tile's drain did not).
        fill = (cb * ih * iw * config.inp_elem_bytes
                + ob * cb * kh * kw * config.wgt_elem_bytes) / DRAM_BYTES_PER_CYCLE
        return cycles(load_bytes, compute, outputs * config.out_elem_bytes, insns) + fill

    return cost


def choose_tiling(s: ConvShape, config: VtaConfig, kernel_budget: int,
                  acc_use: tuple[int, int] = (1, 0), residual: bool = False) -> ConvTiling:
    """Return the tiling that fits half of each scratchpad at the lowest estimated cost, with
    ``acc_use`` and ``residual`` as in :func:`tile_fits`."""
    halves = slot_sizes(config, residual)
    options = dict(ob=candidates(s.ob), oh=candidates(s.oh), ow=candidates(s.ow),
                   cb=candidates(s.cb), kh=candidates(s.kh), kw=candidates(s.kw),
                   outer=np.array([1, 0]))

    def fits(ob, oh, ow, cb, kh, kw, outer):
        return tile_fits(s, halves, ob, oh, ow, cb, kh, kw, acc_use, residual)

    best = search(options, fits, _tiling_cost(s, config, kernel_budget))
    return ConvTiling(best["ob"], best["oh"], best["ow"], best["cb"], best["kh"], best["kw"],
                      bool(best["outer"]))


def slot_sizes(config: VtaConfig, residual: bool) -> tuple[int, int, int]:
    """Return the entries of the inp, wgt and acc slots: half of each scratchpad, less the
    identity weight (the last wgt entry) that adds a residual."""
    return (config.inp_buff_depth // 2, (config.wgt_buff_depth - residual) // 2,
            config.acc_buff_depth // 2)


def tiling_cycles(s: ConvShape, t: ConvTiling, config: VtaConfig, kernel_budget: int) -> float:
    """Return the estimated cycles of convolution ``s`` under tiling ``t``."""
    cost = _tiling_cost(s, config, kernel_budget)
    return float(cost(t.ob, t.oh, t.ow, t.cb, t.kh, t.kw, int(t.spatial_outer)))


def tap_groups(start: int, count: int, stride: int, pad: int, taps: int,
               data: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """Split ``count`` outputs from ``start`` along one axis by the kernel taps that read data.

    Output ``start + i`` reads input ``(start + i) * stride - pad + k`` with tap ``k`` of
    ``taps``; inputs outside ``data`` (``[first, end)``) are zero padding, whose products add
    nothing. Returns ``(first output, outputs, first tap, taps)`` for each run of consecutive
    outputs (relative to ``start``) that read the same taps, leaving out outputs that read none.
    """
    groups = []
    for i in range(count):
        at = (start + i) * stride - pad
        lo, hi = max(0, data[0] - at), min(taps, data[1] - at)
        if hi <= lo:
            continue
        if groups and groups[-1][2:] == (lo, hi - lo) and groups[-1][0] + groups[-1][1] == i:
            groups[-1] = (groups[-1][0], groups[-1][1] + 1, lo, hi - lo)
        else:
            groups.append((i, 1, lo, hi - lo))
    return groups


def data_share(outputs: int, stride: int, pad: int, taps: int, size: int) -> float:
    """Return the share of an axis's (output, tap) pairs that read data, not padding."""
    groups = tap_groups(0, outputs, stride, pad, taps, (0, size))
    return sum(count * used for _, count, _, used in groups) / (outputs * taps)


def _load_window(stream: CommandStream, x: DramBuffer, base: int, nb: int,
                 channels: tuple[int, int], rows: tuple[int, int], cols: tuple[int, int]) -> None:
    """Load input rows/cols ``(start, length)`` (may stick out of the image: zero padding)."""
    height, width = x.shape[2:]
    (y0, yn), (x0, xn) = rows, cols
    ylo, yhi, xlo, xhi = max(y0, 0), min(y0 + yn, height), max(x0, 0), min(x0 + xn, width)
    pads = (ylo - y0, y0 + yn - yhi, xlo - x0, x0 + xn - xhi)
    stream.load_box(x, base, (nb, channels[0], ylo, xlo),
                    (1, channels[1], yhi - ylo, xhi - xlo), pads)


def emit_conv(stream: CommandStream, s: ConvShape, t: ConvTiling, x: DramBuffer,
              w: DramBuffer, bias: DramBuffer | None, y: DramBuffer, shift: int,
              relu: bool, rounding: str = "floor",
              fixed: tuple[FixedPoint, DramBuffer, int] | None = None,
              data: tuple[tuple[int, int], tuple[int, int]] | None = None,
              residual: tuple[DramBuffer, int, bool] | None = None) -> None:
    """Queue the whole convolution of ``x`` into ``y`` (``s.ph``/``s.pw``: LOAD padding).

    ``data``, if given, holds the ``[first, end)`` rows and columns of ``x`` that are not zero
    padding: the GEMMs then visit only the products of data (:func:`tap_groups`), else every
    product of each chunk, in one nest.
    ``residual`` (activations shaped like ``y``, a shift, a ReLU) is added to each requantized
    tile and the sum requantized again, as a residual connection does: the tile's residual is
    loaded after its last input window, and a GEMM against the identity weight (the last weight
    entry) adds it.

    ``fixed`` replaces the power-of-two requantization by a :class:`FixedPoint` one: the
    requantization, its operands in DRAM (:func:`.epilogue.upload_fixed_point`) and the parts
    its products are split into.
    """
    config = stream.config
    inp_half, wgt_half, acc_half = slot_sizes(config, residual is not None)
    inp, wgt, acc = Slots(inp_half), Slots(wgt_half), Slots(acc_half)
    identity = config.wgt_buff_depth - 1
    if residual is not None:
        load_identity(stream, base=identity)
    spatial = [(nb, rows, cols) for nb in range(s.nb) for rows in split(s.oh, t.oh)
               for cols in split(s.ow, t.ow)]
    outs = split(s.ob, t.ob)
    order = ([(sp, o) for sp in spatial for o in outs] if t.spatial_outer
             else [(sp, o) for o in outs for sp in spatial])
    chunks = [(c, r, q) for c in split(s.cb, t.cb) for r in split(s.kh, t.kh)
              for q in split(s.kw, t.kw)]
    for (nb, (oh0, ohn), (ow0, own)), (ob0, obn) in order:
        base = acc.take()
        plane = ohn * own
        if bias is not None:
            for o in range(obn):  # each block's bias, one DRAM element into all its entries
                stream.load(bias, base + o * plane, ob0 + o, y_size=plane, x_size=1, x_stride=0)
        for index, ((cb0, cbn), (kh0, khn), (kw0, kwn)) in enumerate(chunks):
            rows = (oh0 * s.sh - s.ph + kh0, window(ohn, s.sh, khn))
            cols = (ow0 * s.sw - s.pw + kw0, window(own, s.sw, kwn))
            ibase, hit = inp.acquire((nb, cb0, cbn, rows, cols))
            if not hit:
                _load_window(stream, x, ibase, nb, (cb0, cbn), rows, cols)
            wbase, hit = wgt.acquire((ob0, obn, cb0, cbn, kh0, khn, kw0, kwn))
            if not hit:
                stream.load_box(w, wbase, (ob0, cb0, kh0, kw0), (obn, cbn, khn, kwn))
            if index == 0 and bias is None:
                stream.gemm(zeroing_nest(base, (obn, plane), ibase, wbase), reset=True)
            ihn, iwn = rows[1], cols[1]
            nests = [((0, ohn, 0, khn), (0, own, 0, kwn))]
            if data is not None:
                nests = product(tap_groups(oh0, ohn, s.sh, s.ph - kh0, khn, data[0]),
                                tap_groups(ow0, own, s.sw, s.pw - kw0, kwn, data[1]))
            for (r0, rn, kr0, krn), (c0, cn, kc0, kcn) in nests:
                stream.gemm(Nest(
                    (obn, cbn, krn, kcn, rn, cn),
                    dst=Affine(base + r0 * own + c0, (plane, 0, 0, 0, own, 1)),
                    src=Affine(ibase + (r0 * s.sh + kr0) * iwn + c0 * s.sw + kc0,
                               (0, ihn * iwn, iwn, 1, s.sh * iwn, s.sw)),
                    wgt=Affine(wbase + kr0 * kwn + kc0,
                               (cbn * khn * kwn, khn * kwn, kwn, 1, 0, 0))))
        if fixed is None:
            emit_requantize(stream, base, (obn, ohn, own), shift, relu, rounding)
        else:
            requant, operands, limbs = fixed
            work = tuple(base + (i + 1) * obn * plane for i in range(working_blocks(limbs)))
            start = work[-1] + obn * plane
            stream.load_box(operands, start, (ob0, 0), (obn, operand_count(limbs)))
            emit_fixed_point(stream, base, work, start, (obn, ohn, own), requant, limbs)
        if residual is not None:
            addend, addend_shift, addend_relu = residual
            rbase = ibase + cbn * ihn * iwn  # after the last window, in its slot
            stream.load_box(addend, rbase, (nb, ob0, oh0, ow0), (1, obn, ohn, own))
            dims = (obn, ohn, own)
            stream.gemm(Nest(dims, contiguous(base, dims), contiguous(rbase, dims),
                             Affine(identity, (0, 0, 0))))
            emit_requantize(stream, base, dims, addend_shift, addend_relu)
        stream.store_box(y, base, (nb, ob0, oh0, ow0), (1, obn, ohn, own))


def skip_unread(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
                padding: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int]]:
    """Return ``x`` without the rows and columns a convolution never reads, and its stride then.

    Along an axis with a kernel of 1 and no padding, output ``i`` reads input ``i * stride``
    only: the host keeps those (data movement, as for padding) and the convolution strides by 1
    (a 1x1 stride-2 downsampling then loads a quarter of its input).
    """
    result = list(stride)
    for axis, (k, s, p) in enumerate(zip(kernel, stride, padding)):
        if k == 1 and p == 0 and s > 1:
            x = x[(slice(None),) * (2 + axis) + (slice(None, None, s),)]
            result[axis] = 1
    return x, tuple(result)


def choose_fold(n: int, c: int, o: int, size: tuple[int, int], kernel: tuple[int, int],
                 stride: tuple[int, int], padding: tuple[int, int], config: VtaConfig,
                 kernel_budget: int, acc_use: tuple[int, int], residual: bool = False
                 ) -> tuple[tuple[int, ...], ConvShape, ConvTiling]:
    """Return the axes to fold the convolution along (:mod:`.fold`), its shape in elements
    once folded, and the tiling of that shape.

    A fold is tried when it makes fewer GEMM visits per output (input channels not a multiple
    of BLOCK, so that lanes multiply padding); the estimated cheapest wins, ties to not
    folding.
    """
    def shape(axes):
        channels, (h, w), (kh, kw), (sh, sw), (ph, pw) = folded_geometry(
            c, size, kernel, stride, padding, axes)
        return ConvShape(ceil_div(n, config.batch), ceil_div(channels, config.block), h, w,
                         ceil_div(o, config.block), kh, kw, sh, sw, ph, pw)

    unfolded = shape(())
    best = ((), unfolded, choose_tiling(unfolded, config, kernel_budget, acc_use, residual))
    lowest = tiling_cycles(unfolded, best[2], config, kernel_budget)
    for axes in FOLDS[1:]:
        s = shape(axes)
        if s.cb * s.kh * s.kw >= unfolded.cb * unfolded.kh * unfolded.kw:
            continue
        # Fits whenever the unfolded convolution does (same tiles, one-block chunks).
        tiling = choose_tiling(s, config, kernel_budget, acc_use, residual)
        estimate = tiling_cycles(s, tiling, config, kernel_budget)
        if estimate < lowest:
            best, lowest = (axes, s, tiling), estimate
    return best


def compile_conv2d(x, w, bias=None, *, stride=1, padding=0, shift: int = 0, relu: bool = False,
                   rounding: str = "floor", requant: FixedPoint | None = None,
                   residual=None, residual_shift: int = 0, residual_relu: bool = False,
                   skip_padding: bool | None = None, config: VtaConfig) -> Compiled:
    """Compile ``requantize(conv2d(x, w) + bias)`` for ``x (N, C, H, W)``, ``w (O, C, KH, KW)``.

    The result decodes to ``(N, O, OH, OW)``. Few input channels are folded with kernel offsets
    on the host when that saves GEMM visits (:func:`choose_fold`). Padding up to 15 that is
    smaller than the kernel is done by the LOADs; larger padding is added to the input in DRAM.
    ``requant``, if given, replaces ``shift``, ``relu`` and ``rounding`` (see :mod:`.epilogue`).
    ``residual``, activations shaped like the result, makes it
    ``requantize(result + residual, residual_shift, residual_relu)``: a residual connection's
    sum, computed on the tile in the accumulator (:func:`emit_conv`). ``skip_padding`` says
    whether the GEMMs leave out the products of zero padding (:func:`tap_groups`); by default
    the program the timing model predicts faster is kept (more nests, each with its micro-op
    kernel, can cost a tiny layer more than the visits they save).
    """
    x = integers("x", x, config.inp_width, (4,))
    w = integers("w", w, config.wgt_width, (4,))
    (sh, sw), (ph, pw) = pair(stride, "stride", 1), pair(padding, "padding")
    shift = shift_amount(shift, config.acc_width)
    rounding = check_rounding(rounding)
    n, c, height, width = x.shape
    o, c_w, kh, kw = w.shape
    if c_w != c:
        raise ValueError(f"w has {c_w} input channels but x has {c}")
    if height + 2 * ph < kh or width + 2 * pw < kw:
        raise ValueError(f"the {kh}x{kw} kernel does not fit the padded {height}x{width} input")
    if bias is not None:
        bias = integers("bias", bias, config.acc_width, (1,))
        if bias.shape != (o,):
            raise ValueError(f"bias must have shape ({o},), not {bias.shape}")
    if residual is not None:
        residual = integers("residual", residual, config.inp_width, (4,))
        residual_shift = shift_amount(residual_shift, config.acc_width)
        expected = (n, o, (height + 2 * ph - kh) // sh + 1, (width + 2 * pw - kw) // sw + 1)
        if residual.shape != expected:
            raise ValueError(f"residual must have shape {expected}, not {residual.shape}")
    x, (sh, sw) = skip_unread(x, (kh, kw), (sh, sw), (ph, pw))
    height, width = x.shape[2:]
    acc_use = (1, 0)
    if requant is not None:
        requant.check(o, config)
        limbs = limbs_of(requant.constants(config))
        acc_use = (1 + working_blocks(limbs), operand_count(limbs))
    axes, full, tiling = choose_fold(n, c, o, (height, width), (kh, kw), (sh, sw), (ph, pw),
                                      config, CommandStream(config).kernel_budget, acc_use,
                                      residual is not None)
    x, w, (sh, sw), (ph, pw) = fold(x, w, (sh, sw), (ph, pw), axes)
    kh, kw = w.shape[2:]
    # LOAD pads each side by up to 15; a window must keep at least one row and column of data.
    load_ph = ph if ph <= MAX_PAD and ph < kh and tiling.kh == kh else 0
    load_pw = pw if pw <= MAX_PAD and pw < kw and tiling.kw == kw else 0
    host = ((0, 0), (0, 0), (ph - load_ph,) * 2, (pw - load_pw,) * 2)
    data = tuple((pad, pad + size) for (pad, _), size in zip(host[2:], x.shape[2:]))
    packed = pack_activations(np.pad(x, host), config)
    s = ConvShape(full.nb, full.cb, packed.shape[2], packed.shape[3], full.ob, kh, kw, sh, sw,
                  load_ph, load_pw)
    packed_w = pack_weights(w, config)

    def program(skip_padding: bool) -> Compiled:
        stream = CommandStream(config)
        fixed = None if requant is None else (requant, *upload_fixed_point(stream, requant))
        xb = stream.upload(MemType.INP, packed, packed.shape[:4])
        wb = stream.upload(MemType.WGT, packed_w, packed_w.shape[:4])
        bb = None
        if bias is not None:
            bb = stream.upload(MemType.ACC, pack_channels(bias, config), (full.ob,))
        yb = stream.allocate(MemType.OUT, (s.nb, s.ob, s.oh, s.ow))
        added = None
        if residual is not None:
            packed_r = pack_activations(residual, config)
            added = (stream.upload(MemType.INP, packed_r, packed_r.shape[:4]), residual_shift,
                     residual_relu)
        emit_conv(stream, s, tiling, xb, wb, bb, yb, shift, relu, rounding, fixed,
                  data if skip_padding else None, added)
        return stream.compile(lambda read: unpack_activations(read(yb), n, o, config))

    if skip_padding is not None:
        return program(skip_padding)
    padded = data != ((0, s.h), (0, s.w)) or s.ph or s.pw
    return min([program(True), program(False)] if padded else [program(False)],
               key=predicted_cycles)


def predicted_cycles(program: Compiled) -> float:
    """Return the cycles the timing model predicts for ``program`` on the RTL core."""
    image = program.image
    return predict(fetch(image.make_dram(), image.insn_addr, image.insn_count, image.config),
                   image.config).cycles


def compile_dense(x, w, bias=None, *, shift: int = 0, relu: bool = False,
                  rounding: str = "floor", requant: FixedPoint | None = None,
                  config: VtaConfig) -> Compiled:
    """Compile ``requantize(x @ w.T + bias)`` for ``x (M, K)``, ``w (N, K)``; decodes to (M, N)."""
    x = integers("x", x, config.inp_width, (2,))
    w = integers("w", w, config.wgt_width, (2,))
    if w.shape[1] != x.shape[1]:
        raise ValueError(f"w has {w.shape[1]} columns but x has {x.shape[1]}")
    conv = compile_conv2d(matrix_as_activations(x, config), w[:, :, None, None], bias,
                          shift=shift, relu=relu, rounding=rounding, requant=requant,
                          config=config)
    rows = x.shape[0]
    return Compiled(conv.image, conv.stats, lambda dram: activations_as_matrix(conv.decode(dram),
                                                                               rows))

