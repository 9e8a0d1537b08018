"""A ResNet-style quantized CNN as a graph: every node on VTA equals the CPU int8 reference."""

import numpy as np
import pytest

from vtaref.compiler.graph import Graph, Node
from vtaref.spec import VtaConfig


def resnet_block(rng, channels=8, classes=10):
    def weights(*shape):
        return rng.integers(-64, 64, size=shape)

    conv = dict(stride=(1, 1), padding=(1, 1), relu=True)
    return Graph("x", "logits", [
        Node("conv2d", ("x",), "stem", dict(w=weights(channels, 3, 3, 3),
                                            bias=weights(channels), shift=9, **conv)),
        Node("max_pool2d", ("stem",), "pooled", dict(kernel=(2, 2), stride=(2, 2),
                                                     padding=(0, 0))),
        Node("conv2d", ("pooled",), "branch", dict(w=weights(channels, channels, 3, 3),
                                                   shift=8, **conv)),
        Node("add", ("pooled", "branch"), "sum", dict(shift=1, relu=True)),
        Node("upsample_nearest", ("sum",), "up", dict(scale=2)),
        Node("conv2d", ("up",), "down", dict(w=weights(channels, channels, 1, 1),
                                             stride=(2, 2), padding=(0, 0), shift=7)),
        Node("global_avg_pool", ("down",), "features"),
        Node("dense", ("features",), "logits", dict(w=weights(classes, channels),
                                                    bias=weights(classes), shift=5)),
    ])


@pytest.mark.parametrize("config", [
    VtaConfig(),
    VtaConfig(LOG_BATCH=1, LOG_BLOCK=3, LOG_UOP_BUFF_SIZE=13, LOG_INP_BUFF_SIZE=13,
              LOG_WGT_BUFF_SIZE=15, LOG_ACC_BUFF_SIZE=15),
])
def test_graph_on_vta_equals_the_cpu_reference(config):
    rng = np.random.default_rng(11)
    graph = resnet_block(rng)
    images = rng.integers(0, 128, size=(3, 3, 12, 12))
    np.testing.assert_array_equal(graph.run(images, config=config),
                                  graph.reference(images, config=config))


def test_unknown_operators_are_refused():
    with pytest.raises(ValueError, match="unknown operator 'softmax'"):
        Node("softmax", ("x",), "y")
