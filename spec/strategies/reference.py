"""What structured programs compute: expected outputs in logical form, and tiling helpers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..config import VtaConfig
from ..isa import AluOp, MemType, Uop
from ..packing import pack, unpack
from ..state import element_formats
from .assembler import Assembler

__all__ = ["Reference", "emit_requantize", "finish_image", "requantized", "tiled", "untiler"]

@dataclass
class Reference:
    """What a structured program computes, in logical (untiled) numpy form.

    ``inputs`` holds the operands and parameters (arrays of int64, ints, lists), ``expected``
    each output as the program must leave it in DRAM, ``regions`` where each output lives: its
    first OUT element in DRAM, the element count and a function from the elements
    ``(count, lanes)`` to the logical array.
    """

    kind: str
    config: VtaConfig
    inputs: dict
    expected: dict
    regions: dict = field(repr=False)

    def read(self, dram: bytes | np.ndarray, dram_base: int) -> dict[str, np.ndarray]:
        """Decode every output from a DRAM dump starting at physical address ``dram_base``."""
        raw = np.frombuffer(bytes(dram), dtype=np.uint8)
        fmt = element_formats(self.config)[MemType.OUT]
        result = {}
        for name, (index, count, untile) in self.regions.items():
            start = index * fmt.bytes - dram_base
            elements = raw[start:start + count * fmt.bytes].reshape(count, fmt.bytes)
            result[name] = untile(unpack(elements, fmt.width, fmt.lanes).astype(np.int64))
        return result


def finish_image(asm: Assembler, outputs: dict, kind: str, inputs: dict, with_reference: bool):
    """Build the image, set its expected DRAM from ``outputs`` and return what was asked for.

    ``outputs``: name -> (OUT element index, tiled expected elements, untile function).
    """
    image = asm.build()
    fmt = asm.formats[MemType.OUT]
    expected = bytearray(image.dram)
    for index, tiles, _ in outputs.values():
        raw = pack(tiles, fmt.width).tobytes()
        start = index * fmt.bytes - image.dram_base
        expected[start:start + len(raw)] = raw
    image.expected = bytes(expected)
    if not with_reference:
        return image
    reference = Reference(
        kind, asm.config, inputs,
        {name: untile(tiles) for name, (_, tiles, untile) in outputs.items()},
        {name: (index, len(tiles), untile) for name, (index, tiles, untile) in outputs.items()})
    return image, reference


def tiled(matrix: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Split ``matrix`` into ``rows`` x ``cols`` tiles, row-major, each flattened."""
    m, n = matrix.shape
    return matrix.reshape(m // rows, rows, n // cols, cols).transpose(0, 2, 1, 3).reshape(
        -1, rows * cols)


def untiler(m: int, n: int, rows: int, cols: int) -> Callable[[np.ndarray], np.ndarray]:
    def untile(tiles: np.ndarray) -> np.ndarray:
        grid = tiles.reshape(m // rows, n // cols, rows, cols).transpose(0, 2, 1, 3)
        return grid.reshape(m, n)
    return untile


def requantized(acc: np.ndarray, shift: int | None, clip: bool, config: VtaConfig) -> np.ndarray:
    """What SHR ``shift`` then MIN/MAX to the output range do (None/False: skipped)."""
    if shift is not None:
        acc = acc >> shift
    if clip:
        high = (1 << (config.out_width - 1)) - 1
        acc = np.clip(acc, -high - 1, high)
    return acc


def emit_requantize(asm: Assembler, base: int, rows: int, cols: int, shift: int | None,
                    clip: bool, uop_region: int) -> None:
    """SHR by ``shift`` and clip to the output range, over acc[base + r*cols + c]."""
    uops = [Uop(base, base, 0)]
    loop = {"dst_factor_out": cols, "dst_factor_in": 1}
    high = (1 << (asm.config.out_width - 1)) - 1
    steps = ([(AluOp.SHR, shift)] if shift is not None else []) + (
        [(AluOp.MIN, high), (AluOp.MAX, -high - 1)] if clip else [])
    for op, imm in steps:
        asm.alu(uops, rows, cols, loop, op, imm, uop_region)


