"""Quantized ONNX models through the whole path: float networks built in numpy, exported with
onnx.helper, quantized by onnxruntime's quantize_static, imported, run on the spec, and compared
with onnxruntime's own int8 run (its default session, graph optimizations on).

Both formats (QDQ, QOperator), per-tensor and per-channel weight scales, int8 and uint8
activations. Weights are quantized with reduce_range (see samples.quantize): without it,
onnxruntime's own uint8 x int8 kernels saturate on CPUs without VNNI.
"""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from vtaref.compiler import digits
from vtaref.compiler.onnx import OnnxImportError, import_model
from vtaref.compiler.onnx.lowering import scaled_sum
from vtaref.compiler.onnx.quantized import Quant
from vtaref.compiler.onnx.samples import (
    digits_layers_onnx,
    mobilenet_onnx,
    pooled_onnx,
    quantize,
    residual_onnx,
    style_onnx,
)
from vtaref.spec import VtaConfig

from .test_compiler_ops import CONFIGS

DIGITS_BATCH = 90  # a fifth of the 450 test images, in one batch


def onnxruntime_run(path, x, optimize: bool = True):
    options = ort.SessionOptions()
    if not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


@pytest.fixture(scope="module")
def digits_data():
    train_x, train_y, test_x, test_y = digits.load_split()
    layers = digits.train_cnn(train_x, train_y)
    calibration = [train_x[i:i + DIGITS_BATCH].astype(np.float32)
                   for i in range(0, 4 * DIGITS_BATCH, DIGITS_BATCH)]
    return (digits_layers_onnx(layers, DIGITS_BATCH), calibration,
            test_x[:DIGITS_BATCH].astype(np.float32), test_y[:DIGITS_BATCH])


@pytest.mark.parametrize("qdq, per_channel, activations", [
    (True, False, "int8"), (False, True, "uint8")], ids=["qdq-tensor-int8", "qop-channel-uint8"])
def test_digits_cnn_equals_onnxruntime(tmp_path, digits_data, qdq, per_channel, activations):
    model, calibration, images, labels = digits_data
    path = quantize(model, calibration, tmp_path / "digits.onnx", qdq=qdq,
                    per_channel=per_channel, activations=activations)
    imported = import_model(path)
    assert [p.operator for p in imported.placements if p.where == "vta"] == [
        "conv2d", "max_pool2d", "conv2d", "max_pool2d", "dense"]
    on_vta = imported.graph.run(images)
    on_ort = onnxruntime_run(path, images)
    assert on_vta.dtype == on_ort.dtype == np.float32
    np.testing.assert_array_equal(on_vta, on_ort)
    accuracy = (on_vta.argmax(axis=1) == labels).mean()
    assert accuracy == (on_ort.argmax(axis=1) == labels).mean()
    assert accuracy > 0.9


@pytest.fixture(scope="module")
def residual_model():
    rng = np.random.default_rng(0)
    calibration = [rng.standard_normal((2, 3, 8, 8)).astype(np.float32) for _ in range(8)]
    return residual_onnx(batch=2), calibration, rng.standard_normal((2, 3, 8, 8)).astype(
        np.float32)


@pytest.mark.parametrize("qdq", [True, False], ids=["qdq", "qoperator"])
@pytest.mark.parametrize("per_channel", [False, True], ids=["tensor", "channel"])
@pytest.mark.parametrize("activations", ["int8", "uint8"])
def test_residual_net_equals_onnxruntime(tmp_path, residual_model, qdq, per_channel,
                                         activations):
    model, calibration, x = residual_model
    path = quantize(model, calibration, tmp_path / "residual.onnx", qdq=qdq,
                    per_channel=per_channel, activations=activations)
    imported = import_model(path)
    on_vta = [p.operator for p in imported.placements if p.where == "vta"]
    assert on_vta == ["conv2d"] * 3 + ["scaled_add"] + ["conv2d"] * 2 + [
        "scaled_add", "max_pool2d", "global_sum", "dense"]
    np.testing.assert_array_equal(imported.graph.run(x), onnxruntime_run(path, x))


