"""Sample quantized ONNX models: float networks built in numpy, written with ``onnx.helper`` and
quantized with onnxruntime's ``quantize_static`` (needs onnxruntime, in the ``test`` extra).

- :func:`digits_layers_onnx`: the digits CNN of :mod:`..digits` (trained) as a float model;
- :func:`residual_onnx`: a small ResNet-style net with residual adds (random weights);
- :func:`mobilenet_onnx`: a small MobileNet-style net of depthwise and pointwise convolutions;
- :func:`style_onnx`: a small style-transfer-style net that upsamples (Resize, nearest);
- :func:`pooled_onnx`: two convolutions around a window average (AveragePool);
- :func:`quantize`: either one, QDQ or QOperator, per-tensor or per-channel weights, int8 or
  uint8 activations, calibrated on given inputs.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..digits import KERNEL, PADDING, POOL, Layer

OPSET = 13


def _constant(values) -> np.ndarray:
    """Return ``values`` as ONNX wants them: int64 for integers (shapes), else float32."""
    values = np.asarray(values)
    return values.astype(np.int64 if values.dtype.kind in "iu" else np.float32)


def _model(nodes, weights: dict[str, np.ndarray], input_shape, output_shape) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, "vtaref-sample",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(input_shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(output_shape))],
        [numpy_helper.from_array(_constant(v), name) for name, v in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(model)
    return model


def digits_layers_onnx(layers: list[Layer], batch: int) -> onnx.ModelProto:
    """Return the float digits CNN (``layers`` of :func:`..digits.train_cnn`) for ``batch``
    images ``(batch, 1, 8, 8)`` of pixels 0..16, logits ``(batch, 10)`` out."""
    nodes, weights, source = [], {}, "x"
    for index, layer in enumerate(layers):
        out = "y" if index == len(layers) - 1 else f"t{index}"
        if layer.op == "conv2d":
            weights[f"w{index}"], weights[f"b{index}"] = layer.w, layer.b
            nodes.append(helper.make_node("Conv", [source, f"w{index}", f"b{index}"],
                                          [out + "c" if layer.relu else out],
                                          kernel_shape=[KERNEL] * 2, pads=[PADDING] * 4))
        elif layer.op == "dense":
            weights[f"w{index}"], weights[f"b{index}"] = layer.w, layer.b
            nodes.append(helper.make_node("Gemm", [source, f"w{index}", f"b{index}"],
                                          [out + "c" if layer.relu else out], transB=1))
        elif layer.op == "max_pool2d":
            nodes.append(helper.make_node("MaxPool", [source], [out], kernel_shape=[POOL] * 2,
                                          strides=[POOL] * 2))
        else:
            nodes.append(helper.make_node("Flatten", [source], [out]))
        if layer.relu:
            nodes.append(helper.make_node("Relu", [out + "c"], [out]))
        source = out
    return _model(nodes, weights, (batch, 1, 8, 8), (batch, layers[-1].w.shape[0]))


def residual_onnx(batch: int = 1, channels: int = 16, size: int = 8, classes: int = 10,
                  seed: int = 0) -> onnx.ModelProto:
    """Return a float ResNet-style net: 3x3 stem, two basic blocks with residual adds,
    a 2x2 max pool, global average pool, dense; random weights."""
    rng = np.random.default_rng(seed)
    weights = {}

    def conv(name, source, out, c_in, relu=True):
        weights[name + "w"] = rng.normal(0, np.sqrt(2 / (9 * c_in)), (channels, c_in, 3, 3))
        weights[name + "b"] = rng.normal(0, 0.05, channels)
        conv_out = out + "c" if relu else out
        made = [helper.make_node("Conv", [source, name + "w", name + "b"], [conv_out],
                                 kernel_shape=[3, 3], pads=[1, 1, 1, 1])]
        return made + ([helper.make_node("Relu", [conv_out], [out])] if relu else [])

    nodes = conv("stem", "x", "s", 3)
    source = "s"
    for block in range(2):
        name = f"b{block}"
        nodes += conv(name + "a", source, name + "h", channels)
        nodes += conv(name + "b", name + "h", name + "o", channels, relu=False)
        nodes += [helper.make_node("Add", [name + "o", source], [name + "sum"]),
                  helper.make_node("Relu", [name + "sum"], [name + "r"])]
        source = name + "r"
    weights["fcw"] = rng.normal(0, np.sqrt(1 / channels), (classes, channels))
    weights["fcb"] = rng.normal(0, 0.05, classes)
    nodes += [helper.make_node("MaxPool", [source], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
              helper.make_node("GlobalAveragePool", ["p"], ["g"]),
              helper.make_node("Flatten", ["g"], ["f"]),
              helper.make_node("Gemm", ["f", "fcw", "fcb"], ["y"], transB=1)]
    return _model(nodes, weights, (batch, 3, size, size), (batch, classes))


def mobilenet_onnx(batch: int = 1, channels: int = 16, size: int = 8, classes: int = 10,
                   seed: int = 0) -> onnx.ModelProto:
    """Return a float MobileNet-style net: 3x3 stem, two depthwise-separable blocks (3x3
    depthwise with ReLU, 1x1 pointwise with ReLU, the second depthwise with stride 2), global
    average pool, dense; random weights."""
    rng = np.random.default_rng(seed)
    weights, nodes, source = {}, [], "x"

    def conv(name, c_in, c_out, kernel, group=1, stride=1):
        nonlocal source
        weights[name + "w"] = rng.normal(0, np.sqrt(2 / (kernel * kernel * c_in // group)),
                                         (c_out, c_in // group, kernel, kernel))
        weights[name + "b"] = rng.normal(0, 0.05, c_out)
        pad = kernel // 2
        nodes.extend([helper.make_node("Conv", [source, name + "w", name + "b"], [name + "c"],
                                       kernel_shape=[kernel] * 2, pads=[pad] * 4, group=group,
                                       strides=[stride] * 2),
                      helper.make_node("Relu", [name + "c"], [name])])
        source = name

    conv("stem", 3, channels, 3)
    for block, stride in enumerate((1, 2)):
        conv(f"dw{block}", channels, channels, 3, group=channels, stride=stride)
        conv(f"pw{block}", channels, channels, 1)
    weights["fcw"] = rng.normal(0, np.sqrt(1 / channels), (classes, channels))
    weights["fcb"] = rng.normal(0, 0.05, classes)
    weights["shape"] = np.array([0, -1])
    nodes += [helper.make_node("GlobalAveragePool", [source], ["g"]),
              helper.make_node("Reshape", ["g", "shape"], ["f"]),
              helper.make_node("Gemm", ["f", "fcw", "fcb"], ["y"], transB=1)]
    return _model(nodes, weights, (batch, 3, size, size), (batch, classes))


def style_onnx(batch: int = 1, channels: int = 16, size: int = 8, seed: int = 0
               ) -> onnx.ModelProto:
    """Return a float style-transfer-style net (after Johnson et al.): 3x3 convolution, 3x3/2
    downsampling convolution, a residual block, nearest x2 upsampling, 3x3 convolution back to
    3 channels; random weights."""
    rng = np.random.default_rng(seed)
    weights, nodes = {}, []

    def conv(name, source, c_in, c_out, stride=1, relu=True):
        weights[name + "w"] = rng.normal(0, np.sqrt(2 / (9 * c_in)), (c_out, c_in, 3, 3))
        weights[name + "b"] = rng.normal(0, 0.05, c_out)
        out = name + "c" if relu else name
        nodes.append(helper.make_node("Conv", [source, name + "w", name + "b"], [out],
                                      kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                                      strides=[stride] * 2))
        if relu:
            nodes.append(helper.make_node("Relu", [out], [name]))
        return name

    down = conv("down", conv("in", "x", 3, channels), channels, channels, stride=2)
    body = conv("res2", conv("res1", down, channels, channels), channels, channels, relu=False)
    weights["scales"] = np.array([1.0, 1.0, 2.0, 2.0])
    nodes += [helper.make_node("Add", [body, down], ["sum"]),
              helper.make_node("Resize", ["sum", "", "scales"], ["up"], mode="nearest")]
    conv("y", "up", channels, 3, relu=False)
    return _model(nodes, weights, (batch, 3, size, size), (batch, 3, size, size))


def pooled_onnx(kernel: int = 3, padding: int = 1, size: int = 8) -> onnx.ModelProto:
    """Return a float net with a window average between two 3x3 convolutions (random weights):
    ``(1, 3, size, size)`` in, AveragePool ``kernel x kernel``, stride 1, ``padding`` counted
    in, ``(1, 4, size + 2 * padding - kernel + 1, ...)`` out."""
    rng = np.random.default_rng(5)
    weights = {"w0": rng.standard_normal((8, 3, 3, 3)) * 0.3, "b0": rng.standard_normal(8) * 0.1,
               "w1": rng.standard_normal((4, 8, 3, 3)) * 0.2, "b1": rng.standard_normal(4) * 0.1}
    nodes = [helper.make_node("Conv", ["x", "w0", "b0"], ["c"], pads=[1] * 4),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("AveragePool", ["r"], ["a"], kernel_shape=[kernel] * 2,
                              pads=[padding] * 4, count_include_pad=1),
             helper.make_node("Conv", ["a", "w1", "b1"], ["y"], pads=[1] * 4)]
    out = size + 2 * padding - kernel + 1
    return _model(nodes, weights, (1, 3, size, size), (1, 4, out, out))


def quantize(model: onnx.ModelProto, calibration: list[np.ndarray], path: str | Path, *,
             qdq: bool = True, per_channel: bool = False, activations: str = "int8",
             reduce_range: bool = True) -> Path:
    """Quantize float ``model`` with onnxruntime's ``quantize_static`` on ``calibration``
    inputs and write it to ``path``: QDQ or QOperator format, int8 weights, int8 or uint8
    activations (asymmetric).

    ``reduce_range`` keeps weights to 7 bits: on x86 CPUs without VNNI, onnxruntime runs int8
    models with uint8 x int8 kernels whose pairwise 16-bit sums saturate with 8-bit weights
    (so its own int8 results are then not the model's arithmetic).
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.inputs = iter([{"x": np.asarray(x, np.float32)} for x in calibration])

        def get_next(self):
            return next(self.inputs, None)

    unsigned = activations == "uint8"
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "float.onnx"
        onnx.save(model, source)
        quantize_static(str(source), str(path), Reader(),
                        quant_format=QuantFormat.QDQ if qdq else QuantFormat.QOperator,
                        per_channel=per_channel, reduce_range=reduce_range,
                        activation_type=QuantType.QUInt8 if unsigned else QuantType.QInt8,
                        weight_type=QuantType.QInt8)
    return Path(path)
