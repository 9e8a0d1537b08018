"""Whole networks as graphs with fixed-seed random integer weights: ResNet-18 and a style net.

Both run every layer on VTA (the 3-channel first convolution and, for ResNet-18, the final dense
layer included, which TVM-VTA leaves on the CPU), except the host's reshapes (``flatten``) and
``upsample_nearest``. Weights are uniform in the symmetric weight range of ``config``, biases
small. The shifts are calibrated while the network is built, on the CPU reference run of one
random image (``random_input(shape, seed)``): each requantization (convolution, dense layer,
residual sum) shifts by the power of two that brings the root mean square of its accumulators
closest to :data:`TARGET_RMS`, so activations neither saturate nor vanish from layer to layer.
Building costs one reference run at ``resolution``::

    graph = resnet18(resolution=56, seed=0, config=config)
    x = random_input(graph.input_shape, seed=1, config=config)
    graph.run(x, config=config, backend="spec") == graph.reference(x, config=config)
"""

from __future__ import annotations

import math

import numpy as np

from vtaref.spec import DEFAULT_CONFIG, VtaConfig

from . import reference
from .graph import HOST, ON_CPU, Graph, Node, on_host

TARGET_RMS = 32  # the aimed-at spread of a requantized value, in output units


def random_input(shape: tuple[int, ...], seed: int = 0, *,
                 config: VtaConfig = DEFAULT_CONFIG) -> np.ndarray:
    """Return activations of ``shape`` drawn uniformly from the input range of ``config``."""
    high = (1 << (config.inp_width - 1)) - 1
    return np.random.default_rng(seed).integers(-high - 1, high + 1, size=shape)