@pytest.mark.parametrize("config", [CONFIGS["2x8"], CONFIGS["small"]], ids=["2x8", "small"])
def test_residual_net_at_other_configs(tmp_path, residual_model, config):
    model, calibration, x = residual_model
    path = quantize(model, calibration, tmp_path / "residual.onnx", per_channel=True,
                    activations="uint8")
    imported = import_model(path, config)
    np.testing.assert_array_equal(imported.graph.run(x, config=config),
                                  onnxruntime_run(path, x))


@pytest.mark.parametrize("qdq, per_channel, activations", [
    (True, True, "uint8"), (False, False, "int8")], ids=["qdq-channel-uint8", "qop-tensor-int8"])
def test_mobilenet_style_net_equals_onnxruntime(tmp_path, qdq, per_channel, activations):
    """Depthwise convolutions run on VTA as ordinary ones whose weights are zero across
    groups."""
    rng = np.random.default_rng(0)
    calibration = [rng.standard_normal((2, 3, 8, 8)).astype(np.float32) for _ in range(8)]
    path = quantize(mobilenet_onnx(batch=2), calibration, tmp_path / "mobilenet.onnx", qdq=qdq,
                    per_channel=per_channel, activations=activations)
    imported = import_model(path)
    assert [p.operator for p in imported.placements if p.where == "vta"] == [
        "conv2d"] * 5 + ["global_sum", "dense"]
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(imported.graph.run(x), onnxruntime_run(path, x))


@pytest.mark.parametrize("qdq, per_channel, activations", [
    (True, False, "int8"), (False, True, "uint8")], ids=["qdq-tensor-int8", "qop-channel-uint8"])
