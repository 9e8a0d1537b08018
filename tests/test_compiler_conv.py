"""How the convolution compiler spends its cycles: each output channel block's bias is loaded
once per tile and added by the ALU, bit-exact with the numpy reference."""

import numpy as np
import pytest

from vtaref.compiler import reference as ref
from vtaref.compiler.conv import compile_conv2d
from vtaref.spec import Load, MemType, VtaConfig
from vtaref.spec.runner import fetch

CONFIGS = {
    "default": VtaConfig(),
    "2x8": VtaConfig(LOG_BATCH=1, LOG_BLOCK=3, LOG_UOP_BUFF_SIZE=13, LOG_INP_BUFF_SIZE=13,
                     LOG_WGT_BUFF_SIZE=15, LOG_ACC_BUFF_SIZE=15),
    "4-bit, 16-bit acc, 4x4": VtaConfig(LOG_INP_WIDTH=2, LOG_WGT_WIDTH=2, LOG_ACC_WIDTH=4,
                                        LOG_BATCH=2, LOG_BLOCK=2, LOG_UOP_BUFF_SIZE=12,
                                        LOG_INP_BUFF_SIZE=10, LOG_WGT_BUFF_SIZE=10,
                                        LOG_ACC_BUFF_SIZE=11),
}


def extremes(rng, shape, width):
    """Return ``width``-bit values of ``shape``, half of them the range's ends."""
    low, high = -(1 << (width - 1)), (1 << (width - 1)) - 1
    values = rng.integers(low, high + 1, size=shape)
    return np.where(rng.random(shape) < 0.5, rng.choice([low, high], size=shape), values)


def acc_loads(program):
    """Return the LOAD ACC instructions of a compiled program."""
    image = program.image
    return [insn for insn in fetch(image.make_dram(), image.insn_addr, image.insn_count,
                                   image.config)
            if isinstance(insn, Load) and insn.memory_type == MemType.ACC]


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("batch", [1, 3])
def test_conv2d_loads_each_bias_once_per_tile_and_block(config, batch):
    rng = np.random.default_rng(batch)
    x = extremes(rng, (batch, 5, 13, 11), config.inp_width)
    w = extremes(rng, (20, 5, 3, 3), config.wgt_width)
    bias = extremes(rng, (20,), config.acc_width)
    program = compile_conv2d(x, w, bias, stride=1, padding=1, shift=3, relu=False,
                             config=config)
    loads = acc_loads(program)
    assert loads and all((load.y_size, load.x_size) == (1, 1) for load in loads)
    np.testing.assert_array_equal(program.run(), ref.conv2d(
        x, w, bias, padding=(1, 1), shift=3, config=config))


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
def test_conv2d_bias_of_one_pixel_tiles(config):
    # 1x1 outputs: the loaded bias is the whole tile, nothing to add it to.
    rng = np.random.default_rng(0)
    x = extremes(rng, (2, 3, 3, 3), config.inp_width)
    w = extremes(rng, (9, 3, 3, 3), config.wgt_width)
    bias = extremes(rng, (9,), config.acc_width)
    got = compile_conv2d(x, w, bias, shift=2, relu=True, config=config).run()
    np.testing.assert_array_equal(got, ref.conv2d(x, w, bias, shift=2, relu=True, config=config))