class _Builder:
    """Appends nodes to a network, calibrating each shift on the reference run of one image."""

    def __init__(self, seed: int, config: VtaConfig, input_shape: tuple[int, ...]):
        self.rng = np.random.default_rng([seed, 0])
        self.config = config
        self.nodes: list[Node] = []
        self.w_high = (1 << (config.wgt_width - 1)) - 1
        self.tensors = {"image": random_input(input_shape, seed, config=config)}

    def _shift(self, acc: np.ndarray) -> int:
        """Return the shift that brings ``acc``'s root mean square closest to TARGET_RMS."""
        rms = math.sqrt(np.mean(np.square(acc, dtype=np.float64)))
        shift = round(math.log2(max(rms, 1) / TARGET_RMS))
        return max(0, min(shift, self.config.acc_width - 1))

    def _weighted(self, op: str, x: str, name: str, acc: np.ndarray, w: np.ndarray,
                  relu: bool, residual: str | None = None, **attrs) -> str:
        """Append a conv2d or dense node whose accumulator (without bias) is ``acc``; with
        ``residual``, a conv2d_add node that sums the result with that tensor, with ReLU."""
        shift = self._shift(acc)
        spread = TARGET_RMS << shift >> 3  # biases move outputs by up to an eighth of the target
        channels = w.shape[0]
        bias = self.rng.integers(-spread, spread + 1, size=channels)
        along = (1, channels) + (1,) * (acc.ndim - 2)
        y = reference.requantize(acc + bias.reshape(along), shift, relu, config=self.config)
        inputs = (x,)
        if residual is not None:
            total = y.astype(np.int64) + self.tensors[residual]
            attrs.update(residual_shift=self._shift(total), residual_relu=True)
            y = reference.requantize(total, attrs["residual_shift"], True, config=self.config)
            inputs = (x, residual)
        self.nodes.append(Node(op, inputs, name, dict(w=w, bias=bias, shift=shift, relu=relu,
                                                      **attrs)))
        self.tensors[name] = y
        return name

    def conv(self, x: str, out: int, kernel: int, stride: int = 1, *, name: str,
             relu: bool = True) -> str:
        """Append a ``kernel x kernel`` convolution with "same" padding; return its output."""
        w, attrs, acc = self._conv_weights(x, out, kernel, stride)
        return self._weighted("conv2d", x, name, acc, w, relu, **attrs)

    def conv_add(self, x: str, residual: str, out: int, *, name: str) -> str:
        """Append a 3x3 convolution without ReLU whose result is summed with ``residual``,
        with ReLU (a basic block's second convolution and its sum, one ``conv2d_add`` node);
        return the sum."""
        w, attrs, acc = self._conv_weights(x, out, 3, 1)
        return self._weighted("conv2d_add", x, name, acc, w, False, residual, **attrs)

    def _conv_weights(self, x: str, out: int, kernel: int, stride: int
                      ) -> tuple[np.ndarray, dict, np.ndarray]:
        """Return random weights for a "same" convolution of ``x``, its stride and padding, and
        its accumulators."""
        source = self.tensors[x]
        w = self.rng.integers(-self.w_high, self.w_high + 1,
                              size=(out, source.shape[1], kernel, kernel))
        attrs = dict(stride=(stride, stride), padding=(kernel // 2, kernel // 2))
        return w, attrs, reference.conv2d_accumulate(source, w, attrs["stride"],
                                                      attrs["padding"])

    def dense(self, x: str, out: int, *, name: str, relu: bool = False) -> str:
        """Append a dense layer of ``out`` units; return its output."""
        source = self.tensors[x]
        w = self.rng.integers(-self.w_high, self.w_high + 1, size=(out, source.shape[1]))
        acc = source.astype(np.int64) @ w.T
        return self._weighted("dense", x, name, acc, w, relu)

    def op(self, op: str, *inputs: str, name: str, **attrs) -> str:
        """Append a node without weights; return its output."""
        node = Node(op, inputs, name, attrs)
        args, attrs = node.arguments(self.tensors)
        self.tensors[name] = (on_host(node, args, attrs) if op in HOST
                              else ON_CPU[op](*args, **attrs, config=self.config))
        self.nodes.append(node)
        return name

    def graph(self, output: str) -> Graph:
        """Return the network built so far, ending in ``output``."""
        return Graph("image", output, self.nodes, input_shape=self.tensors["image"].shape)


def _basic_block(b: _Builder, x: str, out: int, stride: int, prefix: str) -> str:
    """Append ResNet's basic block: two 3x3 convolutions and a (downsampled) shortcut, the
    second convolution and the sum in one node (``conv2d_add``, computed on the accumulator)."""
    h = b.conv(x, out, 3, stride, name=f"{prefix}.conv1")
    shortcut = x
    if stride != 1 or b.tensors[x].shape[1] != out:
        shortcut = b.conv(x, out, 1, stride, name=f"{prefix}.downsample", relu=False)
    return b.conv_add(h, shortcut, out, name=f"{prefix}.out")


def resnet18(resolution: int = 224, seed: int = 0, *, width: int = 64, classes: int = 1000,
             config: VtaConfig = DEFAULT_CONFIG) -> Graph:
    """Return ResNet-18 for ``(1, 3, resolution, resolution)`` images, ``(1, classes)`` logits.

    The standard topology: a 7x7 stride-2 convolution and a 3x3 stride-2 max pool, four stages
    of two basic blocks with ``width`` x 1, 2, 4, 8 channels (the first block of stages 2-4
    strides by 2, with a 1x1 stride-2 convolution on the shortcut), a global average pool and a
    dense layer. No batch normalization: each convolution's bias and shift stand for it.
    """
    b = _Builder(seed, config, (1, 3, resolution, resolution))
    x = b.conv("image", width, 7, 2, name="stem")
    x = b.op("max_pool2d", x, name="pool", kernel=(3, 3), stride=(2, 2), padding=(1, 1))
    for stage in range(4):
        for block in range(2):
            stride = 2 if stage > 0 and block == 0 else 1
            x = _basic_block(b, x, width << stage, stride, f"layer{stage + 1}.{block}")
    x = b.op("global_avg_pool", x, name="avgpool")
    return b.graph(b.dense(x, classes, name="fc"))


def style_net(resolution: int = 32, seed: int = 0, *, width: int = 32, blocks: int = 3,
              config: VtaConfig = DEFAULT_CONFIG) -> Graph:
    """Return a style-transfer-like network, ``(1, 3, resolution, resolution)`` in and out.

    After Johnson et al.: a 9x9 convolution to ``width`` channels, two 3x3 stride-2
    convolutions (``2 * width``, ``4 * width``), ``blocks`` residual blocks, twice a nearest
    x2 upsampling and a 3x3 convolution, then a 9x9 convolution to 3 channels without ReLU.
    ``resolution`` must be a multiple of 4.
    """
    if resolution % 4:
        raise ValueError(f"resolution must be a multiple of 4, not {resolution}")
    b = _Builder(seed, config, (1, 3, resolution, resolution))
    x = b.conv("image", width, 9, name="in")
    x = b.conv(x, 2 * width, 3, 2, name="down1")
    x = b.conv(x, 4 * width, 3, 2, name="down2")
    for block in range(blocks):
        x = _basic_block(b, x, 4 * width, 1, f"res{block}")
    for step, channels in enumerate((2 * width, width), 1):
        x = b.op("upsample_nearest", x, name=f"up{step}", scale=2)
        x = b.conv(x, channels, 3, name=f"up{step}.conv")
    return b.graph(b.conv(x, 3, 9, name="out", relu=False))
