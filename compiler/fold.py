"""Kernel folding: a convolution whose kernel offsets along an axis become input channels.

A GEMM visit multiplies ``block`` input channels at once, so a convolution of ``C < block``
channels (an RGB image's 3) leaves most lanes multiplying zero padding. Folding the kernel's
columns moves them into the channels, on the host: the input ``x (N, C, H, W)``, zero-padded by
``pw`` at both ends of its rows, becomes ``(N, KW*C, H, OW)`` whose channel ``b*C + c`` at column
``j`` holds the padded ``x[:, c, :, sw*j + b]``; the weights become ``(O, KW*C, KH, 1)`` with
channel ``b*C + c`` holding ``w[:, c, :, b]``; the convolution is then ``KH x 1`` with stride
``(sh, 1)`` and no column padding, and sums the same products. Rows fold likewise, and both
together give a 1x1 convolution (im2col). A ``1``-wide axis with a stride folds to the
subsampled input (only the rows or columns the kernel reads).

Folding moves data (as padding does) and multiplies nothing: every product still runs on VTA.
It grows the input by the kernel's extent over the stride along each folded axis.
"""

from __future__ import annotations

import numpy as np

# The axes (2: rows, 3: columns) a convolution can be folded along.
FOLDS = ((), (2,), (3,), (2, 3))


def folded_geometry(channels: int, size: tuple[int, int], kernel: tuple[int, int],
                    stride: tuple[int, int], padding: tuple[int, int], axes: tuple[int, ...]
                    ) -> tuple[int, tuple[int, int], tuple[int, int], tuple[int, int],
                               tuple[int, int]]:
    """Return ``(channels, size, kernel, stride, padding)`` after folding ``axes``."""
    size, kernel, stride, padding = list(size), list(kernel), list(stride), list(padding)
    for axis in axes:
        d = axis - 2
        size[d] = (size[d] + 2 * padding[d] - kernel[d]) // stride[d] + 1
        channels *= kernel[d]
        kernel[d], stride[d], padding[d] = 1, 1, 0
    return channels, tuple(size), tuple(kernel), tuple(stride), tuple(padding)


def fold(x: np.ndarray, w: np.ndarray, stride: tuple[int, int], padding: tuple[int, int],
         axes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, tuple[int, int],
                                         tuple[int, int]]:
    """Return ``(x, w, stride, padding)`` of the convolution ``x (N, C, H, W)`` by
    ``w (O, C, KH, KW)`` folded along ``axes``: the same output, term for term."""
    stride, padding = list(stride), list(padding)
    for axis in axes:
        d = axis - 2
        k, s, p = w.shape[axis], stride[d], padding[d]
        widths = [(0, 0)] * 4
        widths[axis] = (p, p)
        padded = np.pad(x, widths)
        outputs = (padded.shape[axis] - k) // s + 1
        taps = [np.take(padded, np.arange(outputs) * s + b, axis=axis) for b in range(k)]
        x = np.stack(taps, axis=1).reshape(x.shape[0], k * x.shape[1], *taps[0].shape[2:])
        w = np.moveaxis(w, axis, 1)  # (O, k, C, other axis)
        w = np.expand_dims(w.reshape(w.shape[0], k * w.shape[2], w.shape[3]), axis)
        stride[d], padding[d] = 1, 0
    return x, w, tuple(stride), tuple(padding)
