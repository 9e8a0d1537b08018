"""The instruction semantics written out literally: one element, one lane, one micro-op at a time.

This module is the oracle people read. It says what :mod:`semantics` says, in the plainest form:
plain Python integers, and loops nested the way the hardware nests them (``for y, for x, for
lane`` in LOAD and STORE; ``for iter_out, for iter_in, for uop, for batch, for out, for in`` in
GEMM). It is slow on purpose, and nothing in it is clever; ``tests/test_spec_literal.py`` holds
the fast, vectorized :mod:`semantics` equal to it, instruction by instruction.

Every function takes ``(insn, state, index, flavor)``, changes ``state`` in place and returns the
:class:`Access` it made. A bad field raises :class:`ProgramError` naming ``index`` and the field,
before any state changes. All arithmetic is exact on Python integers; a result stored into the
accumulator is wrapped to the accumulator width (two's complement), and a result stored into the
output buffer or DRAM is wrapped to the output width.
"""

from __future__ import annotations

import numpy as np

from .access import Access, ByteRanges
from .isa import Alu, AluOp, Finish, Gemm, Load, LoopInsn, MemType, Store, decode_uop, visit_index
from .packing import wrap as wrap_array
from .semantics import (
    FSIM,
    Flavor,
    check_alu,
    check_load,
    check_store,
    fail,
)
from .state import MachineState
from .visits import check_uop_range, index_fault


def wrap(value: int, width: int) -> int:
    """Return ``value`` reduced to a signed ``width``-bit two's complement integer.

    (Every value wrapped here fits in 64 bits, which packing.wrap requires.)
    """
    return int(wrap_array(value, width))


# -- DRAM elements ---------------------------------------------------------------------------


def unpack_element(raw: bytes, width: int, lanes: int) -> list[int]:
    """Split one DRAM element into signed lanes.

    The element's bytes are read as one little-endian integer; lane ``i`` is its bits
    ``[i*width, (i+1)*width)`` taken as a two's complement number.
    """
    word = int.from_bytes(raw, "little")
    mask = (1 << width) - 1
    return [wrap((word >> (lane * width)) & mask, width) for lane in range(lanes)]


def pack_element(values: list[int], width: int, nbytes: int) -> bytes:
    """Pack lanes into one DRAM element of ``nbytes`` bytes: the inverse of unpack_element.

    Each lane keeps only its low ``width`` bits (truncation).
    """
    mask = (1 << width) - 1
    word = 0
    for lane, value in enumerate(values):
        word |= (value & mask) << (lane * width)
    return word.to_bytes(nbytes, "little")


def read_dram(state: MachineState, address: int, nbytes: int) -> bytes:
    """Return ``nbytes`` bytes from physical byte address ``address``."""
    offset = address - state.dram.base
    return bytes(int(state.dram.data[offset + k]) for k in range(nbytes))


def write_dram(state: MachineState, address: int, raw: bytes) -> None:
    """Write ``raw`` to physical byte address ``address``, one byte at a time."""
    offset = address - state.dram.base
    for k, byte in enumerate(raw):
        state.dram.data[offset + k] = byte


def byte_ranges(pairs: list[tuple[int, int]]) -> ByteRanges:
    """Return the union of byte ranges ``[start, end)`` as sorted, disjoint, merged ranges."""
    merged: list[list[int]] = []
    for start, end in sorted(pairs):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return ByteRanges(np.array([s for s, _ in merged], dtype=np.int64),
                      np.array([e for _, e in merged], dtype=np.int64))


def indices(visited: list[int]) -> np.ndarray:
    """Return scratchpad indices as the integer array an Access record holds."""
    return np.array(visited, dtype=np.int64)


