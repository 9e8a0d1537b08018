"""Host-side data layouts: NCHW tensors as grids of VTA elements, and back.

- Activations ``(N, C, H, W)`` become ``(N/batch, C/block, H, W)`` elements of ``batch x block``
  lanes (TVM-VTA's packed NCHWnc), N and C zero-padded to multiples of BATCH and BLOCK.
- Weights ``(O, I, KH, KW)`` become ``(O/block, I/block, KH, KW)`` elements of ``block x block``
  lanes, one row per output channel.
- Per-channel vectors ``(C,)`` (biases) become ``(C/block,)`` accumulator elements, the same
  ``block`` values repeated for every batch row.
- A matrix ``(M, K)`` is the activation ``(batch, K, M/batch, 1)``: element ``(0, k, m, 0)`` holds
  rows ``m*batch ...`` of the matrix, as in the paper's GEMM tiling.
"""

from __future__ import annotations

import numpy as np

from vtaref.spec import VtaConfig


def ceil_div(a, b):
    """Return ``a / b`` rounded up (integers or integer arrays)."""
    return -(-a // b)


def round_up(a: int, b: int) -> int:
    """Return the smallest multiple of ``b`` that is at least ``a``."""
    return ceil_div(a, b) * b


def pack_activations(x: np.ndarray, config: VtaConfig) -> np.ndarray:
    """Return ``(N/batch, C/block, H, W, batch*block)`` lanes of an ``(N, C, H, W)`` tensor."""
    batch, block = config.batch, config.block
    n, c, h, w = x.shape
    x = np.pad(x, ((0, round_up(n, batch) - n), (0, round_up(c, block) - c), (0, 0), (0, 0)))
    grid = x.reshape(-1, batch, round_up(c, block) // block, block, h, w)
    return grid.transpose(0, 2, 4, 5, 1, 3).reshape(grid.shape[0], grid.shape[2], h, w, -1)


def unpack_activations(lanes: np.ndarray, n: int, c: int, config: VtaConfig) -> np.ndarray:
    """Invert :func:`pack_activations`, dropping the padding: return ``(n, c, H, W)``."""
    nb, cb, h, w, _ = lanes.shape
    grid = lanes.reshape(nb, cb, h, w, config.batch, config.block)
    return grid.transpose(0, 4, 1, 5, 2, 3).reshape(nb * config.batch, cb * config.block, h,
                                                   w)[:n, :c]


def pack_weights(w: np.ndarray, config: VtaConfig) -> np.ndarray:
    """Return ``(O/block, I/block, KH, KW, block*block)`` lanes of ``(O, I, KH, KW)`` weights."""
    block = config.block
    o, i, kh, kw = w.shape
    w = np.pad(w, ((0, round_up(o, block) - o), (0, round_up(i, block) - i), (0, 0), (0, 0)))
    grid = w.reshape(-1, block, round_up(i, block) // block, block, kh, kw)
    return grid.transpose(0, 2, 4, 5, 1, 3).reshape(grid.shape[0], grid.shape[2], kh, kw, -1)


def pack_channels(values: np.ndarray, config: VtaConfig) -> np.ndarray:
    """Return ``(C/block, batch*block)`` lanes: each block of ``values`` once per batch row."""
    block = config.block
    values = np.pad(values, (0, round_up(len(values), block) - len(values)))
    return np.tile(values.reshape(-1, 1, block), (1, config.batch, 1)).reshape(-1,
                                                                               config.batch * block)


def matrix_as_activations(m: np.ndarray, config: VtaConfig) -> np.ndarray:
    """Return the ``(batch, K, ceil(M/batch), 1)`` activation holding the rows of ``m (M, K)``."""
    batch = config.batch
    rows, k = m.shape
    m = np.pad(m, ((0, round_up(rows, batch) - rows), (0, 0)))
    return m.reshape(-1, batch, k).transpose(1, 2, 0)[..., None]


def activations_as_matrix(x: np.ndarray, rows: int) -> np.ndarray:
    """Invert :func:`matrix_as_activations`: return the first ``rows`` rows, ``(rows, K)``."""
    batch, k, m, _ = x.shape
    return x[..., 0].transpose(2, 0, 1).reshape(m * batch, k)[:rows]