def test_style_net_equals_onnxruntime(tmp_path, qdq, per_channel, activations):
    """Nearest x2 upsampling (Resize) on VTA between convolutions, bit-exact."""
    rng = np.random.default_rng(0)
    calibration = [rng.standard_normal((1, 3, 8, 8)).astype(np.float32) for _ in range(8)]
    path = quantize(style_onnx(), calibration, tmp_path / "style.onnx", qdq=qdq,
                    per_channel=per_channel, activations=activations)
    imported = import_model(path)
    assert [(p.op_type, p.where) for p in imported.placements if p.operator != "conv2d"] == [
        ("QuantizeLinear", "host"), (("Add" if qdq else "QLinearAdd"), "vta"),
        ("Resize", "vta"), ("DequantizeLinear", "host")]
    x = rng.standard_normal((1, 3, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(imported.graph.run(x), onnxruntime_run(path, x))


def test_summary_says_where_each_node_runs(tmp_path, residual_model):
    model, calibration, _ = residual_model
    path = quantize(model, calibration, tmp_path / "residual.onnx", qdq=False)
    lines = import_model(path).summary()
    assert lines[0].startswith("QOperator model, input (2, 3, 8, 8) float32: 13 operators, "
                               "10 on VTA, 3 on the host")
    assert any("(QLinearConv): VTA conv2d" in line for line in lines)
    assert any("(QLinearAdd): VTA scaled_add" in line for line in lines)
    assert any("(QLinearGlobalAveragePool): VTA global_sum" in line for line in lines)
    assert any("(Flatten): host (data movement)" in line for line in lines)


def qlinear_add(quants: list[Quant]) -> bytes:
    """Return a model of one QLinearAdd ``c = a + b`` on 256 x 256 tensors."""
    element = TensorProto.INT8 if quants[0].dtype == np.int8 else TensorProto.UINT8
    constants = []
    for name, q in zip("abc", quants):
        constants += [numpy_helper.from_array(q.scale.reshape(()), f"{name}_scale"),
                      numpy_helper.from_array(q.zero_point.astype(q.dtype).reshape(()),
                                              f"{name}_zero")]
    node = helper.make_node("QLinearAdd", ["a", "a_scale", "a_zero", "b", "b_scale", "b_zero",
                                           "c_scale", "c_zero"], ["c"], domain="com.microsoft")
    graph = helper.make_graph(
        [node], "add", [helper.make_tensor_value_info(n, element, [256, 256]) for n in "ab"],
        [helper.make_tensor_value_info("c", element, [256, 256])], constants)
    return helper.make_model(graph, opset_imports=[
        helper.make_opsetid("", 13), helper.make_opsetid("com.microsoft", 1)]).SerializeToString()


def test_residual_add_agrees_with_onnxruntime_on_every_input_pair():
    """onnxruntime adds in float32 (fused multiply-adds); VTA in fixed point. Over every pair
    of inputs at 16 random scale settings, at least 99.99 % of the outputs are equal and none
    differs by more than 1 (measured: 99.9997 % over 40 settings, docs/compiler.md §6)."""
    rng = np.random.default_rng(1)
    total = equal = worst = 0
    for setting in range(16):
        dtype = np.dtype(np.int8 if setting % 2 else np.uint8)
        info = np.iinfo(dtype)
        quants = [Quant(np.array([rng.uniform(0.005, 0.1)], np.float32),
                        rng.integers(info.min, info.max, 1), dtype) for _ in range(3)]
        a, b = np.meshgrid(np.arange(info.min, info.max + 1), np.arange(info.min, info.max + 1),
                           indexing="ij")
        session = ort.InferenceSession(qlinear_add(quants), providers=["CPUExecutionProvider"])
        want = session.run(None, {"a": a.astype(dtype), "b": b.astype(dtype)})[0]
        requant = scaled_sum(*quants, VtaConfig())
        got = requant.apply([a - quants[0].offset, b - quants[1].offset]) + quants[2].offset
        total += got.size
        equal += int((got == want).sum())
        worst = max(worst, int(np.abs(got - want.astype(np.int64)).max()))
    assert worst <= 1
    assert equal / total >= 0.9999


def test_residual_net_on_the_rtl(tmp_path, residual_model):
    """The fixed-point requantization, scaled_add and global_sum (ALU MUL) on the RTL core,
    which the rtl backend also checks against the spec program by program."""
    model, calibration, x = residual_model
    path = quantize(model, calibration, tmp_path / "residual.onnx", qdq=False,
                    per_channel=True, activations="uint8")
    imported = import_model(path)
    np.testing.assert_array_equal(imported.graph.run(x, backend="rtl"), onnxruntime_run(path, x))


def test_every_node_on_the_host_when_the_config_has_no_8_bit_activations(tmp_path,
                                                                         residual_model):
    """The host computes convolutions, residual adds, average pooling and dense layers as
    onnxruntime does."""
    model, calibration, x = residual_model
    path = quantize(model, calibration, tmp_path / "residual.onnx", per_channel=True,
                    activations="uint8")
    config = VtaConfig(LOG_INP_WIDTH=2, LOG_INP_BUFF_SIZE=14)
    imported = import_model(path, config)
    assert {p.where for p in imported.placements} == {"host"}
    assert "activations are 4-bit in and 4-bit out" in imported.summary()[2]
    np.testing.assert_array_equal(imported.graph.run(x, config=config), onnxruntime_run(path, x))


def test_max_pool_strides_default_to_one(tmp_path):
    rng = np.random.default_rng(0)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[1, 1]),
         helper.make_node("MaxPool", ["c"], ["y"], kernel_shape=[3, 2])],
        "pool", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 6, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 4, 4])],
        [numpy_helper.from_array(rng.standard_normal((4, 4, 1, 1)).astype(np.float32), "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    calibration = [rng.standard_normal((1, 4, 6, 5)).astype(np.float32) for _ in range(4)]
    path = quantize(model, calibration, tmp_path / "pool.onnx")
    imported = import_model(path)
    x = rng.standard_normal((1, 4, 6, 5)).astype(np.float32)
    assert "VTA max_pool2d" in imported.placements[2].describe()
    np.testing.assert_array_equal(imported.graph.run(x), onnxruntime_run(path, x))


def test_a_quantized_tensor_quantized_again(tmp_path):
    """QDQ pairs with other parameters in between: a requantization on the host, in float.

    Compared with onnxruntime's run of the model as written: its graph optimizations merge
    such pairs and change 62 of these 64 outputs by one step."""
    scales = {"s1": 0.05, "s2": 0.13, "s3": 0.07}
    zeros = {"z1": 3, "z2": -20, "z3": 10}
    graph = helper.make_graph(
        [helper.make_node("QuantizeLinear", ["x", "s1", "z1"], ["q1"]),
         helper.make_node("DequantizeLinear", ["q1", "s1", "z1"], ["d1"]),
         helper.make_node("QuantizeLinear", ["d1", "s2", "z2"], ["q2"]),
         helper.make_node("DequantizeLinear", ["q2", "s2", "z2"], ["d2"]),
         helper.make_node("MaxPool", ["d2"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
         helper.make_node("QuantizeLinear", ["p", "s2", "z2"], ["qp"]),
         helper.make_node("DequantizeLinear", ["qp", "s2", "z2"], ["dp"]),
         helper.make_node("QuantizeLinear", ["dp", "s3", "z3"], ["q3"]),
         helper.make_node("DequantizeLinear", ["q3", "s3", "z3"], ["y"])],
        "requantize", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 2, 2])],
        [numpy_helper.from_array(np.float32(v), k) for k, v in scales.items()]
        + [numpy_helper.from_array(np.int8(v), k) for k, v in zeros.items()])
    path = tmp_path / "requantize.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[
        helper.make_opsetid("", 13)]).SerializeToString())
    imported = import_model(path)
    assert [(p.op_type, p.where) for p in imported.placements] == [
        ("QuantizeLinear", "host"), ("QuantizeLinear", "host"), ("MaxPool", "vta"),
        ("QuantizeLinear", "host"), ("DequantizeLinear", "host")]
    x = np.random.default_rng(0).standard_normal((1, 16, 4, 4)).astype(np.float32) * 3
    np.testing.assert_array_equal(imported.graph.run(x), onnxruntime_run(path, x, False))