def dram_rows(insn: Load | Store, state: MachineState, index: int,
              elem_bytes: int) -> list[tuple[int, int]]:
    """Return the byte range ``[start, end)`` of each of the y_size rows a LOAD/STORE moves.

    Row ``y`` starts at DRAM element ``dram_base + y * x_stride`` and holds ``x_size`` elements.
    Every row must lie inside DRAM.
    """
    rows = []
    for y in range(insn.y_size):
        start = (insn.dram_base + y * insn.x_stride) * elem_bytes
        rows.append((start, start + insn.x_size * elem_bytes))
    for start, end in rows:
        if not state.dram.contains(start, end):
            dram = state.dram
            raise fail(insn, index, "dram_base",
                       f"rows [{rows[0][0]:#x}, {rows[-1][1]:#x}) fall outside DRAM "
                       f"[{dram.base:#x}, {dram.base + len(dram.data):#x})")
    return rows


# -- LOAD and STORE ------------------------------------------------------------------------


def load(insn: Load, state: MachineState, index: int, flavor: Flavor = FSIM) -> Access:
    """LOAD: copy a y_size x x_size block of elements from DRAM, zero-padding it on all sides.

    The padded block has (y_pad_0 + y_size + y_pad_1) rows of (x_pad_0 + x_size + x_pad_1)
    elements and is written row after row from scratchpad element ``sram_base``. Block element
    (y, x) is DRAM element ``dram_base + (y - y_pad_0) * x_stride + (x - x_pad_0)`` when that
    lies in the y_size x x_size block, and zero otherwise. ``x_size == 0`` does nothing at all.

    Element formats (``state.formats``): a UOP element is one raw 32-bit word, stored as is; a
    WGT, INP or ACC element holds the scratchpad element's lanes at the buffer's width; an
    ACC_8BIT element is batch * block_out bytes, each an int8 lane sign-extended into the
    accumulator element's lanes.
    """
    if insn.x_size == 0:
        return Access()
    fmt, buffer, x_total, y_total, sram_end = check_load(insn, state, index)
    memory_type = MemType(insn.memory_type)
    rows = dram_rows(insn, state, index, fmt.bytes)

    written = []
    sram = insn.sram_base
    for y in range(y_total):
        for x in range(x_total):
            dram_y, dram_x = y - insn.y_pad_0, x - insn.x_pad_0
            if 0 <= dram_y < insn.y_size and 0 <= dram_x < insn.x_size:
                address = (insn.dram_base + dram_y * insn.x_stride + dram_x) * fmt.bytes
                raw = read_dram(state, address, fmt.bytes)
                if memory_type == MemType.UOP:
                    lanes = [int.from_bytes(raw, "little")]  # a raw, unsigned 32-bit word
                else:
                    # ACC_8BIT: int8 lanes, sign-extended into the accumulator's lanes.
                    lanes = unpack_element(raw, fmt.width, fmt.lanes)
            else:
                lanes = [0] * buffer.lanes  # padding
            for lane in range(buffer.lanes):
                buffer.data[sram, lane] = lanes[lane]
            written.append(sram)
            sram += 1
    return Access(writes={fmt.buffer: indices(written)},
                  dram_reads=byte_ranges(rows) if rows else None)


def store(insn: Store, state: MachineState, index: int, flavor: Flavor = FSIM) -> Access:
    """STORE: write y_size rows of x_size elements to DRAM, each lane truncated to the out width.

    Scratchpad element ``sram_base + y * x_size + x`` goes to DRAM element
    ``dram_base + y * x_stride + x``; later elements overwrite earlier ones where rows overlap.
    The fsim flavor reads the accumulator; the HLS flavor reads the out buffer. ``x_size == 0``
    does nothing; padding is an error.
    """
    if insn.x_size == 0:
        return Access()
    fmt, _ = check_store(insn, state, index)
    rows = dram_rows(insn, state, index, fmt.bytes)

    source = "acc" if flavor.store_from == "acc" else "out"
    buffer = state[source]
    read = []
    for y in range(insn.y_size):
        for x in range(insn.x_size):
            sram = insn.sram_base + y * insn.x_size + x
            lanes = [int(buffer.data[sram, lane]) for lane in range(buffer.lanes)]
            address = (insn.dram_base + y * insn.x_stride + x) * fmt.bytes
            write_dram(state, address, pack_element(lanes, fmt.width, fmt.bytes))
            read.append(sram)
    return Access(reads={source: indices(read)},
                  dram_writes=byte_ranges(rows) if rows else None)


