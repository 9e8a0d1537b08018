"""The compute stage against the spec: bit-exact uop and acc scratchpads, tokens taken and given
at the right moments, FINISH after everything before it, one micro-op per cycle across GEMMs."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest
from amaranth.hdl import Elaboratable, Module
from amaranth.lib import wiring
from amaranth.sim import Simulator
from hypothesis import given, settings
from hypothesis import strategies as st

from vtaref.impl import scratchpad
from vtaref.impl.alu import TensorAlu
from vtaref.impl.compute import Compute
from vtaref.impl.gemm import TensorGemm
from vtaref.spec import isa, semantics
from vtaref.spec.isa import AluOp, MemType
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
    stream_sink,
    token_source,
)

# The small configs (the subbyte one with 32-row buffers).
CONFIGS = SMALL_CONFIGS
DRAM_BASE = 0x10000  # a multiple of every element size
DRAM_BYTES = 512
UOP_WORDS = 32  # DRAM starts with micro-ops whose indices are < MAX_IDX
MAX_IDX = 8  # with factors <= 2 and iterations <= 3, every visited index stays below 16
MAX_CYCLES = 4000
FLAGS = ("pop_prev_dep", "pop_next_dep", "push_prev_dep", "push_next_dep")
LOCAL = (MemType.UOP, MemType.ACC, MemType.ACC_8BIT)
# Which scratchpad each memory member of Compute reaches; ``*_wr`` members write.
PORTS = {"uop_wr": "uop", "acc_wr": "acc", "uop_gemm": "uop", "uop_alu": "uop", "inp": "inp",
         "wgt": "wgt", "acc_gemm": "acc", "acc_dst": "acc", "acc_src": "acc"}


def uop_words(config, rng: np.random.Generator, count: int) -> list[int]:
    """Return ``count`` random micro-op words with every index below MAX_IDX."""
    return [int.from_bytes(isa.encode_uop(isa.Uop(*map(int, idx)), config), "little")
            for idx in rng.integers(0, MAX_IDX, size=(count, 3))]


def initial_state(config, seed: int):
    """Return a random state (valid micro-ops included) and its DRAM: micro-ops, then bytes."""
    rng = np.random.default_rng(seed)
    state = random_state(config, rng)
    state["uop"].data[:, 0] = uop_words(config, rng, state["uop"].depth)
    dram = rng.integers(0, 256, size=DRAM_BYTES, dtype=np.uint8)
    words = np.array(uop_words(config, rng, UOP_WORDS), dtype="<u4")
    dram[:4 * UOP_WORDS] = words.view(np.uint8)
    state.dram = Dram(DRAM_BASE, dram)
    return state


class Harness(Elaboratable):
    """Compute wired to scratchpad memories holding a spec state's rows; the acc read ports
    are transparent for the acc write port, as in the core."""

    def __init__(self, dut: Compute, state):
        self.dut = dut
        self.memories = scratchpad_memories(state, scratchpad.BUFFERS)

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = self.dut
        for buffer, mem in self.memories.items():
            m.submodules[buffer] = mem
        writes = {}
        for member, buffer in PORTS.items():  # write ports come first
            mem = self.memories[buffer]
            if member.endswith("_wr"):
                port = writes[buffer] = mem.write_port()
            else:
                port = mem.read_port(transparent_for=(writes["acc"],) if buffer == "acc" else ())
            wiring.connect(m, getattr(self.dut, member), port)
        return m


# -- testbench pieces ---------------------------------------------------------------------------


def simulate(config, state, insns, *, seed=0, memory_stall=0.0, token_stall=0.0, idle=0.0,
             delay=0, start_after: int | None = None) -> dict:
    """Run ``insns`` (ending in FINISH) on Compute from ``state`` until ``done``.

    Returns the uop and acc rows in the first cycle ``done`` is high and the recorded events.
    With ``start_after``, keep running that many cycles after done, then pulse ``start``.
    ``insns`` may hold raw instruction words (ints).
    """
    dut = Compute(config)
    harness = Harness(dut, state)
    rng = random.Random(seed)
    words = [insn if isinstance(insn, int) else encoded(insn, config) for insn in insns]
    result, events = {}, {}

    async def issue(ctx):
        cycles = 0
        for word in words:
            while rng.random() < idle:
                await ctx.tick()
            ctx.set(dut.insn.payload, word)
            ctx.set(dut.insn.valid, 1)
            async for _, _, ready in ctx.tick().sample(dut.insn.ready):
                cycles += 1
                assert cycles < MAX_CYCLES, "the compute stage hangs"
                if ready:
                    break
            ctx.set(dut.insn.valid, 0)
        while not ctx.get(dut.done):
            await ctx.tick()
            cycles += 1
            assert cycles < MAX_CYCLES, "the compute stage hangs"
        for name in ("uop", "acc"):
            mem = harness.memories[name]
            result[name] = [ctx.get(mem.data[i].as_value()) for i in range(mem.depth)]
        if start_after is not None:
            await ctx.tick().repeat(start_after)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
        await ctx.tick().repeat(3)  # let the monitor see the last cycles

    sim = Simulator(harness)
    sim.add_clock(1e-6)
    dram = ElementMemory(state.dram.data, state.dram.base)
    for name in ("uop_mem", "acc_mem", "acc8_mem"):
        sim.add_testbench(dram.reader(getattr(dut, name), name=name, stall=memory_stall,
                                      seed=rng.random()), background=True)
    for port in (dut.from_load, dut.from_store):
        sim.add_testbench(token_source(port, random.Random(rng.random()), token_stall, delay),
                          background=True)
    for port in (dut.to_load, dut.to_store):
        sim.add_testbench(stream_sink(port, random.Random(rng.random()), token_stall),
                          background=True)
    sim.add_testbench(monitor(events, {
        "insn": handshake(dut.insn),
        "pop_prev_dep": handshake(dut.from_load), "pop_next_dep": handshake(dut.from_store),
        "push_prev_dep": handshake(dut.to_load), "push_next_dep": handshake(dut.to_store),
        "write": dut.acc_wr.en | dut.uop_wr.en, "both": dut.acc_wr.en & dut.uop_wr.en,
        "gemm_visit": dut.gemm_visit, "alu_visit": dut.alu_visit,
        "done": dut.done, "start": dut.start, "token_wait": dut.token_wait,
        "busy": dut.busy}), background=True)
    sim.add_testbench(issue)
    sim.run()
    result["events"] = events
    result["commands"] = dram.commands
    return result


# -- what each instruction does, by the spec --------------------------------------------------


def runs_here(insn) -> bool:
    """Return whether the compute stage executes ``insn`` (others only move tokens)."""
    return not (isinstance(insn, isa.Store)
                or isinstance(insn, isa.Load) and insn.memory_type not in LOCAL)


def visits(insn) -> int:
    if insn.iter_out == 0 or insn.iter_in == 0 or insn.uop_end <= insn.uop_bgn:
        return 0
    return insn.iter_out * insn.iter_in * (insn.uop_end - insn.uop_bgn)


def writes(insn) -> int:
    """Return how many scratchpad rows ``insn`` writes in the compute stage."""
    if isinstance(insn, isa.Gemm | isa.Alu):
        return visits(insn)
    if isinstance(insn, isa.Load) and runs_here(insn) and insn.x_size:
        return ((insn.x_pad_0 + insn.x_size + insn.x_pad_1)
                * (insn.y_pad_0 + insn.y_size + insn.y_pad_1))
    return 0


def run_spec(state, insns) -> None:
    for index, insn in enumerate(insns):
        if runs_here(insn):
            semantics.EXECUTE[insn.MNEMONIC](insn, state, index)


def count_before(cycles: list[int], limit: int, inclusive: bool) -> int:
    return sum(1 for c in cycles if c < limit or (inclusive and c == limit))


def check_order(insns, events) -> None:
    """Check tokens, writes and done against the instructions.

    Up to (and in) the cycle of instruction ``i``'s pop, no write of ``i`` or later happened;
    before its push, every write of the instructions up to ``i``; before ``done``, every write.
    All token handshakes of ``i`` come before those of ``i + 1``.
    """
    work = [writes(insn) for insn in insns]
    assert len(events["write"]) == sum(work)
    assert not events["both"]
    per_insn = [[] for _ in insns]
    for flag in FLAGS:
        owners = [i for i, insn in enumerate(insns) if getattr(insn, flag)]
        assert len(events[flag]) == len(owners), flag
        for i, cycle in zip(owners, events[flag]):
            per_insn[i].append(cycle)
            if flag.startswith("pop"):
                assert count_before(events["write"], cycle, True) <= sum(work[:i]), (flag, i)
            else:
                assert count_before(events["write"], cycle, False) == sum(work[:i + 1]), (flag, i)
    for before, after in zip(per_insn, per_insn[1:]):
        assert not before or not after or max(before) < min(after)
    done = events["done"][0]
    assert count_before(events["write"], done, False) == sum(work)
    assert events["done"] == list(range(done, done + len(events["done"])))  # stays high
    gemms = sum(visits(insn) for insn in insns if isinstance(insn, isa.Gemm))
    alus = sum(visits(insn) for insn in insns if isinstance(insn, isa.Alu))
    assert (len(events["gemm_visit"]), len(events["alu_visit"])) == (gemms, alus)


# -- strategies ---------------------------------------------------------------------------------


@st.composite
def flags(draw) -> dict:
    """Draw the four token flags, each set one time in four."""
    return {flag: int(draw(st.integers(0, 3)) == 0) for flag in FLAGS}


@st.composite
def local_loads(draw, config):
    """Draw a LOAD of UOP, ACC or ACC_8BIT that fits its buffer and its DRAM region (micro-ops
    come from the micro-op words only)."""
    memory_type = draw(st.sampled_from(LOCAL))
    fmt = element_formats(config)[memory_type]
    depth = config.uop_buff_depth if memory_type == MemType.UOP else config.acc_buff_depth
    region = UOP_WORDS if memory_type == MemType.UOP else DRAM_BYTES // fmt.bytes
    x_size = draw(st.integers(0, 4))
    x_pad_0 = draw(st.integers(0, 2))
    x_pad_1 = draw(st.integers(0, 2))
    x_total = max(1, x_pad_0 + x_size + x_pad_1)
    height = depth // x_total
    y_pad_0 = draw(st.integers(0, min(2, height)))
    y_size = draw(st.integers(0, min(3, height - y_pad_0)))
    y_pad_1 = draw(st.integers(0, min(2, height - y_pad_0 - y_size)))
    block = x_total * (y_pad_0 + y_size + y_pad_1)
    x_stride = draw(st.one_of(st.just(x_size), st.integers(0, 6)))
    reach = (y_size - 1) * x_stride + x_size if y_size else 0
    return isa.Load(memory_type=memory_type, sram_base=draw(st.integers(0, depth - block)),
                    dram_base=DRAM_BASE // fmt.bytes + draw(st.integers(0, region - reach)),
                    y_size=y_size, x_size=x_size, x_stride=x_stride, y_pad_0=y_pad_0,
                    y_pad_1=y_pad_1, x_pad_0=x_pad_0, x_pad_1=x_pad_1, **draw(flags()))


@st.composite
def loops(draw, cls, config):
    """Draw a GEMM or ALU whose visits stay in the buffers (given micro-ops below MAX_IDX)."""
    depth = config.uop_buff_depth
    uop_bgn = draw(st.integers(0, depth - 1))
    fields = {"uop_bgn": uop_bgn, "uop_end": min(depth, uop_bgn + draw(st.integers(1, 3))),
              "iter_out": draw(st.integers(1, 3)), "iter_in": draw(st.integers(1, 3))}
    empty = draw(st.sampled_from([None] * 5 + ["iter_out", "iter_in", "uop_end"]))
    if empty:  # a loop that visits nothing
        fields[empty] = draw(st.integers(0, uop_bgn)) if empty == "uop_end" else 0
    targets = ("dst", "src", "wgt") if cls is isa.Gemm else ("dst", "src")
    for target in targets:
        for level in ("out", "in"):
            fields[f"{target}_factor_{level}"] = draw(st.integers(0, 2))
    if cls is isa.Gemm:
        fields["reset_reg"] = draw(st.integers(0, 1))
    else:
        fields["alu_opcode"] = draw(st.sampled_from(list(AluOp)))
        fields["use_imm"] = draw(st.integers(0, 1))
        fields["imm"] = draw(st.one_of(st.integers(-20, 20), st.integers(-2**15, 2**15 - 1)))
    return cls(**fields, **draw(flags()))


@st.composite
def others(draw):
    """Draw an instruction the compute stage only takes tokens for (or a LOAD of nothing)."""
    memory_type = draw(st.sampled_from([MemType.INP, MemType.WGT, MemType.OUT]))
    size = draw(st.integers(0, 3))
    cls = isa.Store if memory_type == MemType.OUT else isa.Load
    return cls(memory_type=memory_type, sram_base=draw(st.integers(0, 2**16 - 1)),
               dram_base=draw(st.integers(0, 2**32 - 1)), y_size=size, x_size=size,
               x_stride=size, **draw(flags()))


@st.composite
def programs(draw, config):
    """Draw a program ending in FINISH, and its raw words for the RTL, in which some LOADs
    name the same DRAM addresses differently: ``dram_base`` 2**32 bytes further (the RTL
    truncates byte addresses to 32 bits)."""
    body = draw(st.lists(st.one_of(local_loads(config), loops(isa.Gemm, config),
                                   loops(isa.Alu, config), others()), min_size=1, max_size=7))
    insns = body + [isa.Finish(**draw(flags()))]
    words = [encoded(insn, config) for insn in insns]
    for index, insn in enumerate(insns):
        if isinstance(insn, isa.Load) and insn.memory_type in LOCAL and draw(st.booleans()):
            fmt = element_formats(config)[MemType(insn.memory_type)]
            dram_base = insn.dram_base + (1 << 32) // fmt.bytes
            if dram_base < 1 << 32:
                words[index] = encoded(dataclasses.replace(insn, dram_base=dram_base), config)
    return insns, words


@st.composite
def pressure(draw) -> dict:
    """Draw a seed and how often each model stalls (zero: always ready)."""
    level = st.sampled_from([0.0, 0.0, 0.3, 0.7])
    return {"seed": draw(st.integers(0, 2**32 - 1)), "memory_stall": draw(level),
            "token_stall": draw(level), "idle": draw(st.sampled_from([0.0, 0.0, 0.5]))}


# -- tests --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CONFIGS))
@settings(max_examples=25)
@given(data=st.data())
def test_compute_matches_spec(name, data):
    config = CONFIGS[name]
    insns, words = data.draw(programs(config))
    press = data.draw(pressure())
    state = initial_state(config, press["seed"])
    result = simulate(config, state, words, **press)
    run_spec(state, insns)
    assert result["acc"] == rows(state, "acc")
    assert result["uop"] == rows(state, "uop")
    check_order(insns, result["events"])


SMALL = CONFIGS["2x4"]
GEMM = isa.Gemm(uop_bgn=0, uop_end=2, iter_out=2, iter_in=3, dst_factor_out=4,
                dst_factor_in=1, src_factor_in=1, wgt_factor_out=1)
ALU = isa.Alu(uop_bgn=1, uop_end=3, iter_out=1, iter_in=3, dst_factor_in=1, src_factor_in=2,
              alu_opcode=AluOp.ADD)
ACC_LOAD = isa.Load(memory_type=MemType.ACC, sram_base=3,
                    dram_base=DRAM_BASE // SMALL.acc_elem_bytes + 1,
                    y_size=2, x_size=2, x_stride=3, y_pad_1=1, x_pad_0=1)
NOTHING = isa.Load(memory_type=MemType.UOP)  # x_size == 0


@pytest.mark.parametrize("memory_type", LOCAL)
@pytest.mark.parametrize("memory_stall", [0.0, 0.5])
def test_one_element_to_every_row_is_read_once(memory_type, memory_stall):
    """A LOAD of one element per row from one address (x_stride 0, x_size 1: a bias broadcast)
    writes it to every row, padding around, as the spec does, from one one-element command."""
    fmt = element_formats(SMALL)[memory_type]
    broadcast = isa.Load(memory_type=memory_type, sram_base=1,
                         dram_base=DRAM_BASE // fmt.bytes + 5, y_size=4, x_size=1, x_stride=0,
                         y_pad_0=1, x_pad_1=1)
    insns = [broadcast, dataclasses.replace(broadcast, sram_base=11, x_pad_1=0), isa.Finish()]
    state = initial_state(SMALL, 5)
    result = simulate(SMALL, state, insns, seed=5, memory_stall=memory_stall)
    run_spec(state, insns)
    assert result["acc"] == rows(state, "acc")
    assert result["uop"] == rows(state, "uop")
    assert [count for _, _, count in result["commands"]] == [1, 1]


@pytest.mark.parametrize("insns", [
    [GEMM.with_deps(push_next_dep=1)],
    [GEMM, GEMM.with_deps(reset_reg=1), NOTHING.with_deps(push_prev_dep=1)],
    [ALU, ALU.with_deps(push_prev_dep=1, push_next_dep=1)],
    [ACC_LOAD.with_deps(push_next_dep=1), GEMM.with_deps(pop_next_dep=1)],
    [GEMM, ALU, ACC_LOAD, isa.Store(push_prev_dep=1)],
    [ALU.with_deps(push_prev_dep=1, push_next_dep=1)] * 4,
], ids=["gemm", "no-op after gemms", "alu", "acc load", "store after mixed", "both pushes"])
@pytest.mark.parametrize("token_stall", [0.0, 0.6])
def test_pushes_wait_for_every_earlier_write(insns, token_stall):
    """Every push waits for the writes before it; without back-pressure, it follows the last
    of them within three cycles."""
    insns = insns + [isa.Finish()]
    state = initial_state(SMALL, 3)
    result = simulate(SMALL, state, insns, seed=3, token_stall=token_stall)
    run_spec(state, insns)
    assert result["acc"] == rows(state, "acc")
    check_order(insns, result["events"])
    events = result["events"]
    work = [writes(insn) for insn in insns]
    for flag in ("push_prev_dep", "push_next_dep"):
        owners = [i for i, insn in enumerate(insns) if getattr(insn, flag)]
        for i, push in zip(owners, events[flag]):
            last_write = events["write"][sum(work[:i + 1]) - 1]
            assert last_write < push <= last_write + 3 or token_stall


def test_pop_waits_for_its_token_and_work_follows_it():
    insns = [GEMM.with_deps(pop_prev_dep=1, pop_next_dep=1), isa.Finish()]
    state = initial_state(SMALL, 4)
    result = simulate(SMALL, state, insns, delay=30)
    events = result["events"]
    [pop_prev], [pop_next] = events["pop_prev_dep"], events["pop_next_dep"]
    taken = events["insn"][0]
    assert pop_prev == pop_next == taken >= 30
    assert events["token_wait"] == list(range(events["token_wait"][0], pop_prev))
    assert events["token_wait"][0] <= 1
    assert min(events["write"]) > pop_prev
    run_spec(state, insns)
    assert result["acc"] == rows(state, "acc")


def test_done_follows_prior_work_and_stays_until_start():
    insns = [ACC_LOAD, GEMM, ALU, isa.Finish()]
    state = initial_state(SMALL, 5)
    result = simulate(SMALL, state, insns, memory_stall=0.5, start_after=10)
    events = result["events"]
    done = events["done"]
    assert done[0] > max(events["write"])
    assert done == list(range(done[0], events["start"][0] + 1))  # until start pulses
    assert len(done) == 11
    assert events["busy"][-1] < done[0]


@pytest.mark.parametrize("cls, unit", [(isa.Gemm, TensorGemm), (isa.Alu, TensorAlu)])
@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 1, 3), (2, 2, 2)])
@pytest.mark.parametrize("pop", [0, 1])
def test_back_to_back_loops_retire_one_visit_per_cycle(cls, unit, shape, pop):
    """N loops of V visits, the next instruction always waiting: writes in N*V consecutive
    cycles, done within N*V + LATENCY + 2 cycles of taking the first. Pops whose tokens are
    there cost nothing."""
    iter_out, iter_in, uops = shape
    count = 5
    insn = cls(uop_bgn=2, uop_end=2 + uops, iter_out=iter_out, iter_in=iter_in,
               dst_factor_in=1, src_factor_out=1, pop_prev_dep=pop)
    insns = [insn] * count + [isa.Finish()]
    state = initial_state(SMALL, 6)
    result = simulate(SMALL, state, insns)
    events = result["events"]
    total = count * visits(insn)
    first = events["write"][0]
    assert events["write"] == list(range(first, first + total))
    assert events["done"][0] - events["insn"][0] <= total + unit.LATENCY + 2
    run_spec(state, insns)
    assert result["acc"] == rows(state, "acc")
