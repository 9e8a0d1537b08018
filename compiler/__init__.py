"""The JIT compiler and runtime: numpy operators compiled into VTA programs.

Depends on :mod:`vtaref.spec` only. Layers, from the bottom:

- :mod:`.runtime` (a command stream: DRAM buffers, instruction queue, dependency tokens from
  :mod:`.deps`, micro-op kernels cached in the uop buffer by :mod:`.uops`, FINISH) and
  :mod:`.backend` (``run(image) -> bytes``; the spec is one backend);
- :mod:`.loops` (affine loop nests lowered to uop loops), :mod:`.transfer` (box copies),
  :mod:`.slots` (double buffering), :mod:`.tiling` (tile search and cost model);
- the operators in :mod:`.operators`, checked against :mod:`.reference`;
- :mod:`.graph` (networks of operators) and :mod:`.digits` (a classifier, end to end).

See docs/compiler.md.
"""

from .backend import Backend, SpecBackend, get_backend
from .errors import CompileError
from .graph import Graph, Node
from .operators import (
    add,
    avg_pool2d,
    bias_add,
    conv2d,
    dense,
    global_avg_pool,
    matmul,
    max_pool2d,
    relu,
    requantize,
    upsample_bilinear,
    upsample_nearest,
)
from .runtime import CommandStream, Compiled, DramBuffer

__all__ = [
    "Backend", "CommandStream", "CompileError", "Compiled", "DramBuffer", "Graph", "Node",
    "SpecBackend", "add", "avg_pool2d", "bias_add", "conv2d", "dense", "get_backend",
    "global_avg_pool", "matmul", "max_pool2d", "relu", "requantize",
    "upsample_bilinear", "upsample_nearest",
]