def concat_pad_model(mode: str, rng) -> bytes:
    """Return a float model: two convolutions concatenated, padded (``mode``), convolved."""
    weights = {"wa": (8, 3, 3, 3), "wb": (8, 3, 1, 1), "wc": (4, 16, 3, 3)}
    constants = [numpy_helper.from_array(rng.normal(0, 0.3, shape).astype(np.float32), name)
                 for name, shape in weights.items()]
    constants.append(numpy_helper.from_array(np.array([0, 0, 1, 2, 0, 0, 1, 2]), "pads"))
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "wa"], ["a0"], pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["a0"], ["a"]),
         helper.make_node("Conv", ["x", "wb"], ["b"]),
         helper.make_node("Concat", ["a", "b"], ["c"], axis=1),
         helper.make_node("Pad", ["c", "pads"], ["p"], mode=mode),
         helper.make_node("Conv", ["p", "wc"], ["y"])],
        "concat-pad", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 6, 8])], constants)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


@pytest.mark.parametrize("mode, qdq, activations", [
    ("constant", True, "int8"), ("reflect", False, "uint8"), ("edge", True, "uint8")])
def test_concat_and_pad_on_the_host(tmp_path, mode, qdq, activations):
    rng = np.random.default_rng(0)
    calibration = [rng.standard_normal((1, 3, 6, 6)).astype(np.float32) for _ in range(8)]
    path = quantize(concat_pad_model(mode, rng), calibration, tmp_path / "concat.onnx",
                    qdq=qdq, activations=activations)
    imported = import_model(path)
    assert [(p.op_type.removeprefix("QLinear"), p.where) for p in imported.placements[3:5]] == [
        ("Concat", "host"), ("Pad", "host")]
    x = rng.standard_normal((1, 3, 6, 6)).astype(np.float32)
    np.testing.assert_array_equal(imported.graph.run(x), onnxruntime_run(path, x))


