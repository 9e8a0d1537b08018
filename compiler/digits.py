"""A handwritten-digit CNN on VTA, end to end.

scikit-learn's bundled 8x8 digits (no download) train a small float CNN, in numpy
(:func:`train_cnn`); :func:`quantize_cnn` turns it into an int8 :class:`~.graph.Graph`
(power-of-two requantization, shifts calibrated on the training images) that runs on VTA and
on the CPU int8 reference alike. Every layer runs on VTA except ``flatten``, a reshape on the
host::

    train_x, train_y, test_x, test_y = load_split()
    graph = quantize_cnn(train_cnn(train_x, train_y), train_x, config)
    logits = graph.run(quantize_input(test_x, config), config=config, backend="spec")

Needs scikit-learn for the data (imported when used).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from vtaref.spec import VtaConfig

from . import reference
from .graph import Graph, Node

PIXEL_MAX = 16  # load_digits pixels are integers 0..16
KERNEL, PADDING, POOL = 3, 1, 2  # every conv is 3x3 with padding 1; every max pool 2x2


@dataclass
class Layer:
    """A float layer: ``op`` names a :class:`~.graph.Node` operator (without its attributes).

    ``conv2d`` (``w (O, C, 3, 3)``, padding 1) and ``dense`` (``w (O, K)``) have weights and a
    bias and may end in a ReLU; ``max_pool2d`` (2x2, on even sizes) and ``flatten`` have
    neither.
    """

    op: str
    w: np.ndarray | None = None
    b: np.ndarray | None = None
    relu: bool = False


def load_split(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(train_images, train_labels, test_images, test_labels)``, images ``(n, 1, 8, 8)``.

    A stratified split: a quarter of the 1797 images are for testing.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    train_x, test_x, train_y, test_y = train_test_split(
        digits.images[:, None], digits.target, test_size=0.25, random_state=seed,
        stratify=digits.target)
    return train_x, train_y, test_x, test_y


def describe(layers: list[Layer]) -> str:
    """Return a one-line summary such as ``conv3x3 1->8 relu, maxpool 2x2, ...``."""
    parts = []
    for layer in layers:
        if layer.op == "conv2d":
            part = f"conv{KERNEL}x{KERNEL} {layer.w.shape[1]}->{layer.w.shape[0]}"
        elif layer.op == "dense":
            part = f"dense {layer.w.shape[1]}->{layer.w.shape[0]}"
        else:
            part = {"max_pool2d": f"maxpool {POOL}x{POOL}", "flatten": "flatten"}[layer.op]
        parts.append(part + (" relu" if layer.relu else ""))
    return ", ".join(parts)


# -- the float model and its training ---------------------------------------------------------


def _patches(x: np.ndarray) -> np.ndarray:
    """Return the ``(N, H, W, C*3*3)`` zero-padded 3x3 neighbourhoods of ``x (N, C, H, W)``."""
    padded = np.pad(x, ((0, 0), (0, 0), (PADDING, PADDING), (PADDING, PADDING)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (KERNEL, KERNEL), axis=(2, 3))
    n, c, h, w = x.shape
    return windows.transpose(0, 2, 3, 1, 4, 5).reshape(n, h, w, c * KERNEL * KERNEL)


def _forward(layer: Layer, x: np.ndarray) -> tuple[np.ndarray, object]:
    """Return the layer's float output and what its backward pass needs."""
    if layer.op == "conv2d":
        cols = _patches(x)
        y = (cols @ layer.w.reshape(len(layer.w), -1).T + layer.b).transpose(0, 3, 1, 2)
        saved = (x.shape, cols)
    elif layer.op == "dense":
        y, saved = x @ layer.w.T + layer.b, x
    elif layer.op == "max_pool2d":
        n, c, h, w = x.shape
        y = x.reshape(n, c, h // POOL, POOL, w // POOL, POOL).max(axis=(3, 5))
        saved = x == y.repeat(POOL, axis=2).repeat(POOL, axis=3)  # where the maxima are
    else:
        y, saved = x.reshape(len(x), -1), x.shape
    if layer.relu:
        y = np.maximum(y, 0)
    return y, (saved, y)


def _backward(layer: Layer, saved, dy: np.ndarray) -> tuple[np.ndarray, tuple | None]:
    """Return the gradient of the loss for the layer's input and ``(dw, db)`` (or None)."""
    saved, y = saved
    if layer.relu:
        dy = dy * (y > 0)
    if layer.op == "conv2d":
        shape, cols = saved
        o = len(layer.w)
        dy = dy.transpose(0, 2, 3, 1)  # (N, H, W, O)
        dw = (dy.reshape(-1, o).T @ cols.reshape(-1, cols.shape[-1])).reshape(layer.w.shape)
        dcols = (dy @ layer.w.reshape(o, -1)).reshape(*dy.shape[:3], shape[1], KERNEL, KERNEL)
        n, c, h, w = shape
        dx = np.zeros((n, c, h + 2 * PADDING, w + 2 * PADDING), dy.dtype)
        for i in range(KERNEL):
            for j in range(KERNEL):
                dx[:, :, i:i + h, j:j + w] += dcols[..., i, j].transpose(0, 3, 1, 2)
        return dx[:, :, PADDING:PADDING + h, PADDING:PADDING + w], (dw, dy.sum(axis=(0, 1, 2)))
    if layer.op == "dense":
        return dy @ layer.w, (dy.T @ saved, dy.sum(axis=0))
    if layer.op == "max_pool2d":
        return saved * dy.repeat(POOL, axis=2).repeat(POOL, axis=3), None
    return dy.reshape(saved), None


def predict_float(layers: list[Layer], images: np.ndarray) -> np.ndarray:
    """Return the float logits ``(n, 10)`` for pixel ``images (n, 1, 8, 8)``."""
    x = (images / PIXEL_MAX).astype(np.float32)
    for layer in layers:
        x, _ = _forward(layer, x)
    return x


def loss_and_gradients(layers: list[Layer], x: np.ndarray, labels: np.ndarray
                       ) -> tuple[float, list[np.ndarray]]:
    """Return the mean softmax cross-entropy of ``layers`` on inputs ``x`` (``images /
    PIXEL_MAX``) and its gradients: ``[dw, db]`` for each layer with weights, in order."""
    tape = []
    for layer in layers:
        x, saved = _forward(layer, x)
        tape.append(saved)
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(len(labels))
    grad = np.exp(log_probs)
    grad[rows, labels] -= 1
    grad /= len(labels)
    grads = []
    for layer, saved in zip(reversed(layers), reversed(tape)):
        grad, dparams = _backward(layer, saved, grad)
        grads = [*(dparams or ()), *grads]
    return float(-log_probs[rows, labels].mean()), grads


def train_cnn(images: np.ndarray, labels: np.ndarray, seed: int = 0, epochs: int = 12,
              batch: int = 32, learning_rate: float = 0.01) -> list[Layer]:
    """Train the float CNN on pixel ``images (n, 1, 8, 8)`` with Adam and return its layers.

    The network is conv3x3 1->8 relu, maxpool 2x2, conv3x3 8->16 relu, maxpool 2x2, flatten,
    dense 64->10, in float32. Deterministic for a given ``seed``.
    """
    rng = np.random.default_rng(seed)

    def he(*shape):  # He initialization for ReLU networks
        fan_in = int(np.prod(shape[1:]))
        return (rng.standard_normal(shape) * np.sqrt(2 / fan_in)).astype(np.float32)

    layers = [Layer("conv2d", he(8, 1, KERNEL, KERNEL), np.zeros(8, np.float32), relu=True),
              Layer("max_pool2d"),
              Layer("conv2d", he(16, 8, KERNEL, KERNEL), np.zeros(16, np.float32), relu=True),
              Layer("max_pool2d"),
              Layer("flatten"),
              Layer("dense", he(10, 64), np.zeros(10, np.float32))]
    params = [(layer, name) for layer in layers if layer.w is not None for name in ("w", "b")]
    first = [np.zeros_like(getattr(layer, name)) for layer, name in params]
    second = [np.zeros_like(m) for m in first]
    beta1, beta2, step = 0.9, 0.999, 0
    x_all = (images / PIXEL_MAX).astype(np.float32)
    with threadpool_limits(limits=1, user_api="blas"):  # threads only slow products this small
        for _ in range(epochs):
            shuffled = rng.permutation(len(images))
            for start in range(0, len(images), batch):
                chosen = shuffled[start:start + batch]
                _, grads = loss_and_gradients(layers, x_all[chosen], labels[chosen])
                step += 1
                for (layer, name), g, m, v in zip(params, grads, first, second):  # Adam
                    m[:] = beta1 * m + (1 - beta1) * g
                    v[:] = beta2 * v + (1 - beta2) * g * g
                    m_hat, v_hat = m / (1 - beta1 ** step), v / (1 - beta2 ** step)
                    setattr(layer, name, getattr(layer, name)
                            - learning_rate * m_hat / (np.sqrt(v_hat) + 1e-8))
    return layers


# -- quantization -----------------------------------------------------------------------------


def quantize_input(images: np.ndarray, config: VtaConfig) -> np.ndarray:
    """Return pixel images as activations: integers scaled to fill the positive input range."""
    return np.round(images * ((1 << (config.inp_width - 1)) - 1) / PIXEL_MAX).astype(np.int64)


def _node(layer: Layer, source: str, output: str, w=None, bias=None, shift: int = 0) -> Node:
    """Return the graph node computing ``layer`` (quantized weights ``w`` and ``bias``)."""
    if layer.op == "conv2d":
        return Node("conv2d", (source,), output, dict(
            w=w, bias=bias, stride=(1, 1), padding=(PADDING, PADDING), shift=shift,
            relu=layer.relu))
    if layer.op == "dense":
        return Node("dense", (source,), output, dict(w=w, bias=bias, shift=shift,
                                                     relu=layer.relu))
    if layer.op == "max_pool2d":
        return Node("max_pool2d", (source,), output, dict(
            kernel=(POOL, POOL), stride=(POOL, POOL), padding=(0, 0)))
    return Node("flatten", (source,), output)


def _accumulate(layer: Layer, x: np.ndarray, w: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Return the exact integer ``conv2d`` or ``dense`` of ``x`` plus ``bias``."""
    if layer.op == "conv2d":
        acc = reference.conv2d_accumulate(x, w, (1, 1), (PADDING, PADDING))
        return acc + bias[:, None, None]
    return x @ w.T + bias


def quantize_cnn(layers: list[Layer], calibration: np.ndarray, config: VtaConfig) -> Graph:
    """Return the int8 graph ``images -> logits`` of float ``layers`` (see :func:`train_cnn`).

    The graph takes :func:`quantize_input` images. Weights get one scale per layer (the largest
    magnitude maps to the largest weight), biases the accumulator's scale; each layer's shift is
    the smallest that keeps its activations on the ``calibration`` images inside the output
    range (their positive part, for a layer that ends in a ReLU). Max pooling and flattening
    keep the scale.
    """
    high = (1 << (config.out_width - 1)) - 1
    weight_high = (1 << (config.wgt_width - 1)) - 1
    x = quantize_input(calibration, config)
    scale = (1 << (config.inp_width - 1)) - 1  # quantized input per unit of images / PIXEL_MAX
    nodes, source = [], "images"
    for index, layer in enumerate(layers):
        output = "logits" if index == len(layers) - 1 else f"{layer.op}{index}"
        quantized = {}
        if layer.w is not None:
            w_scale = weight_high / np.abs(layer.w).max()
            w = np.round(layer.w * w_scale).astype(np.int64)
            bias = np.round(layer.b * scale * w_scale).astype(np.int64)
            acc = _accumulate(layer, x, w, bias)
            peak = int(acc.max() if layer.relu else np.abs(acc).max())
            shift = max(0, (peak // (high + 1)).bit_length())
            quantized = dict(w=w, bias=bias, shift=shift)
            scale *= w_scale / (1 << shift)
        nodes.append(_node(layer, source, output, **quantized))
        x = Graph(source, output, nodes[-1:]).reference(x, config=config)
        source = output
    return Graph("images", "logits", nodes)
