"""Requantization on the accumulator: the ALU sequence every operator ends with before its STORE
(which keeps the low ``out_width`` bits of each accumulator, so values must already lie in the
output range).

- :func:`emit_requantize`: shift right by a power of two (rounding down, or half up), clip to the
  output range, optional ReLU.
- :func:`emit_round_half_even`: shift right by a power of two, rounding halves to even, with
  ADD, SHR, MAX and MIN only.
- :class:`FixedPoint` and :func:`emit_fixed_point`: multiply by any positive ``m / 2**k`` per
  channel, round half up, add a zero point and clip, exactly (the gemmlowp/TFLite scheme, with
  the product split into up to :data:`MAX_LIMBS` parts so that each step fits the
  accumulator). It needs ALU MUL, which TVM-VTA's HLS design lacks (docs/divergences.md §2).
- :class:`ScaledSum`: the integer contract of a sum of tensors with a multiplier each (a
  quantized residual add), computed by :mod:`.scaled`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vtaref.spec import AluOp, MemType, VtaConfig
from vtaref.spec.packing import wrap

from .errors import CompileError
from .layout import pack_channels
from .loops import Affine, Nest, block_nest, contiguous, zeroing_nest
from .reference import out_range
from .runtime import CommandStream, DramBuffer

ROUNDINGS = ("floor", "half_up")  # of a power-of-two requantization: floor (VTA's tutorials)
# or floor(x + 1/2) (TVM's relay.quantize default)


def emit_requantize(stream: CommandStream, base: int, dims: tuple[int, ...], shift: int,
                    relu: bool, rounding: str = "floor") -> None:
    """Queue ``acc = clip(acc >> shift)`` over the row-major block ``dims`` from ``base``.

    ``rounding="half_up"`` rounds ``acc / 2**shift`` to the nearest integer, halves up.
    """
    low, high = out_range(stream.config)
    nest = block_nest(base, dims)
    # Accumulators hold acc_width-bit values, which any larger shift takes to the same 0 or -1;
    # larger amounts would not fit the HLS design's SHR operand (it keeps LOG_ACC_WIDTH bits).
    shift = min(shift, stream.config.acc_width - 1)
    if shift and rounding == "half_up":
        # floor((floor(acc / 2**(shift-1)) + 1) / 2) == floor((acc + 2**(shift-1)) / 2**shift),
        # and no immediate wider than 16 bits is needed.
        if shift > 1:
            stream.alu(AluOp.SHR, nest, imm=shift - 1)
        stream.alu(AluOp.ADD, nest, imm=1)
        stream.alu(AluOp.SHR, nest, imm=1)
    elif shift:
        stream.alu(AluOp.SHR, nest, imm=shift)
    stream.alu(AluOp.MAX, nest, imm=0 if relu else low)
    stream.alu(AluOp.MIN, nest, imm=high)


def emit_round_half_even(stream: CommandStream, base: int, scratch: int, count: int,
                         shift: int) -> None:
    """Queue ``acc = round_half_even(acc / 2**shift)`` (:func:`.reference.round_half_even`) over
    the ``count`` entries from ``base``, working in ``2 * count`` entries from ``scratch``.

    With ``h = 2**(shift-1)``: ``up = (acc + h) >> shift`` and ``down = (acc + h - 1) >> shift``
    round halves up and down and differ only at a half, where ``even = ((acc + 2h) >> (shift+1))
    * 2`` is the one of them that is even; so the result is ``min(max(even, down), up)``. The
    accumulator must hold ``acc + 2**shift``.
    """
    up, down, even = (contiguous(b, (count,)) for b in (base, scratch, scratch + count))
    half = 1 << (shift - 1)
    stream.gemm(zeroing_nest(scratch, (2 * count,), 0, 0), reset=True)
    for copy in (down, even):
        stream.alu(AluOp.ADD, Nest((count,), copy, up))
    for index, (bias, amount) in ((up, (half, shift)), (down, (half - 1, shift)),
                                  (even, (2 * half, shift + 1))):
        nest = Nest((count,), index, index)
        if bias:
            stream.alu(AluOp.ADD, nest, imm=bias)
        stream.alu(AluOp.SHR, nest, imm=amount)
    stream.alu(AluOp.ADD, Nest((count,), even, even))
    stream.alu(AluOp.MAX, Nest((count,), even, down))
    stream.alu(AluOp.MIN, Nest((count,), up, even))


def check_rounding(rounding: str) -> str:
    """Return ``rounding`` after checking it is one of :data:`ROUNDINGS`."""
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding must be one of {', '.join(ROUNDINGS)}, not {rounding!r}")
    return rounding


@dataclass(frozen=True)
class FixedPoint:
    """Per-channel requantization ``clip(floor(acc * m / 2**k + 1/2) + offset, low, high)``.

    ``multiplier`` (positive) and ``shift`` hold ``m`` and ``k`` for each channel (axis 1 of the
    accumulators); ``offset`` (the output zero point) and the clip bounds ``low``/``high`` are
    shared. ``low``/``high`` must lie in the output range; a ReLU is ``low = offset``.
    """

    multiplier: tuple[int, ...]
    shift: tuple[int, ...]
    offset: int
    low: int
    high: int

    def apply(self, acc: np.ndarray, config: VtaConfig) -> np.ndarray:
        """Return what VTA computes from accumulators ``acc`` (wrapped to ``acc_width``)."""
        acc = wrap(np.asarray(acc, np.int64), config.acc_width)
        shape = (1, -1) + (1,) * (acc.ndim - 2)
        m = np.array(self.multiplier, object).reshape(shape)
        k = np.array(self.shift, object).reshape(shape)
        exact = (acc.astype(object) * m + (1 << (k - 1))) >> k  # Python integers: no overflow
        return np.clip(exact + self.offset, self.low, self.high).astype(np.int64)

    def check(self, channels: int, config: VtaConfig) -> None:
        """Raise ValueError unless this requantizes ``channels`` channels into the output range."""
        low, high = out_range(config)
        if len(self.multiplier) != channels or len(self.shift) != channels:
            raise ValueError(f"the requantization needs {channels} multipliers and shifts, "
                             f"not {len(self.multiplier)} and {len(self.shift)}")
        if min(self.multiplier) < 1 or min(self.shift) < 1:
            raise ValueError("requantization multipliers and shifts must be positive")
        if not low <= self.low <= self.high <= high:
            raise ValueError(f"the clip bounds [{self.low}, {self.high}] must lie in the output "
                             f"range [{low}, {high}]")

    def constants(self, config: VtaConfig) -> np.ndarray:
        """Return the per-channel operands of :func:`emit_fixed_point`, ``(count, C)`` with
        ``count = operand_count(limbs)`` (one column per channel).

        Raises CompileError when a channel's product cannot be split into at most
        :data:`MAX_LIMBS` parts that fit the accumulator.
        """
        plans = [self._channel(m, k, config) for m, k in zip(self.multiplier, self.shift)]
        limbs = max(len(lower) + 1 for _, lower, _ in plans)
        columns = []
        for head, lower, tail in plans:
            # A channel that needs fewer parts gets parts that change nothing (0, 0, 0).
            padding = [(0, 0, 0)] * (limbs - 1 - len(lower))
            columns.append(head + [v for part in padding + lower for v in part] + tail)
        return np.array(columns, np.int64).T

    def _channel(self, m: int, k: int, config: VtaConfig
                 ) -> tuple[list[int], list[tuple[int, int, int]], list[int]]:
        """Return one channel's operands: ``[hi, lo, -centre]``, the lower parts
        ``(m_i, r_i, s_i)`` from the lowest, and ``[m_top, r_top, shift, offset]``."""
        limit = 1 << (config.acc_width - 1)
        # Accumulators beyond [lo, hi] clip to low or high anyway: clamp them first.
        lo = max(-limit, ((self.low - self.offset - 1) << k) // m)
        hi = min(limit - 1, -(-((self.high - self.offset + 1) << k) // m))
        center = (lo + hi) // 2
        width = max(hi - center, center - lo)  # |acc - center| <= width
        carry, rest = divmod(center * m + (1 << (k - 1)), 1 << k)
        # The widest part whose step fits: |d * m_i + r_i + t| < limit with |t| <= width + 1.
        bits = 0
        while width * ((2 << bits) - 1) + (2 << bits) + width + 1 < limit:
            bits += 1
        for parts in range(1, MAX_LIMBS):
            widths, done = [], 0
            for _ in range(parts):
                widths.append(min(bits, k - done))
                done += widths[-1]
            top, top_rest = m >> done, rest >> done
            values = [hi, lo, -center, top, top_rest, k - done, carry + self.offset]
            if (bits and width * top + width + 1 + top_rest < limit
                    and all(-limit <= v < limit for v in values)):
                lower, low = [], 0
                for size in widths:
                    mask = (1 << size) - 1
                    lower.append(((m >> low) & mask, (rest >> low) & mask, size))
                    low += size
                return values[:3], lower, values[3:]
        raise CompileError(f"exact requantization by {m}/2**{k} needs accumulators wider than "
                           f"{config.acc_width} bits")


# The most parts a product is split into; each part beyond two adds six ALU operations.
MAX_LIMBS = 4


def operand_count(limbs: int) -> int:
    """Return how many operands per channel block :func:`emit_fixed_point` reads."""
    return 3 + 3 * (limbs - 1) + 4


def working_blocks(limbs: int) -> int:
    """Return how many blocks of the tile's size :func:`emit_fixed_point` works in."""
    return 1 if limbs == 2 else 2


