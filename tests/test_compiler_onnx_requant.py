"""Requantization beyond power-of-two shifts: the fixed-point multiplier on the ALU equals its
exact definition, and the half-up power-of-two rounding equals ``floor(x / 2**s + 1/2)``.

Programs run on the spec (race checks on) at the three configurations of test_compiler_ops.
"""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vtaref.compiler import CompileError
from vtaref.compiler import operators as vta
from vtaref.compiler import reference as ref
from vtaref.compiler.epilogue import FixedPoint, ScaledSum, limbs_of
from vtaref.spec import VtaConfig

from .test_compiler_ops import CONFIGS, tensors

pytestmark = pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())


@st.composite
def fixed_points(draw, channels):
    """Per-channel multipliers m / 2**k in [2**-17, 1) with 24-bit m (float32 mantissas: the
    range that 32-bit accumulators take, splitting the products into up to four parts), a zero
    point and clip bounds (a ReLU when ``low`` is the zero point)."""
    ms = [draw(st.integers(1 << 23, (1 << 24) - 1)) for _ in range(channels)]
    ks = [draw(st.integers(24, 40)) for _ in range(channels)]
    offset = draw(st.integers(-128, 127))
    low = draw(st.sampled_from([-128, max(-128, offset)]))
    return FixedPoint(tuple(ms), tuple(ks), offset, low, 127)


def exact(acc, fixed: FixedPoint, channel_axis: int = 1) -> np.ndarray:
    """Return the definition, with fractions: clip(round_half_up(acc * m / 2**k) + offset)."""
    out = np.empty(acc.shape, np.int64)
    for index in np.ndindex(acc.shape):
        c = index[channel_axis]
        real = Fraction(int(acc[index]) * fixed.multiplier[c], 1 << fixed.shift[c])
        rounded = int(np.floor(real + Fraction(1, 2)))
        out[index] = min(max(rounded + fixed.offset, fixed.low), fixed.high)
    return out


@given(data=st.data())
def test_fixed_point_conv2d_equals_the_definition(config, data):
    channels = data.draw(st.integers(1, 20))
    x = data.draw(tensors((1, data.draw(st.integers(1, 12)), 4, 5), config.inp_width))
    w = data.draw(tensors((channels, x.shape[1], 3, 3), config.wgt_width))
    bias = data.draw(tensors((channels,), 12))
    fixed = data.draw(fixed_points(channels))
    got = vta.conv2d(x, w, bias, padding=1, requant=fixed, config=config)
    want = ref.conv2d(x, w, bias, padding=(1, 1), requant=fixed, config=config)
    np.testing.assert_array_equal(got, want)
    acc = ref.conv2d_accumulate(x, w, (1, 1), (1, 1)) + bias[None, :, None, None]
    np.testing.assert_array_equal(want, exact(acc, fixed))


@given(data=st.data())
def test_fixed_point_dense_equals_the_definition(config, data):
    x = data.draw(tensors((data.draw(st.integers(1, 9)), 24), config.inp_width))
    w = data.draw(tensors((data.draw(st.integers(1, 20)), 24), config.wgt_width))
    fixed = data.draw(fixed_points(len(w)))
    got = vta.dense(x, w, requant=fixed, config=config)
    np.testing.assert_array_equal(got, exact(x @ w.T, fixed))


@given(data=st.data(), shift=st.integers(0, 20))
def test_half_up_rounding_of_a_shift(config, data, shift):
    x = data.draw(tensors((2, 8, 3, 3), config.inp_width))
    w = data.draw(tensors((5, 8, 1, 1), config.wgt_width))
    got = vta.conv2d(x, w, shift=shift, rounding="half_up", config=config)
    acc = ref.conv2d_accumulate(x, w, (1, 1), (0, 0))
    low, high = ref.out_range(config)
    want = np.clip(np.floor(acc / 2.0**shift + 0.5).astype(np.int64), low, high)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(
        vta.conv2d(x, w, shift=shift, config=config),
        np.clip(acc >> shift, low, high))  # floor stays the default


@pytest.mark.parametrize("shift, limbs", [(30, 2), (36, 3), (40, 4)])
def test_finer_multipliers_split_the_product_into_more_parts(config, shift, limbs):
    fixed = FixedPoint((12345677, 8388609), (shift, shift - 1), 5, -128, 127)
    assert limbs_of(fixed.constants(config)) == limbs
    x = np.arange(-128, 128).reshape(2, 2, 8, 8)
    w = np.full((2, 2, 3, 3), 127)
    got = vta.conv2d(x, w, padding=1, requant=fixed, config=config)
    acc = ref.conv2d_accumulate(x, w, (1, 1), (1, 1))
    np.testing.assert_array_equal(got, exact(acc, fixed))


def test_a_multiplier_too_fine_for_the_accumulator_is_refused(config):
    fine = FixedPoint((12345677,), (44,), 0, -128, 127)  # about 2**-20.5
    with pytest.raises(CompileError, match=f"wider than {config.acc_width} bits"):
        fine.constants(config)
    coarse = FixedPoint((12345677,), (30,), 0, -128, 127)  # about 2**-6.5
    with pytest.raises(CompileError, match="needs accumulators wider than 16 bits"):
        coarse.constants(VtaConfig(LOG_ACC_WIDTH=4, LOG_ACC_BUFF_SIZE=16))
    assert coarse.constants(config).shape == (10, 1)


@given(data=st.data())
def test_scaled_add_equals_the_definition(config, data):
    shape = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 20)), 3, 4)
    a, b = (data.draw(tensors(shape, config.inp_width)) for _ in range(2))
    shift = data.draw(st.integers(1, 22))
    multipliers = tuple(data.draw(st.integers(0, 1 << shift)) for _ in range(2))
    bias = data.draw(st.integers(-(1 << 23), 1 << 23))
    requant = ScaledSum(multipliers, bias, shift, data.draw(st.sampled_from([-128, 0])), 127)
    want = np.clip((a * multipliers[0] + b * multipliers[1] + bias) >> shift, requant.low, 127)
    np.testing.assert_array_equal(vta.scaled_add(a, b, requant=requant, config=config), want)


@given(data=st.data())
def test_global_sum_equals_the_definition(config, data):
    x = data.draw(tensors((data.draw(st.integers(1, 3)), data.draw(st.integers(1, 20)),
                           data.draw(st.integers(1, 7)), data.draw(st.integers(1, 7))),
                          config.inp_width))
    bias = data.draw(tensors((x.shape[1],), 12))
    fixed = data.draw(fixed_points(x.shape[1]))
    got = vta.global_sum(x, bias, requant=fixed, config=config)
    np.testing.assert_array_equal(got, exact(x.sum(axis=(2, 3)) + bias, fixed))
