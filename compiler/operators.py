"""The operators: numpy arrays in, the numpy result out, computed by a VTA program.

Each call compiles one program for ``config`` (:mod:`.conv`, :mod:`.elementwise`,
:mod:`.pooling`), runs it synchronously on ``backend`` (a name such as ``"spec"`` or a
:class:`~.backend.Backend`) and decodes the result. Inputs are integer arrays whose values fit
the configuration (int8 activations and weights, int32 accumulators and biases by default);
results are in the output range. :mod:`.reference` states what each one computes, bit for bit.
:data:`COMPILERS` names the program each one compiles.
"""

from __future__ import annotations

import numpy as np

from vtaref.spec import DEFAULT_CONFIG, VtaConfig

from .backend import Backend
from .bilinear import compile_upsample_bilinear
from .conv import compile_conv2d, compile_dense
from .elementwise import compile_bias_requantize, compile_sum
from .epilogue import FixedPoint, ScaledSum
from .pooling import compile_avg_pool2d, compile_global_avg_pool, compile_max_pool2d
from .scaled import compile_global_sum, compile_scaled_sum
from .transposed import compile_conv_transpose2d
from .upsample import compile_upsample_nearest

Target = str | Backend

# The program each operator that runs on VTA compiles, called with the operator's arguments
# (``config`` but no ``backend``).
COMPILERS = {
    "conv2d": compile_conv2d,
    "conv2d_add": lambda x, residual, w, bias=None, **attrs: compile_conv2d(
        x, w, bias, residual=residual, **attrs),
    "conv_transpose2d": compile_conv_transpose2d,
    "dense": compile_dense,
    "bias_add": compile_bias_requantize,
    "requantize": compile_bias_requantize,
    "relu": lambda x, *, config: compile_sum([x], relu=True, config=config),
    "add": lambda a, b, **attrs: compile_sum([a, b], **attrs),
    "clip": lambda x, *, low, high, config: compile_sum([x], bounds=(low, high), config=config),
    "max_pool2d": compile_max_pool2d,
    "avg_pool2d": compile_avg_pool2d,
    "global_avg_pool": compile_global_avg_pool,
    "scaled_add": lambda a, b, **attrs: compile_scaled_sum([a, b], **attrs),
    "global_sum": compile_global_sum,
    "upsample_nearest": compile_upsample_nearest,
    "upsample_bilinear": compile_upsample_bilinear,
}


def conv2d(x, w, bias=None, *, stride=1, padding=0, shift: int = 0, relu: bool = False,
           rounding: str = "floor", requant: FixedPoint | None = None,
           config: VtaConfig = DEFAULT_CONFIG, backend: Target = "spec") -> np.ndarray:
    """Return ``requantize(conv2d(x, w) + bias)``: ``x (N, C, H, W)``, ``w (O, C, KH, KW)``.

    ``rounding`` (``"floor"`` or ``"half_up"``) rounds the shift; ``requant`` replaces shift,
    ReLU and rounding by a per-channel fixed-point multiplier (:class:`.epilogue.FixedPoint`).
    """
    return compile_conv2d(x, w, bias, stride=stride, padding=padding, shift=shift, relu=relu,
                          rounding=rounding, requant=requant, config=config).run(backend)


def conv_transpose2d(x, w, bias=None, *, stride=1, padding=0, output_padding=0,
                     shift: int = 0, relu: bool = False, rounding: str = "floor",
                     requant: FixedPoint | None = None, config: VtaConfig = DEFAULT_CONFIG,
                     backend: Target = "spec") -> np.ndarray:
    """Return ``requantize(conv_transpose2d(x, w) + bias)``: ``x (N, C, H, W)``,
    ``w (C, O, KH, KW)`` (ONNX ConvTranspose, one group), ``output_padding`` below ``stride``;
    see :func:`conv2d` for the rest."""
    return compile_conv_transpose2d(x, w, bias, stride=stride, padding=padding,
                                    output_padding=output_padding, shift=shift, relu=relu,
                                    rounding=rounding, requant=requant,
                                    config=config).run(backend)


def dense(x, w, bias=None, *, shift: int = 0, relu: bool = False, rounding: str = "floor",
          requant: FixedPoint | None = None, config: VtaConfig = DEFAULT_CONFIG,
          backend: Target = "spec") -> np.ndarray:
    """Return ``requantize(x @ w.T + bias)`` for ``x (M, K)`` and ``w (N, K)`` (see conv2d)."""
    return compile_dense(x, w, bias, shift=shift, relu=relu, rounding=rounding, requant=requant,
                         config=config).run(backend)


def matmul(a, b, *, shift: int = 0, relu: bool = False, config: VtaConfig = DEFAULT_CONFIG,
           backend: Target = "spec") -> np.ndarray:
    """Return ``requantize(a @ b)`` for ``a (M, K)`` and ``b (K, N)``."""
    return dense(a, np.asarray(b).T, shift=shift, relu=relu, config=config, backend=backend)


