"""The queues between VTA's stages: instruction queues and dependency-token queues.

Both are first-in first-out with ``lib.stream`` ports and never overflow or underflow: ``w``
(``push``) is ready exactly when the queue is not full, ``r`` (``pop``) is valid exactly when it
is not empty, and ``level`` counts the entries. A push and a pop in the same cycle both happen
(unless the queue is full, when the push waits). Their proofs are in :mod:`vtaref.proofs.queue`.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out


def _check_depth(depth) -> None:
    if not isinstance(depth, int) or depth < 1:
        raise TypeError(f"Queue depth must be a positive integer, not {depth!r}")


class Queue(wiring.Component):
    """A queue of up to ``depth`` entries of ``shape`` (instructions, for example).

    An entry pushed on ``w`` in cycle ``c`` is on ``r`` from cycle ``c + 1`` if the queue was
    otherwise empty; entries leave in the order they came. The storage is a memory read
    asynchronously (distributed RAM). ``head``, ``tail`` and ``storage`` are public for the
    proofs: the entry ``k`` places behind the head is ``storage[(head + k) % depth]``.
    """

    def __init__(self, shape, depth: int):
        _check_depth(depth)
        self.depth = depth
        self.storage = memory.Memory(shape=shape, depth=depth, init=[])
        self.head = Signal(range(depth), name="head")
        self.tail = Signal(range(depth), name="tail")
        super().__init__({
            "w": In(stream.Signature(shape)),
            "r": Out(stream.Signature(shape)),
            "level": Out(range(depth + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.storage = self.storage
        write = self.storage.write_port()
        read = self.storage.read_port(domain="comb")

        push = self.w.valid & self.w.ready
        pop = self.r.valid & self.r.ready
        m.d.comb += [self.w.ready.eq(self.level != self.depth), self.r.valid.eq(self.level != 0)]
        m.d.comb += [write.addr.eq(self.tail), write.data.eq(self.w.payload), write.en.eq(push),
                     read.addr.eq(self.head), self.r.payload.eq(read.data)]
        with m.If(push):
            m.d.sync += self.tail.eq(_next(self.tail, self.depth))
        with m.If(pop):
            m.d.sync += self.head.eq(_next(self.head, self.depth))
        m.d.sync += self.level.eq(self.level + push - pop)
        return m


class TokenQueue(wiring.Component):
    """A queue of up to ``depth`` dependency tokens (a counter; tokens carry no data).

    A token pushed on ``push`` in cycle ``c`` can be popped from ``pop`` from cycle ``c + 1``.
    """

    def __init__(self, depth: int):
        _check_depth(depth)
        self.depth = depth
        super().__init__({
            "push": In(stream.Signature(0)),
            "pop": Out(stream.Signature(0)),
            "level": Out(range(depth + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        m.d.comb += [self.push.ready.eq(self.level != self.depth),
                     self.pop.valid.eq(self.level != 0)]
        push = self.push.valid & self.push.ready
        pop = self.pop.valid & self.pop.ready
        m.d.sync += self.level.eq(self.level + push - pop)
        return m


def _next(index: Signal, depth: int):
    """Return ``(index + 1) % depth`` for an index in ``range(depth)``."""
    return Mux(index == depth - 1, 0, index + 1)

