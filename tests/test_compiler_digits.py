"""End to end: a digits CNN trained in float, quantized to int8, classifies the same on VTA as on
the CPU int8 reference, and about as well as in float."""

import numpy as np
import pytest

from vtaref.compiler import digits, reference
from vtaref.compiler.graph import ON_VTA, Graph
from vtaref.spec import VtaConfig

CONFIGS = {
    "default": VtaConfig(),
    "small": VtaConfig(LOG_BLOCK=2, LOG_UOP_BUFF_SIZE=12, LOG_INP_BUFF_SIZE=12,
                       LOG_WGT_BUFF_SIZE=12, LOG_ACC_BUFF_SIZE=12),
}


@pytest.fixture(scope="module")
def data():
    return digits.load_split()


@pytest.fixture(scope="module")
def model(data):
    train_x, train_y, _, _ = data
    return digits.train_cnn(train_x, train_y)


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
def test_vta_classifies_digits_like_the_cpu_reference(data, model, config):
    train_x, _, test_x, test_y = data
    graph = digits.quantize_cnn(model, train_x, config)
    images = digits.quantize_input(test_x, config)
    on_vta = graph.run(images, config=config, backend="spec")
    np.testing.assert_array_equal(on_vta, graph.reference(images, config=config))
    in_float = (digits.predict_float(model, test_x).argmax(axis=1) == test_y).mean()
    accuracy = (on_vta.argmax(axis=1) == test_y).mean()
    assert accuracy >= 0.95 and accuracy >= in_float - 0.02, (accuracy, in_float)


def test_every_layer_but_flatten_runs_on_vta(data, model):
    graph = digits.quantize_cnn(model, data[0], VtaConfig())
    ops = [node.op for node in graph.nodes]
    assert ops == ["conv2d", "max_pool2d", "conv2d", "max_pool2d", "flatten", "dense"]
    assert [op for op in ops if op not in ON_VTA] == ["flatten"]
    assert digits.describe(model) == ("conv3x3 1->8 relu, maxpool 2x2, conv3x3 8->16 relu, "
                                      "maxpool 2x2, flatten, dense 64->10")


def test_shifts_are_the_smallest_that_keep_calibration_in_range(data, model):
    config = VtaConfig()
    calibration = data[0][:300]
    graph = digits.quantize_cnn(model, calibration, config)
    x = digits.quantize_input(calibration, config)
    checked = 0
    for node in graph.nodes:
        attrs = node.attrs
        if node.op in ("conv2d", "dense"):
            if node.op == "conv2d":
                acc = reference.conv2d_accumulate(x, attrs["w"], attrs["stride"],
                                                  attrs["padding"]) + attrs["bias"][:, None, None]
            else:
                acc = x @ attrs["w"].T + attrs["bias"]
            peak, shift = (acc.max() if attrs["relu"] else np.abs(acc).max()), attrs["shift"]
            assert peak >> shift <= 127 and (shift == 0 or peak >> (shift - 1) > 127)
            checked += 1
        x = Graph(node.inputs[0], node.output, [node]).reference(x, config=config)
    assert checked == 3


def test_training_is_deterministic(data):
    train_x, train_y = data[0][:256], data[1][:256]
    first, second = (digits.train_cnn(train_x, train_y, seed=3, epochs=1) for _ in range(2))
    for a, b in zip(first, second):
        assert a.op == b.op and np.array_equal(a.w, b.w) and np.array_equal(a.b, b.b)


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    layers = [digits.Layer("conv2d", rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3), True),
              digits.Layer("max_pool2d"),
              digits.Layer("conv2d", rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4), True),
              digits.Layer("max_pool2d"),
              digits.Layer("flatten"),
              digits.Layer("dense", rng.normal(size=(5, 4)), rng.normal(size=5))]
    x, labels = rng.normal(size=(3, 2, 4, 4)), np.array([0, 4, 2])
    _, grads = digits.loss_and_gradients(layers, x, labels)
    params = [(layer, name) for layer in layers if layer.w is not None for name in ("w", "b")]
    assert len(grads) == len(params) == 6
    step = 1e-6
    for (layer, name), grad in zip(params, grads):
        value = getattr(layer, name)
        for index in [(0,) * value.ndim, tuple(np.array(value.shape) - 1)]:
            original = value[index]
            value[index] = original + step
            up, _ = digits.loss_and_gradients(layers, x, labels)
            value[index] = original - step
            down, _ = digits.loss_and_gradients(layers, x, labels)
            value[index] = original
            assert grad[index] == pytest.approx((up - down) / (2 * step), rel=1e-4, abs=1e-7)


def test_classifier_runs_bit_exact_on_the_rtl(data, model):
    """The whole test set through the Verilator model of the core (each program also checked
    against the spec by the rtl backend)."""
    train_x, _, test_x, test_y = data
    config = CONFIGS["default"]
    graph = digits.quantize_cnn(model, train_x, config)
    images = digits.quantize_input(test_x, config)
    on_rtl = graph.run(images, config=config, backend="rtl")
    np.testing.assert_array_equal(on_rtl, graph.reference(images, config=config))
    assert (on_rtl.argmax(axis=1) == test_y).mean() >= 0.95
