"""What runs on the host, computed as onnxruntime's CPU kernels compute it.

Tensors between nodes hold VTA's int8 values: the model's integers minus ``Quant.offset`` (128
for uint8, so that uint8 tensors fit VTA's signed int8). Each function here takes and returns
such values (or floats at the model's boundaries). Requantization follows onnxruntime's MLAS:
the int32 accumulator times a float32 scale, clipped, rounded half to even, plus the zero point.
"""

from __future__ import annotations

import numpy as np

from ..reference import conv2d_accumulate
from .quantized import Quant


def to_model(values: np.ndarray, quant: Quant) -> np.ndarray:
    """Return the model's integers (int64) for VTA's values."""
    return np.asarray(values, np.int64) + quant.offset


def to_vta(q: np.ndarray, quant: Quant) -> np.ndarray:
    """Return VTA's values (int64) for the model's integers."""
    return np.asarray(q, np.int64) - quant.offset


def quantize(x: np.ndarray, quant: Quant) -> np.ndarray:
    """Return QuantizeLinear of float ``x`` as VTA values: ``rint(x / scale) + zero point``."""
    low, high = quant.bounds
    scaled = np.rint(np.asarray(x, np.float32) / quant.scale[0]).astype(np.int64)
    return to_vta(np.clip(scaled + quant.zero_point[0], low, high), quant)


def dequantize(values: np.ndarray, quant: Quant) -> np.ndarray:
    """Return DequantizeLinear of VTA values as float32: ``(q - zero point) * scale``."""
    centered = (to_model(values, quant) - quant.zero_point[0]).astype(np.float32)
    return centered * quant.scale[0]


def requantize_values(values: np.ndarray, *, x: Quant, out: Quant) -> np.ndarray:
    """Return ``x``-quantized values dequantized and quantized again with ``out``, in float32."""
    return quantize(dequantize(values, x), out)


def requantize(acc: np.ndarray, multiplier: np.ndarray, out: Quant) -> np.ndarray:
    """Return int32 accumulators ``acc (N, C, ...)`` requantized by float32 ``multiplier``
    (one, or one per channel) into ``out``'s VTA values, as MLAS does."""
    low, high = out.bounds
    zero = int(out.zero_point[0])
    shape = (1, -1) + (1,) * (acc.ndim - 2)
    scaled = acc.astype(np.float32) * np.asarray(multiplier, np.float32).reshape(shape)
    scaled = np.clip(scaled, np.float32(low - zero), np.float32(high - zero))
    return to_vta(np.rint(scaled).astype(np.int64) + zero, out)


def output_multiplier(x: Quant, w: Quant, y: Quant) -> np.ndarray:
    """Return the float32 ``x_scale * w_scale / y_scale`` (per channel if ``w`` is)."""
    return (np.float32(x.scale[0]) * w.scale) / np.float32(y.scale[0])


def conv2d(values, *, w, w_zero, bias, stride, pads, group, x: Quant, multiplier, out: Quant):
    """Return the quantized convolution (any group count) as onnxruntime computes it."""
    centered = to_model(values, x) - x.zero_point[0]
    top, left, bottom, right = pads
    centered = np.pad(centered, ((0, 0), (0, 0), (top, bottom), (left, right)))
    w = np.asarray(w, np.int64) - np.asarray(w_zero, np.int64).reshape(-1, 1, 1, 1)
    per_group_in, per_group_out = centered.shape[1] // group, w.shape[0] // group
    acc = np.concatenate([
        conv2d_accumulate(centered[:, g * per_group_in:(g + 1) * per_group_in],
                          w[g * per_group_out:(g + 1) * per_group_out], stride, (0, 0))
        for g in range(group)], axis=1)
    if bias is not None:
        acc = acc + np.asarray(bias, np.int64).reshape(1, -1, 1, 1)
    return requantize(acc, multiplier, out)


