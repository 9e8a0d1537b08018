"""The QDQ format: float operators between DequantizeLinear and QuantizeLinear, as :class:`QOp`.

A DequantizeLinear of a constant is a quantized weight or bias; one of an activation only names
the quantized tensor a float operator reads. A float operator's output must go to
QuantizeLinear nodes, whose output is the QOp's quantized output. A QuantizeLinear of the graph
input quantizes it; one of a dequantized activation requantizes it.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import onnx

from .qoperator import PASS_THROUGH
from .quantized import QOp, Quant, attributes, quant_of
from .reader import Model, OnnxImportError, describe

ARITHMETIC = {"Conv", "MatMul", "Gemm", "Add", "GlobalAveragePool", "AveragePool", "Relu",
              "Clip", "Concat"}
WEIGHTED = ("Conv", "MatMul", "Gemm")
# Float operators onnxruntime does not replace by integer kernels, and why they are refused.
REFUSED = {"ConvTranspose": "onnxruntime computes it in float32 on the dequantized tensors (it "
                            "has no integer kernel for it), which no integer arithmetic "
                            "reproduces bit for bit"}


def qdq_ops(model: Model) -> list[QOp]:
    """Return the QOps of a QDQ-format model, in execution order."""
    return _QdqReader(model).ops()


def _zero_point(node: onnx.NodeProto) -> str | None:
    """Return the name of a QuantizeLinear's or DequantizeLinear's zero point, if it has one."""
    return node.input[2] if len(node.input) > 2 and node.input[2] else None


class _QdqReader:
    """Reads the nodes in order, remembering what each tensor name stands for."""

    def __init__(self, model: Model):
        self.model = model
        self.consumers = defaultdict(list)
        for node in model.nodes:
            for name in node.input:
                self.consumers[name].append(node)
        self.weights: dict[str, tuple[np.ndarray, Quant]] = {}  # dequantized constants
        self.alias: dict[str, str] = {}  # a dequantized activation -> its quantized name
        self.quant: dict[str, Quant] = {}  # quantized tensors
        self.renamed: dict[str, str] = {}  # a second quantization of a value -> the first
        self.absorbed: set[int] = set()  # the QuantizeLinear nodes that end a float operator

    def ops(self) -> list[QOp]:
        ops = []
        for node in self.model.nodes:
            if id(node) in self.absorbed:
                continue
            if node.op_type == "DequantizeLinear":
                ops += self._dequantize(node)
            elif node.op_type == "QuantizeLinear":
                ops.append(self._quantize(node))
            elif node.op_type in ARITHMETIC or node.op_type in PASS_THROUGH:
                ops.append(self._float_op(node))
            elif node.op_type in REFUSED:
                raise OnnxImportError(f"{describe(node)}: {REFUSED[node.op_type]}")
            else:
                raise OnnxImportError(f"{describe(node)}: operator not supported in a "
                                      "quantized model")
        return ops

    def _dequantize(self, node: onnx.NodeProto) -> list[QOp]:
        source = node.input[0]
        if source in self.model.constants:
            values = self.model.constants[source]
            self.weights[node.output[0]] = (values, quant_of(
                self.model, node, node.input[1], _zero_point(node), values.dtype, bias=True))
            return []
        if source not in self.quant:
            raise OnnxImportError(f"{describe(node)}: input {source!r} is not a quantized "
                                  "tensor")
        source = self.renamed.get(source, source)
        self.alias[node.output[0]] = source
        if node.output[0] != self.model.output:
            return []
        return [QOp(node, "Dequantize", [source], node.output[0], {source: self.quant[source]})]

    def _quantize(self, node: onnx.NodeProto) -> QOp:
        out = quant_of(self.model, node, node.input[1], _zero_point(node))
        self.quant[node.output[0]] = out
        source = node.input[0]
        if source in self.alias:  # dequantized, then quantized again
            source = self.alias[source]
            return QOp(node, "Requantize", [source], node.output[0],
                       {source: self.quant[source], node.output[0]: out})
        if source != self.model.input:
            raise OnnxImportError(f"{describe(node)}: input {source!r} is neither the graph "
                                  "input nor a dequantized tensor")
        return QOp(node, "Quantize", [source], node.output[0], {node.output[0]: out})

    def _float_op(self, node: onnx.NodeProto) -> QOp:
        """Return the QOp of float operator ``node`` with its quantized inputs and output."""
        activations, constants, weight, bias = [], {}, None, None
        for index, name in enumerate(node.input):
            if not name:
                continue
            if name in self.alias:
                activations.append(self.alias[name])
            elif name in self.weights and node.op_type in WEIGHTED and index == 1:
                weight = self.weights[name]
            elif name in self.weights and node.op_type in ("Conv", "Gemm") and index == 2:
                bias = self.weights[name][0]
            elif name in self.model.constants and (node.op_type in PASS_THROUGH
                                                   or node.op_type == "Clip"):
                constants[index] = self.model.constants[name]
            else:
                raise OnnxImportError(f"{describe(node)}: input {name!r} is not quantized (no "
                                      "DequantizeLinear before it)")
        if node.op_type in WEIGHTED and weight is None:
            raise OnnxImportError(f"{describe(node)}: the weight must be a dequantized "
                                  "constant")
        if node.op_type in ("Conv", "Gemm") and len(node.input) > 2 and node.input[2] and (
                bias is None):
            raise OnnxImportError(f"{describe(node)}: the bias must be a dequantized int32 "
                                  "constant")
        output, out = self._output(node)
        known = {name: self.quant[name] for name in activations}
        known[output] = out
        attrs = dict(attributes(node), constants=constants)  # constants by input position
        return QOp(node, node.op_type, activations, output, known, weight, bias, attrs)

    def _output(self, node: onnx.NodeProto) -> tuple[str, Quant]:
        """Return the quantized name and quantization of a float operator's output."""
        outputs = self.consumers[node.output[0]]
        if not outputs or any(n.op_type != "QuantizeLinear" for n in outputs):
            raise OnnxImportError(f"{describe(node)}: its output is not quantized (it must go "
                                  "to QuantizeLinear nodes only)")
        first = outputs[0]
        out = quant_of(self.model, first, first.input[1], _zero_point(first))
        for other in outputs:
            if not quant_of(self.model, other, other.input[1], _zero_point(other)).same_as(out):
                raise OnnxImportError(f"{describe(node)}: its output is quantized twice, "
                                      "differently")
            self.absorbed.add(id(other))
            self.quant[other.output[0]] = out
            self.renamed[other.output[0]] = first.output[0]  # the same values, another name
        return first.output[0], out