def bias_add(x, bias, *, shift: int = 0, relu: bool = False,
             config: VtaConfig = DEFAULT_CONFIG, backend: Target = "spec") -> np.ndarray:
    """Return ``requantize(x + bias)`` for accumulators ``x``, ``bias`` along axis 1."""
    return compile_bias_requantize(x, bias, shift=shift, relu=relu, config=config).run(backend)


def requantize(x, *, shift: int = 0, relu: bool = False, config: VtaConfig = DEFAULT_CONFIG,
               backend: Target = "spec") -> np.ndarray:
    """Return accumulators ``x`` (``(M, C)`` or ``(N, C, H, W)``) shifted and clipped."""
    return compile_bias_requantize(x, shift=shift, relu=relu, config=config).run(backend)


def relu(x, *, config: VtaConfig = DEFAULT_CONFIG, backend: Target = "spec") -> np.ndarray:
    """Return ``max(x, 0)`` for activations of any shape."""
    return compile_sum([x], relu=True, config=config).run(backend)


def clip(x, low: int, high: int, *, config: VtaConfig = DEFAULT_CONFIG,
         backend: Target = "spec") -> np.ndarray:
    """Return ``min(max(x, low), high)`` for activations of any shape; ``low <= high`` lie in
    the output range (a ReLU6 on quantized values)."""
    return compile_sum([x], bounds=(low, high), config=config).run(backend)


def add(a, b, *, shift: int = 0, relu: bool = False, config: VtaConfig = DEFAULT_CONFIG,
        backend: Target = "spec") -> np.ndarray:
    """Return ``requantize(a + b)`` for activations of one shape (a residual connection)."""
    return compile_sum([a, b], shift=shift, relu=relu, config=config).run(backend)


def max_pool2d(x, kernel, stride=None, padding=0, *, config: VtaConfig = DEFAULT_CONFIG,
               backend: Target = "spec") -> np.ndarray:
    """Return the window maxima of ``x (N, C, H, W)``; ``stride`` defaults to ``kernel``."""
    return compile_max_pool2d(x, kernel, stride, padding, config=config).run(backend)


def avg_pool2d(x, kernel, stride=None, padding=0, *, rounding: str = "floor",
               config: VtaConfig = DEFAULT_CONFIG, backend: Target = "spec") -> np.ndarray:
    """Return the window means of ``x (N, C, H, W)``, padding counted as zeros, rounded down
    (``rounding="floor"``) or to nearest with halves up (``"half_up"``); ``stride`` defaults
    to ``kernel``. Raises CompileError when the accumulator cannot hold them exactly (see
    reference.average_scale)."""
    return compile_avg_pool2d(x, kernel, stride, padding, rounding=rounding,
                              config=config).run(backend)


def global_avg_pool(x, *, config: VtaConfig = DEFAULT_CONFIG,
                    backend: Target = "spec") -> np.ndarray:
    """Return the ``(N, C)`` floors of the means over H and W of ``x (N, C, H, W)``; raises
    CompileError when the accumulator cannot hold them exactly (see reference.average_scale)."""
    return compile_global_avg_pool(x, config=config).run(backend)


def scaled_add(a, b, *, requant: ScaledSum, config: VtaConfig = DEFAULT_CONFIG,
               backend: Target = "spec") -> np.ndarray:
    """Return ``requant.apply([a, b])``: activations each scaled by a multiplier, summed,
    shifted and clipped (a quantized residual add)."""
    return compile_scaled_sum([a, b], requant=requant, config=config).run(backend)


def global_sum(x, bias=None, *, requant: FixedPoint, config: VtaConfig = DEFAULT_CONFIG,
               backend: Target = "spec") -> np.ndarray:
    """Return ``requant.apply(x.sum(axis=(2, 3)) + bias)`` for ``x (N, C, H, W)``: a global
    average pool with an exact fixed-point requantization."""
    return compile_global_sum(x, bias, requant=requant, config=config).run(backend)


def upsample_nearest(x, scale: int | tuple[int, int] = 2, *, config: VtaConfig = DEFAULT_CONFIG,
                     backend: Target = "spec") -> np.ndarray:
    """Return ``x (N, C, H, W)`` with every pixel repeated ``scale`` (an integer or a pair
    ``(along H, along W)``) times along H and W."""
    return compile_upsample_nearest(x, scale, config=config).run(backend)


def upsample_bilinear(x, *, config: VtaConfig = DEFAULT_CONFIG,
                      backend: Target = "spec") -> np.ndarray:
    """Return ``x (N, C, H, W)`` upsampled x2 bilinearly, ``(N, C, 2H, 2W)``, rounded halves to
    even (:func:`.reference.upsample_bilinear`)."""
    return compile_upsample_bilinear(x, config=config).run(backend)


__all__ = ["add", "avg_pool2d", "bias_add", "clip", "conv2d",
           "conv_transpose2d", "dense", "global_avg_pool",
           "global_sum", "matmul", "max_pool2d", "relu", "requantize", "scaled_add",
           "upsample_bilinear", "upsample_nearest"]
