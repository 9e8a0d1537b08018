"""What every operator computes, in plain numpy: the oracle the compiled programs must match.

Integer semantics of VTA under ``config``: inputs and weights are ``inp_width``/``wgt_width``-bit
integers; products accumulate in int64 and wrap to ``acc_width`` bits (two's complement), as the
accumulator does; requantization shifts right arithmetically and clips to the ``out_width``-bit
range, ``[0, high]`` after a ReLU.
"""

from __future__ import annotations

import numpy as np

from vtaref.spec import VtaConfig
from vtaref.spec.packing import wrap

from .errors import CompileError
from .validate import pair


def out_range(config: VtaConfig) -> tuple[int, int]:
    """Return the lowest and highest output value."""
    high = (1 << (config.out_width - 1)) - 1
    return -high - 1, high


def requantize(acc: np.ndarray, shift: int = 0, relu: bool = False, *,
               config: VtaConfig, rounding: str = "floor") -> np.ndarray:
    """Return ``clip(wrap(acc) >> shift)`` to the output range (``[0, high]`` with ``relu``).

    ``rounding="half_up"`` rounds ``wrap(acc) / 2**shift`` to the nearest integer, halves up.
    """
    low, high = out_range(config)
    acc = wrap(acc, config.acc_width)
    if rounding == "half_up" and shift:
        acc = ((acc >> (shift - 1)) + 1) >> 1
    else:
        acc = acc >> shift
    return np.clip(acc, 0 if relu else low, high)


def _requantize_channels(acc, shift, relu, rounding, requant, config) -> np.ndarray:
    """Requantize ``acc`` with ``requant`` (an epilogue.FixedPoint) if given, else by ``shift``."""
    if requant is not None:
        return requant.apply(acc, config)
    return requantize(acc, shift, relu, config=config, rounding=rounding)


def conv2d_accumulate(x: np.ndarray, w: np.ndarray, stride: tuple[int, int],
                      padding: tuple[int, int]) -> np.ndarray:
    """Return the exact int64 convolution ``(N, O, OH, OW)`` of ``x (N, C, H, W)`` and ``w``."""
    (sh, sw), (ph, pw) = stride, padding
    kh, kw = w.shape[2:]
    x = np.pad(x.astype(np.int64), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))
    windows = windows[:, :, ::sh, ::sw]  # (N, C, OH, OW, KH, KW)
    return np.einsum("ncyxij,ocij->noyx", windows, w.astype(np.int64), optimize=True)


def conv2d(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None = None, *,
           stride: tuple[int, int] = (1, 1), padding: tuple[int, int] = (0, 0), shift: int = 0,
           relu: bool = False, rounding: str = "floor", requant=None,
           config: VtaConfig) -> np.ndarray:
    """Return the requantized convolution (plus per-channel ``bias``) of ``x`` and ``w``."""
    acc = conv2d_accumulate(x, w, stride, padding)
    if bias is not None:
        acc = acc + np.asarray(bias, np.int64)[None, :, None, None]
    return _requantize_channels(acc, shift, relu, rounding, requant, config)


def conv2d_add(x: np.ndarray, residual: np.ndarray, w: np.ndarray,
               bias: np.ndarray | None = None, *, stride: tuple[int, int] = (1, 1),
               padding: tuple[int, int] = (0, 0), shift: int = 0, relu: bool = False,
               residual_shift: int = 0, residual_relu: bool = False,
               config: VtaConfig) -> np.ndarray:
    """Return :func:`add` of :func:`conv2d` and ``residual``: a residual connection's sum."""
    y = conv2d(x, w, bias, stride=stride, padding=padding, shift=shift, relu=relu,
               config=config)
    return add(y, residual, shift=residual_shift, relu=residual_relu, config=config)