# -- the micro-op loop ----------------------------------------------------------------------


def visits(insn: LoopInsn, state: MachineState):
    """Yield ``(o, i, u, dst, src, wgt)`` for every uop visit, in the order they run.

    The loop is ``for o in iter_out: for i in iter_in: for u in [uop_bgn, uop_end)``; each index
    is the uop's field plus ``o * <name>_factor_out + i * <name>_factor_in``
    (:func:`~vtaref.spec.isa.visit_index`) and addresses the scratchpad ``insn.BUFFERS[name]``.
    ``wgt`` is None for ALU.
    """
    for o in range(insn.iter_out):
        for i in range(insn.iter_in):
            for u in range(insn.uop_bgn, insn.uop_end):
                word = int(state["uop"].data[u, 0])
                uop = decode_uop(word.to_bytes(4, "little"), state.config)
                dst = visit_index(insn, "dst", uop.dst_idx, o, i)
                src = visit_index(insn, "src", uop.src_idx, o, i)
                wgt = None
                if "wgt" in insn.BUFFERS:
                    wgt = visit_index(insn, "wgt", uop.wgt_idx, o, i)
                yield o, i, u, dst, src, wgt


def check_visits(insn: LoopInsn, state: MachineState, index: int,
                 names: tuple[str, ...] = ("dst", "src", "wgt")) -> None:
    """Raise ProgramError if the uop loop would index past a buffer.

    The indices of ``insn.BUFFERS`` named in ``names`` are checked one after another, each over
    every visit in loop order, so a bad ``dst`` in any visit is reported before a bad ``src``.
    An empty loop visits nothing and so is never at fault, whatever uop_end is.
    """
    check_uop_range(insn, state, index)
    for name, buffer in insn.BUFFERS.items():
        if name not in names:
            continue
        depth = state[buffer].depth
        for o, i, u, dst, src, wgt in visits(insn, state):
            value = {"dst": dst, "src": src, "wgt": wgt}[name]
            if value >= depth:
                raise index_fault(insn, index, name, u, o, i, value, depth)


# -- GEMM -----------------------------------------------------------------------------------


def gemm(insn: Gemm, state: MachineState, index: int, flavor: Flavor = FSIM) -> Access:
    """GEMM: for every uop visit, ``acc[dst][b][o] += sum_k inp[src][b][k] * wgt[wgt][o][k]``.

    Lane (b, o) of an accumulator element is lane ``b * block_out + o``; lane (b, k) of an input
    element is ``b * block_in + k``; lane (o, k) of a weight element is ``o * block_in + k``.
    Each sum wraps to the accumulator width.

    With ``reset_reg`` the fsim flavor sets every visited accumulator element to zero. The HLS
    flavor computes the sum in both cases, writes it (truncated to the out width) to the out
    buffer, and writes it to the accumulator, or zero with ``reset_reg``.
    """
    config = state.config
    acc, inp, wgt, out = state["acc"], state["inp"], state["wgt"], state["out"]
    with_out_buffer = flavor.store_from == "out"
    if insn.reset_reg and not with_out_buffer:
        check_visits(insn, state, index, ("dst",))
        written = []
        for _, _, _, d, _, _ in visits(insn, state):
            for lane in range(acc.lanes):
                acc.data[d, lane] = 0
            written.append(d)
        return Access(writes={"acc": indices(written)})

    check_visits(insn, state, index)
    dsts, srcs, wgts = [], [], []
    for _, _, _, d, s, w in visits(insn, state):
        for b in range(config.batch):
            for o in range(config.block_out):
                lane = b * config.block_out + o
                total = int(acc.data[d, lane])
                for k in range(config.block_in):
                    x = int(inp.data[s, b * config.block_in + k])
                    y = int(wgt.data[w, o * config.block_in + k])
                    total += x * y
                result = wrap(total, config.acc_width)
                if with_out_buffer:
                    out.data[d, lane] = wrap(result, config.out_width)
                    acc.data[d, lane] = 0 if insn.reset_reg else result
                else:
                    acc.data[d, lane] = result
        dsts.append(d)
        srcs.append(s)
        wgts.append(w)
    if not dsts:
        return Access()
    reads = {"inp": indices(srcs), "wgt": indices(wgts), "acc": indices(dsts)}
    writes = {"acc": indices(dsts)}
    if with_out_buffer:
        writes["out"] = indices(dsts)
    return Access(reads=reads, writes=writes)


