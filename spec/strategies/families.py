"""Structured program families: tiled GEMM, 2D convolution, requantize chains, pipelines.

Each draws a program with a known result: its image's ``expected`` DRAM, and with
``with_reference`` a :class:`~.reference.Reference` in logical (untiled) form.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from hypothesis import strategies as st

from ..config import VtaConfig
from ..image import ProgramImage
from ..isa import AluOp, MemType, Uop
from ..packing import wrap
from ..pipeline import DEFAULT_TOKEN_DEPTH
from ..semantics import FSIM, alu_apply
from .actions import random_programs
from .assembler import Assembler, draw_rng, random_lanes
from .configurations import small_configs
from .reference import emit_requantize, finish_image, requantized, tiled, untiler

__all__ = ["conv2d_programs", "pipelined_programs", "programs", "requantize_programs",
           "tiled_gemm_programs"]


def _fixed(draw, value, strategy):
    """Return ``value`` if given, else draw from ``strategy``."""
    return draw(strategy) if value is None else value


def _regions(asm: Assembler, max_rows: int) -> dict:
    return {name: min(depth, max_rows) for name, depth in asm.depth.items()}


def _chunk(draw, limit: int, value=None) -> int:
    """Draw a chunk size in [1, limit] (or clamp a given one)."""
    return max(1, min(limit, value)) if value is not None else draw(st.integers(1, max(1, limit)))


def _ring(draw, capacity: int, slot: int, slots: int | None = None) -> int:
    """Draw how many slots of ``slot`` elements a ring in ``capacity`` elements gets (1 to 3,
    or ``slots`` if given), never more than fit."""
    room = max(1, capacity // slot)
    if slots is not None:
        return max(1, min(slots, room))
    return draw(st.integers(1, min(3, room)))


class _Slots:
    """A ring of ``count`` equal slots from element 0 of a scratchpad, starting at slot
    ``start`` (modulo ``count``)."""

    def __init__(self, count: int, size: int, start: int = 0):
        self.count, self.size, self.next = count, size, start % count

    def take(self) -> int:
        base = self.next * self.size
        self.next = (self.next + 1) % self.count
        return base


def _matmul_layer(draw, asm: Assembler, regions: dict, a: np.ndarray, a_index: int,
                  b: np.ndarray, bias: np.ndarray | None, bias_type: MemType, out_index: int,
                  shift: int | None, clip: bool, slots: int | None,
                  ring_next: dict) -> np.ndarray:
    """Emit a tiled, double-buffered ``requantize(a @ b + bias)`` and return the expected
    result (logical, wrapped to the output width).

    ``a`` (m x k) is stored as INP tiles from ``a_index`` (row-major tile grid); ``b`` (k x n)
    is placed as WGT tiles of b^T here; the result goes to OUT tiles from ``out_index``.
    """
    config = asm.config
    batch, block = config.batch, config.block
    mt, kt, nt = a.shape[0] // batch, a.shape[1] // block, b.shape[1] // block
    b_index = asm.place(MemType.WGT, tiled(b.T, block, block))
    bias_index = None
    if bias is not None:
        bias_index = asm.place(bias_type, tiled(bias, batch, block))
    # Chunk sizes (in elements) and rings of slots that fit the scratchpads.
    tm = _chunk(draw, min(mt, regions["inp"], regions["acc"]))
    tk = _chunk(draw, min(kt, regions["inp"] // tm, regions["wgt"], regions["uop"]))
    tn = _chunk(draw, min(nt, regions["wgt"] // tk, regions["acc"] // tm))
    uops_over_k = draw(st.booleans()) or tn > regions["uop"]
    rings = {name: _Slots(_ring(draw, regions[name], size, slots), size, ring_next[name])
             for name, size in (("inp", tm * tk), ("wgt", tn * tk), ("acc", tm * tn))}
    inp_slots, wgt_slots, acc_slots = rings["inp"], rings["wgt"], rings["acc"]
    uop_region = regions["uop"]
    for i0 in range(0, mt, tm):
        rows = min(tm, mt - i0)
        for j0 in range(0, nt, tn):
            cols = min(tn, nt - j0)
            acc = acc_slots.take()
            tile = {"dst_factor_out": cols, "dst_factor_in": 1}
            if bias is not None:
                asm.load(bias_type, acc, bias_index + i0 * nt + j0, rows, cols, nt)
            else:
                asm.gemm([Uop(acc, 0, 0)], rows, cols, tile, reset=True, uop_region=uop_region)
            for k0 in range(0, kt, tk):
                depth = min(tk, kt - k0)
                inp, wgt = inp_slots.take(), wgt_slots.take()
                asm.load(MemType.INP, inp, a_index + i0 * kt + k0, rows, depth, kt)
                asm.load(MemType.WGT, wgt, b_index + j0 * kt + k0, cols, depth, kt)
                if uops_over_k:
                    # acc[i, j] += sum over uops kk of inp[i, kk] . wgt[j, kk]
                    uops = [Uop(acc, inp + kk, wgt + kk) for kk in range(depth)]
                    asm.gemm(uops, rows, cols, {**tile, "src_factor_out": depth,
                                                "wgt_factor_in": depth},
                             uop_region=uop_region)
                else:
                    # uops over output columns j, inner loop over the reduction.
                    uops = [Uop(acc + j, inp, wgt + j * depth) for j in range(cols)]
                    asm.gemm(uops, rows, depth, {"dst_factor_out": cols, "src_factor_out": depth,
                                                 "src_factor_in": 1, "wgt_factor_in": 1},
                             uop_region=uop_region)
            emit_requantize(asm, acc, rows, cols, shift, clip, uop_region)
            asm.store(acc, out_index + i0 * nt + j0, rows, cols, nt)
    ring_next.update({name: ring.next for name, ring in rings.items()})
    total = a.astype(np.int64) @ b.astype(np.int64)
    if bias is not None:
        total = total + bias
    acc_values = wrap(total, config.acc_width)
    return wrap(requantized(acc_values, shift, clip, config), config.out_width)


def _shift_and_clip(draw, config: VtaConfig, requantize) -> tuple[int | None, bool]:
    requantize = _fixed(draw, requantize, st.booleans())
    if not requantize:
        return None, False
    return draw(st.integers(0, config.acc_width - 1)), True


@st.composite
def tiled_gemm_programs(draw, config: VtaConfig, *, m_tiles: int | None = None,
                        k_tiles: int | None = None, n_tiles: int | None = None,
                        layers: int | None = None, bias: bool | None = None,
                        requantize: bool | None = None, slots: int | None = None,
                        max_tiles: int = 2, max_rows: int = 64,
                        max_tokens: int = DEFAULT_TOKEN_DEPTH, with_reference: bool = False):
    """Draw a tiled matrix multiply ``C = requantize(A @ B + bias)``, optionally two layers.

    A is ``m_tiles*BATCH x k_tiles*BLOCK`` (INP tiles), B ``k_tiles*BLOCK x n_tiles*BLOCK``
    (WGT tiles of B^T); each is drawn up to ``max_tiles`` unless given. The output is computed
    in blocks that fit the scratchpads (at most ``max_rows`` elements each), with a ring of
    ``slots`` slots per buffer (drawn from 1 to 3 unless given; fewer if they do not fit): per
    block, the accumulator is reset (GEMM reset) or loaded with
    the bias (ACC or ACC_8BIT); INP and WGT chunks of the reduction are loaded and multiplied
    (uops over the reduction or over the output columns, both loop levels used); with
    ``requantize``, SHR by a shift in [0, ACC_WIDTH) and MIN/MAX to the output range follow;
    then a STORE (which truncates to the output width). With ``layers=2`` the stored C is loaded
    back as the input of a second multiply (a STORE -> LOAD dependency through DRAM).

    Tokens as in the module docstring (double buffering lets loads run ahead of compute and
    compute ahead of store). The image's ``expected`` is the DRAM after the run; with
    ``with_reference`` returns ``(image, Reference)`` with inputs ``a``, ``b`` (list per
    layer), ``bias`` (list, None entries), ``shift``/``clip`` (lists) and output ``c`` (and
    ``d`` for the second layer).
    """
    asm = Assembler(config, max_tokens)
    rng = draw_rng(draw)
    regions = _regions(asm, max_rows)
    batch, block = config.batch, config.block
    layers = _fixed(draw, layers, st.integers(1, 2))
    mt = _fixed(draw, m_tiles, st.integers(1, max_tiles))
    kt = _fixed(draw, k_tiles, st.integers(1, max_tiles))
    a = random_lanes(rng, mt * batch, kt * block, config.inp_width)
    a_index = asm.place(MemType.INP, tiled(a, batch, block))
    inputs = {"a": a, "b": [], "bias": [], "shift": [], "clip": []}
    outputs = {}
    ring_next = {"inp": 0, "wgt": 0, "acc": 0}  # the second layer goes on round the rings
    k_now = kt
    for layer, name in zip(range(layers), ("c", "d")):
        nt = _fixed(draw, n_tiles if layer == 0 else None, st.integers(1, max_tiles))
        b = random_lanes(rng, k_now * block, nt * block, config.wgt_width)
        with_bias = _fixed(draw, bias, st.booleans())
        bias_type = draw(st.sampled_from([MemType.ACC, MemType.ACC_8BIT]))
        layer_bias = None
        if with_bias:
            width = 8 if bias_type == MemType.ACC_8BIT else config.acc_width
            layer_bias = random_lanes(rng, mt * batch, nt * block, width)
        shift, clip = _shift_and_clip(draw, config, requantize)
        out_index = asm.reserve_out(mt * nt, rng)
        result = _matmul_layer(draw, asm, regions, a, a_index, b, layer_bias, bias_type,
                               out_index, shift, clip, slots, ring_next)
        for key, value in (("b", b), ("bias", layer_bias), ("shift", shift), ("clip", clip)):
            inputs[key].append(value)
        outputs[name] = (out_index, tiled(result, batch, block),
                         untiler(mt * batch, nt * block, batch, block))
        # The next layer reads this output back as its input (OUT and INP elements match).
        a, a_index, k_now = result, out_index, nt
    return finish_image(asm, outputs, "tiled_gemm", inputs, with_reference)


@st.composite
def conv2d_programs(draw, config: VtaConfig, *, max_channel_tiles: int = 2, max_size: int = 4,
                    max_kernel: int = 3, requantize: bool | None = None,
                    slots: int | None = None, max_rows: int = 64,
                    max_tokens: int = DEFAULT_TOKEN_DEPTH, with_reference: bool = False):
    """Draw a 2D convolution, NCHW: ``out = requantize(conv2d(x, w, stride, padding))``.

    ``x`` is BATCH x (ci*BLOCK) x H x W, ``w`` (co*BLOCK) x (ci*BLOCK) x KH x KW, with ci, co up
    to ``max_channel_tiles``, H, W up to ``max_size``, KH, KW up to ``max_kernel``, strides 1 or
    2 and zero padding on each side up to KH-1 / KW-1 (all shrunk to fit the scratchpads). Each
    input channel tile is one padded 2D LOAD (the padding is the convolution's zero padding).
    Per output channel tile, the weights are loaded into a ring of ``slots`` slots (drawn
    unless given); per tile of output rows, the accumulator (a ring slot) is reset and one GEMM
    runs with a uop per kernel tap and input channel tile, over output rows (outer loop) and
    columns (inner loop); optional SHR/MIN/MAX, then a STORE. Tokens and ``with_reference`` as
    for
    :func:`tiled_gemm_programs` (inputs ``x``, ``w``, ``stride``, ``padding``, ``shift``,
    ``clip``; output ``out``, BATCH x Cout x OH x OW).
    """
    asm = Assembler(config, max_tokens)
    rng = draw_rng(draw)
    regions = _regions(asm, max_rows)
    batch, block = config.batch, config.block
    taps_room = min(regions["wgt"], regions["uop"], regions["inp"])
    ci = draw(st.integers(1, max(1, min(max_channel_tiles, taps_room))))
    kh = draw(st.integers(1, max(1, min(max_kernel, taps_room // ci))))
    kw = draw(st.integers(1, max(1, min(max_kernel, taps_room // (ci * kh)))))
    co = draw(st.integers(1, max_channel_tiles))
    per_channel = regions["inp"] // ci  # elements of one padded input channel tile
    acc_room = regions["acc"]
    # Padded height and width: at least the kernel, at most what fits; OW at most acc_room.
    pad_t = draw(st.integers(0, min(kh - 1, 2, per_channel // kw - 1)))
    pad_b = draw(st.integers(0, min(kh - 1, 2, per_channel // kw - 1 - pad_t)))
    hp_min = max(kh, 1 + pad_t + pad_b)
    w_room = min(per_channel // hp_min, kw - 1 + acc_room)
    pad_l = draw(st.integers(0, min(kw - 1, 2, w_room - 1)))
    pad_r = draw(st.integers(0, min(kw - 1, 2, w_room - 1 - pad_l)))
    wp_min = max(kw, 1 + pad_l + pad_r)
    w = draw(st.integers(wp_min - pad_l - pad_r, max(wp_min, min(w_room, max_size + pad_l
                                                                   + pad_r)) - pad_l - pad_r))
    wp = w + pad_l + pad_r
    h_top = max(hp_min, min(per_channel // wp, max_size + pad_t + pad_b))
    h = draw(st.integers(hp_min - pad_t - pad_b, h_top - pad_t - pad_b))
    hp = h + pad_t + pad_b
    sh = draw(st.integers(1, 2))
    sw = draw(st.integers(1, 2))
    oh, ow = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    rows_per_tile = draw(st.integers(1, max(1, min(oh, acc_room // ow))))
    shift, clip = _shift_and_clip(draw, config, requantize)

    x = random_lanes(rng, batch, ci * block * h * w, config.inp_width).reshape(
        batch, ci * block, h, w)
    weights = random_lanes(rng, co * block, ci * block * kh * kw, config.wgt_width).reshape(
        co * block, ci * block, kh, kw)
    x_tiles = x.reshape(batch, ci, block, h, w).transpose(1, 3, 4, 0, 2).reshape(
        ci * h * w, batch * block)
    w_tiles = weights.reshape(co, block, ci, block, kh, kw).transpose(0, 2, 4, 5, 1, 3).reshape(
        co * ci * kh * kw, block * block)
    x_index = asm.place(MemType.INP, x_tiles)
    w_index = asm.place(MemType.WGT, w_tiles)
    out_index = asm.reserve_out(co * oh * ow, rng)
    taps = ci * kh * kw
    wgt_slots = _Slots(_ring(draw, regions["wgt"], taps, slots), taps)
    acc_slots = _Slots(_ring(draw, acc_room, rows_per_tile * ow, slots), rows_per_tile * ow)
    for c in range(ci):
        asm.load(MemType.INP, c * hp * wp, x_index + c * h * w, h, w, w,
                 (pad_t, pad_b, pad_l, pad_r))
    for o in range(co):
        wgt = wgt_slots.take()
        asm.load(MemType.WGT, wgt, w_index + o * taps, 1, taps, taps)
        for r0 in range(0, oh, rows_per_tile):
            rows = min(rows_per_tile, oh - r0)
            acc = acc_slots.take()
            tile = {"dst_factor_out": ow, "dst_factor_in": 1}
            asm.gemm([Uop(acc, 0, 0)], rows, ow, tile, reset=True, uop_region=regions["uop"])
            uops = [Uop(acc, c * hp * wp + (r0 * sh + dy) * wp + dx, wgt + (c * kh + dy) * kw + dx)
                    for c in range(ci) for dy in range(kh) for dx in range(kw)]
            asm.gemm(uops, rows, ow, {**tile, "src_factor_out": sh * wp, "src_factor_in": sw},
                     uop_region=regions["uop"])
            emit_requantize(asm, acc, rows, ow, shift, clip, regions["uop"])
            asm.store(acc, out_index + (o * oh + r0) * ow, rows, ow, ow)
    padded = np.pad(x, ((0, 0), (0, 0), (pad_t, pad_b), (pad_l, pad_r)))
    total = np.zeros((batch, co * block, oh, ow), dtype=np.int64)
    for dy in range(kh):
        for dx in range(kw):
            window = padded[:, :, dy:dy + sh * (oh - 1) + 1:sh, dx:dx + sw * (ow - 1) + 1:sw]
            total += np.einsum("bchw,oc->bohw", window, weights[:, :, dy, dx])
    result = wrap(requantized(wrap(total, config.acc_width), shift, clip, config),
                  config.out_width)

    def to_tiles(array):
        return array.reshape(batch, co, block, oh, ow).transpose(1, 3, 4, 0, 2).reshape(
            co * oh * ow, batch * block)

    def untile(tiles):
        return tiles.reshape(co, oh, ow, batch, block).transpose(3, 0, 4, 1, 2).reshape(
            batch, co * block, oh, ow)

    inputs = {"x": x, "w": weights, "stride": (sh, sw), "padding": (pad_t, pad_b, pad_l, pad_r),
              "shift": shift, "clip": clip}
    return finish_image(asm, {"out": (out_index, to_tiles(result), untile)}, "conv2d", inputs,
                        with_reference)


@st.composite
def requantize_programs(draw, config: VtaConfig, *, max_ops: int = 6, max_tiles: int = 3,
                        alu_ops: Sequence[AluOp] = tuple(AluOp), max_rows: int = 64,
                        max_tokens: int = DEFAULT_TOKEN_DEPTH, with_reference: bool = False):
    """Draw chains of ALU operations over accumulator tiles, then a STORE per tile.

    Up to ``max_tiles`` tiles of ``rows`` x ``cols`` accumulator elements are loaded (ACC or
    ACC_8BIT, 2D with a row stride) into a ring of slots, each with a second operand tile if the
    chain has vector operations; the same chain of 1 to ``max_ops`` operations from ``alu_ops``
    is applied to each (ADD, MUL, MIN, MAX with an immediate or the operand tile; SHR by an
    immediate in [0, ACC_WIDTH)); every result wraps to ACC_WIDTH and the STORE truncates it to
    the output width. With ``with_reference`` returns ``(image, Reference)``: inputs ``x``,
    ``y`` (None without vector operations), ``ops`` (list of (AluOp, imm or None)), output
    ``out`` (tiles x rows x cols x lanes).
    """
    asm = Assembler(config, max_tokens)
    rng = draw_rng(draw)
    regions = _regions(asm, max_rows)
    ops = []
    for _ in range(draw(st.integers(1, max_ops))):
        op = draw(st.sampled_from(list(alu_ops)))
        if op == AluOp.SHR:
            ops.append((op, draw(st.integers(0, config.acc_width - 1))))
        elif draw(st.booleans()):
            ops.append((op, None))
        else:
            ops.append((op, draw(st.integers(-(1 << 15), (1 << 15) - 1))))
    vector = any(imm is None for _, imm in ops)
    operands = 2 if vector else 1
    room = max(1, regions["acc"] // operands)
    rows = draw(st.integers(1, max(1, min(3, room))))
    cols = draw(st.integers(1, max(1, min(3, room // rows))))
    tiles = draw(st.integers(1, max_tiles))
    ring = _Slots(_ring(draw, regions["acc"], rows * cols * operands), rows * cols * operands)
    lanes = asm.formats[MemType.ACC].lanes
    types = [draw(st.sampled_from([MemType.ACC, MemType.ACC_8BIT])) for _ in range(operands)]
    stride = cols + draw(st.integers(0, 2))
    values, indices = [], []
    for kind in types:
        width = 8 if kind == MemType.ACC_8BIT else config.acc_width
        # Tile t is rows [t*rows, (t+1)*rows) of a (tiles*rows) x stride element matrix.
        data = random_lanes(rng, tiles * rows * stride, lanes, width).reshape(
            tiles, rows, stride, lanes)
        indices.append(asm.place(kind, data.reshape(-1, lanes)))
        values.append(data[:, :, :cols])
    out_index = asm.reserve_out(tiles * rows * cols, rng)
    loop = {"dst_factor_out": cols, "dst_factor_in": 1, "src_factor_out": cols,
            "src_factor_in": 1}
    for t in range(tiles):
        base = ring.take()
        other = base + rows * cols
        for operand, (kind, index) in enumerate(zip(types, indices)):
            asm.load(kind, base + operand * rows * cols, index + t * rows * stride, rows, cols,
                     stride)
        for op, imm in ops:
            asm.alu([Uop(base, other if imm is None else 0, 0)], rows, cols, loop, op, imm,
                    regions["uop"])
        asm.store(base, out_index + t * rows * cols, rows, cols, cols)
    x = values[0].astype(np.int64)
    y = values[1].astype(np.int64) if vector else None
    result = x
    for op, imm in ops:
        result = alu_apply(op, result, y if imm is None else imm, config.acc_width, FSIM)
    result = wrap(result, config.out_width)
    shape = (tiles, rows, cols, lanes)
    inputs = {"x": x, "y": y, "ops": ops}
    return finish_image(asm, {"out": (out_index, result.reshape(-1, lanes),
                                      lambda tiles_: tiles_.reshape(shape))},
                        "requantize", inputs, with_reference)


@st.composite
def pipelined_programs(draw, config: VtaConfig, *, depth: int | None = None,
                       tasks: int | None = None, max_rows: int = 64,
                       max_tokens: int = DEFAULT_TOKEN_DEPTH, with_reference: bool = False):
    """Draw a software pipeline with several tokens outstanding between every pair of stages.

    A stream of independent tasks ``out[t] = a[t] @ b + imm`` (``a[t]`` one INP chunk of
    ``s`` elements, ``b`` ``s`` WGT elements loaded once, one OUT element per task): each task
    LOADs its input into the next slot of a ring of ``depth`` slots (2 to ``max_tokens``,
    drawn unless given, fewer if the scratchpads are too small), resets and accumulates into
    the next slot of a ring of accumulators, adds ``imm`` with the ALU and STOREs. Only slot
    reuse orders the stages, so the load stage runs up to ``depth`` tasks ahead of compute and
    compute up to the accumulator ring's size ahead of store (``RunStats.max_tokens``).
    ``tasks`` defaults to a draw in [depth, depth + 3]. With ``with_reference`` returns
    ``(image, Reference)``: inputs ``a`` (tasks x BATCH x s*BLOCK), ``b`` (s*BLOCK x BLOCK),
    ``imm``; output ``out`` (tasks x BATCH x BLOCK).
    """
    asm = Assembler(config, max_tokens)
    rng = draw_rng(draw)
    regions = _regions(asm, max_rows)
    batch, block = config.batch, config.block
    depth = _fixed(draw, depth, st.integers(2, max_tokens))
    size = draw(st.integers(1, max(1, min(2, regions["inp"] // depth, regions["wgt"],
                                          regions["uop"]))))
    inp_ring = max(1, min(depth, regions["inp"] // size))
    acc_ring = max(1, min(depth, regions["acc"]))
    tasks = _fixed(draw, tasks, st.integers(inp_ring, inp_ring + 3))
    imm = draw(st.integers(-(1 << 15), (1 << 15) - 1))
    a = random_lanes(rng, tasks * batch, size * block, config.inp_width).reshape(
        tasks, batch, size * block)
    b = random_lanes(rng, size * block, block, config.wgt_width)
    a_index = asm.place(MemType.INP, np.concatenate([tiled(a[t], batch, block)
                                                     for t in range(tasks)]))
    b_index = asm.place(MemType.WGT, tiled(b.T, block, block))
    out_index = asm.reserve_out(tasks, rng)
    inp_slots, acc_slots = _Slots(inp_ring, size), _Slots(acc_ring, 1)
    asm.load(MemType.WGT, 0, b_index, 1, size, size)
    for t in range(tasks):
        inp = inp_slots.take()
        acc = acc_slots.take()
        asm.load(MemType.INP, inp, a_index + t * size, 1, size, size)
        asm.gemm([Uop(acc, 0, 0)], 1, 1, {}, reset=True, uop_region=regions["uop"])
        asm.gemm([Uop(acc, inp + j, j) for j in range(size)], 1, 1, {},
                 uop_region=regions["uop"])
        asm.alu([Uop(acc, acc, 0)], 1, 1, {}, AluOp.ADD, imm, regions["uop"])
        asm.store(acc, out_index + t, 1, 1, 1)
    total = wrap(a.astype(np.int64) @ b.astype(np.int64), config.acc_width)
    result = wrap(wrap(total + imm, config.acc_width), config.out_width)  # tasks x batch x block
    inputs = {"a": a, "b": b, "imm": imm, "depth": inp_ring, "acc_depth": acc_ring}
    return finish_image(asm, {"out": (out_index, result.reshape(tasks, -1),
                                      lambda tiles_: tiles_.reshape(tasks, batch, block))},
                        "pipelined", inputs, with_reference)


@st.composite
def programs(draw, config: VtaConfig | None = None, *,
             max_tokens: int = DEFAULT_TOKEN_DEPTH) -> ProgramImage:
    """Draw a program from any of the program strategies (random or structured).

    Without ``config``, a config is drawn from :func:`configs` with buffers at most 2^6 deep.
    Valid by construction as described in the package docstring.
    """
    if config is None:
        config = draw(small_configs())
    return draw(st.one_of(
        random_programs(config, max_tokens=max_tokens),
        tiled_gemm_programs(config, max_tokens=max_tokens),
        conv2d_programs(config, max_tokens=max_tokens),
        requantize_programs(config, max_tokens=max_tokens),
        pipelined_programs(config, max_tokens=max_tokens)))
