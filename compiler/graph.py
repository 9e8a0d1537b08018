"""Quantized networks as small dataflow graphs, run operator by operator on VTA or on the CPU.

A :class:`Graph` names its input tensor, its output tensor and a list of :class:`Node` in
execution order; each node applies one operator of :mod:`.operators` (weights and attributes in
``attrs``) to named tensors. :meth:`Graph.run` computes every node on a VTA backend, except
those VTA has no instructions for (``flatten``, ``upsample_nearest``), which run on the host;
:meth:`Graph.reference` computes every node with :mod:`.reference`, the CPU int8 reference, so
the two agree bit for bit. Window attributes (stride, padding, kernel) are ``(height, width)``
pairs::

    graph = Graph("x", "logits", [
        Node("conv2d", ("x",), "h", dict(w=w1, bias=b1, stride=(1, 1), padding=(1, 1),
                                         shift=7, relu=True)),
        Node("max_pool2d", ("h",), "p", dict(kernel=(2, 2), stride=(2, 2), padding=(0, 0))),
        Node("flatten", ("p",), "f"),
        Node("dense", ("f",), "logits", dict(w=w2, bias=b2, shift=6)),
    ])
    graph.run(images, config=config, backend="spec") == graph.reference(images, config=config)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vtaref.spec import DEFAULT_CONFIG, VtaConfig

from . import operators, reference
from .backend import Backend


def flatten(x: np.ndarray) -> np.ndarray:
    """Return ``x`` as a matrix: one row per leading index."""
    return np.asarray(x).reshape(len(x), -1)


# Operators whose weights come first among the arguments: (input, w, bias).
WEIGHTED = {"conv2d", "dense"}
HOST = {"flatten": flatten, "upsample_nearest": operators.upsample_nearest}
ON_VTA = {name: getattr(operators, name) for name in (
    "conv2d", "dense", "bias_add", "requantize", "relu", "add", "max_pool2d", "global_avg_pool")}
ON_CPU = {name: getattr(reference, name) for name in ON_VTA}


@dataclass(frozen=True)
class Node:
    """``output = op(*inputs, **attrs)``; ``op`` names a function of :mod:`.operators`."""

    op: str
    inputs: tuple[str, ...]
    output: str
    attrs: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.op not in HOST and self.op not in ON_VTA:
            known = ", ".join(sorted([*HOST, *ON_VTA]))
            raise ValueError(f"unknown operator {self.op!r} (known: {known})")


@dataclass(frozen=True)
class Graph:
    """A network: tensor ``input`` in, tensor ``output`` out, ``nodes`` in execution order."""

    input: str
    output: str
    nodes: list[Node]

    def run(self, x: np.ndarray, *, config: VtaConfig = DEFAULT_CONFIG,
            backend: str | Backend = "spec") -> np.ndarray:
        """Compute the network on ``backend``, one VTA program per node."""
        return self._evaluate(x, ON_VTA, dict(config=config, backend=backend))

    def reference(self, x: np.ndarray, *, config: VtaConfig = DEFAULT_CONFIG) -> np.ndarray:
        """Compute the network with the CPU int8 reference operators."""
        return self._evaluate(x, ON_CPU, dict(config=config))

    def _evaluate(self, x: np.ndarray, functions: dict, options: dict) -> np.ndarray:
        tensors = {self.input: x}
        for node in self.nodes:
            args = [tensors[name] for name in node.inputs]
            attrs = dict(node.attrs)
            if node.op in WEIGHTED:
                args += [attrs.pop("w"), attrs.pop("bias", None)]
            if node.op in HOST:
                tensors[node.output] = HOST[node.op](*args, **attrs)
            else:
                tensors[node.output] = functions[node.op](*args, **attrs, **options)
        return tensors[self.output]
