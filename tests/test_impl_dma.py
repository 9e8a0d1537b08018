# amaranth: UnusedElaboratable=no
"""The DMA engine against a numpy model of DRAM, behind the AXI RAM model; the RAM model itself.

Stages on every port issue commands and move elements with random backpressure while
:class:`~vtaref.impl.axi_ram.AxiRam` (itself checking the AXI rules) serves the bus with random
latency and backpressure. Reads must return DRAM's bytes; writes must change exactly the
addressed bytes; the bursts must be the fewest the 4 KiB and 256-beat rules allow.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import pytest
from amaranth.hdl import ClockDomain, Module
from amaranth.sim import Simulator
from hypothesis import given
from hypothesis import strategies as st

from vtaref.impl import axi
from vtaref.impl.axi_ram import AxiError, AxiRam
from vtaref.impl.bus_model import BusFault, BusModel
from vtaref.impl.dma import BUS_ERROR, DmaEngine

PAGE = axi.BOUNDARY_BYTES
REGION = 2 * PAGE  # the bytes of the read region and of each writer's region
ELEMENT_BITS = [8 << k for k in range(8)]  # 8 .. 1024
MAX_CYCLES = 20_000
MIN_BEATS_PER_CYCLE = 0.97


@dataclass
class Scenario:
    """Ports, each with its commands (and a writer's elements), and the bus's behaviour."""

    data_width: int
    readers: dict[str, int]
    writers: dict[str, int]
    commands: dict[str, list[tuple[int, int]]]  # port -> [(addr, count)]
    base: int  # the RAM's base address; reads use [base, base + REGION)
    latency: int
    bus_stall: float
    stage_stall: float
    seed: int
    bus_delay: int = 0  # random extra cycles before read data and write responses, at most

    def region(self, name: str) -> int:
        """Return the first address of the DRAM region of port ``name`` (readers share one)."""
        if name in self.readers:
            return self.base
        return self.base + REGION * (1 + list(self.writers).index(name))

    @property
    def ram_bytes(self) -> int:
        return REGION * (1 + len(self.writers))


@st.composite
def commands(draw, data_width: int, bits: int, region: int) -> list[tuple[int, int]]:
    """Draw one or two commands inside ``[region, region + REGION)``, some long, some crossing
    a 4 KiB boundary."""
    size = bits // 8
    beat_bytes = data_width // 8
    max_count = min(REGION // size, 320 * beat_bytes // max(size, beat_bytes), 160)
    result = []
    for _ in range(draw(st.integers(1, 2))):
        count = draw(st.one_of(st.integers(1, 6), st.integers(1, max_count)))
        last = REGION // size - count  # the last element index a command can start at
        near_page = PAGE // size  # the first element of the second page
        index = draw(st.one_of(st.integers(0, last),
                               st.integers(max(0, near_page - count - 2),
                                           min(last, near_page))))
        result.append((region + index * size, count))
    return result


@st.composite
def scenarios(draw) -> Scenario:
    data_width = draw(st.sampled_from(axi.DATA_WIDTHS))
    sizes = st.sampled_from(ELEMENT_BITS)
    readers = {f"read{k}": draw(sizes) for k in range(draw(st.integers(0, 2)))}
    writers = {f"write{k}": draw(sizes) for k in range(draw(st.integers(0 if readers else 1, 2)))}
    ram_bytes = REGION * (1 + len(writers))
    base = draw(st.sampled_from([0, 0x1000_0000, (1 << 32) - ram_bytes]))
    scenario = Scenario(data_width, readers, writers, {}, base,
                        latency=draw(st.integers(1, 4)),
                        bus_stall=draw(st.sampled_from([0.0, 0.3])),
                        stage_stall=draw(st.sampled_from([0.0, 0.3])),
                        seed=draw(st.integers(0, 2**16)),
                        bus_delay=draw(st.sampled_from([0, 0, 6])))
    for name, bits in {**readers, **writers}.items():
        scenario.commands[name] = draw(commands(data_width, bits, scenario.region(name)))
    return scenario


class Stage:
    """A stage's side of one element port, with a cycle limit against deadlocks."""

    def __init__(self, port, stall: float, seed: int):
        self.port = port
        self.stall = stall
        self.rng = random.Random(seed)
        self.cycles = 0

    def go(self) -> bool:
        return self.stall == 0 or self.rng.random() >= self.stall

    async def tick(self, ctx, *signals):
        self.cycles += 1
        if self.cycles > MAX_CYCLES:
            raise AssertionError(f"no progress after {MAX_CYCLES} cycles")
        values = await ctx.tick().sample(*signals)
        return values[2:]

    async def command(self, ctx, addr: int, count: int) -> None:
        while not self.go():
            await self.tick(ctx)
        ctx.set(self.port.cmd.payload, {"addr": addr, "count": count})
        ctx.set(self.port.cmd.valid, 1)
        while not (await self.tick(ctx, self.port.cmd.ready))[0]:
            pass
        ctx.set(self.port.cmd.valid, 0)

    async def read(self, ctx, addr: int, count: int) -> list[int]:
        """Read ``count`` elements from ``addr``; return them."""
        await self.command(ctx, addr, count)
        data, elements = self.port.data, []
        while len(elements) < count:
            ready = self.go()
            ctx.set(data.ready, ready)
            valid, payload = await self.tick(ctx, data.valid, data.payload)
            if valid and ready:
                elements.append(payload)
        ctx.set(data.ready, 0)
        return elements

    async def write(self, ctx, addr: int, elements: list[int]) -> None:
        """Write ``elements`` from ``addr``; return once ``done`` is taken."""
        await self.command(ctx, addr, len(elements))
        data, done = self.port.data, self.port.done
        sent = 0
        while sent < len(elements):
            offered = self.go()
            ctx.set(data.valid, offered)
            ctx.set(data.payload, elements[sent])
            while offered and not (await self.tick(ctx, data.ready))[0]:
                pass
            if not offered:
                await self.tick(ctx)
            sent += offered
        ctx.set(data.valid, 0)
        while True:
            ready = self.go()
            ctx.set(done.ready, ready)
            if (await self.tick(ctx, done.valid))[0] and ready:
                break
        ctx.set(done.ready, 0)


def bursts(addr: int, count: int, element_bytes: int, beat_bytes: int) -> list[int]:
    """Return the beats of the fewest bursts that carry a command (the slow, clear way)."""
    first = addr // beat_bytes
    last = (addr + count * element_bytes - 1) // beat_bytes
    result, beat = [], first
    while beat <= last:
        length = 1
        while (beat + length <= last and length < axi.MAX_BURST_BEATS
               and (beat + length) * beat_bytes % PAGE):
            length += 1
        result.append(length)
        beat += length
    return result


def run(scenario: Scenario):
    """Simulate ``scenario``; check reads, writes and bursts against numpy DRAM."""
    dut = DmaEngine(scenario.data_width, scenario.readers, scenario.writers)
    rng = np.random.default_rng(scenario.seed)
    initial = rng.integers(0, 256, scenario.ram_bytes, dtype=np.uint8)
    expected = initial.copy()
    ram = AxiRam(dut.axi, initial.tobytes(), scenario.base, read_latency=scenario.latency,
                 write_latency=scenario.latency,
                 bus=BusModel(stall=scenario.bus_stall, max_delay=scenario.bus_delay,
                              seed=scenario.seed))
    beat_bytes = scenario.data_width // 8
    want = {"read": [0, 0], "write": [0, 0]}  # beats, bursts

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_process(ram.serve)
    for k, (name, cmds) in enumerate(scenario.commands.items()):
        stage = Stage(getattr(dut, name), scenario.stage_stall, scenario.seed + k)
        if name in scenario.readers:
            size = scenario.readers[name] // 8
            kind = "read"
        else:
            size = scenario.writers[name] // 8
            kind = "write"
        jobs = []
        for addr, count in cmds:
            start = addr - scenario.base
            if kind == "read":
                raw = initial[start:start + count * size].reshape(count, size)
                jobs.append((addr, [int.from_bytes(row.tobytes(), "little") for row in raw]))
            else:
                raw = rng.integers(0, 256, (count, size), dtype=np.uint8)
                expected[start:start + count * size] = raw.reshape(-1)
                jobs.append((addr, [int.from_bytes(row.tobytes(), "little") for row in raw]))
            lengths = bursts(addr, count, size, beat_bytes)
            want[kind][0] += sum(lengths)
            want[kind][1] += len(lengths)

        async def bench(ctx, stage=stage, jobs=jobs, kind=kind):
            for addr, elements in jobs:
                if kind == "read":
                    got = await stage.read(ctx, addr, len(elements))
                    assert got == elements, f"read of {len(elements)} at {addr:#x}"
                else:
                    await stage.write(ctx, addr, elements)

        sim.add_testbench(bench)
    sim.run()
    after = np.frombuffer(bytes(ram.data), dtype=np.uint8)
    changed = np.flatnonzero(after != expected)
    assert not changed.size, f"DRAM differs at {[hex(scenario.base + i) for i in changed[:8]]}"
    assert [ram.read_beats, ram.read_bursts] == want["read"]
    assert [ram.write_beats, ram.write_bursts] == want["write"]


@given(scenarios())
def test_reads_and_writes_match_dram(scenario):
    run(scenario)


def edge(data_width, readers, writers, commands, base=0, latency=1, bus_stall=0.0,
         stage_stall=0.0):
    """Return a scenario; ``commands`` have addresses relative to ``base``."""
    commands = {name: [(base + addr, count) for addr, count in cmds]
                for name, cmds in commands.items()}
    return Scenario(data_width, readers, writers, commands, base, latency, bus_stall,
                    stage_stall, seed=1)


EDGES = {
    # 300 beats from just below a page: 4 KiB and 256-beat splits, reads and writes at once.
    "long_64": edge(64, {"r": 64}, {"w": 64}, {"r": [(PAGE - 16, 300)],
                                               "w": [(REGION + PAGE - 8, 300)]}),
    # Narrow elements starting and ending mid-beat: partial WSTRB on both ends.
    "narrow_unaligned": edge(256, {"r": 16}, {"w": 8}, {"r": [(6, 3)], "w": [(REGION + 5, 3)]}),
    # A wide element per command, with stalls everywhere.
    "wide_single": edge(128, {"r": 1024}, {"w": 1024}, {"r": [(PAGE - 128, 1)],
                                                        "w": [(REGION + 128, 1)]},
                        latency=3, bus_stall=0.3, stage_stall=0.3),
    # Two readers in turn, the RAM at the top of the 32-bit space.
    "top_of_memory": edge(512, {"a": 32, "b": 512}, {},
                          {"a": [(REGION - 64, 16)], "b": [(REGION - 128, 2), (0, 3)]},
                          base=(1 << 32) - REGION),
}


@pytest.mark.parametrize("scenario", EDGES.values(), ids=EDGES.keys())
def test_edge_cases(scenario):
    run(scenario)


def test_count_zero_moves_nothing():
    """Outside the port contract (count >= 1), but defined: no beats; a write's done comes."""
    dut = DmaEngine(64, {"r": 32}, {"w": 32})
    ram = AxiRam(dut.axi, bytes(64))

    async def bench(ctx):
        for port in (dut.r, dut.w):
            ctx.set(port.cmd.payload, {"addr": 8, "count": 0})
            ctx.set(port.cmd.valid, 1)
            await ctx.tick().until(port.cmd.ready)
            ctx.set(port.cmd.valid, 0)
        ctx.set(dut.w.done.ready, 1)
        await ctx.tick().until(dut.w.done.valid)
        await ctx.tick().repeat(4)
        assert ctx.get(dut.r.cmd.ready) and ctx.get(dut.w.cmd.ready)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_process(ram.serve)
    sim.add_testbench(bench)
    sim.run()
    assert (ram.read_bursts, ram.write_bursts) == (0, 0)


def test_ports_take_turns():
    """Two readers and two writers that always have a command waiting are served in turn."""
    dut = DmaEngine(64, {"a": 64, "b": 32}, {"c": 64, "d": 16})
    ram = AxiRam(dut.axi, bytes(4 * PAGE))
    grants = {"read": [], "write": []}

    def bench(name: str, kind: str, region: int):
        async def serve(ctx):
            stage = Stage(getattr(dut, name), 0.0, 0)
            for k in range(4):
                if kind == "read":
                    await stage.read(ctx, region + 64 * k, 2)
                else:
                    await stage.write(ctx, region + 64 * k, [k, k])
                grants[kind].append((stage.cycles, name))
        return serve

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_process(ram.serve)
    for k, (name, kind) in enumerate((("a", "read"), ("b", "read"), ("c", "write"),
                                      ("d", "write"))):
        sim.add_testbench(bench(name, kind, k * PAGE))
    sim.run()
    for kind, events in grants.items():
        order = [name for _, name in sorted(events)]
        assert all(x != y for x, y in zip(order, order[1:])), (kind, order)


@pytest.mark.parametrize("data_width", [64, 512])
def test_throughput_one_beat_per_cycle(data_width):
    """A long read and a long write at once, on an always-ready bus, each move at least
    MIN_BEATS_PER_CYCLE beats per cycle, counted from the command's handshake to the last element
    (or ``done``). Waiting for each burst's data before sending the next address would fall
    short at 512 bits (64-beat bursts, 2 cycles of latency: 64 / 67)."""
    beats = 600
    beat_bytes = data_width // 8
    dut = DmaEngine(data_width, {"r": data_width}, {"w": data_width})
    ram = AxiRam(dut.axi, bytes(2 * beats * beat_bytes + PAGE), read_latency=2,
                 write_latency=2)
    cycles = {}

    async def reader(ctx):
        stage = Stage(dut.r, 0.0, 0)
        await stage.command(ctx, PAGE - 3 * beat_bytes, beats)
        start = stage.cycles
        ctx.set(dut.r.data.ready, 1)
        got = 0
        while got < beats:
            got += (await stage.tick(ctx, dut.r.data.valid))[0]
        cycles["read"] = stage.cycles - start

    async def writer(ctx):
        stage = Stage(dut.w, 0.0, 0)
        await stage.write(ctx, beats * beat_bytes + PAGE, list(range(beats)))
        cycles["write"] = stage.cycles

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_process(ram.serve)
    sim.add_testbench(reader)
    sim.add_testbench(writer)
    sim.run()
    assert beats / cycles["read"] >= MIN_BEATS_PER_CYCLE, cycles
    assert beats / cycles["write"] >= MIN_BEATS_PER_CYCLE, cycles


@pytest.mark.parametrize("write", [False, True], ids=["read", "write"])
@pytest.mark.parametrize("resp", [axi.RESP_SLVERR, axi.RESP_DECERR], ids=["slverr", "decerr"])
def test_error_response_is_latched_and_halts_the_engine(write, resp):
    readers, writers = {"r0": 64, "r1": 32}, {"w": 16}
    dut = DmaEngine(64, readers, writers)
    fault = BusFault(write, 0x200, 0x208, resp)  # only bursts touching this beat fail
    ram = AxiRam(dut.axi, bytes(range(256)) * 4, bus=BusModel(stall=0.3, seed=5, faults=[fault]))
    port = "w" if write else "r1"
    addr = 0x1F8  # 8 bytes before the fault: the burst reaches into it
    seen = {}

    async def bench(ctx):
        stage = Stage(getattr(dut, port), 0.0, 0)
        assert ctx.get(dut.error.valid) == 0
        if write:
            await stage.write(ctx, addr, list(range(8)))
        else:
            assert await stage.read(ctx, addr, 4) == [
                int.from_bytes(bytes(range(0xF8, 0x100)[k:k + 4]), "little") for k in (0, 4)] \
                + [int.from_bytes(bytes(range(k, k + 4)), "little") for k in (0, 4)]
        await ctx.tick().repeat(3)
        seen.update({name: ctx.get(getattr(dut.error, name)) for name in BUS_ERROR.members})
        other = dut.r0.cmd  # a later command on any port is not taken
        ctx.set(other.payload, {"addr": 0, "count": 1})
        ctx.set(other.valid, 1)
        for _ in range(20):
            assert not (await ctx.tick().sample(other.ready))[2]

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_process(ram.serve)
    sim.add_testbench(bench)
    sim.run()
    port_index = [*readers, *writers].index(port)
    assert seen == {"valid": 1, "write": int(write), "resp": resp, "port": port_index,
                    "addr": addr}
    if write:  # the failed burst left DRAM alone
        assert ram.data[0x1F8:0x208] == (bytes(range(256)) * 4)[0x1F8:0x208]


@pytest.mark.parametrize("args, message", [
    ((32, {"r": 8}, {}), r"AXI data width must be one of 64, 128, 256, 512 bits, not 32"),
    ((64, {"r": 12}, {}), r"Element size of reader 'r' must be a power of two of at least "
                          r"8 bits, not 12"),
    ((64, {}, {"w": 4}), r"Element size of writer 'w' must be a power of two of at least "
                         r"8 bits, not 4"),
    ((64, {"r": "64"}, {}), r"Element size of reader 'r' must be a power of two of at least "
                            r"8 bits, not '64'"),
    ((64, {"axi": 64}, {}), r"DMA port name must be an identifier not starting with '_' and "
                            r"other than 'axi', 'halt', 'error', not 'axi'"),
    ((64, {}, {"error": 64}), r"DMA port name must be an identifier not starting with '_' "
                              r"and other than 'axi', 'halt', 'error', not 'error'"),
    ((64, {}, {"_w": 64}), r"DMA port name must be an identifier not starting with '_' and "
                           r"other than 'axi', 'halt', 'error', not '_w'"),
    ((64, {"a b": 64}, {}), r"DMA port name must be an identifier not starting with '_' and "
                            r"other than 'axi', 'halt', 'error', not 'a b'"),
    ((64, {f"r{k}": 8 for k in range(257)}, {}), r"A DMA engine serves at most 256 ports, "
                                                  r"not 257"),
    ((64, {"x": 64}, {"x": 64}), r"DMA port name 'x' is used by both a reader and a writer"),
])
def test_constructor_errors(args, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        DmaEngine(*args)


# The RAM model: it catches what a broken manager does.

def _manager(data_width: int = 64):
    """Return a free-standing manager-side AXI4 interface to drive from a testbench."""
    return axi.axi4(data_width).create()


def _simulate_manager(ram: AxiRam, bench) -> None:
    m = Module()
    m.domains.sync = ClockDomain()
    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_process(ram.serve)
    sim.add_testbench(bench)
    sim.run()


async def _send_address(ctx, bus, channel: str, addr: int, beats: int) -> None:
    """Send a burst's address on ``channel`` ("ar" or "aw"): ``beats`` 8-byte beats from
    ``addr``."""
    ctx.set(getattr(bus, f"{channel}addr"), addr)
    ctx.set(getattr(bus, f"{channel}len"), beats - 1)
    ctx.set(getattr(bus, f"{channel}size"), 3)
    ctx.set(getattr(bus, f"{channel}burst"), axi.BURST_INCR)
    ctx.set(getattr(bus, f"{channel}valid"), 1)
    while not (await ctx.tick().sample(getattr(bus, f"{channel}ready")))[2]:
        pass  # (no ``until``: the simulation may stop here with an AxiError)
    ctx.set(getattr(bus, f"{channel}valid"), 0)


def test_ram_reads_and_writes_with_strobes():
    bus = _manager()
    ram = AxiRam(bus, bytes(range(32)), base=0x100, read_latency=2)

    async def bench(ctx):
        await _send_address(ctx, bus, "aw", 0x108, 2)
        for data, strb, last in ((0xAAAA_AAAA_AAAA_AAAA, 0x0F, 0), (0xBB << 56, 0x80, 1)):
            ctx.set(bus.wdata, data)
            ctx.set(bus.wstrb, strb)
            ctx.set(bus.wlast, last)
            ctx.set(bus.wvalid, 1)
            await ctx.tick().until(bus.wready)
        ctx.set(bus.wvalid, 0)
        ctx.set(bus.bready, 1)
        await ctx.tick().until(bus.bvalid)
        ctx.set(bus.bready, 0)
        await _send_address(ctx, bus, "ar", 0x100, 2)
        ctx.set(bus.rready, 1)
        data, last = await ctx.tick().sample(bus.rdata, bus.rlast).until(bus.rvalid)
        assert (data, last) == (int.from_bytes(bytes(range(8)), "little"), 0)

    _simulate_manager(ram, bench)
    assert ram.data[8:16] == bytes([0xAA] * 4 + [12, 13, 14, 15])
    assert ram.data[16:24] == bytes([16, 17, 18, 19, 20, 21, 22, 0xBB])


@pytest.mark.parametrize("addr, beats, message", [
    (0x0F8, 2, r"read burst at 0xf8 \(2 beats of 8 bytes\) is outside the RAM "
               r"\[0x100, 0x120\)"),
    (0x118, 2, r"read burst at 0x118 \(2 beats of 8 bytes\) is outside the RAM"),
    (0x104, 1, r"read burst at 0x104 .*not a multiple of the beat size"),
])
def test_ram_rejects_bad_reads(addr, beats, message):
    bus = _manager()
    ram = AxiRam(bus, bytes(32), base=0x100)

    async def bench(ctx):
        await _send_address(ctx, bus, "ar", addr, beats)
        for _ in range(2):
            await ctx.tick()

    with pytest.raises(AxiError, match=message):
        _simulate_manager(ram, bench)


def test_ram_rejects_4k_crossing():
    bus = _manager()
    ram = AxiRam(bus, bytes(2 * PAGE))

    async def bench(ctx):
        await _send_address(ctx, bus, "ar", PAGE - 8, 2)
        for _ in range(2):
            await ctx.tick()

    with pytest.raises(AxiError, match=r"read burst at 0xff8 .* crosses a 4 KiB boundary"):
        _simulate_manager(ram, bench)


def test_ram_rejects_early_wlast_and_dropped_valid():
    bus = _manager()
    ram = AxiRam(bus, bytes(64), bus=BusModel(stall=0.5, seed=3))

    async def wlast_early(ctx):
        await _send_address(ctx, bus, "aw", 0, 4)
        ctx.set(bus.wlast, 1)
        ctx.set(bus.wvalid, 1)
        for _ in range(20):
            await ctx.tick()

    with pytest.raises(AxiError, match=r"WLAST is 1 on beat 1 of 4 of the write burst at 0x0"):
        _simulate_manager(ram, wlast_early)

    bus = _manager()
    ram = AxiRam(bus, bytes(64), bus=BusModel(stall=0.9, seed=1))

    async def dropped(ctx):
        for _ in range(20):
            ctx.set(bus.arsize, 3)
            ctx.set(bus.arburst, axi.BURST_INCR)
            ctx.set(bus.arvalid, 1)
            await ctx.tick()
            ctx.set(bus.arvalid, 0)
            await ctx.tick()

    with pytest.raises(AxiError, match=r"the manager dropped VALID on AR before READY"):
        _simulate_manager(ram, dropped)
