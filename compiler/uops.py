"""The uop buffer as a cache of micro-op kernels.

A kernel (a tuple of :class:`~vtaref.spec.Uop`) must sit in the uop buffer while a GEMM or ALU
instruction runs it. Kernels are placed one after another; one that does not fit the space left
flushes the buffer and starts again from entry 0. Only the compute stage touches the uop buffer,
so reusing its entries needs no dependency tokens.
"""

from __future__ import annotations

from vtaref.spec import Uop

from .errors import CompileError


class UopCache:
    """Which kernels the uop buffer holds, and where."""

    def __init__(self, depth: int):
        self.depth = depth
        self.flushes = 0
        self._resident: dict[tuple[Uop, ...], int] = {}
        self._free = 0

    def find(self, kernel: tuple[Uop, ...]) -> int | None:
        """Return the entry where a resident ``kernel`` starts, or None."""
        return self._resident.get(kernel)

    def place(self, kernel: tuple[Uop, ...]) -> int:
        """Reserve room for ``kernel`` (flushing if needed); return its first entry."""
        if len(kernel) > self.depth:
            raise CompileError(f"a kernel of {len(kernel)} uops exceeds the uop buffer "
                               f"({self.depth} entries)")
        if self._free + len(kernel) > self.depth:
            self._resident.clear()
            self._free = 0
            self.flushes += 1
        start = self._free
        self._resident[kernel] = start
        self._free += len(kernel)
        return start
