"""The bundled example: a requantized int matmul ``C = clip((A @ B) >> shift)`` as a VTA program.

Matrices are tiled into VTA elements: an INP element holds ``batch`` rows by ``block`` columns
of A, a WGT element a ``block`` x ``block`` tile of B (one row per output column), and an
ACC/OUT element ``batch`` rows by ``block`` columns of C. :func:`demo_matmul` is what
``vta demo --matmul`` runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import numpy as np

from .backends import Backend
from .builder import ProgramBuilder
from .config import VtaConfig
from .image import ProgramImage
from .isa import Alu, AluOp, Finish, Gemm, Load, MemType, Store, Uop
from .packing import unpack, wrap
from .state import element_formats

EXAMPLE_DIR = "examples/matmul"


def tile_rows(matrix: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Split ``matrix`` into ``rows`` x ``cols`` tiles, row-major, each tile flattened."""
    m, n = matrix.shape
    tiles = matrix.reshape(m // rows, rows, n // cols, cols).transpose(0, 2, 1, 3)
    return tiles.reshape(-1, rows * cols)


def untile_rows(tiles: np.ndarray, m: int, n: int, rows: int, cols: int) -> np.ndarray:
    """Invert :func:`tile_rows`."""
    grid = tiles.reshape(m // rows, n // cols, rows, cols).transpose(0, 2, 1, 3)
    return grid.reshape(m, n)


def reference(a: np.ndarray, b: np.ndarray, shift: int, config: VtaConfig) -> np.ndarray:
    """Return what the program computes, in numpy: requantized ``a @ b``."""
    acc = wrap(a.astype(np.int64) @ b.astype(np.int64), config.acc_width)
    high = (1 << (config.out_width - 1)) - 1
    return np.clip(acc >> shift, -high - 1, high)


def matmul_image(config: VtaConfig, a: np.ndarray, b: np.ndarray,
                 shift: int) -> tuple[ProgramImage, dict]:
    """Build the program for ``a (m x k) @ b (k x n)``; return the image and its layout.

    ``m`` must be a multiple of BATCH and ``k``, ``n`` multiples of BLOCK; everything must fit
    the scratchpads at once. The layout dict says where A, B and C live in DRAM.
    """
    batch, block = config.batch, config.block
    (m, k), n = a.shape, b.shape[1]
    mt, kt, nt = m // batch, k // block, n // block
    high = (1 << (config.out_width - 1)) - 1
    builder = ProgramBuilder(config)
    a_at = builder.place(MemType.INP, tile_rows(a, batch, block))
    b_at = builder.place(MemType.WGT, tile_rows(b.T, block, block))
    c_at = builder.reserve(MemType.OUT, mt * nt, fill=b"\xa5" * (mt * nt * config.out_elem_bytes))
    uops = [Uop(0, 0, 0)] + [Uop(0, i, i) for i in range(kt)]
    uop_at = builder.place_uops(uops)
    tile_loop = dict(iter_out=mt, iter_in=nt, dst_factor_out=nt, dst_factor_in=1)
    emit = builder.emit
    emit(Load(memory_type=MemType.INP, dram_base=a_at, y_size=mt, x_size=kt, x_stride=kt))
    emit(Load(memory_type=MemType.WGT, dram_base=b_at, y_size=nt, x_size=kt, x_stride=kt,
              push_next_dep=1))
    emit(Load(memory_type=MemType.UOP, dram_base=uop_at, y_size=1, x_size=len(uops),
              x_stride=len(uops)))
    emit(Gemm(reset_reg=1, uop_bgn=0, uop_end=1, **tile_loop))
    emit(Gemm(pop_prev_dep=1, uop_bgn=1, uop_end=1 + kt, src_factor_out=kt, wgt_factor_in=kt,
              **tile_loop))
    requantize = dict(uop_bgn=0, uop_end=1, use_imm=1, src_factor_out=nt, src_factor_in=1,
                      **tile_loop)
    emit(Alu(alu_opcode=AluOp.SHR, imm=shift, **requantize))
    emit(Alu(alu_opcode=AluOp.MIN, imm=high, **requantize))
    emit(Alu(alu_opcode=AluOp.MAX, imm=-high - 1, push_next_dep=1, **requantize))
    emit(Store(pop_prev_dep=1, push_prev_dep=1, memory_type=MemType.OUT, dram_base=c_at,
               y_size=mt, x_size=nt, x_stride=nt))
    emit(Finish(pop_next_dep=1))
    image = builder.build()
    layout = {"m": m, "k": k, "n": n, "shift": shift,
              "a": {"memory_type": "INP", "index": a_at},
              "b": {"memory_type": "WGT", "index": b_at},
              "c": {"memory_type": "OUT", "index": c_at}}
    return image, layout


def read_matrices(config: VtaConfig, layout: dict, dram: bytes,
                  dram_base: int) -> dict[str, np.ndarray]:
    """Decode A, B and C from a DRAM dump using the layout from :func:`matmul_image`."""
    formats = element_formats(config)
    batch, block = config.batch, config.block
    m, k, n = layout["m"], layout["k"], layout["n"]
    shapes = {"a": (m, k, batch, block), "b": (n, k, block, block), "c": (m, n, batch, block)}
    result = {}
    for name, (rows, cols, tile_r, tile_c) in shapes.items():
        fmt = formats[MemType[layout[name]["memory_type"]]]
        count = (rows // tile_r) * (cols // tile_c)
        start = layout[name]["index"] * fmt.bytes - dram_base
        raw = np.frombuffer(dram[start:start + count * fmt.bytes], dtype=np.uint8)
        lanes = unpack(raw.reshape(count, fmt.bytes), fmt.width, fmt.lanes)
        result[name] = untile_rows(lanes.astype(np.int64), rows, cols, tile_r, tile_c)
    result["b"] = result["b"].T
    return result


def make_bundled_example(folder: Path, seed: int = 2019) -> None:
    """Write the bundled example image (default config, 16x64 @ 64x32) and its layout."""
    config = VtaConfig()
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, size=(16, 64))
    b = rng.integers(-128, 128, size=(64, 32))
    image, layout = matmul_image(config, a, b, shift=8)
    image.save(folder)
    (folder / "layout.json").write_text(json.dumps(layout, indent=2) + "\n")


def bundled_example() -> tuple[ProgramImage, dict]:
    """Load the example image shipped with the package and its layout."""
    folder = resources.files("vtaref.spec") / EXAMPLE_DIR
    with resources.as_file(folder) as path:
        return ProgramImage.load(path), json.loads((path / "layout.json").read_text())


def demo_matmul(backend: Backend, echo: Callable[[str], None] = print) -> tuple[bool, list[str]]:
    """Run the bundled example on ``backend`` and check C against numpy, saying so via ``echo``.

    Returns whether C matched, and the name of the one program run (``["matmul"]``).
    """
    image, layout = bundled_example()
    result = backend.run(image)
    matrices = read_matrices(image.config, layout, result, image.dram_base)
    expected = reference(matrices["a"], matrices["b"], layout["shift"], image.config)
    m, k, n = layout["m"], layout["k"], layout["n"]
    echo(f"VTA {image.config.name}: C = clip((A @ B) >> {layout['shift']}, -128, 127) "
         f"with A {m}x{k}, B {k}x{n} (int8)")
    echo(f"ran {image.insn_count} instructions on {backend.name}")
    with np.printoptions(linewidth=120):
        echo("C =")
        echo(str(matrices["c"]))
    same = np.array_equal(matrices["c"], expected)
    echo("matches numpy: " + ("yes" if same else "NO"))
    return same, ["matmul"]
