"""Reading an ONNX file: parse it, check what the importer relies on, and name its tensors.

:func:`read_model` returns a :class:`Model`: the ONNX graph with its constants as numpy arrays,
after checking the opset, the static input shape, that every node input exists, and that the
model is quantized. Every failure is an :class:`ImportError_` whose message is one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import numpy_helper

# The default-domain opsets whose operators the importer's semantics follow.
OPSETS = range(10, 22)
QUANTIZED_OPS = {"QuantizeLinear", "QLinearConv", "QLinearMatMul", "QGemm", "QLinearAdd"}


class OnnxImportError(ValueError):
    """A model the importer cannot take (the message, one line, says which part and why)."""


def describe(node: onnx.NodeProto) -> str:
    """Return how an error names ``node``: its name (or first output) and op type."""
    return f"node {node.name or node.output[0]!r} ({node.op_type})"


@dataclass
class Model:
    """An ONNX graph whose constants (initializers, Constant nodes) are numpy arrays."""

    path: Path
    graph: onnx.GraphProto
    constants: dict[str, np.ndarray]
    input: str
    input_shape: tuple[int, ...]
    input_type: np.dtype
    output: str

    @property
    def nodes(self) -> list[onnx.NodeProto]:
        """Return the nodes that compute (Constant nodes excluded), in the file's order."""
        return [node for node in self.graph.node if node.op_type != "Constant"]


def read_model(path: str | Path) -> Model:
    """Parse and check the ONNX model in ``path``."""
    path = Path(path)
    try:
        proto = onnx.load(str(path))
    except FileNotFoundError:
        raise OnnxImportError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise OnnxImportError(f"{path}: is a folder, not an ONNX model") from None
    except (DecodeError, ValueError, RuntimeError) as err:
        raise OnnxImportError(f"{path}: not a readable ONNX model ({_first_line(err)})") from None
    except OSError as err:
        raise OnnxImportError(f"{path}: cannot read it ({err.strerror})") from None
    if not proto.graph.node:
        raise OnnxImportError(f"{path}: not a readable ONNX model (it has no nodes)")
    _check_opset(path, proto)
    graph = proto.graph
    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            value = next((a for a in node.attribute if a.name == "value"), None)
            if value is None:
                raise OnnxImportError(f"{path}: {describe(node)}: only a tensor 'value' is "
                                      "supported")
            constants[node.output[0]] = numpy_helper.to_array(value.t)
    inputs = [value for value in graph.input if value.name not in constants]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise OnnxImportError(f"{path}: the model must have one input and one output, not "
                              f"{len(inputs)} and {len(graph.output)}")
    model = Model(path, graph, constants, inputs[0].name, _static_shape(path, inputs[0]),
                  _element_type(path, inputs[0]), graph.output[0].name)
    _check_inputs_exist(model)
    if not any(node.op_type in QUANTIZED_OPS for node in model.nodes):
        raise OnnxImportError(f"{path}: a float model (no QuantizeLinear or QLinear* node): "
                              "quantize it first, e.g. with onnxruntime.quantization."
                              "quantize_static")
    return model


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def _check_opset(path: Path, proto: onnx.ModelProto) -> None:
    versions = {entry.domain: entry.version for entry in proto.opset_import}
    version = versions.get("", versions.get("ai.onnx"))
    if version is None:
        raise OnnxImportError(f"{path}: the model imports no default-domain opset")
    if version not in OPSETS:
        raise OnnxImportError(f"{path}: opset {version} is not supported (supported: "
                              f"{OPSETS.start} to {OPSETS.stop - 1})")


def _static_shape(path: Path, value: onnx.ValueInfoProto) -> tuple[int, ...]:
    dims = value.type.tensor_type.shape.dim
    if not value.type.tensor_type.HasField("shape"):
        raise OnnxImportError(f"{path}: input {value.name!r} has no shape: give it a fixed one")
    shape = []
    for axis, dim in enumerate(dims):
        if not dim.HasField("dim_value") or dim.dim_value < 1:
            name = dim.dim_param or "unknown"
            raise OnnxImportError(f"{path}: input {value.name!r} has a dynamic dimension "
                                  f"{axis} ({name!r}): give the model a fixed input shape")
        shape.append(dim.dim_value)
    return tuple(shape)


def _element_type(path: Path, value: onnx.ValueInfoProto) -> np.dtype:
    elem = value.type.tensor_type.elem_type
    try:
        return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem))
    except (KeyError, TypeError):
        raise OnnxImportError(f"{path}: input {value.name!r} has an unsupported element "
                              f"type {elem}") from None


def _check_inputs_exist(model: Model) -> None:
    known = set(model.constants) | {model.input}
    for node in model.nodes:
        for name in node.input:
            if name and name not in known:
                raise OnnxImportError(f"{model.path}: {describe(node)}: input {name!r} is "
                                      "neither an initializer, the graph input nor an earlier "
                                      "node's output (missing initializer?)")
        known.update(node.output)
    if model.output not in known:
        raise OnnxImportError(f"{model.path}: no node computes the output {model.output!r}")
