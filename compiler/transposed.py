"""Transposed convolution on VTA as an ordinary convolution of the dilated input.

``conv_transpose(x, w)`` with stride ``s``, padding ``p`` and output padding ``q`` equals the
stride-1 convolution, with the kernel flipped and its input and output channels swapped, of
``x`` with ``s - 1`` zeros between neighbouring pixels, ``k - 1 - p`` zeros before and
``k - 1 - p + q`` after (cropped where that is negative). The dilation is data movement done on
the host when the input is placed in DRAM, as padding is; every product runs on VTA.
"""

from __future__ import annotations

import numpy as np

from vtaref.spec import VtaConfig

from .conv import compile_conv2d
from .epilogue import FixedPoint
from .runtime import Compiled
from .validate import integers, pair


def dilate(x: np.ndarray, stride: tuple[int, int], pads: tuple[int, int, int, int],
           fill: int = 0) -> np.ndarray:
    """Return ``x (N, C, H, W)`` with ``stride - 1`` copies of ``fill`` between neighbouring
    pixels and ``pads = (top, left, bottom, right)`` of ``fill`` around (negative: cropped)."""
    (sh, sw), (top, left, bottom, right) = stride, pads
    n, c, height, width = x.shape
    out = np.full((n, c, (height - 1) * sh + 1, (width - 1) * sw + 1), fill, np.int64)
    out[:, :, ::sh, ::sw] = x
    out = np.pad(out, ((0, 0), (0, 0), (max(top, 0), max(bottom, 0)),
                       (max(left, 0), max(right, 0))), constant_values=fill)
    rows, cols = out.shape[2] - max(-bottom, 0), out.shape[3] - max(-right, 0)
    return out[:, :, max(-top, 0):rows, max(-left, 0):cols]


def transposed_weights(w: np.ndarray) -> np.ndarray:
    """Return the convolution weights ``(O, C, KH, KW)`` of transposed-convolution weights
    ``w (C, O, KH, KW)``: channels swapped, kernel flipped."""
    return np.ascontiguousarray(np.asarray(w).transpose(1, 0, 2, 3)[:, :, ::-1, ::-1])


def transposed_pads(kernel: tuple[int, int], padding: tuple[int, int],
                    output_padding: tuple[int, int]) -> tuple[int, int, int, int]:
    """Return the ``(top, left, bottom, right)`` pads of the dilated input."""
    (kh, kw), (ph, pw), (qh, qw) = kernel, padding, output_padding
    return kh - 1 - ph, kw - 1 - pw, kh - 1 - ph + qh, kw - 1 - pw + qw


def compile_conv_transpose2d(x, w, bias=None, *, stride=1, padding=0, output_padding=0,
                             shift: int = 0, relu: bool = False, rounding: str = "floor",
                             requant: FixedPoint | None = None, config: VtaConfig) -> Compiled:
    """Compile ``requantize(conv_transpose2d(x, w) + bias)`` for ``x (N, C, H, W)`` and
    ``w (C, O, KH, KW)`` (ONNX ConvTranspose, one group); decodes to ``(N, O, OH, OW)`` with
    ``OH = (H - 1) * stride - 2 * padding + KH + output_padding``. ``output_padding`` must be
    below ``stride``; the other arguments are conv2d's."""
    x = integers("x", x, config.inp_width, (4,))
    w = integers("w", w, config.wgt_width, (4,))
    stride, padding = pair(stride, "stride", 1), pair(padding, "padding")
    output_padding = pair(output_padding, "output_padding")
    if any(q >= s for q, s in zip(output_padding, stride)):
        raise ValueError(f"output_padding {output_padding} must be below the stride {stride}")
    if w.shape[0] != x.shape[1]:
        raise ValueError(f"w has {w.shape[0]} input channels but x has {x.shape[1]}")
    dilated = dilate(x, stride, transposed_pads(w.shape[2:], padding, output_padding))
    if dilated.shape[2] < w.shape[2] or dilated.shape[3] < w.shape[3]:
        raise ValueError(f"padding {padding} leaves no output for the {x.shape[2]}x{x.shape[3]} "
                         f"input")
    return compile_conv2d(dilated, transposed_weights(w), bias, shift=shift, relu=relu,
                          rounding=rounding, requant=requant, config=config)
