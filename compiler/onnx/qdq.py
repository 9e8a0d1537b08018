"""The QDQ format: float operators between DequantizeLinear and QuantizeLinear, as :class:`QOp`.

A DequantizeLinear of a constant is a quantized weight or bias; one of an activation only names
the quantized tensor the float operator reads. A float operator's output must go to
QuantizeLinear nodes, whose output is the QOp's quantized output.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import onnx

from .qoperator import PASS_THROUGH
from .quantized import QOp, Quant, attributes, quant_of
from .reader import Model, OnnxImportError, describe

ARITHMETIC = {"Conv", "MatMul", "Gemm", "Add", "GlobalAveragePool", "AveragePool", "Relu"}


def qdq_ops(model: Model) -> list[QOp]:
    """Return the QOps of a QDQ-format model, in execution order."""
    consumers = defaultdict(list)
    for node in model.nodes:
        for name in node.input:
            consumers[name].append(node)
    weights: dict[str, tuple[np.ndarray, Quant]] = {}  # float name -> integers, quantization
    alias: dict[str, str] = {}  # float name of a dequantized activation -> its quantized name
    quant: dict[str, Quant] = {}
    absorbed: set[int] = set()  # the QuantizeLinear nodes that end a float operator
    renamed: dict[str, str] = {}  # a second quantization of a value -> the first
    ops = []
    for node in model.nodes:
        inputs = list(node.input)
        zero_point = inputs[2] if len(inputs) > 2 and inputs[2] else None
        if id(node) in absorbed:
            continue
        if node.op_type == "DequantizeLinear":
            if inputs[0] in model.constants:
                values = model.constants[inputs[0]]
                weights[node.output[0]] = (values, quant_of(model, node, inputs[1], zero_point,
                                                            values.dtype, bias=True))
            elif inputs[0] in quant:
                source = renamed.get(inputs[0], inputs[0])
                alias[node.output[0]] = source
                if node.output[0] == model.output:
                    ops.append(QOp(node, "Dequantize", [source], node.output[0],
                                   {source: quant[source]}))
            else:
                raise OnnxImportError(f"{describe(node)}: input {inputs[0]!r} is not a "
                                      "quantized tensor")
        elif node.op_type == "QuantizeLinear":
            out = quant_of(model, node, inputs[1], zero_point)
            quant[node.output[0]] = out
            ops.append(QOp(node, "Quantize", [inputs[0]], node.output[0],
                           {node.output[0]: out}))
        elif node.op_type in ARITHMETIC or node.op_type in PASS_THROUGH:
            ops.append(_float_op(model, node, weights, alias, quant, consumers, absorbed,
                                 renamed))
        else:
            raise OnnxImportError(f"{describe(node)}: operator not supported in a quantized "
                                  "model")
    return ops


def _float_op(model: Model, node: onnx.NodeProto, weights, alias, quant, consumers,
              absorbed, renamed) -> QOp:
    """Return the QOp of float operator ``node`` with its quantized inputs and output."""
    activations, constants, weight, bias = [], {}, None, None
    for index, name in enumerate(node.input):
        if not name:
            continue
        if name in alias:
            activations.append(alias[name])
        elif name in weights and node.op_type in ("Conv", "MatMul", "Gemm") and index == 1:
            weight = weights[name]
        elif name in weights and node.op_type in ("Conv", "Gemm") and index == 2:
            bias = weights[name][0]
        elif name in model.constants and node.op_type in PASS_THROUGH:
            constants[index] = model.constants[name]
        else:
            raise OnnxImportError(f"{describe(node)}: input {name!r} is not quantized (no "
                                  "DequantizeLinear before it)")
    if node.op_type in ("Conv", "MatMul", "Gemm") and weight is None:
        raise OnnxImportError(f"{describe(node)}: the weight must be a dequantized constant")
    if node.op_type in ("Conv", "Gemm") and len(node.input) > 2 and node.input[2] and (
            bias is None):
        raise OnnxImportError(f"{describe(node)}: the bias must be a dequantized int32 constant")
    outputs = consumers[node.output[0]]
    if not outputs or any(n.op_type != "QuantizeLinear" for n in outputs):
        raise OnnxImportError(f"{describe(node)}: its output is not quantized (it must go to "
                              "QuantizeLinear nodes only)")
    first = outputs[0]
    zero_point = first.input[2] if len(first.input) > 2 and first.input[2] else None
    out = quant_of(model, first, first.input[1], zero_point)
    for other in outputs:
        other_zp = other.input[2] if len(other.input) > 2 and other.input[2] else None
        if not quant_of(model, other, other.input[1], other_zp).same_as(out):
            raise OnnxImportError(f"{describe(node)}: its output is quantized twice, "
                                  "differently")
        absorbed.add(id(other))
        quant[other.output[0]] = out
        renamed[other.output[0]] = first.output[0]  # the same values under another name
    output = first.output[0]
    known = {name: quant[name] for name in activations}
    known[output] = out
    attrs = attributes(node)
    attrs["constants"] = constants  # by input position
    return QOp(node, node.op_type, activations, output, known, weight, bias, attrs)
