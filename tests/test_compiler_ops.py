"""Every operator compiled for VTA equals its numpy reference bit for bit.

The programs run on the spec with its race, deadlock and token-depth checks on, at three
configurations: the default, a 2x8 one, and a small-buffer one where tiling is forced.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vtaref.compiler import operators as vta
from vtaref.compiler import reference as ref
from vtaref.compiler.conv import compile_conv2d
from vtaref.compiler.errors import CompileError
from vtaref.spec import VtaConfig

CONFIGS = {
    "default": VtaConfig(),
    "2x8": VtaConfig(LOG_BATCH=1, LOG_BLOCK=3, LOG_UOP_BUFF_SIZE=13, LOG_INP_BUFF_SIZE=13,
                     LOG_WGT_BUFF_SIZE=15, LOG_ACC_BUFF_SIZE=15),
    "small": VtaConfig(LOG_BLOCK=2, LOG_UOP_BUFF_SIZE=12, LOG_INP_BUFF_SIZE=12,
                       LOG_WGT_BUFF_SIZE=12, LOG_ACC_BUFF_SIZE=12),
}
pytestmark = pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())


@st.composite
def tensors(draw, shape, width):
    """An int64 array of ``width``-bit values: uniform, or only the extremes (to saturate)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    low, high = -(1 << (width - 1)), (1 << (width - 1)) - 1
    if draw(st.booleans()):
        return rng.integers(low, high + 1, size=shape)
    return rng.choice(np.array([low, high, 0, 1, -1]), size=shape)