def clip_model(opset: int, zero_point: np.ndarray, low: float, high: float) -> onnx.ModelProto:
    """Return a QDQ model: the input quantized, dequantized, clipped to ``[low, high]`` (inputs
    from opset 11, attributes before) and quantized again with the same scale and zero point."""
    constants = [numpy_helper.from_array(np.array(0.05, np.float32), "scale"),
                 numpy_helper.from_array(zero_point, "zero")]
    if opset >= 11:
        constants += [numpy_helper.from_array(np.array(low, np.float32), "low"),
                      numpy_helper.from_array(np.array(high, np.float32), "high")]
        clip = helper.make_node("Clip", ["d", "low", "high"], ["c"])
    else:
        clip = helper.make_node("Clip", ["d"], ["c"], min=low, max=high)
    graph = helper.make_graph(
        [helper.make_node("QuantizeLinear", ["x", "scale", "zero"], ["q"]),
         helper.make_node("DequantizeLinear", ["q", "scale", "zero"], ["d"]), clip,
         helper.make_node("QuantizeLinear", ["c", "scale", "zero"], ["cq"]),
         helper.make_node("DequantizeLinear", ["cq", "scale", "zero"], ["y"])],
        "clip", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 5, 7])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3, 5, 7])], constants)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


@pytest.mark.parametrize("opset, zero_point, low, high", [
    (13, np.int8(-10), 0.0, 6.0),      # ReLU6, bounds beyond the quantized range
    (13, np.uint8(128), -1.03, 2.571),  # bounds between two quantized values
    (10, np.int8(3), -0.5, 0.5)])       # Clip-6's attributes
def test_clip_runs_on_vta_as_onnxruntime_computes_it(tmp_path, opset, zero_point, low, high):
    path = tmp_path / "clip.onnx"
    onnx.save(clip_model(opset, zero_point, low, high), path)
    imported = import_model(path)
    assert [(p.op_type, p.where, p.operator) for p in imported.placements][1] == (
        "Clip", "vta", "clip")
    x = np.random.default_rng(0).uniform(-8, 8, (2, 3, 5, 7)).astype(np.float32)
    for optimize in (True, False):
        np.testing.assert_array_equal(imported.graph.run(x), onnxruntime_run(path, x, optimize))


def test_a_qdq_conv_transpose_is_refused_with_the_reason(tmp_path):
    rng = np.random.default_rng(0)
    weights = numpy_helper.from_array(rng.normal(0, 0.3, (3, 4, 3, 3)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("ConvTranspose", ["x", "w"], ["y"], name="up", strides=[2, 2])],
        "deconv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 9, 9])], [weights])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    calibration = [rng.standard_normal((1, 3, 4, 4)).astype(np.float32) for _ in range(4)]
    path = quantize(model, calibration, tmp_path / "deconv.onnx")
    with pytest.raises(OnnxImportError, match=r"node 'up' \(ConvTranspose\): onnxruntime "
                                              r"computes it in float32"):
        import_model(path)


def qdq_around(path, node, in_shape, out_shape, constants=()):
    """Write a QDQ model (scale 0.05, int8 zero point 0) of the one float ``node``, which reads
    ``d`` and writes ``r``, to ``path``; return ``path``."""
    constants = [numpy_helper.from_array(np.array(0.05, np.float32), "scale"),
                 numpy_helper.from_array(np.int8(0), "zero"), *constants]
    graph = helper.make_graph(
        [helper.make_node("QuantizeLinear", ["x", "scale", "zero"], ["q"]),
         helper.make_node("DequantizeLinear", ["q", "scale", "zero"], ["d"]), node,
         helper.make_node("QuantizeLinear", ["r", "scale", "zero"], ["y"])],
        node.op_type, [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info("y", TensorProto.INT8, out_shape)], constants)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


def test_a_bilinear_resize_is_refused_with_the_reason(tmp_path):
    factors = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "factors")
    resize = helper.make_node("Resize", ["d", "", "factors"], ["r"], name="up", mode="linear")
    path = qdq_around(tmp_path / "bilinear.onnx", resize, [1, 2, 4, 4], [1, 2, 8, 8], [factors])
    with pytest.raises(OnnxImportError, match=r"node 'up' \(Resize\): bilinear resizing is not "
                                              r"supported: onnxruntime computes it with float32"
                                              r".*the native upsample_bilinear computes"):
        import_model(path)


