"""Quantized networks as small dataflow graphs, run operator by operator on VTA or on the CPU.

A :class:`Graph` names its input tensor, its output tensor and a list of :class:`Node` in
execution order; each node applies one operator of :mod:`.operators` (weights and attributes in
``attrs``) to named tensors. :meth:`Graph.run` computes every node on a VTA backend, except
those VTA has no instructions for (``flatten``, and ``call``, which calls
the function in its ``function`` attribute), which run on the host;
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

:meth:`Graph.profile` runs the network like :meth:`Graph.run` and also reports, node by node,
compile and run times, the layer's multiply-accumulates and what its program moves and computes
(:class:`ProgramCost`, counted from the instructions, with the cycles the timing model
:func:`.timing.predict` predicts).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from vtaref.spec import DEFAULT_CONFIG, Gemm, Load, LoopInsn, MemType, Store, VtaConfig
from vtaref.spec.runner import fetch
from vtaref.spec.state import element_formats

from . import operators, reference
from .backend import Backend, get_backend
from .runtime import Compiled
from .timing import DEFAULT_TIMING, Stage, Timing, fetched_once, predict, stage_of


def flatten(x: np.ndarray) -> np.ndarray:
    """Return ``x`` as a matrix: one row per leading index."""
    return np.asarray(x).reshape(len(x), -1)


def call(*args, function: Callable[..., np.ndarray], **attrs) -> np.ndarray:
    """Return ``function(*args, **attrs)``: any host computation an importer needs."""
    return function(*args, **attrs)


# Operators whose weights follow the inputs among the arguments: (inputs..., w, bias).
WEIGHTED = {"conv2d", "conv2d_add", "conv_transpose2d", "dense"}
HOST = {"flatten": flatten, "call": call}
ON_VTA = operators.COMPILERS  # operator -> the program it compiles, with its arguments
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

    def arguments(self, tensors: dict[str, np.ndarray]) -> tuple[list, dict]:
        """Return the positional and keyword arguments of ``op`` given the graph's tensors."""
        args = [tensors[name] for name in self.inputs]
        attrs = dict(self.attrs)
        if self.op in WEIGHTED:
            args += [attrs.pop("w"), attrs.pop("bias", None)]
        return args, attrs

    def macs(self, output: np.ndarray) -> int:
        """Return the multiply-accumulates the layer computes (0 for all but the weighted ones;
        for conv_transpose2d, those of the convolution VTA runs, zeros of the dilation too)."""
        if self.op not in WEIGHTED:
            return 0
        shape = list(np.shape(self.attrs["w"]))
        if self.op == "conv_transpose2d":  # weights (C, O, KH, KW)
            shape[0], shape[1] = shape[1], shape[0]
        return int(np.size(output)) * math.prod(shape[1:])


# How a node is computed: (node, positional arguments, attributes) -> its output.
Evaluator = Callable[[Node, list, dict], np.ndarray]


def on_host(node: Node, args: list, attrs: dict) -> np.ndarray:
    """Compute a node of HOST with numpy."""
    return HOST[node.op](*args, **attrs)


@dataclass(frozen=True)
class ProgramCost:
    """What one program moves and computes, counted from its instructions (each runs once).

    ``uops`` are the micro-ops placed in DRAM (emitted), ``uop_visits`` the GEMM and ALU
    micro-op executions, ``gemm_macs`` the multiply-accumulates of the non-reset GEMMs (padding
    and identity GEMMs included). ``load_bytes`` counts LOADs of every kind (a compute-stage LOAD
of one element per row from one address as the one element the core reads), ``store_bytes``
    STOREs and ``insn_bytes`` instruction fetch. ``predicted_cycles`` are the core's cycles
    as the timing model (:func:`.timing.predict`) predicts them from the instructions.
    """

    instructions: int
    uops: int
    uop_visits: int
    gemm_macs: int
    load_bytes: int
    store_bytes: int
    insn_bytes: int
    predicted_cycles: float

    @property
    def dram_bytes(self) -> int:
        """Return every byte moved between DRAM and VTA, instructions included."""
        return self.load_bytes + self.store_bytes + self.insn_bytes

    @classmethod
    def of(cls, program: Compiled, timing: Timing = DEFAULT_TIMING) -> ProgramCost:
        """Count ``program``'s instructions; predict its cycles under ``timing``."""
        image = program.image
        config = image.config
        formats = element_formats(config)
        load_bytes = store_bytes = visits = macs = 0
        insns = fetch(image.make_dram(), image.insn_addr, image.insn_count, config)
        for insn in insns:
            if isinstance(insn, Load | Store):
                once = stage_of(insn) is Stage.COMPUTE and fetched_once(insn)
                moved = (1 if once else insn.y_size) * insn.x_size * formats[
                    MemType(insn.memory_type)].bytes
                if isinstance(insn, Load):
                    load_bytes += moved
                else:
                    store_bytes += moved
            elif isinstance(insn, LoopInsn):
                visits += insn.visit_count
                if isinstance(insn, Gemm):
                    macs += insn.macs(config)
        return cls(instructions=len(insns), uops=program.stats.get("uops placed", 0),
                   uop_visits=visits, gemm_macs=macs, load_bytes=load_bytes,
                   store_bytes=store_bytes, insn_bytes=len(insns) * config.ins_elem_bytes,
                   predicted_cycles=float(predict(insns, config, timing).cycles))


