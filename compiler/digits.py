"""A handwritten-digit classifier on VTA, end to end.

scikit-learn's bundled 8x8 digits (no download) train a small float MLP; :func:`quantize_mlp`
turns it into an int8 :class:`~.graph.Graph` of dense layers (power-of-two requantization,
shifts calibrated on the training images), which runs on VTA and on the CPU reference alike.
Needs scikit-learn (imported when used).
"""

from __future__ import annotations

import warnings

import numpy as np

from vtaref.spec import VtaConfig

from . import reference
from .graph import Graph, Node

PIXEL_MAX = 16  # load_digits pixels are integers 0..16


def load_split(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(train_images, train_labels, test_images, test_labels)``, images ``(n, 64)``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    train_x, test_x, train_y, test_y = train_test_split(
        digits.data, digits.target, test_size=0.25, random_state=seed, stratify=digits.target)
    return train_x, train_y, test_x, test_y


def train_mlp(images: np.ndarray, labels: np.ndarray, hidden: int = 32,
              seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Train a float ReLU MLP; return its layers as ``(weights (out, in), bias (out,))``."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    mlp = MLPClassifier(hidden_layer_sizes=(hidden,), max_iter=400, random_state=seed)
    with warnings.catch_warnings():  # a fixed budget of epochs, converged or not
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(images / PIXEL_MAX, labels)
    return [(w.T, b) for w, b in zip(mlp.coefs_, mlp.intercepts_)]


def quantize_input(images: np.ndarray, config: VtaConfig) -> np.ndarray:
    """Return pixel images as activations: integers scaled to fill the positive input range."""
    return np.round(images * ((1 << (config.inp_width - 1)) - 1) / PIXEL_MAX).astype(np.int64)


def quantize_mlp(layers: list[tuple[np.ndarray, np.ndarray]], calibration: np.ndarray,
                 config: VtaConfig) -> Graph:
    """Return the int8 graph of a float MLP that takes ``images / PIXEL_MAX``.

    Weights get one scale per layer (the largest magnitude maps to the largest weight); biases
    the accumulator's scale; each layer's shift is the smallest that keeps the calibration
    activations (from :func:`quantize_input` of ``calibration`` images) inside the output range.
    """
    high = (1 << (config.out_width - 1)) - 1
    weight_high = (1 << (config.wgt_width - 1)) - 1
    x = quantize_input(calibration, config)
    scale = (1 << (config.inp_width - 1)) - 1  # quantized input per unit of images / PIXEL_MAX
    nodes, name = [], "images"
    for index, (w, b) in enumerate(layers):
        last = index == len(layers) - 1
        w_scale = weight_high / np.abs(w).max()
        wq = np.round(w * w_scale).astype(np.int64)
        bq = np.round(b * scale * w_scale).astype(np.int64)
        peak = int(np.abs(x @ wq.T + bq).max())
        shift = max(0, (peak // (high + 1)).bit_length())
        output = "logits" if last else f"h{index}"
        attrs = dict(w=wq, bias=bq, shift=shift, relu=not last)
        nodes.append(Node("dense", (name,), output, attrs))
        x = reference.dense(x, **attrs, config=config)
        scale *= w_scale / (1 << shift)
        name = output
    return Graph("images", "logits", nodes)