# -- ALU ------------------------------------------------------------------------------------


def alu_op(op: AluOp, a: int, b: int, width: int, flavor: Flavor) -> int:
    """Return ``op(a, b)`` for one lane, wrapped to ``width`` bits.

    SHR shifts ``a`` (arithmetically, i.e. floor division by a power of two) by ``b``:

    - fsim flavor ("signed"): right by ``b`` when ``b >= 0``, left by ``-b`` when ``b < 0``. A
      right shift by width - 1 or more gives 0 or -1; a left shift by width or more leaves no
      bits inside the width, i.e. gives 0.
    - HLS flavor ("masked"): right by the low LOG_ACC_WIDTH bits of ``b``, read as unsigned.
    """
    if op == AluOp.MIN:
        result = min(a, b)
    elif op == AluOp.MAX:
        result = max(a, b)
    elif op == AluOp.ADD:
        result = a + b
    elif op == AluOp.MUL:
        result = a * b
    elif flavor.shift == "masked":
        result = a >> (b & (width - 1))
    elif b >= 0:
        result = a >> b
    else:
        # Capping the amount at the width changes nothing after wrapping (the low width bits
        # are zero either way) and keeps the intermediate integer small.
        result = a << min(-b, width)
    return wrap(result, width)


def alu(insn: Alu, state: MachineState, index: int, flavor: Flavor = FSIM) -> Access:
    """ALU: for every uop visit in loop order, ``acc[dst] = op(acc[dst], imm or acc[src])``.

    Lane by lane: the second operand is the sign-extended 16-bit ``imm`` with ``use_imm``, else
    the same lane of ``acc[src]``. Visits run one after another, so a visit sees what earlier
    visits of the same instruction wrote. The HLS flavor also writes each result, truncated to
    the out width, to the out buffer. The fsim flavor has MUL, unless the config has none
    (``ALU_MUL``); the HLS flavor does not.
    """
    op = check_alu(insn, index, flavor, state.config)
    check_visits(insn, state, index)
    config = state.config
    acc, out = state["acc"], state["out"]
    with_out_buffer = flavor.store_from == "out"
    dsts, srcs = [], []
    for _, _, _, d, s, _ in visits(insn, state):
        for lane in range(acc.lanes):
            a = int(acc.data[d, lane])
            b = insn.imm if insn.use_imm else int(acc.data[s, lane])
            result = alu_op(op, a, b, config.acc_width, flavor)
            acc.data[d, lane] = result
            if with_out_buffer:
                out.data[d, lane] = wrap(result, config.out_width)
        dsts.append(d)
        srcs.append(s)
    reads = {"acc": indices(dsts if insn.use_imm else dsts + srcs)}
    writes = {"acc": indices(dsts)}
    if with_out_buffer:
        writes["out"] = indices(dsts)
    return Access(reads=reads, writes=writes)


def finish(insn: Finish, state: MachineState, index: int, flavor: Flavor = FSIM) -> Access:
    """FINISH: no effect on the state; the runner stops the device once it retires."""
    return Access()


EXECUTE = {"LOAD": load, "STORE": store, "GEMM": gemm, "ALU": alu, "FINISH": finish}
