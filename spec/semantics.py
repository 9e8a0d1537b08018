"""What each instruction does to the machine state: one execute function per mnemonic.

These are the fast, vectorized definitions; :mod:`literal` restates them one element at a time
and the tests hold the two equal. Arithmetic is exact: GEMM and ALU compute on sign-extended
integers and wrap the result to the accumulator width (two's complement), which is what TVM-VTA's
functional simulator does wherever its int32 arithmetic is defined.

Every function takes ``(insn, state, index, flavor)`` and returns the :class:`Access` it made;
bad fields raise :class:`ProgramError` naming ``index`` and the field, before any state changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .access import Access, ByteRanges, each_once
from .config import VtaConfig
from .errors import ProgramError
from .isa import (
    Alu,
    AluOp,
    Finish,
    Gemm,
    Insn,
    Load,
    MemType,
    Store,
)
from .packing import pack, unpack, wrap
from .state import MachineState
from .visits import loop_visits, rows_index


@dataclass(frozen=True)
class Flavor:
    """Which TVM-VTA implementation to follow where they disagree (see docs/divergences.md).

    ``shift``: ``"signed"`` (fsim: SHR by a negative amount shifts left) or ``"masked"`` (HLS and
    Chisel: the low LOG_ACC_WIDTH bits of the operand, as an unsigned right shift amount).
    ``store_from``: ``"acc"`` (fsim: STORE truncates the accumulator) or ``"out"`` (HLS: STORE
    reads an output buffer that only GEMM and ALU write).
    ``mul``: whether ALU MUL exists (the HLS design has none).
    """

    name: str
    shift: str
    store_from: str
    mul: bool


FLAVORS = {
    "fsim": Flavor("fsim", shift="signed", store_from="acc", mul=True),
    "hls": Flavor("hls", shift="masked", store_from="out", mul=False),
}
FSIM = FLAVORS["fsim"]


def fail(insn: Insn, index: int, field: str, message: str) -> ProgramError:
    return ProgramError(index, insn.MNEMONIC, field, message)


# -- LOAD and STORE ------------------------------------------------------------------------


def _dram_rows(insn, state: MachineState, index: int, elem_bytes: int, nrows: int):
    """Return the transferred rows as a ``(nrows, row bytes)`` view of DRAM and their ranges.

    Checks DRAM bounds first. Rows overlap when ``x_stride < x_size``, so write through the
    view only when they do not.
    """
    first = insn.dram_base * elem_bytes
    pitch = insn.x_stride * elem_bytes
    length = insn.x_size * elem_bytes
    last_end = first + pitch * (nrows - 1) + length
    if nrows and not (state.dram.contains(first, first + length)
                      and state.dram.contains(last_end - length, last_end)):
        dram = state.dram
        raise fail(insn, index, "dram_base",
                   f"rows [{first:#x}, {last_end:#x}) fall outside DRAM "
                   f"[{dram.base:#x}, {dram.base + len(dram.data):#x})")
    rows = np.ndarray((nrows, length), dtype=np.uint8, buffer=state.dram.data,
                      offset=first - state.dram.base if nrows else 0, strides=(pitch, 1))
    return rows, ByteRanges.rows(first, nrows, pitch, length)


LOADABLE = (MemType.UOP, MemType.WGT, MemType.INP, MemType.ACC, MemType.ACC_8BIT)


def check_load(insn: Load, state: MachineState, index: int):
    """Check a LOAD's memory type and scratchpad range (``x_size > 0``).

    Returns the element format, the target scratchpad, the padded block's width and height and
    the scratchpad index past its end; raises ProgramError naming the faulty field.
    """
    if insn.memory_type not in LOADABLE:
        raise fail(insn, index, "memory_type",
                   f"{insn.memory_type} is not a loadable memory type "
                   "(UOP=0, WGT=1, INP=2, ACC=3, ACC_8BIT=5)")
    fmt = state.formats[MemType(insn.memory_type)]
    buffer = state[fmt.buffer]
    x_total = insn.x_pad_0 + insn.x_size + insn.x_pad_1
    y_total = insn.y_pad_0 + insn.y_size + insn.y_pad_1
    sram_end = insn.sram_base + x_total * y_total
    if sram_end > buffer.depth:
        raise fail(insn, index, "sram_base",
                   f"{fmt.buffer}[{insn.sram_base}:{sram_end}] exceeds the buffer depth "
                   f"{buffer.depth}")
    return fmt, buffer, x_total, y_total, sram_end


def load(insn: Load, state: MachineState, index: int, flavor: Flavor = FSIM) -> Access:
    """LOAD: copy a y_size x x_size block of elements from DRAM, zero-padding it on all sides.

    The padded block of (y_pad_0 + y_size + y_pad_1) rows of (x_pad_0 + x_size + x_pad_1)
    elements is written contiguously from ``sram_base``. ``x_size == 0`` does nothing at all,
    whatever the other fields hold (as in TVM-VTA's simulator).
    """
    if insn.x_size == 0:
        return Access()
    fmt, buffer, x_total, y_total, sram_end = check_load(insn, state, index)
    memory_type = MemType(insn.memory_type)
    rows, ranges = _dram_rows(insn, state, index, fmt.bytes, insn.y_size)
    raw = rows.reshape(insn.y_size * insn.x_size, fmt.bytes)
    if memory_type == MemType.UOP:
        lanes = raw.view("<u4")
    else:
        lanes = unpack(raw, fmt.width, fmt.lanes)
    # A view (scratchpads are C-contiguous): the padded block is written in place.
    block = buffer.data[insn.sram_base:sram_end].reshape(y_total, x_total, buffer.lanes)
    if x_total * y_total > insn.x_size * insn.y_size:
        block[...] = 0  # the padding
    block[insn.y_pad_0:insn.y_pad_0 + insn.y_size, insn.x_pad_0:insn.x_pad_0 + insn.x_size] = (
        lanes.reshape(insn.y_size, insn.x_size, buffer.lanes))
    written = np.arange(insn.sram_base, sram_end)
    return Access(writes={fmt.buffer: written}, dram_reads=ranges if insn.y_size else None)


def check_store(insn: Store, state: MachineState, index: int):
    """Check a STORE's memory type, padding and scratchpad range (``x_size > 0``).

    Returns the element format and the scratchpad index past the last element read; raises
    ProgramError naming the faulty field.
    """
    if insn.memory_type != MemType.OUT:
        raise fail(insn, index, "memory_type",
                   f"{insn.memory_type} cannot be stored; STORE takes OUT=4")
    for pad in ("y_pad_0", "y_pad_1", "x_pad_0", "x_pad_1"):
        if getattr(insn, pad):
            raise fail(insn, index, pad, "STORE does not support padding")
    sram_end = insn.sram_base + insn.y_size * insn.x_size
    if sram_end > state["acc"].depth:
        raise fail(insn, index, "sram_base",
                   f"acc[{insn.sram_base}:{sram_end}] exceeds the buffer depth "
                   f"{state['acc'].depth}")
    return state.formats[MemType.OUT], sram_end


def store(insn: Store, state: MachineState, index: int, flavor: Flavor = FSIM) -> Access:
    """STORE: write y_size rows of x_size accumulator elements, truncated to the output width.

    Element ``sram_base + y*x_size + x`` goes to DRAM element ``dram_base + y*x_stride + x``.
    ``x_size == 0`` does nothing; padding is not supported (TVM-VTA's simulator aborts on it).
    """
    if insn.x_size == 0:
        return Access()
    fmt, sram_end = check_store(insn, state, index)
    rows, ranges = _dram_rows(insn, state, index, fmt.bytes, insn.y_size)
    source = "acc" if flavor.store_from == "acc" else "out"
    raw = pack(state[source].data[insn.sram_base:sram_end], fmt.width)
    raw = raw.reshape(insn.y_size, insn.x_size * fmt.bytes)
    if insn.x_stride >= insn.x_size:
        rows[...] = raw  # writable: the rows are disjoint
    else:  # overlapping rows: the later row's bytes win, as in row-by-row copying
        for y in range(insn.y_size):
            rows[y] = raw[y]
    read = np.arange(insn.sram_base, sram_end)
    return Access(reads={source: read}, dram_writes=ranges if insn.y_size else None)


# -- GEMM -----------------------------------------------------------------------------------


def _products(state: MachineState, src: np.ndarray, wgt: np.ndarray, ftype) -> np.ndarray:
    """Return ``inp[src] . wgt[wgt]^T`` for index grids of shape ``(O, I, U)``, in ``ftype``.

    The result has shape ``(O, I, U, batch * block_out)``. Work is grouped along a loop axis on
    which the weight index is constant, so each weight tile is gathered once per group.
    """
    config = state.config
    batch, block = config.batch, config.block
    shape = src.shape
    # Put an axis along which the weight index is constant last (if there is one).
    axes = [0, 1, 2]
    for axis in (1, 0, 2):
        if shape[axis] > 1 and np.all(np.diff(wgt, axis=axis) == 0):
            axes = [a for a in (0, 1, 2) if a != axis] + [axis]
            break
    src_t = np.transpose(src, axes)
    wgt_t = np.transpose(wgt, axes)
    groups, rows = src_t.shape[0] * src_t.shape[1], src_t.shape[2]
    constant_last = np.all(wgt_t[..., :1] == wgt_t) if rows > 1 else True
    inp = state["inp"].data[src_t.reshape(-1)].astype(ftype)
    if constant_last:
        weights = state["wgt"].data[wgt_t[..., 0].reshape(-1)].astype(ftype)
        x = inp.reshape(groups, rows * batch, block)
        w = weights.reshape(groups, block, block)
        out = np.matmul(x, w.transpose(0, 2, 1))
    else:
        weights = state["wgt"].data[wgt_t.reshape(-1)].astype(ftype)
        x = inp.reshape(-1, batch, block)
        out = np.matmul(x, weights.reshape(-1, block, block).transpose(0, 2, 1))
    out = out.reshape(src_t.shape + (batch * block,))
    return np.transpose(out, list(np.argsort(axes)) + [3])


def _exact_float(config, terms: int):
    """Return a float type in which sums of ``terms`` lane products are exact, or None."""
    bound = terms * (1 << (config.inp_width - 1)) * (1 << (config.wgt_width - 1))
    for ftype, mantissa in ((np.float32, 24), (np.float64, 53)):
        if bound < 1 << mantissa:
            return ftype
    return None


# Powers of an odd constant modulo 2**64: a polynomial hash of up to 4096 indices.
ROW_HASH = np.cumprod(np.full(4096, 0x9E3779B97F4A7C15, dtype=np.uint64)).view(np.int64)


def _distinct_rows(table: np.ndarray, by_first: bool = False):
    """Return the distinct rows of an int64 ``table`` and, per row, which one it is.

    With ``by_first`` the caller guarantees that a row's first entry determines it (rows that
    are one loop iteration's visits: a loop part plus the same uop part). Otherwise rows are
    told apart by a hash, then checked against the original; on a hash collision (or rows
    longer than the hash) this returns None.
    """
    if by_first:
        _, first, which = np.unique(table[:, 0], return_index=True, return_inverse=True)
        return table[first], which
    if table.shape[1] > ROW_HASH.size:
        return None
    keys = table @ ROW_HASH[:table.shape[1]]  # wraps modulo 2**64
    _, first, which = np.unique(keys, return_index=True, return_inverse=True)
    distinct = table[first]
    if not np.array_equal(distinct[which], table):
        return None
    return distinct, which


def _all_distinct(values: np.ndarray) -> bool:
    """Return whether no value repeats (sorting: plain ``np.unique`` imports ``numpy.ma``, 35 ms
    of start-up)."""
    ordered = np.sort(values)
    return not np.any(ordered[1:] == ordered[:-1])


def _visits_by_row(dst: np.ndarray):
    """Group a GEMM's visits by destination row: return ``(order, rows, k)`` or None.

    ``order`` (an index array or slice) lists the visits row by row, each row's in visit order;
    ``rows`` are the rows in that order, each visited ``k`` times. None when the rows are
    visited different numbers of times.
    """
    rows = dst[:, :, 0].reshape(-1)
    if np.all(dst == dst[:, :, :1]) and _all_distinct(rows):
        return slice(None), rows, dst.shape[2]  # a row per (outer, inner) iteration
    flat = dst.reshape(-1)
    order = np.argsort(flat.astype(np.uint16 if flat.max() < 1 << 16 else np.int64),
                       kind="stable")
    ordered = flat[order]
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    k = flat.size // starts.size
    if np.any(np.diff(np.append(starts, flat.size)) != k):
        return None
    return order, ordered[starts], k


def _sum_plan(idx: dict[str, np.ndarray]):
    """Plan :func:`_visit_sums` from the loop's indices alone: ``(rows, k, src_seqs,
    src_of_row, wgt_seqs, wgt_of_row)``, or None when the fused product does not apply.

    The visits are grouped by destination row, in visit order; this needs every row to get the
    same number k of visits. A row's sum is then its input sequence (k inputs side by side)
    times its weight sequence (k weights stacked), so all rows together are entries of
    ``distinct input sequences @ distinct weight sequences``: one product, planned when it has
    at most four times as many entries as there are rows (true of matrix and convolution
    kernels). The rows are distinct (a slice when consecutive, see
    :func:`~vtaref.spec.visits.rows_index`).
    """
    grouped = _visits_by_row(idx["dst"])
    if grouped is None:
        return None
    order, rows, k = grouped
    src, wgt = idx["src"].reshape(-1), idx["wgt"].reshape(-1)
    by_first = isinstance(order, slice)  # rows in loop order: a loop part plus the uop part
    src_split = _distinct_rows(src[order].reshape(rows.size, k), by_first)
    wgt_split = _distinct_rows(wgt[order].reshape(rows.size, k), by_first)
    if src_split is None or wgt_split is None:
        return None
    (src_seqs, src_of_row), (wgt_seqs, wgt_of_row) = src_split, wgt_split
    if src_seqs.shape[0] * wgt_seqs.shape[0] > 4 * rows.size:
        return None
    return rows_index(rows), k, src_seqs, src_of_row, wgt_seqs, wgt_of_row


def _visit_sums(state: MachineState, plan):
    """Sum each accumulator row's visit products as one exact matrix product, as ``plan``
    (from :func:`_sum_plan`) says, if a float type holds its sums exactly. Returns the rows
    (distinct: an index array or slice) and their int64 sums, or None."""
    if plan is None:
        return None
    rows, k, src_seqs, src_of_row, wgt_seqs, wgt_of_row = plan
    config = state.config
    batch, block = config.batch, config.block
    ftype = _exact_float(config, k * block)
    if ftype is None:
        return None
    # Gathered as narrow integers and converted to float once, while being laid out: a row of
    # ``x`` is one batch row of an input sequence, a row of ``w`` one output lane of a weight
    # sequence (its k weight rows side by side, as they sit in each tile: row-major copies).
    x = state["inp"].data[src_seqs].reshape(-1, k, batch, block)
    x = x.transpose(0, 2, 1, 3).reshape(-1, k * block).astype(ftype)
    tiles = state["wgt"].data[wgt_seqs].reshape(-1, k, block, block)
    w = np.empty((tiles.shape[0], block, k, block), dtype=ftype)
    np.copyto(w, tiles.transpose(0, 2, 1, 3), casting="unsafe")
    table = (w.reshape(-1, k * block) @ x.T).reshape(wgt_seqs.shape[0], block,
                                                     src_seqs.shape[0], batch)
    sums = table[wgt_of_row, :, src_of_row, :].transpose(0, 2, 1)  # (row, batch, lane)
    return rows, sums.reshape(src_of_row.size, batch * block).astype(np.int64)


def _touched(idx: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Return, per index name, the entries the loop's visits touch, each once, ascending."""
    return {key: each_once(grid, int(grid.max()) + 1 if grid.size else 0)
            for key, grid in idx.items()}


def gemm(insn: Gemm, state: MachineState, index: int, flavor: Flavor = FSIM) -> Access:
    """GEMM: for every uop visit, ``acc[dst] += inp[src] . wgt[wgt]^T`` (or zero acc[dst]).

    With ``reset_reg`` each visited accumulator row is zeroed instead. The sum wraps to the
    accumulator width. The HLS flavor also writes the truncated result to the out buffer.
    """
    sequential = flavor.store_from == "out"
    if insn.reset_reg and not sequential:
        dst = loop_visits(insn, state, index, keys=("dst",)).derived("touched", _touched)["dst"]
        state["acc"].data[dst] = 0
        return Access(writes={"acc": dst})
    visits = loop_visits(insn, state, index)
    idx = visits.idx
    dst = idx["dst"]
    if dst.size == 0:
        return Access()
    touched = visits.derived("touched", _touched)
    reads = {"inp": touched["src"], "wgt": touched["wgt"], "acc": touched["dst"]}
    fused = None if sequential else _visit_sums(state, visits.derived("sums", _sum_plan))
    if fused is not None:
        _accumulate(state, *fused, distinct=True)
        return Access(reads=reads, writes={"acc": reads["acc"]})
    terms = state.config.block
    ftype = _exact_float(state.config, terms)
    products = _products(state, idx["src"], idx["wgt"], ftype)
    # Sum over loop axes along which the destination does not move, while the sum stays exact.
    for axis in (2, 1, 0):
        size = products.shape[axis]
        if (not sequential and size > 1 and _exact_float(state.config, terms * size) == ftype
                and np.all(np.diff(dst, axis=axis) == 0)):
            products = products.sum(axis=axis, keepdims=True)
            terms *= size
            dst = dst[(slice(None),) * axis + (slice(0, 1),)]
    flat_dst = dst.reshape(-1)
    deltas = products.reshape(flat_dst.size, -1).astype(np.int64)
    if sequential:
        _gemm_with_out_buffer(insn, state, flat_dst, deltas)
        return Access(reads=reads, writes={"acc": reads["acc"], "out": reads["acc"]})
    _accumulate(state, flat_dst, deltas)
    return Access(reads=reads, writes={"acc": reads["acc"]})


def _accumulate(state: MachineState, dst: np.ndarray, deltas: np.ndarray,
                distinct: bool = False) -> None:
    """Add ``deltas[j]`` to accumulator row ``dst[j]`` for every j, wrapping. Rows may repeat
    unless the caller says they are ``distinct`` (then ``dst`` may also be a slice)."""
    acc, width = state["acc"].data, state.config.acc_width
    if distinct or _all_distinct(dst):
        acc[dst] = wrap(acc[dst] + deltas, width)
    else:
        total = acc.copy()
        np.add.at(total, dst, deltas)
        touched = np.unique(dst)
        acc[touched] = wrap(total[touched], width)


def _gemm_with_out_buffer(insn: Gemm, state: MachineState, dst: np.ndarray,
                          deltas: np.ndarray) -> None:
    """Apply GEMM visits one by one as the HLS design does: acc and the out buffer."""
    acc, out = state["acc"].data, state["out"].data
    width, out_width = state.config.acc_width, state.config.out_width
    for row, delta in zip(dst, deltas):
        result = wrap(acc[row] + delta, width)
        out[row] = wrap(result, out_width)
        acc[row] = 0 if insn.reset_reg else result


# -- ALU ------------------------------------------------------------------------------------


def alu_apply(op: AluOp, a: np.ndarray, b: np.ndarray, width: int, flavor: Flavor,
              operands_in_range: bool = False) -> np.ndarray:
    """Return ``op(a, b)`` lane-wise on int64 operands, wrapped to ``width`` bits.

    With ``operands_in_range`` the caller guarantees that ``a`` and ``b`` are ``width``-bit
    values already; MIN, MAX and right shifts then return their result as it is (it cannot
    leave the range, so wrapping would not change it).
    """
    if op == AluOp.MIN:
        result = np.minimum(a, b)
    elif op == AluOp.MAX:
        result = np.maximum(a, b)
    elif op == AluOp.ADD:
        result = a + b
    elif op == AluOp.MUL:
        result = a * b
    elif flavor.shift == "masked":
        result = a >> (b & (width - 1))
    elif np.ndim(b) == 0:  # one amount for every lane (an immediate): the same rule, unrolled
        amount = int(b)
        if amount >= 0:
            result = a >> min(amount, 63)
        else:
            result = a << min(-amount, 63) if amount > -64 else np.zeros_like(a)
    else:
        # Right shift by b >= 0 (floor division), left shift by -b when b < 0; amounts past 63
        # behave as 63 for right shifts and clear the value for left shifts.
        right = np.clip(b, 0, 63)
        left = np.clip(-b, 0, 63)
        result = np.where(b >= 0, a >> right, (a << left) * (b > -64))
    right_shift = op == AluOp.SHR and (flavor.shift == "masked" or np.ndim(b) == 0 and b >= 0)
    if operands_in_range and (op in (AluOp.MIN, AluOp.MAX) or right_shift):
        return result
    return wrap(result, width)


ALU_OPCODES = frozenset(AluOp)


def check_alu(insn: Alu, index: int, flavor: Flavor, config: VtaConfig) -> AluOp:
    """Return the ALU instruction's operation; raise ProgramError if ``flavor`` or ``config``
    (``ALU_MUL``) has none such."""
    if insn.alu_opcode not in ALU_OPCODES:
        raise fail(insn, index, "alu_opcode",
                   f"{insn.alu_opcode} is not an ALU opcode (MIN=0, MAX=1, ADD=2, SHR=3, MUL=4)")
    op = AluOp(insn.alu_opcode)
    if op == AluOp.MUL and not flavor.mul:
        raise fail(insn, index, "alu_opcode", f"MUL does not exist in the {flavor.name} flavor")
    if op == AluOp.MUL and not config.ALU_MUL:
        raise fail(insn, index, "alu_opcode", "MUL does not exist in this config (ALU_MUL is "
                                              "false: the ALU has no multiplier)")
    return op


def alu(insn: Alu, state: MachineState, index: int, flavor: Flavor = FSIM) -> Access:
    """ALU: for every uop visit in loop order, ``acc[dst] = op(acc[dst], imm or acc[src])``.

    Visits run in order, so a visit sees what earlier visits of the same instruction wrote.
    """
    op = check_alu(insn, index, flavor, state.config)
    visits = loop_visits(insn, state, index)
    acc = state["acc"].data
    width = state.config.acc_width
    if insn.use_imm:
        batches = visits.derived("batches_imm", lambda idx: _batches(idx["dst"], None))
    else:
        batches = visits.derived("batches", lambda idx: _batches(idx["dst"], idx["src"]))
    # Accumulator lanes are always width-bit values (every write wraps to ACC_WIDTH or is
    # narrower); a 16-bit immediate is one unless ACC_WIDTH is 8.
    in_range = not insn.use_imm or -(1 << (width - 1)) <= insn.imm < 1 << (width - 1)
    for d, s in batches:
        b = np.int64(insn.imm) if insn.use_imm else acc[s]
        result = alu_apply(op, acc[d], b, width, flavor, operands_in_range=in_range)
        acc[d] = result
        if flavor.store_from == "out":
            state["out"].data[d] = wrap(result, state.config.out_width)
    touched = visits.derived("touched", _touched)
    reads = {"acc": touched["dst"] if insn.use_imm else visits.derived(
        "dst_or_src", lambda idx: np.union1d(idx["dst"], idx["src"]))}
    writes = {"acc": touched["dst"]}
    if flavor.store_from == "out":
        writes["out"] = touched["dst"]
    return Access(reads=reads, writes=writes)


def _batches(dst: np.ndarray, src: np.ndarray | None) -> list[tuple]:
    """Split a loop's visits (``(iter_out, iter_in, uops)`` grids) into consecutive runs in loop
    order, each the longest that :func:`_independent_prefix` allows; return each run's
    destination and source rows (:func:`~vtaref.spec.visits.rows_index`; no source rows
    without ``src``)."""
    dst = dst.reshape(-1)
    src = None if src is None else src.reshape(-1)
    if not dst.size:
        return []
    depth = int(max(dst.max(), 0 if src is None else src.max())) + 1
    batches, start = [], 0
    while start < dst.size:
        end = start + _independent_prefix(dst[start:], None if src is None else src[start:],
                                          depth)
        batches.append((rows_index(dst[start:end]),
                        None if src is None else rows_index(src[start:end])))
        start = end
    return batches


def _independent_prefix(dst: np.ndarray, src: np.ndarray | None, depth: int) -> int:
    """Return the length of the longest prefix of visits that may run at once.

    In it no destination repeats and no visit reads (through ``src``) a row an earlier visit of
    the prefix writes, so reading all operands before writing gives the in-order result.
    ``depth`` bounds the row numbers.
    """
    written = np.zeros(depth, dtype=bool)
    written[dst] = True
    if np.count_nonzero(written) == dst.size and (src is None or not written[src].any()):
        return dst.size  # distinct destinations, none of them read: all visits at once
    values, first_write = np.unique(dst, return_index=True)
    positions = np.arange(dst.size)
    conflicts = []
    if values.size != dst.size:
        repeats = np.flatnonzero(first_write[np.searchsorted(values, dst)] < positions)
        conflicts.append(int(repeats[0]))
    if src is not None:
        where = np.minimum(np.searchsorted(values, src), values.size - 1)
        written_at = np.where(values[where] == src, first_write[where], dst.size)
        reads_written = np.flatnonzero(written_at < positions)
        if reads_written.size:
            conflicts.append(int(reads_written[0]))
    return min(conflicts) if conflicts else dst.size


def finish(insn: Finish, state: MachineState, index: int, flavor: Flavor = FSIM) -> Access:
    """FINISH: no effect on the state; the runner stops the device once it retires."""
    return Access()


EXECUTE = {"LOAD": load, "STORE": store, "GEMM": gemm, "ALU": alu, "FINISH": finish}