def conv_transpose2d(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None = None, *,
                     stride: tuple[int, int] = (1, 1), padding: tuple[int, int] = (0, 0),
                     output_padding: tuple[int, int] = (0, 0), shift: int = 0,
                     relu: bool = False, rounding: str = "floor", requant=None,
                     config: VtaConfig) -> np.ndarray:
    """Return the requantized transposed convolution of ``x (N, C, H, W)`` and ``w (C, O, KH,
    KW)`` (plus ``bias``): input pixel ``(i, j)`` adds ``x * w[.., a, b]`` to output
    ``(i * sh + a - ph, j * sw + b - pw)``; the output has ``(H - 1) * sh - 2 * ph + KH + oph``
    rows, and as many columns likewise."""
    (sh, sw), (ph, pw), (oph, opw) = pair(stride, "stride", 1), pair(padding, "padding"), pair(
        output_padding, "output_padding")
    n, _, height, width = x.shape
    _, o, kh, kw = w.shape
    full = np.zeros((n, o, (height - 1) * sh + kh + oph, (width - 1) * sw + kw + opw), np.int64)
    for a, b in np.ndindex(kh, kw):
        full[:, :, a:a + (height - 1) * sh + 1:sh, b:b + (width - 1) * sw + 1:sw] += np.einsum(
            "ncij,co->noij", x.astype(np.int64), w[:, :, a, b].astype(np.int64))
    acc = full[:, :, ph:full.shape[2] - ph, pw:full.shape[3] - pw]
    if bias is not None:
        acc = acc + np.asarray(bias, np.int64)[None, :, None, None]
    return _requantize_channels(acc, shift, relu, rounding, requant, config)


def dense(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None = None, *, shift: int = 0,
          relu: bool = False, rounding: str = "floor", requant=None,
          config: VtaConfig) -> np.ndarray:
    """Return the requantized ``x (M, K) @ w (N, K)^T + bias``."""
    acc = x.astype(np.int64) @ w.astype(np.int64).T
    if bias is not None:
        acc = acc + np.asarray(bias, np.int64)
    return _requantize_channels(acc, shift, relu, rounding, requant, config)


def bias_add(x: np.ndarray, bias: np.ndarray, *, shift: int = 0, relu: bool = False,
             config: VtaConfig) -> np.ndarray:
    """Return ``requantize(x + bias)``, ``bias`` running along axis 1 of ``x``."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    acc = wrap(x, config.acc_width) + wrap(np.asarray(bias).reshape(shape), config.acc_width)
    return requantize(acc, shift, relu, config=config)


def add(a: np.ndarray, b: np.ndarray, *, shift: int = 0, relu: bool = False,
        config: VtaConfig) -> np.ndarray:
    """Return the requantized sum of two tensors of the same shape (a residual connection)."""
    return requantize(a.astype(np.int64) + b, shift, relu, config=config)


def relu(x: np.ndarray, *, config: VtaConfig) -> np.ndarray:
    """Return ``max(x, 0)``."""
    return requantize(x.astype(np.int64), 0, True, config=config)


def clip(x: np.ndarray, low: int, high: int, *, config: VtaConfig) -> np.ndarray:
    """Return ``min(max(x, low), high)``."""
    return np.clip(x.astype(np.int64), low, high)


def max_pool2d(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
               padding: tuple[int, int], *, config: VtaConfig) -> np.ndarray:
    """Return the window maxima of ``x (N, C, H, W)``; padding holds the lowest output value."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    low, _ = out_range(config)
    x = np.pad(x.astype(np.int64), ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=low)
    windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))
    return windows[:, :, ::sh, ::sw].max(axis=(4, 5))


