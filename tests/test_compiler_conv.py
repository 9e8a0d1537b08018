"""How the convolution and pooling compilers spend their cycles, bit-exact with the numpy
reference: each output channel block's bias is read once per tile into all its accumulators; a
convolution of few input channels is folded with its kernel offsets
(:mod:`vtaref.compiler.fold`); kernel taps that would read zero padding are not visited; a
residual sum runs on the accumulator; a max pool stages its input about once."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vtaref.compiler import reference as ref
from vtaref.compiler.conv import choose_fold, compile_conv2d, predicted_cycles
from vtaref.compiler.fold import FOLDS, fold, folded_geometry
from vtaref.compiler.graph import ProgramCost
from vtaref.compiler.layout import pack_channels
from vtaref.compiler.pooling import compile_max_pool2d
from vtaref.compiler.runtime import CommandStream
from vtaref.spec import Alu, Gemm, Load, MemType, Store, VtaConfig
from vtaref.spec.runner import fetch

from .test_compiler_ops import tensors, window

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
    return [insn for insn in instructions(program)
            if isinstance(insn, Load) and insn.memory_type == MemType.ACC]


def instructions(program):
    """Return the instructions of a compiled program."""
    image = program.image
    return fetch(image.make_dram(), image.insn_addr, image.insn_count, image.config)


def product_visits(program):
    """Return the GEMM visits of a compiled program that add products (not resets)."""
    return sum((insn.uop_end - insn.uop_bgn) * insn.iter_out * insn.iter_in
               for insn in instructions(program) if isinstance(insn, Gemm) and not insn.reset_reg)


def data_taps(size, kernel, stride, padding):
    """Return the (output, tap) pairs along one axis whose input lies inside the image."""
    outputs = (size + 2 * padding - kernel) // stride + 1
    at = np.arange(outputs)[:, None] * stride - padding + np.arange(kernel)[None, :]
    return int(((at >= 0) & (at < size)).sum())


@given(data=st.data())
def test_conv2d_skips_the_taps_on_padding(data):
    config = VtaConfig()
    n, cb, ob = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2)), data.draw(
        st.integers(1, 2))
    height, width = data.draw(st.integers(1, 12)), data.draw(st.integers(1, 12))
    (kh, sh, ph), (kw, sw, pw) = (window(data.draw, height, 5, 2, 2),
                                  window(data.draw, width, 5, 2, 2))
    x = data.draw(tensors((n, cb * config.block, height, width), config.inp_width))
    w = data.draw(tensors((ob * config.block, cb * config.block, kh, kw), config.wgt_width))
    attrs = dict(stride=(sh, sw), padding=(ph, pw), shift=4, config=config)
    skipping, visiting = (compile_conv2d(x, w, skip_padding=skip, **attrs)
                          for skip in (True, False))
    want = ref.conv2d(x, w, **attrs)
    np.testing.assert_array_equal(skipping.run(), want)
    np.testing.assert_array_equal(visiting.run(), want)
    # Only the products of data are visited, whether the LOAD or the host pads.
    taps = data_taps(height, kh, sh, ph) * data_taps(width, kw, sw, pw)
    assert product_visits(skipping) == n * ob * cb * taps
    # By default, the one the timing model predicts faster.
    chosen = predicted_cycles(compile_conv2d(x, w, **attrs))
    assert chosen == min(predicted_cycles(skipping), predicted_cycles(visiting))


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
    # One DRAM element into every entry of the block: no reset and no ALU pass to add it.
    assert loads and all((load.x_size, load.x_stride) == (1, 0) for load in loads)
    blocks = -(-batch // config.batch) * -(-20 // config.block)
    assert sum(load.y_size for load in loads) == blocks * 13 * 11
    assert not any(isinstance(insn, Gemm) and insn.reset_reg for insn in instructions(program))
    assert not any(isinstance(insn, Alu) and not insn.use_imm for insn in instructions(program))
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


@given(data=st.data(), axes=st.sampled_from(FOLDS))
def test_fold_sums_the_same_products(data, axes):
    n, c = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 5))
    height, width = data.draw(st.integers(1, 12)), data.draw(st.integers(1, 12))
    (kh, sh, ph), (kw, sw, pw) = window(data.draw, height, 6), window(data.draw, width, 6)
    x = data.draw(tensors((n, c, height, width), 8))
    w = data.draw(tensors((3, c, kh, kw), 8))
    folded = fold(x, w, (sh, sw), (ph, pw), axes)
    fx, fw, stride, padding = folded
    geometry = folded_geometry(c, (height, width), (kh, kw), (sh, sw), (ph, pw), axes)
    assert geometry == (fx.shape[1], fx.shape[2:], fw.shape[2:], stride, padding)
    np.testing.assert_array_equal(ref.conv2d_accumulate(fx, fw, stride, padding),
                                  ref.conv2d_accumulate(x, w, (sh, sw), (ph, pw)))


def fold_of(config, c, kernel, stride, padding, size=(32, 32)):
    """Return the axes compile_conv2d folds a convolution of ``c`` channels along."""
    budget = CommandStream(config).kernel_budget
    return choose_fold(1, c, 16, size, kernel, stride, padding, config, budget, (1, 0))[0]


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
def test_folds_only_what_saves_gemm_visits(config):
    # ResNet-18's stem: 3 channels, a 7x7 kernel, stride 2.
    assert fold_of(config, 3, (7, 7), (2, 2), (3, 3), (64, 64)) != ()
    # Channels that fill whole blocks, or a 1x1 kernel: nothing to fold.
    assert fold_of(config, 2 * config.block, (3, 3), (1, 1), (1, 1)) == ()
    assert fold_of(config, 3, (1, 1), (2, 2), (0, 0)) == ()


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("c, kernel, stride, padding", [
    (3, (7, 7), (2, 2), (3, 3)),  # ResNet-18's stem
    (1, (5, 3), (1, 2), (2, 0)),
    (3, (9, 9), (1, 1), (4, 4)),  # the style net's first and last convolutions
    (5, (3, 1), (3, 1), (1, 0)),
])
def test_folded_conv2d_equals_the_reference(config, c, kernel, stride, padding):
    rng = np.random.default_rng(c)
    x = extremes(rng, (3, c, 19, 17), config.inp_width)
    w = extremes(rng, (20, c, *kernel), config.wgt_width)
    bias = extremes(rng, (20,), config.acc_width)
    got = compile_conv2d(x, w, bias, stride=stride, padding=padding, shift=5, relu=True,
                         config=config).run()
    np.testing.assert_array_equal(got, ref.conv2d(x, w, bias, stride=stride, padding=padding,
                                                  shift=5, relu=True, config=config))


def test_a_bias_broadcast_counts_the_one_element_it_reads():
    config = VtaConfig()
    stream = CommandStream(config)
    bias = stream.upload(MemType.ACC, pack_channels(np.arange(5), config), (1,))
    stream.load(bias, 0, 0, y_size=100, x_size=1, x_stride=0)
    assert ProgramCost.of(stream.compile(lambda read: None)).load_bytes == config.acc_elem_bytes


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
@given(data=st.data())
def test_conv2d_adds_a_residual_on_the_accumulator(config, data):
    n, c, o = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 20)), data.draw(
        st.integers(1, 20))
    height, width = data.draw(st.integers(1, 10)), data.draw(st.integers(1, 10))
    (kh, sh, ph), (kw, sw, pw) = window(data.draw, height), window(data.draw, width)
    x = data.draw(tensors((n, c, height, width), config.inp_width))
    w = data.draw(tensors((o, c, kh, kw), config.wgt_width))
    bias = data.draw(st.none() | tensors((o,), config.acc_width))
    oh, ow = (height + 2 * ph - kh) // sh + 1, (width + 2 * pw - kw) // sw + 1
    residual = data.draw(tensors((n, o, oh, ow), config.inp_width))
    shifts = (data.draw(st.integers(0, 12)), data.draw(st.integers(0, 3)))
    relus = (data.draw(st.booleans()), data.draw(st.booleans()))
    attrs = dict(stride=(sh, sw), padding=(ph, pw), shift=shifts[0], relu=relus[0],
                 residual_shift=shifts[1], residual_relu=relus[1], config=config)
    program = compile_conv2d(x, w, bias, residual=residual, **attrs)
    np.testing.assert_array_equal(program.run(), ref.conv2d_add(x, residual, w, bias, **attrs))
    # One program: the sum never leaves the accumulator, only the result is stored.
    stored = sum(insn.y_size * insn.x_size for insn in instructions(program)
                 if isinstance(insn, Store))
    assert stored == -(-n // config.batch) * -(-o // config.block) * oh * ow


def test_conv2d_refuses_a_residual_of_another_shape():
    config = VtaConfig()
    x, w = np.zeros((1, 4, 6, 6), int), np.zeros((8, 4, 3, 3), int)
    with pytest.raises(ValueError, match=r"residual must have shape \(1, 8, 6, 6\)"):
        compile_conv2d(x, w, padding=1, residual=np.zeros((1, 8, 5, 6), int), config=config)


@given(data=st.data())
def test_a_strided_1x1_conv2d_loads_only_the_pixels_it_reads(data):
    config = VtaConfig()
    n, c, o = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 20)), data.draw(
        st.integers(1, 20))
    height, width = data.draw(st.integers(1, 15)), data.draw(st.integers(1, 15))
    sh, sw = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    x = data.draw(tensors((n, c, height, width), config.inp_width))
    w = data.draw(tensors((o, c, 1, 1), config.wgt_width))
    program = compile_conv2d(x, w, stride=(sh, sw), shift=3, config=config)
    np.testing.assert_array_equal(program.run(), ref.conv2d(x, w, stride=(sh, sw), shift=3,
                                                            config=config))
    # It loads what the unstrided convolution of the pixels it reads loads.
    read = compile_conv2d(x[:, :, ::sh, ::sw], w, shift=3, config=config)
    assert loaded_pixels(program) == loaded_pixels(read)


def loaded_pixels(program):
    """Return the input elements a compiled program's LOADs bring."""
    return sum(insn.y_size * insn.x_size for insn in instructions(program)
               if isinstance(insn, Load) and insn.memory_type == MemType.INP)


def test_resnet18s_max_pool_stages_its_input_about_once():
    # 3x3/2 over 112x112x64: tiles of whole windows (7 input rows for 3 output rows), not one
    # kernel row at a time (each input row staged three times): the tile search counts the 9
    # MAX visits per output whatever the chunking.
    config = VtaConfig()
    program = compile_max_pool2d(np.zeros((1, 64, 112, 112), np.int64), 3, 2, 1, config=config)
    staged = sum(insn.visit_count for insn in instructions(program) if isinstance(insn, Gemm))
    inputs = 64 // config.block * 114 * 114  # the input padded by the host
    assert staged <= 2 * 1.25 * inputs  # a reset and a copy per staged element
