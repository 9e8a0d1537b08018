"""Whole networks on VTA: ResNet-18 and a style net equal the CPU int8 reference bit for bit."""

import numpy as np
import pytest

from vtaref.compiler.backend import SpecBackend
from vtaref.compiler.errors import CompileError
from vtaref.compiler.graph import ProgramCost
from vtaref.compiler.networks import random_input, resnet18, style_net
from vtaref.compiler.operators import global_avg_pool
from vtaref.compiler.reference import average_bias, average_scale
from vtaref.spec import VtaConfig

SMALL = VtaConfig(LOG_BATCH=1, LOG_BLOCK=3, LOG_UOP_BUFF_SIZE=13, LOG_INP_BUFF_SIZE=13,
                  LOG_WGT_BUFF_SIZE=15, LOG_ACC_BUFF_SIZE=15)
# Buffers small enough for micro-op fields to fit with any integer widths.
NARROW_BUFFERS = dict(LOG_UOP_BUFF_SIZE=10, LOG_INP_BUFF_SIZE=12, LOG_WGT_BUFF_SIZE=14,
                      LOG_ACC_BUFF_SIZE=14)


def test_resnet18_at_224_runs_every_layer_on_vta_bit_exact():
    config = VtaConfig()
    graph = resnet18(224, seed=0, config=config)
    x = random_input(graph.input_shape, seed=1, config=config)
    profile = graph.profile(x, config=config, backend=SpecBackend(check_races=True))
    expected = graph.trace(x, config=config)
    assert profile.tensors["fc"].shape == (1, 1000)
    for p in profile.nodes:
        np.testing.assert_array_equal(profile.tensors[p.node.output], expected[p.node.output],
                                      err_msg=p.node.output)
    # The 3-channel stem and the classifier run on VTA, as does everything else.
    assert [p.node.output for p in profile.nodes if p.cost is None] == []
    assert expected["layer4.1.out"].shape[2:] == (7, 7)  # the average pool covers 49 positions
    # Each basic block's second convolution adds the shortcut on its accumulators.
    ops = [p.node.op for p in profile.nodes]
    assert ops.count("conv2d_add") == 8 and "add" not in ops
    # What the profile counts from the instructions is what the spec executed.
    for p in profile.nodes:
        stats = p.backend_stats
        assert (p.cost.instructions, p.cost.uop_visits, p.cost.gemm_macs) == (
            sum(stats.instructions.values()), stats.uops, stats.macs), p.node.output
    assert sum(p.macs for p in profile.nodes) == 1_814_073_344  # 1.8 G MACs: ResNet-18's
    stem = profile.nodes[0]
    assert stem.macs == 64 * 112 * 112 * 3 * 7 * 7
    # Folded into 7 * 7 * 3 = 147 channels (kernel rows, columns, colours), padded to 160.
    assert stem.cost.gemm_macs == 64 * 112 * 112 * 160


def test_resnet18_under_another_config_and_the_hls_flavor():
    graph = resnet18(32, seed=3, width=16, classes=10, config=SMALL)
    x = random_input((3, 3, 32, 32), seed=4, config=SMALL)  # a batch of 3: padded to 4
    got = graph.run(x, config=SMALL, backend=SpecBackend(flavor="hls"))
    np.testing.assert_array_equal(got, graph.reference(x, config=SMALL))
    assert got.shape == (3, 10)


def test_style_net_runs_bit_exact():
    config = VtaConfig()
    graph = style_net(32, seed=0, config=config)
    x = random_input(graph.input_shape, seed=1, config=config)
    profile = graph.profile(x, config=config, backend=SpecBackend(check_races=True))
    np.testing.assert_array_equal(profile.tensors["out"], graph.reference(x, config=config))
    assert profile.tensors["out"].shape == (1, 3, 32, 32)
    assert all(p.cost is not None for p in profile.nodes)  # upsampling too runs on VTA


@pytest.mark.parametrize("build, resolution", [(resnet18, 64), (style_net, 32)])
def test_activations_neither_saturate_nor_vanish(build, resolution):
    config = VtaConfig()
    graph = build(resolution, seed=0, config=config)
    tensors = graph.trace(random_input(graph.input_shape, seed=2, config=config), config=config)
    for node in graph.nodes:
        y = tensors[node.output]
        saturated = np.mean((y == -128) | (y == 127))
        assert saturated < 0.02, f"{node.output}: {saturated:.1%} saturated"
        assert np.mean(y == 0) < 0.75, f"{node.output}: {np.mean(y == 0):.1%} zero"
        assert 8 < np.std(y) < 64, f"{node.output}: standard deviation {np.std(y):.1f}"


def test_networks_are_fixed_by_their_seed():
    first, again, other = (resnet18(16, seed=s, width=16, classes=10) for s in (0, 0, 1))
    for a, b in zip(first.nodes, again.nodes):
        assert a.attrs.keys() == b.attrs.keys()
        for key, value in a.attrs.items():
            np.testing.assert_array_equal(value, b.attrs[key])
    assert not np.array_equal(first.nodes[0].attrs["w"], other.nodes[0].attrs["w"])


def test_style_net_needs_a_resolution_divisible_by_4():
    with pytest.raises(ValueError, match="resolution must be a multiple of 4, not 30"):
        style_net(30)


def test_the_7x7_average_is_the_floor_of_the_mean_for_every_sum():
    # ResNet-18's global average pool: (sum * m + b) >> k, for every sum 49 int8 values can have.
    config = VtaConfig()
    m, k = average_scale(49, config)
    sums = np.arange(-128 * 49, 127 * 49 + 1)
    np.testing.assert_array_equal((sums * m + average_bias(49, m, k, config)) >> k, sums // 49)


@pytest.mark.parametrize("keys", [{}, {"LOG_WGT_WIDTH": 2}])
def test_an_all_100_average_is_100(keys):
    config = VtaConfig(**keys, **NARROW_BUFFERS)
    got = global_avg_pool(np.full((1, 4, 7, 7), 100), config=config)
    np.testing.assert_array_equal(got, np.full((1, 4), 100))


def test_an_average_the_accumulator_cannot_hold_is_refused():
    config = VtaConfig(LOG_ACC_WIDTH=4, **NARROW_BUFFERS)
    with pytest.raises(CompileError, match="floor of the mean of 49 8-bit values needs "
                                           "accumulators wider than 16 bits"):
        global_avg_pool(np.full((1, 4, 7, 7), 100), config=config)


def test_program_cost_counts_bytes_by_element_size():
    config = VtaConfig()
    graph = resnet18(16, seed=0, width=16, classes=10, config=config)
    x = random_input(graph.input_shape, seed=1, config=config)
    fc = graph.profile(x, config=config).nodes[-1]
    # (1, 128) x (128, 10): 8 input elements of 16 B, 8 weight elements of 16 x 16 B, a bias
    # element of 16 x 4 B and 4 B per uop in; one output element of 16 B out; 16 B per
    # instruction (how many depends on the tiling chosen). One GEMM visit per input block, 3 ALU
    # visits to requantize.
    cost = fc.cost
    assert fc.macs == 128 * 10
    assert cost == ProgramCost(
        instructions=cost.instructions, uops=cost.uops, uop_visits=8 + 3, gemm_macs=8 * 16 * 16,
        load_bytes=8 * 16 + 8 * 256 + 64 + 4 * cost.uops, store_bytes=16,
        insn_bytes=16 * cost.instructions, predicted_cycles=cost.predicted_cycles)
    assert cost.dram_bytes == 8 * 16 + 8 * 256 + 64 + 4 * cost.uops + 16 + 16 * cost.instructions
