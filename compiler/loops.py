"""Affine loop nests and their lowering to micro-op loops.

GEMM and ALU instructions visit ``for o in iter_out: for i in iter_in: for uop in kernel``, where
each index is the uop's field plus ``o * factor_out + i * factor_in``. A :class:`Nest` describes
a computation as a box of integer points and, for each index (``dst``, ``src`` and, for GEMM,
``wgt``), an affine function of the point. :func:`lower` turns it into instructions: two
variables become the hardware loops and the others are enumerated as micro-ops; when those would
not fit ``budget`` micro-ops, the largest remaining variables are unrolled into several
instructions, each with its own kernel. Every order of visits gives the same result under the
spec (a GEMM visit adds to its accumulator; the ALU nests used here are order-independent).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from vtaref.spec import Uop
from vtaref.spec.config import LOOP_ITER_WIDTH

from .errors import CompileError

MAX_ITER = (1 << LOOP_ITER_WIDTH) - 1
INDICES = ("dst", "src", "wgt")


@dataclass(frozen=True)
class Affine:
    """The index ``base + sum(coefs[v] * point[v])``; coefficients are non-negative."""

    base: int
    coefs: tuple[int, ...]


@dataclass(frozen=True)
class Nest:
    """Visit every point of the box ``extents``; ``wgt`` is None for ALU nests."""

    extents: tuple[int, ...]
    dst: Affine
    src: Affine
    wgt: Affine | None = None

    def __post_init__(self):
        for name in INDICES:
            affine = getattr(self, name)
            if affine is not None and (len(affine.coefs) != len(self.extents)
                                       or min(affine.coefs, default=0) < 0):
                raise ValueError(f"{name} needs one non-negative coefficient per variable")
        if min(self.extents, default=1) < 1:
            raise ValueError(f"every extent must be positive, not {self.extents}")

    def affines(self) -> dict[str, Affine]:
        """Return the indices the nest defines, by name."""
        return {name: getattr(self, name) for name in INDICES if getattr(self, name) is not None}


@dataclass(frozen=True)
class Lowered:
    """One GEMM or ALU instruction's loops and its micro-op kernel."""

    uops: tuple[Uop, ...]
    iter_out: int
    iter_in: int
    factors: tuple[tuple[str, int, int], ...]  # (index name, factor_out, factor_in)
    spans: tuple[tuple[str, int, int], ...]  # (index name, lo, hi) the instruction touches

    def fields(self) -> dict[str, int]:
        """Return the loop fields of a GEMM or ALU instruction (without uop_bgn/uop_end)."""
        values = {"iter_out": self.iter_out, "iter_in": self.iter_in}
        for name, out, inner in self.factors:
            values[f"{name}_factor_out"] = out
            values[f"{name}_factor_in"] = inner
        return values


def _simplify(nest: Nest) -> tuple[list[int], dict[str, list[int]]]:
    """Drop unit variables and fuse neighbours that step every index contiguously."""
    extents, coefs = [], {name: [] for name in nest.affines()}
    for v, extent in enumerate(nest.extents):
        if extent == 1:
            continue
        if extents and extents[-1] * extent <= MAX_ITER and all(
                c[-1] == getattr(nest, name).coefs[v] * extent for name, c in coefs.items()):
            extents[-1] *= extent
            for name, c in coefs.items():
                c[-1] = getattr(nest, name).coefs[v]
            continue
        extents.append(extent)
        for name, c in coefs.items():
            c.append(getattr(nest, name).coefs[v])
    return extents, coefs


@lru_cache(maxsize=4096)
def lower(nest: Nest, budget: int) -> tuple[Lowered, ...]:
    """Return the instructions that visit every point of ``nest``, kernels of <= ``budget``."""
    extents, coefs = _simplify(nest)
    if any(e > MAX_ITER for e in extents):
        raise CompileError(f"a loop of {max(extents)} iterations exceeds {MAX_ITER}")
    variables = list(range(len(extents)))
    loops = sorted(sorted(variables, key=lambda v: -extents[v])[:2])
    rest = [v for v in variables if v not in loops]
    unrolled = []
    while math.prod(extents[v] for v in rest) > budget:
        largest = max(rest, key=lambda v: extents[v])
        rest.remove(largest)
        unrolled.append(largest)
    loops = [None] * (2 - len(loops)) + loops
    # Variables that move dst vary fastest, so that consecutive micro-ops update different
    # accumulators where possible (pipelined hardware need not forward a sum to the next one).
    rest.sort(key=lambda v: coefs["dst"][v] != 0)
    names = list(coefs)
    bases = {name: getattr(nest, name).base for name in names}
    grid = np.indices([extents[v] for v in rest]).reshape(len(rest), -1) if rest else None
    result = []
    for point in np.ndindex(*[extents[v] for v in unrolled]):
        fields = {}
        for name in names:
            offset = bases[name] + sum(coefs[name][v] * p for v, p in zip(unrolled, point))
            steps = np.array([coefs[name][v] for v in rest], dtype=np.int64)
            fields[name] = offset + steps @ grid if rest else np.array([offset])
        uops = tuple(Uop(int(d), int(s), int(w)) for d, s, w in zip(
            fields["dst"], fields["src"], fields.get("wgt", np.zeros_like(fields["dst"]))))
        iters = [1 if v is None else extents[v] for v in loops]
        factors = tuple((name, *[0 if v is None else coefs[name][v] for v in loops])
                        for name in names)
        spans = []
        for name, out, inner in factors:
            lo = int(fields[name].min())
            hi = int(fields[name].max()) + out * (iters[0] - 1) + inner * (iters[1] - 1) + 1
            spans.append((name, lo, hi))
        result.append(Lowered(uops, iters[0], iters[1], factors, tuple(spans)))
    return tuple(result)


def contiguous(base: int, dims: tuple[int, ...]) -> Affine:
    """Return the index of a row-major block of ``dims`` entries starting at ``base``."""
    return Affine(base, tuple(math.prod(dims[d + 1:]) for d in range(len(dims))))


def block_nest(base: int, dims: tuple[int, ...]) -> Nest:
    """Return the ALU nest visiting each entry of a row-major block once (``src`` = ``dst``)."""
    index = contiguous(base, dims)
    return Nest(tuple(dims), index, index)


def zeroing_nest(base: int, dims: tuple[int, ...], inp: int, wgt: int) -> Nest:
    """Return the GEMM nest that, with ``reset_reg``, zeroes a row-major block.

    TVM-VTA's HLS design reads ``inp[src]`` and ``wgt[wgt]`` even when resetting, so the nest
    points them at entries ``inp`` and ``wgt``: best ones the next GEMM reads anyway, so that
    the reset adds no ordering of its own.
    """
    zeros = (0,) * len(dims)
    return Nest(tuple(dims), contiguous(base, dims), Affine(inp, zeros), Affine(wgt, zeros))