@pytest.mark.parametrize("activations", ["int8", "uint8"])
def test_an_odd_window_average_pool_runs_on_vta_bit_exact(tmp_path, activations):
    """A 3x3 AveragePool, padding counted in, between convolutions (QDQ): avg_pool2d rounding
    halves up on the input padded with its zero point on the host, equal to onnxruntime."""
    rng = np.random.default_rng(3)
    calibration = [rng.standard_normal((1, 3, 8, 8)).astype(np.float32) for _ in range(8)]
    path = quantize(pooled_onnx(kernel=3, padding=1), calibration, tmp_path / "pooled.onnx",
                    activations=activations)
    imported = import_model(path)
    assert [(p.op_type, p.where, p.operator) for p in imported.placements
            if p.op_type == "AveragePool"] == [("AveragePool", "vta", "avg_pool2d")]
    for _ in range(4):
        x = rng.standard_normal((1, 3, 8, 8)).astype(np.float32)
        np.testing.assert_array_equal(imported.graph.run(x), onnxruntime_run(path, x))


@pytest.mark.parametrize("zero, dtype", [(-5, np.int8), (140, np.uint8)])
def test_a_qlinear_average_pool_runs_on_vta_bit_exact(tmp_path, zero, dtype):
    """QOperator's QLinearAveragePool, input and output quantized alike with a zero point that
    is not VTA's zero, 3x3 with padding counted in."""
    constants = [numpy_helper.from_array(np.array(0.05, np.float32), "scale"),
                 numpy_helper.from_array(dtype(zero), "zero")]
    graph = helper.make_graph(
        [helper.make_node("QuantizeLinear", ["x", "scale", "zero"], ["q"]),
         helper.make_node("QLinearAveragePool", ["q", "scale", "zero", "scale", "zero"], ["a"],
                          domain="com.microsoft", kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                          count_include_pad=1),
         helper.make_node("DequantizeLinear", ["a", "scale", "zero"], ["y"])],
        "average", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 5, 7, 7])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5, 7, 7])], constants)
    path = tmp_path / "average.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                      helper.make_opsetid("com.microsoft", 1)]),
              path)
    imported = import_model(path)
    assert [p.where for p in imported.placements] == ["host", "vta", "host"]
    rng = np.random.default_rng(4)
    for optimize in (True, False):
        x = (rng.standard_normal((1, 5, 7, 7)) * 3).astype(np.float32)
        np.testing.assert_array_equal(imported.graph.run(x), onnxruntime_run(path, x, optimize))


def test_an_even_window_average_pool_is_refused_with_the_reason(tmp_path):
    pool = helper.make_node("AveragePool", ["d"], ["r"], name="pool", kernel_shape=[2, 2])
    path = qdq_around(tmp_path / "average.onnx", pool, [1, 2, 6, 6], [1, 2, 5, 5])
    with pytest.raises(OnnxImportError, match=r"node 'pool' \(AveragePool\): cannot run it: "
                                              r"onnxruntime rounds each window's float32 mean "
                                              r"to nearest, which is exact only for an odd "
                                              r"window of up to 49 positions, not 4"):
        import_model(path)