def avg_pool2d(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
               padding: tuple[int, int], *, rounding: str = "floor",
               config: VtaConfig) -> np.ndarray:
    """Return the window means of ``x (N, C, H, W)``, padding counted as zeros, rounded down
    (``rounding="floor"``) or to nearest, halves up (``"half_up"``: ``floor(mean + 1/2)``)."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    x = np.pad(x.astype(np.int64), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))
    sums = windows[:, :, ::sh, ::sw].sum(axis=(4, 5))
    return (sums + average_offset(kh * kw, rounding)) // (kh * kw)


def average_offset(area: int, rounding: str) -> int:
    """Return what is added to a sum of ``area`` values so that the floor of its mean is the
    mean rounded by ``rounding``: 0 for ``"floor"``, ``area // 2`` for ``"half_up"`` (for odd
    ``area`` no mean is a half, so that is also the mean rounded half to even)."""
    return area // 2 if rounding == "half_up" else 0


def average_scale(area: int, config: VtaConfig, offset: int = 0) -> tuple[int, int]:
    """Return ``(m, k)`` such that ``(sum * m + average_bias(area, m, k, config, offset)) >> k``
    is the floor of ``(sum + offset) / area`` for every sum of ``area`` activations and
    ``0 <= offset < area``, the smallest such ``k``.

    With ``m = ceil(2**k / area)``, ``e = m * area - 2**k`` and ``b = -inp_low * e``, writing
    ``sum + offset = q * area + r`` (``0 <= r < area``), the quotient is ``q`` exactly when
    ``0 <= q * e + r * m + b < 2**k``; the lowest value is at least ``0`` (``q = inp_low``) and
    the highest (``q = inp_high, r = offset`` or ``q = inp_high - 1, r = area - 1``) is checked.
    Raises CompileError when no ``k`` keeps ``sum * m + b + offset * m`` within the
    accumulator: the floor of the mean then needs wider accumulators.
    """
    low, high = -(1 << (config.inp_width - 1)), (1 << (config.inp_width - 1)) - 1
    limit = 1 << (config.acc_width - 1)
    for k in range(config.acc_width):
        m = -(-(1 << k) // area)
        e = m * area - (1 << k)
        b = average_bias(area, m, k, config)
        largest = max((high - 1) * e + (area - 1) * m, high * e + offset * m) + b
        fits = -limit <= low * area * m + b and high * area * m + b + offset * m < limit
        if largest < 1 << k and fits:
            return m, k
    raise CompileError(f"the floor of the mean of {area} {config.inp_width}-bit values needs "
                       f"accumulators wider than {config.acc_width} bits")


def average_bias(area: int, m: int, k: int, config: VtaConfig, offset: int = 0) -> int:
    """Return the constant added to ``sum * m`` before the shift by ``k`` (see average_scale):
    ``-inp_low * (m * area - 2**k)``, which lifts the lowest sums' error to zero, plus
    ``offset * m``."""
    return (1 << (config.inp_width - 1)) * (m * area - (1 << k)) + offset * m


def global_avg_pool(x: np.ndarray, *, config: VtaConfig) -> np.ndarray:
    """Return the ``(N, C)`` floors of the means over H and W (``sum // (H*W)``), exactly."""
    return x.astype(np.int64).sum(axis=(2, 3)) // (x.shape[2] * x.shape[3])


def upsample_nearest(x: np.ndarray, scale: int | tuple[int, int] = 2, *,
                     config: VtaConfig) -> np.ndarray:
    """Return ``x (N, C, H, W)`` with every pixel repeated ``scale`` times along H and W."""
    sh, sw = pair(scale, "scale", 1)
    return np.repeat(np.repeat(np.asarray(x, np.int64), sh, axis=2), sw, axis=3)


def round_half_even(acc: np.ndarray, shift: int) -> np.ndarray:
    """Return ``acc / 2**shift`` (``shift >= 1``) rounded to the nearest integer, halves to even."""
    acc = np.asarray(acc, np.int64)
    odd = (acc >> shift) & 1
    return (acc + (1 << (shift - 1)) - 1 + odd) >> shift


def upsample_bilinear(x: np.ndarray, *, config: VtaConfig) -> np.ndarray:
    """Return ``x (N, C, H, W)`` upsampled x2 along H and W, ONNX Resize ``linear`` with
    ``half_pixel`` coordinates, in integers: output ``(2i + a, 2j + b)`` weighs input row
    ``i`` by 3/4 and row ``i - 1`` (``a = 0``) or ``i + 1`` (``a = 1``) by 1/4, clamped to the
    edge, likewise along W, so the sum of the weights ``{1, 3, 9} / 16`` is rounded to the
    nearest integer, halves to even (:func:`round_half_even` by 4)."""
    def double(a: np.ndarray, axis: int) -> np.ndarray:
        """Return the weighted pairs ``(a[i-1] + 3 a[i], 3 a[i] + a[i+1])`` along ``axis``."""
        padded = np.moveaxis(a, axis, -1)
        padded = np.concatenate([padded[..., :1], padded, padded[..., -1:]], axis=-1)
        near = 3 * padded[..., 1:-1]
        pairs = np.stack([near + padded[..., :-2], near + padded[..., 2:]], axis=-1)
        return np.moveaxis(pairs.reshape(*pairs.shape[:-2], -1), -1, axis)

    return round_half_even(double(double(np.asarray(x, np.int64), 2), 3), 4)


def scaled_add(a: np.ndarray, b: np.ndarray, *, requant, config: VtaConfig) -> np.ndarray:
    """Return ``requant.apply([a, b])`` (an epilogue.ScaledSum)."""
    return requant.apply([a, b])


def global_sum(x: np.ndarray, bias: np.ndarray | None = None, *, requant,
               config: VtaConfig) -> np.ndarray:
    """Return ``requant.apply(x.sum(axis=(2, 3)) + bias)`` (an epilogue.FixedPoint)."""
    sums = x.astype(np.int64).sum(axis=(2, 3))
    if bias is not None:
        sums = sums + np.asarray(bias, np.int64)
    return requant.apply(sums, config)