def dense(values, *, w, w_zero, bias, x: Quant, multiplier, out: Quant):
    """Return the quantized ``x (M, K) @ w (N, K)^T + bias`` as onnxruntime computes it."""
    centered = to_model(values, x) - x.zero_point[0]
    w = np.asarray(w, np.int64) - np.asarray(w_zero, np.int64).reshape(-1, 1)
    acc = centered @ w.T
    if bias is not None:
        acc = acc + np.asarray(bias, np.int64)
    return requantize(acc, multiplier, out)


def scale_ratio(x: Quant, out: Quant) -> np.float32:
    """Return the float32 ``x_scale / out_scale``."""
    return np.float32(x.scale[0]) / np.float32(out.scale[0])


def average_multiplier(x: Quant, out: Quant, area: int) -> np.float32:
    """Return the float32 ``x_scale / (out_scale * area)`` of a quantized average."""
    return np.float32(x.scale[0]) / (np.float32(out.scale[0]) * np.float32(area))


def add(a, b, *, qa: Quant, qb: Quant, out: Quant):
    """Return QLinearAdd: ``rint(a_scale/y_scale (a - za) + b_scale/y_scale (b - zb)) + zy``."""
    ratio_a, ratio_b = scale_ratio(qa, out), scale_ratio(qb, out)
    real = (ratio_a * (to_model(a, qa) - qa.zero_point[0]).astype(np.float32)
            + ratio_b * (to_model(b, qb) - qb.zero_point[0]).astype(np.float32))
    low, high = out.bounds
    return to_vta(np.clip(np.rint(real).astype(np.int64) + out.zero_point[0], low, high), out)


def global_avg_pool(values, *, x: Quant, out: Quant):
    """Return QLinearGlobalAveragePool ``(N, C, 1, 1)``: the sum of ``q - zx`` over H and W,
    requantized by ``x_scale / (y_scale * H * W)``."""
    area = values.shape[2] * values.shape[3]
    sums = (to_model(values, x) - x.zero_point[0]).sum(axis=(2, 3), keepdims=True)
    return requantize(sums, np.array([average_multiplier(x, out, area)]), out)


def max_pool(values, *, kernel, stride, pads):
    """Return the window maxima of ``values (N, C, H, W)``; padding never wins."""
    top, left, bottom, right = pads
    lowest = np.iinfo(np.int64).min
    padded = np.pad(np.asarray(values, np.int64), ((0, 0), (0, 0), (top, bottom), (left, right)),
                    constant_values=lowest)
    windows = np.lib.stride_tricks.sliding_window_view(padded, kernel, axis=(2, 3))
    return windows[:, :, ::stride[0], ::stride[1]].max(axis=(4, 5))


def relu(values, *, x: Quant):
    """Return ``max(q, zero point)``: ReLU on quantized values."""
    return np.maximum(values, to_vta(x.zero_point[0], x))


def concat(*inputs, quants: list[Quant], out: Quant, axis: int):
    """Return QLinearConcat: each input requantized into ``out`` (in float32, as a
    DequantizeLinear then a QuantizeLinear) unless it shares ``out``'s quantization."""
    parts = [values if quant.same_as(out) else requantize_values(values, x=quant, out=out)
             for values, quant in zip(inputs, quants)]
    return np.concatenate(parts, axis=axis)


def pad(values, *, pads, mode="constant", value=0):
    """Return ONNX Pad of ``values``: ``pads`` are all the begins, then all the ends;
    ``mode`` is constant (with ``value``), reflect or edge."""
    rank = values.ndim
    widths = [(int(pads[i]), int(pads[i + rank])) for i in range(rank)]
    if mode == "constant":
        return np.pad(values, widths, constant_values=value)
    return np.pad(values, widths, mode=mode)


def reshape(values, *, shape):
    """Return ``values`` with the ONNX ``shape`` (0 keeps a dimension, -1 is inferred)."""
    shape = [values.shape[i] if s == 0 else int(s) for i, s in enumerate(shape)]
    return np.reshape(values, shape)


def flatten(values, *, axis):
    """Return ``values`` as a matrix: dimensions before ``axis`` as rows, the rest as columns."""
    rows = int(np.prod(values.shape[:axis]))
    return np.reshape(values, (rows, -1))