def window(draw, size, kernel_max=4, stride_max=3, padding_max=3):
    """Draw (kernel, stride, padding) along one axis of ``size`` such that the kernel fits."""
    kernel = draw(st.integers(1, kernel_max))
    padding = draw(st.integers(max(0, -(-(kernel - size) // 2)), padding_max))
    return kernel, draw(st.integers(1, stride_max)), padding


@given(data=st.data())
def test_conv2d(config, data):
    n = data.draw(st.integers(1, 2))
    c, o = data.draw(st.integers(1, 64)), data.draw(st.integers(1, 64))
    height, width = data.draw(st.integers(1, 24)), data.draw(st.integers(1, 24))
    (kh, sh, ph), (kw, sw, pw) = window(data.draw, height), window(data.draw, width)
    x = data.draw(tensors((n, c, height, width), config.inp_width))
    w = data.draw(tensors((o, c, kh, kw), config.wgt_width))
    bias = data.draw(st.none() | tensors((o,), config.acc_width))
    shift, relu = data.draw(st.integers(0, 20)), data.draw(st.booleans())
    got = vta.conv2d(x, w, bias, stride=(sh, sw), padding=(ph, pw), shift=shift, relu=relu,
                     config=config)
    expected = ref.conv2d(x, w, bias, stride=(sh, sw), padding=(ph, pw), shift=shift, relu=relu,
                          config=config)
    np.testing.assert_array_equal(got, expected)


@given(data=st.data())
def test_dense_and_matmul(config, data):
    m, k, n = (data.draw(st.integers(1, 100)) for _ in range(3))
    x = data.draw(tensors((m, k), config.inp_width))
    w = data.draw(tensors((n, k), config.wgt_width))
    bias = data.draw(st.none() | tensors((n,), config.acc_width))
    shift, relu = data.draw(st.integers(0, 20)), data.draw(st.booleans())
    expected = ref.dense(x, w, bias, shift=shift, relu=relu, config=config)
    got = vta.dense(x, w, bias, shift=shift, relu=relu, config=config)
    np.testing.assert_array_equal(got, expected)
    if bias is None:
        got = vta.matmul(x, w.T, shift=shift, relu=relu, config=config)
        np.testing.assert_array_equal(got, expected)


shapes = st.one_of(st.tuples(st.integers(1, 40), st.integers(1, 40)),
                   st.tuples(*[st.integers(1, 6)] * 4))


@given(data=st.data(), shape=shapes)
def test_bias_add(config, data, shape):
    x = data.draw(tensors(shape, config.acc_width))
    bias = data.draw(tensors(shape[1:2], config.acc_width))
    shift, relu = data.draw(st.integers(0, config.acc_width - 1)), data.draw(st.booleans())
    got = vta.bias_add(x, bias, shift=shift, relu=relu, config=config)
    np.testing.assert_array_equal(got, ref.bias_add(x, bias, shift=shift, relu=relu,
                                                    config=config))


@given(data=st.data(), shape=shapes)
def test_requantize(config, data, shape):
    x = data.draw(tensors(shape, config.acc_width))
    shift, relu = data.draw(st.integers(0, config.acc_width - 1)), data.draw(st.booleans())
    got = vta.requantize(x, shift=shift, relu=relu, config=config)
    np.testing.assert_array_equal(got, ref.requantize(x, shift, relu, config=config))


@given(data=st.data(), shape=st.lists(st.integers(1, 12), min_size=1, max_size=4))
def test_relu(config, data, shape):
    x = data.draw(tensors(tuple(shape), config.inp_width))
    np.testing.assert_array_equal(vta.relu(x, config=config), ref.relu(x, config=config))


@given(data=st.data(), shape=st.lists(st.integers(1, 12), min_size=1, max_size=4))
def test_residual_add(config, data, shape):
    a = data.draw(tensors(tuple(shape), config.inp_width))
    b = data.draw(tensors(tuple(shape), config.inp_width))
    shift, relu = data.draw(st.integers(0, 3)), data.draw(st.booleans())
    got = vta.add(a, b, shift=shift, relu=relu, config=config)
    np.testing.assert_array_equal(got, ref.add(a, b, shift=shift, relu=relu, config=config))


@given(data=st.data())
def test_max_pool2d(config, data):
    n, c = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 64))
    height, width = data.draw(st.integers(1, 24)), data.draw(st.integers(1, 24))
    (kh, sh, ph), (kw, sw, pw) = window(data.draw, height), window(data.draw, width)
    x = data.draw(tensors((n, c, height, width), config.inp_width))
    got = vta.max_pool2d(x, (kh, kw), (sh, sw), (ph, pw), config=config)
    expected = ref.max_pool2d(x, (kh, kw), (sh, sw), (ph, pw), config=config)
    np.testing.assert_array_equal(got, expected)


@given(data=st.data())
def test_conv_transpose2d(config, data):
    n, c, o = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 40)), data.draw(
        st.integers(1, 40))
    height, width = data.draw(st.integers(1, 9)), data.draw(st.integers(1, 9))
    kernel = (data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4)))
    stride = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    padding = tuple(data.draw(st.integers(0, min(k - 1, ((size - 1) * s + k - 1) // 2)))
                    for k, s, size in zip(kernel, stride, (height, width)))  # some output
    output_padding = tuple(data.draw(st.integers(0, s - 1)) for s in stride)
    x = data.draw(tensors((n, c, height, width), config.inp_width))
    w = data.draw(tensors((c, o) + kernel, config.wgt_width))
    bias = data.draw(st.none() | tensors((o,), config.acc_width))
    attrs = dict(stride=stride, padding=padding, output_padding=output_padding,
                 shift=data.draw(st.integers(0, 20)), relu=data.draw(st.booleans()))
    got = vta.conv_transpose2d(x, w, bias, **attrs, config=config)
    np.testing.assert_array_equal(got, ref.conv_transpose2d(x, w, bias, **attrs, config=config))


@given(data=st.data())
def test_avg_pool2d(config, data):
    n, c = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 64))
    height, width = data.draw(st.integers(1, 24)), data.draw(st.integers(1, 24))
    (kh, sh, ph), (kw, sw, pw) = window(data.draw, height), window(data.draw, width)
    x = data.draw(tensors((n, c, height, width), config.inp_width))
    rounding = data.draw(st.sampled_from(["floor", "half_up"]))
    got = vta.avg_pool2d(x, (kh, kw), (sh, sw), (ph, pw), rounding=rounding, config=config)
    expected = ref.avg_pool2d(x, (kh, kw), (sh, sw), (ph, pw), rounding=rounding,
                              config=config)
    np.testing.assert_array_equal(got, expected)


def test_avg_pool2d_rounds_to_nearest_halves_up(config):
    # 2x2 windows of sums 6, 7, -6 and -7: means 1.5, 1.75, -1.5 and -1.75.
    x = np.array([[[[1, 1, 2, 2, -1, -1, -2, -2], [2, 2, 2, 1, -2, -2, -2, -1]]]])
    got = vta.avg_pool2d(x, 2, rounding="half_up", config=config)
    assert got[0, 0, 0].tolist() == [2, 2, -1, -2]
    assert ref.avg_pool2d(x, (2, 2), (2, 2), (0, 0), rounding="half_up",
                          config=config)[0, 0, 0].tolist() == [2, 2, -1, -2]
    assert vta.avg_pool2d(x, 2, config=config)[0, 0, 0].tolist() == [1, 1, -2, -2]


def test_average_scale_takes_the_rounding_offset(config):
    # Every sum of 9 activations plus 4, floored over 9, through the scale and bias.
    m, k = ref.average_scale(9, config, 4)
    bias = ref.average_bias(9, m, k, config, 4)
    low, high = -(1 << (config.inp_width - 1)), (1 << (config.inp_width - 1)) - 1
    sums = np.arange(9 * low, 9 * high + 1)
    np.testing.assert_array_equal((sums * m + bias) >> k, (sums + 4) // 9)
    np.testing.assert_array_equal((sums + 4) // 9, np.rint(sums / 9))


@given(data=st.data())
def test_clip(config, data):
    shape = data.draw(st.lists(st.integers(1, 9), min_size=1, max_size=4))
    x = data.draw(tensors(shape, config.inp_width))
    high = (1 << (config.out_width - 1)) - 1
    low = data.draw(st.integers(-high - 1, high))
    top = data.draw(st.integers(low, high))
    got = vta.clip(x, low, top, config=config)
    np.testing.assert_array_equal(got, ref.clip(x, low, top, config=config))


def test_clip_refuses_bounds_outside_the_output_range(config):
    with pytest.raises(ValueError, match=r"the clip bounds \[0, 200\] must be ordered"):
        vta.clip(np.zeros((2, 3), np.int64), 0, 200, config=config)


@given(data=st.data())
def test_global_avg_pool(config, data):
    shape = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 20)),
             data.draw(st.integers(1, 9)), data.draw(st.integers(1, 9)))
    x = data.draw(tensors(shape, config.inp_width))
    got = vta.global_avg_pool(x, config=config)
    np.testing.assert_array_equal(got, ref.global_avg_pool(x, config=config))


