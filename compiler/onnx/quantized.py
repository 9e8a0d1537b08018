"""The importer's middle form: quantized operators, whichever format the model was written in.

Both the QDQ format (QuantizeLinear/DequantizeLinear around float operators, :mod:`.qdq`) and the
QOperator format (QLinearConv, ..., :mod:`.qoperator`) become a list of :class:`QOp`: one
operator on quantized tensors, with the quantization (:class:`Quant`) of each tensor it reads and
writes and its constant weight and bias.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx

from .reader import Model, OnnxImportError, describe

INTEGER_TYPES = (np.dtype(np.int8), np.dtype(np.uint8))


@dataclass(frozen=True)
class Quant:
    """``real = (q - zero_point) * scale``: float32 scales, one or one per channel."""

    scale: np.ndarray
    zero_point: np.ndarray
    dtype: np.dtype

    @property
    def per_tensor(self) -> bool:
        return self.scale.size == 1

    @property
    def bounds(self) -> tuple[int, int]:
        info = np.iinfo(self.dtype)
        return int(info.min), int(info.max)

    @property
    def offset(self) -> int:
        """Return what VTA's int8 values are below the model's: 128 for uint8, else 0."""
        return 128 if self.dtype == np.uint8 else 0

    def same_as(self, other: Quant) -> bool:
        return (self.dtype == other.dtype and np.array_equal(self.scale, other.scale)
                and np.array_equal(self.zero_point, other.zero_point))


@dataclass
class QOp:
    """``output = kind(*inputs)`` on quantized tensors; ``node`` is the ONNX node it came from."""

    node: onnx.NodeProto
    kind: str
    inputs: list[str]
    output: str
    quant: dict[str, Quant]
    weight: tuple[np.ndarray, Quant] | None = None
    bias: np.ndarray | None = None
    attrs: dict = field(default_factory=dict)

    def __post_init__(self):
        if not all(q.per_tensor for q in self.quant.values()):
            raise self.fail("per-channel quantization of activations is not supported")

    def fail(self, why: str) -> OnnxImportError:
        """Return the one-line error naming this operator's node and op type."""
        return OnnxImportError(f"{describe(self.node)}: {why}")


def attributes(node: onnx.NodeProto) -> dict:
    """Return the node's attributes as Python values."""
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def quant_of(model: Model, node: onnx.NodeProto, scale: str, zero_point: str | None,
             dtype: np.dtype | None = None, bias: bool = False) -> Quant:
    """Return the quantization that constants ``scale`` and ``zero_point`` describe
    (int32 too if it is a ``bias``)."""
    for name in (scale, zero_point):
        if name and name not in model.constants:
            raise OnnxImportError(f"{describe(node)}: the scale or zero point {name!r} is "
                                  "not a constant")
    s = np.asarray(model.constants[scale], np.float32).reshape(-1)
    if zero_point:
        z = model.constants[zero_point]
        dtype = z.dtype
        z = np.asarray(z, np.int64).reshape(-1)
    else:
        dtype = np.dtype(np.uint8) if dtype is None else dtype
        z = np.zeros(1, np.int64)
    if np.dtype(dtype) not in INTEGER_TYPES + ((np.dtype(np.int32),) if bias else ()):
        raise OnnxImportError(f"{describe(node)}: {np.dtype(dtype)} quantization is not "
                              "supported (int8 and uint8 are)")
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise OnnxImportError(f"{describe(node)}: scales must be positive and finite")
    return Quant(s, z, np.dtype(dtype))
