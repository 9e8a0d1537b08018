"""The QOperator format: QLinearConv, QLinearMatMul, QGemm, QLinearAdd, ... as :class:`QOp`."""

from __future__ import annotations

import onnx

from .quantized import QOp, Quant, attributes, quant_of
from .reader import Model, OnnxImportError, describe

# Operators that move quantized values without arithmetic: the output keeps the input's Quant.
PASS_THROUGH = {"MaxPool", "Flatten", "Reshape", "Identity", "Squeeze", "Unsqueeze", "Transpose",
                "Resize", "Pad"}


def qoperator_op(model: Model, node: onnx.NodeProto, quant: dict[str, Quant]) -> QOp:
    """Return the QOp of a QOperator-format node; ``quant`` maps known tensors to their Quant
    and gains the node's output."""
    inputs = list(node.input)
    attrs = attributes(node)
    kind = node.op_type

    def q(scale, zero_point):
        has_zero_point = len(inputs) > zero_point and inputs[zero_point]
        return quant_of(model, node, inputs[scale], inputs[zero_point] if has_zero_point
                        else None)

    def activation(index):
        name = inputs[index]
        if name not in quant:
            raise OnnxImportError(f"{describe(node)}: input {name!r} is not a quantized tensor")
        return name

    def constant(index):
        name = inputs[index]
        if name not in model.constants:
            raise OnnxImportError(f"{describe(node)}: {name!r} must be a constant (an "
                                  "initializer): VTA keeps weights in the program")
        return model.constants[name]

    output = node.output[0]
    if kind == "QuantizeLinear":
        out = q(1, 2)
        quant[output] = out
        return QOp(node, "Quantize", [inputs[0]], output, {output: out}, attrs=attrs)
    if kind == "DequantizeLinear":
        x = activation(0)
        return QOp(node, "Dequantize", [x], output, {x: quant[x]}, attrs=attrs)
    if kind == "QLinearConv":
        x, out = activation(0), q(6, 7)
        quant[output] = out
        bias = constant(8) if len(inputs) > 8 and inputs[8] else None
        return QOp(node, "Conv", [x], output, {x: quant[x], output: out},
                   (constant(3), q(4, 5)), bias, attrs)
    if kind == "QLinearMatMul":
        x, out = activation(0), q(6, 7)
        quant[output] = out
        return QOp(node, "MatMul", [x], output, {x: quant[x], output: out},
                   (constant(3), q(4, 5)), None, attrs)
    if kind == "QGemm":
        if len(inputs) < 8 or not inputs[7]:
            raise OnnxImportError(f"{describe(node)}: a QGemm with a float output is not "
                                  "supported")
        x, out = activation(0), q(7, 8)
        quant[output] = out
        bias = constant(6) if inputs[6] else None
        return QOp(node, "Gemm", [x], output, {x: quant[x], output: out},
                   (constant(3), q(4, 5)), bias, attrs)
    if kind == "QLinearAdd":
        a, b, out = activation(0), activation(3), q(6, 7)
        quant[output] = out
        return QOp(node, "Add", [a, b], output, {a: quant[a], b: quant[b], output: out},
                   attrs=attrs)
    if kind in ("QLinearGlobalAveragePool", "QLinearAveragePool"):
        x, out = activation(0), q(3, 4)
        quant[output] = out
        return QOp(node, kind.removeprefix("QLinear"), [x], output,
                   {x: quant[x], output: out}, attrs=attrs)
    if kind == "QLinearConcat":
        out = q(0, 1)
        quant[output] = out
        sources = [activation(index) for index in range(2, len(inputs), 3)]
        known = {name: quant[name] for name in sources}
        known[output] = out
        return QOp(node, "Concat", sources, output, known, attrs=attrs)
    if kind in PASS_THROUGH or kind in ("Relu", "Clip"):
        x = activation(0)
        quant[output] = quant[x]
        extra = {index: constant(index) for index in range(1, len(inputs)) if inputs[index]}
        return QOp(node, kind, [x], output, {x: quant[x], output: quant[x]},
                   attrs=dict(attrs, constants=extra))
    raise OnnxImportError(f"{describe(node)}: operator not supported on quantized tensors")