@dataclass(frozen=True)
class NodeProfile:
    """One node of a profiled run: on VTA when ``cost`` is set, else on the host.

    ``macs`` are the layer's own multiply-accumulates (:meth:`Node.macs`); ``backend_stats`` is
    the backend's ``last_stats`` after the node ran, if it keeps one (the spec's ``RunStats``);
    ``counters`` the core's counters (:data:`vtaref.impl.vcr.COUNTERS`) if the backend ran it on
    the RTL (its ``last_run``); ``program`` what ran on VTA.
    """

    node: Node
    macs: int
    compile_seconds: float
    run_seconds: float
    cost: ProgramCost | None
    backend_stats: object = None
    counters: dict[str, int] | None = None
    program: Compiled | None = None


@dataclass(frozen=True)
class Profile:
    """Every tensor of a run on VTA, and a :class:`NodeProfile` per node in execution order."""

    tensors: dict[str, np.ndarray]
    nodes: list[NodeProfile]


@dataclass(frozen=True)
class Graph:
    """A network: tensor ``input`` in, tensor ``output`` out, ``nodes`` in execution order."""

    input: str
    output: str
    nodes: list[Node]
    input_shape: tuple[int, ...] | None = None  # what the network is built for, if it says

    def run(self, x: np.ndarray, *, config: VtaConfig = DEFAULT_CONFIG,
            backend: str | Backend = "spec") -> np.ndarray:
        """Compute the network on ``backend``, one VTA program per node."""
        target = get_backend(backend)
        tensors = self._evaluate(x, lambda node, args, attrs: ON_VTA[node.op](
            *args, **attrs, config=config).run(target))
        return tensors[self.output]

    def reference(self, x: np.ndarray, *, config: VtaConfig = DEFAULT_CONFIG) -> np.ndarray:
        """Compute the network with the CPU int8 reference operators."""
        return self.trace(x, config=config)[self.output]

    def trace(self, x: np.ndarray, *, config: VtaConfig = DEFAULT_CONFIG
              ) -> dict[str, np.ndarray]:
        """Return every tensor of the network, by name, computed by the CPU int8 reference."""
        return self._evaluate(x, lambda node, args, attrs: ON_CPU[node.op](
            *args, **attrs, config=config))

    def profile(self, x: np.ndarray, *, config: VtaConfig = DEFAULT_CONFIG,
                backend: str | Backend | None = "spec",
                on_node: Callable[[NodeProfile], None] | None = None,
                timing: Timing = DEFAULT_TIMING) -> Profile:
        """Compute the network on ``backend`` like :meth:`run`, measuring every node.

        ``on_node`` is called with each node's profile as soon as the node is done; its
        cycles are predicted under ``timing``. With ``backend=None`` the programs are compiled
        and counted but not run: each node's output is the CPU reference's (which VTA's equals
        bit for bit), its run time 0.
        """
        target = None if backend is None else get_backend(backend)
        profiles = []

        def done(profile: NodeProfile) -> None:
            profiles.append(profile)
            if on_node is not None:
                on_node(profile)

        def compute(node, args, attrs):
            started = time.perf_counter()
            program = ON_VTA[node.op](*args, **attrs, config=config)
            compiled = time.perf_counter()
            if target is None:
                result, finished = ON_CPU[node.op](*args, **attrs, config=config), compiled
            else:
                result = program.run(target)
                finished = time.perf_counter()
            rtl_run = getattr(target, "last_run", None)
            done(NodeProfile(node, node.macs(result), compiled - started, finished - compiled,
                             ProgramCost.of(program, timing), getattr(target, "last_stats", None),
                             None if rtl_run is None else dict(rtl_run.rtl.counters), program))
            return result

        def host(node, args, attrs):
            started = time.perf_counter()
            result = HOST[node.op](*args, **attrs)
            done(NodeProfile(node, 0, 0.0, time.perf_counter() - started, None))
            return result

        return Profile(self._evaluate(x, compute, host), profiles)

    def _evaluate(self, x: np.ndarray, compute: Evaluator, host: Evaluator = on_host
                  ) -> dict[str, np.ndarray]:
        """Return every tensor by name: ``host`` computes the HOST nodes, ``compute`` the rest."""
        tensors = {self.input: x}
        for node in self.nodes:
            args, attrs = node.arguments(tensors)
            tensors[node.output] = (host if node.op in HOST else compute)(node, args, attrs)
        return tensors