@pytest.mark.parametrize("stride, padding, kernel", [
    ((1, 1), (16, 16), (3, 3)),  # more padding than a LOAD can add: padded in DRAM
    ((4, 4), (0, 0), (2, 2)),  # stride larger than the kernel: some input rows are never read
    ((1, 1), (2, 2), (1, 1)),  # padding wider than the kernel: border outputs see padding only
    ((2, 1), (0, 3), (1, 5)),  # different height and width parameters
])
def test_conv2d_edge_cases(config, stride, padding, kernel):
    rng = np.random.default_rng(7)
    x = rng.integers(-128, 128, size=(1, 5, 9, 8))
    w = rng.integers(-128, 128, size=(6, 5, *kernel))
    got = vta.conv2d(x, w, stride=stride, padding=padding, shift=6, config=config)
    expected = ref.conv2d(x, w, stride=stride, padding=padding, shift=6, config=config)
    np.testing.assert_array_equal(got, expected)


def test_upsample_nearest_repeats_pixels(config):
    x = np.arange(6).reshape(1, 1, 2, 3)
    assert vta.upsample_nearest(x, 2, config=config)[0, 0].tolist() == [
        [0, 0, 1, 1, 2, 2], [0, 0, 1, 1, 2, 2], [3, 3, 4, 4, 5, 5], [3, 3, 4, 4, 5, 5]]


