"""Shared by the RTL tests: fixed configs, scratchpad memories from a spec state, a driver, and
the testbench pieces of the stage tests (token sources and sinks, event monitors), and the DRAM
behaviours of the whole-core tests."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Elaboratable, Module
from amaranth.lib import memory, wiring
from amaranth.sim import Simulator
from hypothesis import strategies as st

from vtaref.impl import scratchpad
from vtaref.impl.bus_model import IDEAL_BUS, BusModel
from vtaref.spec import VtaConfig, isa
from vtaref.spec.packing import pack
from vtaref.spec.state import MachineState

# Which scratchpad each memory port of a unit reads or writes; ``*_wr`` ports write.
PORT_BUFFERS = {"uop": "uop", "inp": "inp", "wgt": "wgt", "acc_rd": "acc", "acc_dst": "acc",
                "acc_src": "acc", "acc_wr": "acc"}


def sized_config(log_depths: dict[str, int] | int = 4, **keys) -> VtaConfig:
    """Return the config with ``keys`` whose buffers have 2**``log_depths[buffer]`` rows.

    Raises ConfigError if there is none.
    """
    depth = log_depths if isinstance(log_depths, dict) else dict.fromkeys(
        ("uop", "inp", "wgt", "acc"), log_depths)
    defaults = VtaConfig()
    widths = {key: keys.get(key, getattr(defaults, key)) for key in (
        "LOG_INP_WIDTH", "LOG_WGT_WIDTH", "LOG_ACC_WIDTH", "LOG_BATCH", "LOG_BLOCK")}
    batch, block = widths["LOG_BATCH"], widths["LOG_BLOCK"]
    return VtaConfig(**widths,
                     LOG_UOP_BUFF_SIZE=depth["uop"] + 2,
                     LOG_INP_BUFF_SIZE=depth["inp"] + batch + block + widths["LOG_INP_WIDTH"] - 3,
                     LOG_WGT_BUFF_SIZE=depth["wgt"] + 2 * block + widths["LOG_WGT_WIDTH"] - 3,
                     LOG_ACC_BUFF_SIZE=depth["acc"] + batch + block + widths["LOG_ACC_WIDTH"] - 3)


# BATCH=2 with 8-bit lanes and 32-bit acc; sub-byte lanes (4-bit inp/out, 2-bit wgt) with
# 16-bit acc.
SMALL_CONFIGS = {
    "2x4": sized_config(4, LOG_BATCH=1, LOG_BLOCK=2),
    "subbyte": sized_config(5, LOG_INP_WIDTH=2, LOG_WGT_WIDTH=1, LOG_ACC_WIDTH=4, LOG_BLOCK=1),
}


def random_state(config: VtaConfig, rng: np.random.Generator) -> MachineState:
    """Return a state whose inp, wgt and acc rows hold random lanes (uops stay zero)."""
    state = MachineState(config, dram=None)
    for name in ("inp", "wgt", "acc"):
        buffer = state[name]
        half = 1 << (buffer.width - 1)
        buffer.data[:] = rng.integers(-half, half, size=buffer.data.shape)
    return state


def rows(state: MachineState, name: str) -> list[int]:
    """Return scratchpad ``name`` as one integer per row, packed as the RTL stores it."""
    buffer = state[name]
    if name == "uop":
        return [int(word) for word in buffer.data[:, 0]]
    return [int.from_bytes(row.tobytes(), "little") for row in pack(buffer.data, buffer.width)]



def scratchpad_memories(state: MachineState, buffers) -> dict[str, memory.Memory]:
    """Return a memory for each scratchpad in ``buffers``, holding ``state``'s rows."""
    memories = {}
    for buffer in sorted(buffers):
        layout = scratchpad.row_layout(buffer, state.config)
        init = [layout.from_bits(row) for row in rows(state, buffer)]
        memories[buffer] = memory.Memory(shape=layout, depth=state[buffer].depth, init=init)
    return memories

class Scratchpads(Elaboratable):
    """A unit under test wired to scratchpad memories that start with a spec state's contents.

    Read ports of acc are transparent for the unit's acc write port, as the units require.
    """

    def __init__(self, dut: wiring.Component, state: MachineState):
        self.dut = dut
        used = {PORT_BUFFERS[name] for name in dut.signature.members if name in PORT_BUFFERS}
        self.memories = scratchpad_memories(state, used)

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = self.dut
        writes = {}
        ports = [name for name in self.dut.signature.members if name in PORT_BUFFERS]
        for name in sorted(ports, key=lambda name: not name.endswith("_wr")):
            buffer = PORT_BUFFERS[name]
            mem = self.memories[buffer]
            if name.endswith("_wr"):
                port = writes[buffer] = mem.write_port()
            else:
                port = mem.read_port(transparent_for=tuple(writes.values())
                                     if buffer in writes else ())
            wiring.connect(m, getattr(self.dut, name), port)
        for buffer, mem in self.memories.items():
            m.submodules[buffer] = mem
        return m


