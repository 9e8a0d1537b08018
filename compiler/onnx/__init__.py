"""Import quantized ONNX models (QDQ or QOperator format, as onnxruntime's ``quantize_static``
writes them) as :class:`~vtaref.compiler.graph.Graph`: :func:`import_model`.

- :mod:`.reader` parses and checks the file;
- :mod:`.qdq` and :mod:`.qoperator` turn either format into :class:`~.quantized.QOp`;
- :mod:`.lowering` maps each one onto VTA operators, or onto :mod:`.host` functions that compute
  what onnxruntime computes.

See docs/compiler.md §6.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vtaref.spec import DEFAULT_CONFIG, VtaConfig

from ..graph import Graph
from .lowering import Lowering, Placement
from .qdq import qdq_ops
from .qoperator import qoperator_op
from .quantized import QOp
from .reader import Model, OnnxImportError, read_model

QOPERATOR_MARKERS = {"QLinearConv", "QLinearMatMul", "QGemm", "QLinearAdd",
                     "QLinearGlobalAveragePool", "QLinearAveragePool"}


@dataclass(frozen=True)
class Imported:
    """A model as a graph: its format, where each ONNX node runs, and its input."""

    graph: Graph
    format: str  # "QDQ" or "QOperator"
    placements: list[Placement]
    input_shape: tuple[int, ...]
    input_type: np.dtype

    def sample(self, seed: int = 0) -> np.ndarray:
        """Return a random input of the model's shape and type: standard normal floats, or
        integers over the type's range."""
        rng = np.random.default_rng(seed)
        if self.input_type.kind == "f":
            return rng.standard_normal(self.input_shape).astype(self.input_type)
        info = np.iinfo(self.input_type)
        return rng.integers(info.min, info.max, self.input_shape, endpoint=True)

    def summary(self) -> list[str]:
        """Return one line per ONNX node saying where it runs, after a count."""
        on_vta = sum(p.where == "vta" for p in self.placements)
        lines = [f"{self.format} model, input {self.input_shape} {self.input_type}: "
                 f"{len(self.placements)} operators, {on_vta} on VTA, "
                 f"{len(self.placements) - on_vta} on the host"]
        return lines + [f"  {p.describe()}" for p in self.placements]


def quantized_ops(model: Model) -> tuple[str, list[QOp]]:
    """Return the model's format and its operators on quantized tensors."""
    if not any(node.op_type in QOPERATOR_MARKERS for node in model.nodes):
        return "QDQ", qdq_ops(model)
    known: dict = {}
    return "QOperator", [qoperator_op(model, node, known) for node in model.nodes]


def import_model(path: str | Path, config: VtaConfig = DEFAULT_CONFIG) -> Imported:
    """Read the quantized ONNX model in ``path`` as a graph for ``config``.

    Raises OnnxImportError (one line naming the file or node) for a model it cannot take.
    """
    model = read_model(path)
    fmt, ops = quantized_ops(model)
    lowering = Lowering(model, config)
    graph = lowering.graph(ops)
    return Imported(graph, fmt, lowering.placements, model.input_shape, model.input_type)


__all__ = ["Imported", "OnnxImportError", "import_model"]
