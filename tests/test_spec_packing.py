"""Lane packing: LSB-first two's complement, every width a config allows."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from vtaref.spec.packing import pack, unpack, wrap


def test_four_bit_lane_zero_is_the_low_nibble():
    assert pack(np.array([[1, -1]]), 4).tolist() == [[0xF1]]
    assert unpack(np.array([[0x8F]], dtype=np.uint8), 4, 2).tolist() == [[-1, -8]]


def test_one_and_two_bit_lanes():
    assert pack(np.array([[-1, 0, -1, 0, 0, 0, 0, -1]]), 1).tolist() == [[0b10000101]]
    assert unpack(np.array([[0b11100100]], dtype=np.uint8), 2, 4).tolist() == [[0, 1, -2, -1]]


def test_wrap():
    assert wrap(np.array([127, 128, -129, 2**31]), 8).tolist() == [127, -128, 127, 0]


@pytest.mark.parametrize("width", [1, 2, 4, 8, 16, 32])
@given(data=st.data())
def test_round_trip(width, data):
    lanes = data.draw(st.sampled_from([n for n in (1, 2, 4, 8, 16, 32) if n * width % 8 == 0]))
    low, high = -(1 << (width - 1)), (1 << (width - 1)) - 1
    values = data.draw(hnp.arrays(np.int64, (3, lanes), elements=st.integers(low, high)))
    raw = pack(values, width)
    assert raw.shape == (3, lanes * width // 8)
    assert np.array_equal(unpack(raw, width, lanes), values)
    # Packing truncates: adding 2^width to a lane changes nothing.
    assert np.array_equal(pack(values + (1 << width), width), raw)
