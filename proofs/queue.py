"""Proofs of the instruction and token queues: they never overflow or underflow, and keep order.

Each spec drives the queue with arbitrary pushes, payloads and pops (``AnySeq``) and checks it,
cycle by cycle, against a naive model: a shift register of entries and a count. The helper
invariants tie the queue's storage and pointers to the model, which makes the assertions
inductive, so k-induction proves them for every reachable state, not only the first few.
"""

from __future__ import annotations

from amaranth.asserts import AnySeq
from amaranth.hdl import Assert, Elaboratable, Module, Mux, Signal, Value

from vtaref.impl.queue import Queue, TokenQueue


class QueueModel(Elaboratable):
    """A queue as a shift register: ``entries[0]`` is the head; ``level`` counts entries.

    ``push``/``pop``/``data`` are the transfers that happened this cycle; the model trusts the
    caller to push only when ``level < depth`` and pop only when ``level > 0``.
    """

    def __init__(self, width: int, depth: int):
        self.depth = depth
        self.push, self.pop, self.data = Signal(), Signal(), Signal(width)
        self.entries = [Signal(width, name=f"entry_{k}") for k in range(depth)]
        self.level = Signal(range(depth + 1))

    def elaborate(self, platform):
        m = Module()
        target = self.level - self.pop
        for k, entry in enumerate(self.entries):
            shifted = self.entries[k + 1] if k + 1 < self.depth else entry
            current = Mux(self.pop, shifted, entry)
            m.d.sync += entry.eq(Mux(self.push & (target == k), self.data, current))
        m.d.sync += self.level.eq(self.level + self.push - self.pop)
        return m


class QueueSpec(Elaboratable):
    """A :class:`~vtaref.impl.queue.Queue` equals :class:`QueueModel` under arbitrary traffic."""

    def __init__(self, dut: Queue):
        self.dut = dut
        self.model = QueueModel(len(Value.cast(dut.w.payload)), dut.depth)

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = self.dut
        m.submodules.model = model = self.model
        depth = dut.depth
        m.d.comb += [dut.w.valid.eq(AnySeq(1)), dut.w.payload.eq(AnySeq(len(model.data))),
                     dut.r.ready.eq(AnySeq(1))]
        m.d.comb += [model.push.eq(dut.w.valid & dut.w.ready),
                     model.pop.eq(dut.r.valid & dut.r.ready),
                     model.data.eq(Value.cast(dut.w.payload))]

        # The contract: no push when full, no pop when empty, entries leave in order.
        m.d.comb += [Assert(dut.level <= depth),
                     Assert(dut.w.ready == (dut.level < depth)),
                     Assert(dut.r.valid == (dut.level > 0)),
                     Assert(dut.level == model.level)]
        with m.If(dut.r.valid):
            m.d.comb += Assert(Value.cast(dut.r.payload) == model.entries[0])

        # Helper invariants: pointers agree with the level, storage holds the model's entries.
        m.d.comb += [Assert(dut.head < depth), Assert(dut.tail < depth),
                     Assert(dut.tail == _wrap(dut.head + dut.level, depth))]
        for k, entry in enumerate(model.entries):
            peek = dut.storage.read_port(domain="comb")
            m.d.comb += peek.addr.eq(_wrap(dut.head + k, depth))
            with m.If(k < dut.level):
                m.d.comb += Assert(Value.cast(peek.data) == entry)
        return m


class TokenQueueSpec(Elaboratable):
    """A :class:`~vtaref.impl.queue.TokenQueue` counts the tokens pushed and not yet popped."""

    def __init__(self, dut: TokenQueue):
        self.dut = dut

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = self.dut
        depth = dut.depth
        m.d.comb += [dut.push.valid.eq(AnySeq(1)), dut.pop.ready.eq(AnySeq(1))]
        outstanding = Signal(range(depth + 2))
        pushed = dut.push.valid & dut.push.ready
        popped = dut.pop.valid & dut.pop.ready
        m.d.sync += outstanding.eq(outstanding + pushed - popped)
        m.d.comb += [Assert(outstanding <= depth),
                     Assert(dut.level == outstanding),
                     Assert(dut.push.ready == (outstanding < depth)),
                     Assert(dut.pop.valid == (outstanding > 0))]
        return m


def _wrap(index, depth: int):
    """Return ``index % depth`` for ``index < 2 * depth``."""
    return Mux(index >= depth, index - depth, index)