def limbs_of(operands: np.ndarray) -> int:
    """Return the parts of a split product, from the operands' count (see operand_count)."""
    return (len(operands) - 7) // 3 + 1


@dataclass(frozen=True)
class ScaledSum:
    """``clip((sum(inputs[i] * multipliers[i]) + bias) >> shift, low, high)``, exactly."""

    multipliers: tuple[int, ...]
    bias: int
    shift: int
    low: int
    high: int

    def apply(self, inputs: list[np.ndarray]) -> np.ndarray:
        """Return the definition computed on the host, in int64."""
        total = sum(np.asarray(x, np.int64) * m for x, m in zip(inputs, self.multipliers))
        return np.clip((total + self.bias) >> self.shift, self.low, self.high)

    def check(self, inputs: list[np.ndarray], config: VtaConfig) -> None:
        """Raise CompileError unless every partial sum fits the accumulator, ValueError unless
        the operands are well formed."""
        low, high = out_range(config)
        if len(self.multipliers) != len(inputs):
            raise ValueError(f"{len(inputs)} inputs need as many multipliers, not "
                             f"{len(self.multipliers)}")
        if not 0 <= self.shift < config.acc_width:
            raise ValueError(f"shift must be in [0, {config.acc_width - 1}], not {self.shift}")
        if not low <= self.low <= self.high <= high:
            raise ValueError(f"the clip bounds [{self.low}, {self.high}] must lie in the output "
                             f"range [{low}, {high}]")
        largest = 1 << (config.inp_width - 1)
        worst = sum(abs(m) for m in self.multipliers) * largest + abs(self.bias)
        if worst >= 1 << (config.acc_width - 1):
            raise CompileError(f"a sum scaled by {self.multipliers} needs accumulators wider "
                               f"than {config.acc_width} bits")