@given(data=st.data())
def test_upsample_nearest(config, data):
    shape = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 40)),
             data.draw(st.integers(1, 12)), data.draw(st.integers(1, 12)))
    scale = (data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4)))
    x = data.draw(tensors(shape, config.inp_width))
    got = vta.upsample_nearest(x, scale, config=config)
    np.testing.assert_array_equal(got, ref.upsample_nearest(x, scale, config=config))


def test_upsample_bilinear_weighs_neighbours_and_rounds_halves_to_even(config):
    # Along W: 0 and 2 give 0, 0.5, 1.5, 2 (edges clamped): halves round to 0 and 2.
    x = np.array([[[[0, 2], [0, 2]]]])
    assert vta.upsample_bilinear(x, config=config)[0, 0].tolist() == [[0, 0, 2, 2]] * 4
    # Along both: (9 * 1 + 3 * 0 + 3 * 0 + 0) / 16 = 0.5625 at (1, 1), 0.0625 at (2, 2).
    x = np.array([[[[0, 0], [0, 1]]]])
    expected = np.rint(np.array([0, 0.25, 0.75, 1])[:, None] * np.array([0, 0.25, 0.75, 1]))
    np.testing.assert_array_equal(vta.upsample_bilinear(x, config=config)[0, 0], expected)


@given(data=st.data())
def test_upsample_bilinear(config, data):
    shape = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 40)),
             data.draw(st.integers(1, 12)), data.draw(st.integers(1, 12)))
    x = data.draw(tensors(shape, config.inp_width))
    got = vta.upsample_bilinear(x, config=config)
    np.testing.assert_array_equal(got, ref.upsample_bilinear(x, config=config))


def test_round_half_even_is_numpys_rint(config):
    acc = np.arange(-5000, 5000)
    for shift in range(1, 8):
        np.testing.assert_array_equal(ref.round_half_even(acc, shift), np.rint(acc / 2**shift))


def test_upsample_bilinear_refuses_a_narrow_accumulator(config):
    narrow = VtaConfig(LOG_INP_WIDTH=2, LOG_ACC_WIDTH=3, LOG_BATCH=0, LOG_BLOCK=1,
                       LOG_UOP_BUFF_SIZE=3, LOG_INP_BUFF_SIZE=3, LOG_WGT_BUFF_SIZE=3,
                       LOG_ACC_BUFF_SIZE=3)
    with pytest.raises(CompileError, match="needs accumulators of at least 9 bits, not 8"):
        vta.upsample_bilinear(np.zeros((1, 1, 2, 2), int), config=narrow)


@pytest.mark.parametrize("call, message", [
    (lambda c: vta.conv2d(np.zeros((1, 2, 3, 3), int), np.zeros((1, 3, 1, 1), int), config=c),
     "w has 3 input channels but x has 2"),
    (lambda c: vta.conv2d(np.full((1, 1, 3, 3), 128), np.zeros((1, 1, 1, 1), int), config=c),
     "x must hold 8-bit values in [-128, 127]"),
    (lambda c: vta.conv2d(np.zeros((1, 1, 2, 2), int), np.zeros((1, 1, 3, 3), int), config=c),
     "the 3x3 kernel does not fit the padded 2x2 input"),
    (lambda c: vta.requantize(np.zeros((2, 2), int), shift=32, config=c),
     "shift must be an integer in [0, 31], not 32"),
    (lambda c: vta.add(np.zeros((2, 2), int), np.zeros((2, 3), int), config=c),
     "inputs must share one shape"),
])
def test_bad_arguments_raise_value_error(config, call, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        call(config)


def test_tiled_conv_splits_work_into_several_tiles(config):
    x = np.ones((1, 64, 28, 28), dtype=np.int64)
    w = np.ones((64, 64, 3, 3), dtype=np.int64)
    program = compile_conv2d(x, w, padding=1, shift=4, config=config)
    assert program.stats["STORE"] > 1 and program.stats["NOP"] == 0
    np.testing.assert_array_equal(program.run(), ref.conv2d(x, w, padding=(1, 1), shift=4,
                                                            config=config))