@dataclass
class Run:
    """What one simulation of a unit produced."""

    acc: list[int]  # the acc rows afterwards
    cycles: int  # from the cycle the first command is accepted in to the first idle cycle
    seconds: float


def command(dut: wiring.Component, insn) -> dict:
    """Return the ``cmd`` payload of ``dut`` that runs instruction ``insn``."""
    layout = dut.cmd.payload.shape()
    fields = {name: getattr(insn, name) for name, _ in layout if name != "tag"}
    fields["tag"] = {name: getattr(insn, name) for name, _ in layout["tag"].shape}
    return fields


def run_unit(dut: wiring.Component, state: MachineState, insns: list) -> Run:
    """Simulate ``dut`` issuing ``insns`` back to back from ``state``; return acc and timing."""
    harness = Scratchpads(dut, state)
    result = {}

    async def bench(ctx):
        cycle = None  # counted from the cycle the first command is accepted in
        for insn in insns:
            ctx.set(dut.cmd.payload, command(dut, insn))
            ctx.set(dut.cmd.valid, 1)
            while not ctx.get(dut.cmd.ready):
                await ctx.tick()
                cycle += 1
            await ctx.tick()
            cycle = 1 if cycle is None else cycle + 1
        ctx.set(dut.cmd.valid, 0)
        while not ctx.get(dut.idle):
            await ctx.tick()
            cycle += 1
        mem = harness.memories["acc"]
        result["acc"] = [ctx.get(mem.data[i].as_value()) for i in range(mem.depth)]
        result["cycles"] = cycle

    sim = Simulator(harness)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    start = time.perf_counter()
    sim.run()
    return Run(result["acc"], result["cycles"], time.perf_counter() - start)


def encoded(insn, config) -> int:
    return int.from_bytes(isa.encode(insn, config), "little")


# -- testbench pieces shared by the stage tests ------------------------------------------------


def token_source(port, rng: random.Random, stall: float, delay: int = 0):
    """Offer tokens on ``port`` (held once offered, like a token queue) from cycle ``delay``,
    stalling at random."""
    async def run(ctx):
        offer = False
        if delay:
            await ctx.tick().repeat(delay)
        while True:
            offer = offer or rng.random() >= stall
            ctx.set(port.valid, offer)
            _, _, ready = await ctx.tick().sample(port.ready)
            if ready:
                offer = False
    return run


def stream_sink(port, rng: random.Random, stall: float, received: list | None = None):
    """Take from ``port`` at random; check that an offer stays valid and unchanged until taken."""
    async def run(ctx):
        waiting = None
        while True:
            ready = rng.random() >= stall
            ctx.set(port.ready, ready)
            _, _, valid, payload = await ctx.tick().sample(port.valid, port.payload)
            assert waiting is None or (valid and payload == waiting), "offer withdrawn"
            waiting = payload if valid and not ready else None
            if valid and ready and received is not None:
                received.append(payload)
    return run


def token_pressure(sim: Simulator, dut: wiring.Component, rng: random.Random, press: dict) -> None:
    """Add testbenches that offer ``dut.from_compute`` tokens and take ``dut.to_compute`` ones,
    stalling with probability ``press["tokens"]`` (first offer after ``press["delay"]``)."""
    sim.add_testbench(token_source(dut.from_compute, random.Random(rng.random()),
                                   press["tokens"], press.get("delay", 0)), background=True)
    sim.add_testbench(stream_sink(dut.to_compute, random.Random(rng.random()),
                                  press["tokens"]), background=True)


def monitor(events: dict[str, list[int]], signals: dict):
    """Record in ``events[name]`` every cycle in which ``signals[name]`` is non-zero."""
    async def run(ctx):
        for name in signals:
            events[name] = []
        cycle = 0
        async for _, _, *values in ctx.tick().sample(*signals.values()):
            for name, value in zip(signals, values):
                if value:
                    events[name].append(cycle)
            cycle += 1
    return run


def handshake(stream):
    return stream.valid & stream.ready


def bus_models() -> st.SearchStrategy[BusModel]:
    """Draw a DRAM behaviour: always ready, or random stalls and delays (shrinks to always
    ready)."""
    return st.one_of(st.just(IDEAL_BUS), st.builds(
        BusModel, stall=st.sampled_from([0.2, 0.5]), max_delay=st.sampled_from([0, 4, 30]),
        seed=st.integers(0, 2**16)))