def upload_fixed_point(stream: CommandStream, fixed: FixedPoint) -> tuple[DramBuffer, int]:
    """Place the operands of :func:`emit_fixed_point` in DRAM, ``(channel blocks, count)``
    accumulator elements; return them and the parts the product is split into."""
    constants = fixed.constants(stream.config)
    operands = np.stack([pack_channels(row, stream.config) for row in constants], axis=1)
    return stream.upload(MemType.ACC, operands, operands.shape[:2]), limbs_of(constants)


def emit_fixed_point(stream: CommandStream, base: int, work: tuple[int, ...], operands: int,
                     dims: tuple[int, ...], fixed: FixedPoint, limbs: int) -> None:
    """Queue ``acc = fixed.apply(acc)`` over the row-major block ``dims`` from ``base``.

    ``dims[0]`` counts channel blocks; ``operands`` holds ``operand_count(limbs)`` entries per
    block (:meth:`FixedPoint.constants`), and ``work`` the bases of ``working_blocks(limbs)``
    blocks of ``dims`` to work in.
    """
    count = operand_count(limbs)
    stride = (count,) + (0,) * (len(dims) - 1)
    acc, carry = contiguous(base, dims), contiguous(work[0], dims)
    index = iter(range(count))

    def alu(op, dst, operand=None):
        """``dst = op(dst, operand)``; without ``operand``, the next per-channel operand."""
        if operand is None:
            operand = Affine(operands + next(index), stride)
        stream.alu(op, Nest(tuple(dims), dst, operand))

    def copy(dst):
        stream.alu(AluOp.MUL, Nest(tuple(dims), dst, dst), imm=0)
        alu(AluOp.ADD, dst, acc)

    alu(AluOp.MIN, acc)                             # clip to [lo, hi]
    alu(AluOp.MAX, acc)
    alu(AluOp.ADD, acc)                             # d = acc - centre
    for part in range(limbs - 1):                   # t = floor((d * m_i + r_i + t) / 2**s_i)
        if part == 0:
            copy(carry)
            alu(AluOp.MUL, carry)
        else:
            product = contiguous(work[1], dims)
            copy(product)
            alu(AluOp.MUL, product)
            alu(AluOp.ADD, carry, product)
        alu(AluOp.ADD, carry)
        alu(AluOp.SHR, carry)
    alu(AluOp.MUL, acc)                             # d * m_top + r_top + t:
    alu(AluOp.ADD, acc, carry)                      # floor((d * m + rest) / 2**(sum s_i))
    alu(AluOp.ADD, acc)
    alu(AluOp.SHR, acc)                             # floor((d * m + rest) / 2**k)
    alu(AluOp.ADD, acc)                             # plus the centre's carry and the offset
    nest = Nest(tuple(dims), acc, acc)
    stream.alu(AluOp.MAX, nest, imm=fixed.low)
    stream.alu(AluOp.MIN, nest, imm=fixed.high)
