# amaranth: UnusedElaboratable=no
"""The fetch, load and store stages against the spec: bit-exact scratchpads and DRAM, tokens
taken and given at the right moments, instructions dispatched in order, one row per cycle."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest
from amaranth.hdl import Elaboratable, Module
from amaranth.lib import memory, wiring
from amaranth.sim import Simulator
from hypothesis import given, settings
from hypothesis import strategies as st

from vtaref.impl.fetch import BUFFER_DEPTH, Fetch
from vtaref.impl.load import Load
from vtaref.impl.store import Store
from vtaref.spec import isa, semantics
from vtaref.spec.isa import INSN_BYTES, MemType, Stage
from vtaref.spec.state import Dram, element_formats

from .element_model import ElementMemory
from .impl_support import (
    SMALL_CONFIGS,
    encoded,
    handshake,
    monitor,
    random_state,
    rows,
    scratchpad_memories,
    sized_config,
    stream_sink,
    token_pressure,
)

# The small configs, and BLOCK=8 with 8-row buffers.
CONFIGS = {**SMALL_CONFIGS, "1x8": sized_config(3, LOG_BLOCK=3)}
DRAM_BASE = 0x10000  # a multiple of every element size
MAX_CYCLES = 5000
FLAGS = ("pop_prev_dep", "pop_next_dep", "push_prev_dep", "push_next_dep")


class Harness(Elaboratable):
    """A stage wired to scratchpad memories holding a spec state's rows.

    ``ports`` maps the stage's scratchpad members to buffers; ``*_wr`` members write.
    """

    def __init__(self, dut: wiring.Component, state, ports: dict[str, str]):
        self.dut = dut
        self.ports = ports
        self.memories = scratchpad_memories(state, set(ports.values()))

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = self.dut
        for buffer, mem in self.memories.items():
            m.submodules[buffer] = mem
        for member, buffer in self.ports.items():
            mem = self.memories[buffer]
            port = mem.write_port() if member.endswith("_wr") else mem.read_port()
            wiring.connect(m, getattr(self.dut, member), port)
        return m


# -- testbench pieces ---------------------------------------------------------------------------


def issue(dut, words: list[int], rng: random.Random, idle: float, result: dict,
          memories: dict[str, memory.Memory]):
    """Feed ``words`` to ``dut.insn`` with random gaps; wait for ``busy`` to fall; read memories.

    ``result`` gets ``cycles`` (from the first instruction taken to the first idle cycle) and
    each memory's rows.
    """
    async def run(ctx):
        cycles = None
        for word in words:
            while rng.random() < idle:
                await ctx.tick()
            ctx.set(dut.insn.payload, word)
            ctx.set(dut.insn.valid, 1)
            waited = 0
            async for _, _, ready in ctx.tick().sample(dut.insn.ready):
                waited += 1
                assert waited < MAX_CYCLES, "the stage takes no instruction"
                if ready:
                    break
            ctx.set(dut.insn.valid, 0)
            cycles = 1 if cycles is None else cycles + waited
        while ctx.get(dut.busy):
            await ctx.tick()
            cycles += 1
            assert cycles < MAX_CYCLES, "the stage hangs"
        result["cycles"] = cycles
        for name, mem in memories.items():
            result[name] = [ctx.get(mem.data[i].as_value()) for i in range(mem.depth)]
    return run


def count_before(cycles: list[int], limit: int, inclusive: bool) -> int:
    return sum(1 for c in cycles if c < limit or (inclusive and c == limit))


def check_tokens(insns, events, pop_flag: str, push_flag: str, work: dict[str, list[int]]):
    """Check pops and pushes against the per-instruction work counts ``work[event]``.

    Up to (and in) the cycle of instruction ``i``'s pop, only the work of the instructions
    before it happened; before its push, all the work of instructions up to ``i``.
    """
    pops = [i for i, insn in enumerate(insns) if getattr(insn, pop_flag)]
    pushes = [i for i, insn in enumerate(insns) if getattr(insn, push_flag)]
    assert len(events["pop"]) == len(pops)
    assert len(events["push"]) == len(pushes)
    for name, counts in work.items():
        assert len(events[name]) == sum(counts), name
        for i, cycle in zip(pops, events["pop"]):
            assert count_before(events[name], cycle, True) == sum(counts[:i]), (name, i)
        for i, cycle in zip(pushes, events["push"]):
            assert count_before(events[name], cycle, False) == sum(counts[:i + 1]), (name, i)


@st.composite
def pressure(draw) -> dict:
    """Draw a seed and how often each model stalls (zero: always ready)."""
    level = st.sampled_from([0.0, 0.0, 0.3, 0.7])
    return {"seed": draw(st.integers(0, 2**32 - 1)), "memory": draw(level),
            "tokens": draw(level), "idle": draw(st.sampled_from([0.0, 0.5]))}


@st.composite
def flags(draw) -> dict:
    return {flag: draw(st.integers(0, 1)) for flag in FLAGS}


@st.composite
def ignored_fields(draw, cls):
    """Draw an instruction with ``x_size == 0`` and arbitrary other fields (it does nothing)."""
    return cls(memory_type=draw(st.integers(0, 7)), sram_base=draw(st.integers(0, 2**16 - 1)),
               dram_base=draw(st.integers(0, 2**32 - 1)), y_size=draw(st.integers(0, 2**16 - 1)),
               x_size=0, x_stride=draw(st.integers(0, 2**16 - 1)),
               y_pad_0=draw(st.integers(0, 15)), y_pad_1=draw(st.integers(0, 15)),
               x_pad_0=draw(st.integers(0, 15)), x_pad_1=draw(st.integers(0, 15)),
               **draw(flags()))


def rtl_word(insn, config, elem_bytes: int, wrap: bool) -> int:
    """Encode ``insn``, with ``wrap`` moving ``dram_base`` by 2**32 bytes (the same address for
    the 32-bit RTL) where the field allows it."""
    extra = (1 << 32) // elem_bytes
    if wrap and insn.x_size and elem_bytes > 1 and insn.dram_base + extra < 1 << 32:
        insn = dataclasses.replace(insn, dram_base=insn.dram_base + extra)
    return encoded(insn, config)


# -- load ---------------------------------------------------------------------------------------


@st.composite
def loads(draw, config):
    """Draw a LOAD of INP or WGT that fits its buffer and DRAM from DRAM_BASE, and the DRAM
    bytes it reaches (as a count of bytes past DRAM_BASE)."""
    memory_type = draw(st.sampled_from([MemType.INP, MemType.WGT]))
    fmt = element_formats(config)[memory_type]
    depth = config.inp_buff_depth if memory_type == MemType.INP else config.wgt_buff_depth
    x_size = draw(st.integers(0, min(5, depth)))
    if x_size == 0:
        return draw(ignored_fields(isa.Load)), 0
    x_pad_0 = draw(pad(depth - x_size))
    x_pad_1 = draw(pad(depth - x_size - x_pad_0))
    x_total = x_pad_0 + x_size + x_pad_1
    height = depth // x_total
    y_pad_0 = draw(pad(height))
    y_size = draw(st.integers(0, min(4, height - y_pad_0)))
    y_pad_1 = draw(pad(height - y_pad_0 - y_size))
    block = x_total * (y_pad_0 + y_size + y_pad_1)
    x_stride = draw(st.one_of(st.just(x_size), st.integers(0, 8)))
    offset = draw(st.integers(0, 3))
    insn = isa.Load(memory_type=memory_type, sram_base=draw(st.integers(0, depth - block)),
                    dram_base=DRAM_BASE // fmt.bytes + offset, y_size=y_size, x_size=x_size,
                    x_stride=x_stride, y_pad_0=y_pad_0, y_pad_1=y_pad_1, x_pad_0=x_pad_0,
                    x_pad_1=x_pad_1, **draw(flags()))
    reach = (offset + (y_size - 1) * x_stride + x_size) * fmt.bytes if y_size else 0
    return insn, reach


def pad(room: int):
    """Draw a padding width of at most 2 and ``room`` (mostly zero)."""
    return st.one_of(st.just(0), st.integers(0, min(2, room)))


def load_writes(insn) -> int:
    """Return how many scratchpad rows ``insn`` writes."""
    if insn.x_size == 0:
        return 0
    return ((insn.x_pad_0 + insn.x_size + insn.x_pad_1)
            * (insn.y_pad_0 + insn.y_size + insn.y_pad_1))


def run_load(config, state, dram: ElementMemory, insns, press: dict, *, wrap=None) -> dict:
    """Simulate ``Load`` running ``insns`` from ``state``; return rows, cycles and events."""
    dut = Load(config)
    harness = Harness(dut, state, {"inp_wr": "inp", "wgt_wr": "wgt"})
    rng = random.Random(press["seed"])
    elem_bytes = {MemType.INP: config.inp_elem_bytes, MemType.WGT: config.wgt_elem_bytes}
    words = [rtl_word(insn, config, elem_bytes.get(insn.memory_type, 1), w)
             for insn, w in zip(insns, wrap or [False] * len(insns))]
    result, events = {}, {}
    sim = Simulator(harness)
    sim.add_clock(1e-6)
    sim.add_testbench(dram.reader(dut.inp_mem, name="inp", stall=press["memory"],
                                  seed=rng.random()), background=True)
    sim.add_testbench(dram.reader(dut.wgt_mem, name="wgt", stall=press["memory"],
                                  seed=rng.random()), background=True)
    token_pressure(sim, dut, rng, press)
    sim.add_testbench(monitor(events, {
        "pop": handshake(dut.from_compute), "push": handshake(dut.to_compute),
        "write": dut.inp_wr.en | dut.wgt_wr.en,
        "read": handshake(dut.inp_mem.data) | handshake(dut.wgt_mem.data),
        "token_wait": dut.token_wait}), background=True)
    sim.add_testbench(issue(dut, words, random.Random(rng.random()), press["idle"], result,
                            harness.memories))
    sim.run()
    result["events"] = events
    return result


@st.composite
def memop_cases(draw, insns_of):
    """Draw up to three instructions from ``insns_of`` (with the DRAM bytes they reach), whether
    the RTL word of each wraps, the initial DRAM and the pressure."""
    drawn = draw(st.lists(insns_of, min_size=1, max_size=3))
    insns = [insn for insn, _ in drawn]
    wrap = [draw(st.booleans()) for _ in insns]
    size = max(64, max(reach for _, reach in drawn))
    dram = draw(st.binary(min_size=size, max_size=size))
    return insns, wrap, np.frombuffer(dram, dtype=np.uint8).copy(), draw(pressure())


@pytest.mark.parametrize("name", sorted(CONFIGS))
@settings(max_examples=25)
@given(data=st.data())
def test_load_matches_spec(name, data):
    config = CONFIGS[name]
    insns, wrap, dram, press = data.draw(memop_cases(loads(config)))
    state = random_state(config, np.random.default_rng(press["seed"]))
    state.dram = Dram(DRAM_BASE, dram.copy())
    result = run_load(config, state, ElementMemory(dram, DRAM_BASE), insns, press, wrap=wrap)
    for index, insn in enumerate(insns):
        semantics.load(insn, state, index)
    assert result["inp"] == rows(state, "inp")
    assert result["wgt"] == rows(state, "wgt")
    moved = [insn.x_size * insn.y_size for insn in insns]
    check_tokens(insns, result["events"], "pop_next_dep", "push_next_dep",
                 {"write": [load_writes(insn) for insn in insns], "read": moved})


def test_load_waits_for_its_token_and_pushes_after_writing():
    config = CONFIGS["2x4"]
    insn = isa.Load(memory_type=MemType.INP, sram_base=1,
                    dram_base=DRAM_BASE // config.inp_elem_bytes, y_size=2, x_size=3, x_stride=3,
                    x_pad_1=1, pop_next_dep=1, push_next_dep=1)
    state = random_state(config, np.random.default_rng(1))
    dram = np.arange(64, dtype=np.uint8)
    state.dram = Dram(DRAM_BASE, dram.copy())
    press = {"seed": 1, "memory": 0.0, "tokens": 0.5, "idle": 0.0, "delay": 20}
    result = run_load(config, state, ElementMemory(dram, DRAM_BASE), [insn], press)
    semantics.load(insn, state, 0)
    assert result["inp"] == rows(state, "inp")
    events = result["events"]
    [pop], [push] = events["pop"], events["push"]
    assert pop >= 20  # the token source holds back
    assert events["token_wait"][:pop - 1] == list(range(1, pop))
    assert len(events["write"]) == 8 and min(events["write"]) > pop
    assert max(events["write"]) < push


LONG = sized_config({"uop": 4, "inp": 8, "wgt": 4, "acc": 8}, LOG_BLOCK=2)  # 256 inp, acc rows


@pytest.mark.parametrize("shape, bound", [
    (dict(y_size=16, x_size=16, x_stride=16), 256 + 6),  # one command
    (dict(y_size=14, x_size=14, x_stride=14, y_pad_0=1, y_pad_1=1, x_pad_0=1, x_pad_1=1),
     256 + 6),  # padding costs nothing extra
    (dict(y_size=8, x_size=16, x_stride=20), 8 * 17 + 6),  # one command per row
])
def test_load_writes_a_row_per_cycle(shape, bound):
    insn = isa.Load(memory_type=MemType.INP, dram_base=DRAM_BASE // LONG.inp_elem_bytes, **shape)
    state = random_state(LONG, np.random.default_rng(0))
    dram = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)
    state.dram = Dram(DRAM_BASE, dram.copy())
    press = {"seed": 0, "memory": 0.0, "tokens": 0.0, "idle": 0.0}
    result = run_load(LONG, state, ElementMemory(dram, DRAM_BASE), [insn], press)
    semantics.load(insn, state, 0)
    assert result["inp"] == rows(state, "inp")
    assert result["cycles"] <= bound


# -- store --------------------------------------------------------------------------------------


@st.composite
def stores(draw, config):
    """Draw a STORE that fits the acc buffer and DRAM from DRAM_BASE, and its DRAM reach."""
    depth = config.acc_buff_depth
    out_bytes = config.out_elem_bytes
    x_size = draw(st.integers(0, min(5, depth)))
    if x_size == 0:
        insn = draw(ignored_fields(isa.Store))
        return insn, 0
    y_size = draw(st.integers(0, min(4, depth // x_size)))
    count = x_size * y_size
    # Rows may overlap in DRAM only if there is one (the spec's write order is not pinned).
    x_stride = draw(st.one_of(st.just(x_size), st.integers(x_size if y_size > 1 else 0, 8)))
    offset = draw(st.integers(0, 3))
    insn = isa.Store(memory_type=MemType.OUT, sram_base=draw(st.integers(0, depth - count)),
                     dram_base=DRAM_BASE // out_bytes + offset, y_size=y_size, x_size=x_size,
                     x_stride=x_stride, **draw(flags()))
    reach = (offset + (y_size - 1) * x_stride + x_size) * out_bytes if y_size else 0
    return insn, reach


def run_store(config, state, dram: ElementMemory, insns, press: dict, *, wrap=None) -> dict:
    """Simulate ``Store`` running ``insns`` from ``state``; return cycles and events."""
    dut = Store(config)
    harness = Harness(dut, state, {"acc": "acc"})
    rng = random.Random(press["seed"])
    words = [rtl_word(insn, config, config.out_elem_bytes, w)
             for insn, w in zip(insns, wrap or [False] * len(insns))]
    result, events = {}, {}
    sim = Simulator(harness)
    sim.add_clock(1e-6)
    sim.add_testbench(dram.writer(dut.mem, name="out", stall=press["memory"],
                                  seed=rng.random()), background=True)
    token_pressure(sim, dut, rng, press)
    sim.add_testbench(monitor(events, {
        "pop": handshake(dut.from_compute), "push": handshake(dut.to_compute),
        "acc_read": dut.acc.en, "write": handshake(dut.mem.data),
        "done": handshake(dut.mem.done), "token_wait": dut.token_wait}), background=True)
    sim.add_testbench(issue(dut, words, random.Random(rng.random()), press["idle"], result, {}))
    sim.run()
    result["events"] = events
    return result




def store_commands(insn) -> int:
    """Return how many element commands the store stage uses for ``insn``."""
    if insn.x_size == 0 or insn.y_size == 0:
        return 0
    return 1 if insn.x_stride == insn.x_size else insn.y_size


@pytest.mark.parametrize("name", sorted(CONFIGS))
@settings(max_examples=25)
@given(data=st.data())
def test_store_matches_spec(name, data):
    config = CONFIGS[name]
    insns, wrap, dram, press = data.draw(memop_cases(stores(config)))
    state = random_state(config, np.random.default_rng(press["seed"]))
    state.dram = Dram(DRAM_BASE, dram.copy())
    memory_model = ElementMemory(dram, DRAM_BASE)
    result = run_store(config, state, memory_model, insns, press, wrap=wrap)
    for index, insn in enumerate(insns):
        semantics.store(insn, state, index)
    assert np.array_equal(memory_model.data, state.dram.data)
    moved = [insn.x_size * insn.y_size for insn in insns]
    check_tokens(insns, result["events"], "pop_prev_dep", "push_prev_dep",
                 {"acc_read": moved, "write": moved,
                  "done": [store_commands(insn) for insn in insns]})


@pytest.mark.parametrize("shape, bound", [
    (dict(y_size=16, x_size=16, x_stride=16), 256 + 6),  # one command
    (dict(y_size=8, x_size=16, x_stride=20), 8 * 18 + 6),  # one command per row
])
def test_store_sends_an_element_per_cycle(shape, bound):
    insn = isa.Store(memory_type=MemType.OUT, dram_base=DRAM_BASE // LONG.out_elem_bytes, **shape)
    state = random_state(LONG, np.random.default_rng(0))
    dram = np.zeros(4096, dtype=np.uint8)
    state.dram = Dram(DRAM_BASE, dram.copy())
    memory_model = ElementMemory(dram, DRAM_BASE)
    press = {"seed": 0, "memory": 0.0, "tokens": 0.0, "idle": 0.0}
    result = run_store(LONG, state, memory_model, [insn], press)
    semantics.store(insn, state, 0)
    assert np.array_equal(memory_model.data, state.dram.data)
    assert result["cycles"] <= bound


def test_store_waits_for_its_token_and_pushes_after_done():
    config = CONFIGS["2x4"]
    out_bytes = config.out_elem_bytes
    insn = isa.Store(memory_type=MemType.OUT, sram_base=3, dram_base=DRAM_BASE // out_bytes,
                     y_size=3, x_size=2, x_stride=4, pop_prev_dep=1, push_prev_dep=1)
    state = random_state(config, np.random.default_rng(2))
    dram = np.zeros(256, dtype=np.uint8)
    state.dram = Dram(DRAM_BASE, dram.copy())
    memory_model = ElementMemory(dram, DRAM_BASE)
    press = {"seed": 3, "memory": 0.0, "tokens": 0.5, "idle": 0.0, "delay": 20}
    result = run_store(config, state, memory_model, [insn], press)
    semantics.store(insn, state, 0)
    assert np.array_equal(memory_model.data, state.dram.data)
    events = result["events"]
    [pop], [push] = events["pop"], events["push"]
    assert pop >= 20
    assert events["token_wait"][:pop - 1] == list(range(1, pop))
    assert min(events["acc_read"]) > pop and len(events["done"]) == 3
    assert max(events["done"]) < push
    assert memory_model.commands == [("out", DRAM_BASE + 4 * out_bytes * row, 2)
                                     for row in range(3)]


# -- fetch --------------------------------------------------------------------------------------


@st.composite
def instruction_words(draw, config):
    """Draw a raw instruction: random bits with a drawn opcode and memory type (any of 0-7,
    mostly LOADs and STOREs of the defined memory types)."""
    word = draw(st.integers(0, 2**128 - 1))
    memory_type = next(f for f in isa.insn_layout(isa.Load, config) if f.name == "memory_type")
    word &= ~((1 << isa.OPCODE_BIT_WIDTH) - 1) & ~(memory_type.mask << memory_type.offset)
    opcode = draw(st.one_of(st.sampled_from([isa.Opcode.LOAD, isa.Opcode.STORE]),
                            st.integers(0, 7)))
    kind = draw(st.one_of(st.sampled_from(list(MemType)), st.integers(0, 7)))
    return word | opcode | kind << memory_type.offset


def stage_of(word: int, config) -> Stage:
    """Return the stage the spec dispatches a raw instruction to (unknown opcodes: compute)."""
    try:
        return isa.decode(word.to_bytes(INSN_BYTES, "little"), config).stage
    except isa.DecodeError:
        return Stage.COMPUTE


def run_fetch(config, runs: list[tuple[int, list[int]]], press: dict,
              depth: int = BUFFER_DEPTH) -> dict:
    """Simulate ``Fetch`` on ``runs`` of (word offset, words) one after another.

    The runs are stored in DRAM from DRAM_BASE (they must not overlap), random bytes elsewhere.
    """
    dut = Fetch(config, depth=depth)
    size = max(64, max(16 * (offset + len(words)) for offset, words in runs))
    dram = np.random.default_rng(press["seed"]).integers(0, 256, size, dtype=np.uint8)
    for offset, words in runs:
        for k, word in enumerate(words):
            dram[16 * (offset + k):16 * (offset + k + 1)] = np.frombuffer(
                word.to_bytes(16, "little"), dtype=np.uint8)
    model = ElementMemory(dram, DRAM_BASE)
    rng = random.Random(press["seed"])
    received = {stage: [] for stage in Stage}
    events, result = {}, {"cycles": []}
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(model.reader(dut.mem, name="fetch", stall=press["memory"],
                                   seed=rng.random()), background=True)
    targets = {Stage.LOAD: dut.load, Stage.COMPUTE: dut.compute, Stage.STORE: dut.store}
    for stage, port in targets.items():
        sim.add_testbench(stream_sink(port, random.Random(rng.random()), press["tokens"],
                                      received[stage]), background=True)
    sim.add_testbench(monitor(events, {"busy": dut.busy, "start": dut.start,
                                       "dispatch": sum(handshake(p) for p in targets.values())}),
                      background=True)

    async def bench(ctx):
        for offset, words in runs:
            ctx.set(dut.insn_addr, DRAM_BASE + 16 * offset)
            ctx.set(dut.insn_count, len(words))
            ctx.set(dut.start, 1)
            await ctx.tick()
            # A start while busy is ignored.
            ctx.set(dut.insn_addr, 0)
            ctx.set(dut.insn_count, 1)
            cycles = 1
            while ctx.get(dut.busy):
                await ctx.tick()
                cycles += 1
                assert cycles < MAX_CYCLES, "fetch hangs"
            ctx.set(dut.start, 0)
            result["cycles"].append(cycles)
            await ctx.tick()

    sim.add_testbench(bench)
    sim.run()
    result["received"] = received
    result["events"] = events
    result["commands"] = model.commands
    return result


@given(config=st.sampled_from(sorted(CONFIGS.values(), key=str)), data=st.data())
@settings(max_examples=30)
def test_fetch_dispatches_in_order(config, data):
    drawn = data.draw(st.lists(st.tuples(st.integers(0, 4),
                                         st.lists(instruction_words(config), max_size=12)),
                               min_size=1, max_size=2))
    runs, end = [], 0  # each run in its own words of DRAM, after a gap
    for gap, words in drawn:
        runs.append((end + gap, words))
        end += gap + len(words)
    press = data.draw(pressure())
    depth = data.draw(st.sampled_from([2, 3, BUFFER_DEPTH]))
    result = run_fetch(config, runs, press, depth)
    expected = {stage: [] for stage in Stage}
    for _, words in runs:
        for word in words:
            expected[stage_of(word, config)].append(word)
    assert result["received"] == expected
    # The commands read each run once, in order, at most ``depth`` instructions at a time.
    assert all(count <= depth for _, _, count in result["commands"])
    assert [addr + 16 * k for _, addr, count in result["commands"] for k in range(count)] == [
        DRAM_BASE + 16 * (offset + k) for offset, words in runs for k in range(len(words))]
    events = result["events"]
    # busy: from the cycle after each start of a non-empty run to its last dispatch.
    busy = []
    starts = [cycle for cycle in events["start"] if cycle - 1 not in events["start"]]
    dispatch = iter(events["dispatch"])
    for start, (_, words) in zip(starts, runs):
        if words:
            last = [next(dispatch) for _ in words][-1]
            busy += list(range(start + 1, last + 1))
    assert events["busy"] == busy


def test_fetch_dispatches_one_instruction_per_cycle():
    config = CONFIGS["2x4"]
    words = [encoded(insn, config) for insn in (
        isa.Load(memory_type=MemType.INP), isa.Store(memory_type=MemType.OUT), isa.Gemm(),
        isa.Load(memory_type=MemType.WGT), isa.Load(memory_type=MemType.UOP), isa.Finish())] * 5
    result = run_fetch(config, [(0, words)], {"seed": 0, "memory": 0.0, "tokens": 0.0})
    assert result["cycles"][0] <= len(words) + 8  # a few cycles per command of 16
    assert result["received"] == {Stage.LOAD: [words[0], words[3]] * 5,
                                  Stage.COMPUTE: [words[2], words[4], words[5]] * 5,
                                  Stage.STORE: [words[1]] * 5}


def test_fetch_reads_no_more_than_it_can_hold():
    """With every stage queue full, fetch's commands still finish (the DMA is not held)."""
    config, depth = CONFIGS["2x4"], 4
    dut = Fetch(config, depth=depth)
    model = ElementMemory(np.zeros(16 * 20, dtype=np.uint8), DRAM_BASE)
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(model.reader(dut.mem, name="fetch"), background=True)
    state = {}

    async def bench(ctx):
        ctx.set(dut.insn_addr, DRAM_BASE)
        ctx.set(dut.insn_count, 20)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        await ctx.tick().repeat(50)
        state["busy"] = ctx.get(dut.busy)

    sim.add_testbench(bench)
    sim.run()
    assert state["busy"]
    assert model.reads == sum(count for _, _, count in model.commands) == depth


def test_fetch_refuses_a_tiny_buffer():
    with pytest.raises(TypeError, match=r"^Fetch buffer depth must be an integer of at least 2, "
                                        r"not 1$"):
        Fetch(CONFIGS["2x4"], depth=1)


def test_fetch_with_no_instructions_reads_nothing():
    result = run_fetch(CONFIGS["2x4"], [(0, []), (1, [encoded(isa.Finish(), CONFIGS["2x4"])])],
                       {"seed": 0, "memory": 0.0, "tokens": 0.0})
    assert result["commands"] == [("fetch", DRAM_BASE + 16, 1)]
    assert result["received"][Stage.COMPUTE] == [3]
