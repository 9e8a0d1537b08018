# amaranth: UnusedElaboratable=no
"""Instruction and token queues, cycle by cycle against a Python deque."""

from collections import deque

import pytest
from amaranth.sim import Simulator
from hypothesis import given
from hypothesis import strategies as st

from vtaref.impl.queue import Queue, TokenQueue

# One cycle: (offer a push, the pushed value, accept a pop).
cycles = st.lists(st.tuples(st.booleans(), st.integers(0, 255), st.booleans()), max_size=60)


def simulate(dut, schedule, ports):
    """Drive ``schedule`` into ``dut``; check readiness, level and data against a deque."""
    w, r = (getattr(dut, name) for name in ports)
    carries_data = isinstance(dut, Queue)
    model = deque()

    async def bench(ctx):
        for push, value, pop in schedule:
            ctx.set(w.valid, push)
            ctx.set(r.ready, pop)
            if carries_data:
                ctx.set(w.payload, value)
            assert ctx.get(dut.level) == len(model)
            assert ctx.get(w.ready) == (len(model) < dut.depth)
            assert ctx.get(r.valid) == (len(model) > 0)
            pushed = push and len(model) < dut.depth
            if pop and model:
                if carries_data:
                    assert ctx.get(r.payload) == model[0]
                model.popleft()
            if pushed:
                model.append(value)
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


@given(st.integers(1, 5), cycles)
def test_queue_keeps_order_and_never_overflows(depth, schedule):
    simulate(Queue(8, depth), schedule, ("w", "r"))


@given(st.integers(1, 5), cycles)
def test_token_queue_counts(depth, schedule):
    simulate(TokenQueue(depth), schedule, ("push", "pop"))


@pytest.mark.parametrize("cls, args", [(Queue, (8,)), (TokenQueue, ())])
@pytest.mark.parametrize("depth", [0, -1, 2.0])
def test_depth_must_be_positive(cls, args, depth):
    with pytest.raises(TypeError, match=rf"^Queue depth must be a positive integer, not {depth}$"):
        cls(*args, depth)
