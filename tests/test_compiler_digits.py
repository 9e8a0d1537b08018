"""End to end: a digits MLP trained in float, quantized to int8, classifies the same on VTA as on
the CPU int8 reference, and about as well as in float."""

import numpy as np
import pytest

from vtaref.compiler import digits
from vtaref.spec import VtaConfig

pytest.importorskip("sklearn")


@pytest.mark.parametrize("config", [VtaConfig(), VtaConfig(LOG_BLOCK=2, LOG_UOP_BUFF_SIZE=12,
                                                           LOG_INP_BUFF_SIZE=12,
                                                           LOG_WGT_BUFF_SIZE=12,
                                                           LOG_ACC_BUFF_SIZE=12)])
def test_vta_classifies_digits_like_the_cpu_reference(config):
    train_x, train_y, test_x, test_y = digits.load_split()
    layers = digits.train_mlp(train_x, train_y)
    graph = digits.quantize_mlp(layers, train_x, config)
    images = digits.quantize_input(test_x, config)
    on_vta = graph.run(images, config=config, backend="spec")
    np.testing.assert_array_equal(on_vta, graph.reference(images, config=config))
    hidden = np.maximum(test_x / digits.PIXEL_MAX @ layers[0][0].T + layers[0][1], 0)
    in_float = (hidden @ layers[1][0].T + layers[1][1]).argmax(axis=1)
    accuracy = (on_vta.argmax(axis=1) == test_y).mean()
    assert accuracy >= 0.93 and accuracy >= (in_float == test_y).mean() - 0.02
