"""Run the VTA core in Amaranth's simulator: slow (thousands of cycles per second) but
needs no compiler, and dumps waveforms. :mod:`.verilator` runs the same core compiled.

The testbench plays the host: it writes INSN_ADDR, INSN_COUNT and CTRL through the AXI4-Lite
port, polls CTRL until DONE, and reads every counter, while :class:`~.axi_ram.AxiRam` serves the
AXI4 memory port from a copy of DRAM.
"""

from __future__ import annotations

import time
from pathlib import Path

from amaranth.sim import Simulator

from vtaref.spec.config import VtaConfig

from . import vcr
from .axi_ram import AxiError, AxiRam
from .core import DEFAULT_DATA_WIDTH, VtaCore
from .run import RtlError, RtlRun

POLL_CYCLES = 64  # cycles between two reads of CTRL


async def lite_write(ctx, bus, addr: int, value: int) -> None:
    """Write ``value`` to register ``addr`` through the AXI4-Lite port ``bus``."""
    ctx.set(bus.awaddr, addr)
    ctx.set(bus.wdata, value)
    ctx.set(bus.wstrb, 0xF)
    ctx.set(bus.awvalid, 1)
    ctx.set(bus.wvalid, 1)
    await ctx.tick().until(bus.awready & bus.wready)
    ctx.set(bus.awvalid, 0)
    ctx.set(bus.wvalid, 0)
    ctx.set(bus.bready, 1)
    await ctx.tick().until(bus.bvalid)
    ctx.set(bus.bready, 0)


async def lite_read(ctx, bus, addr: int) -> int:
    """Return register ``addr`` read through the AXI4-Lite port ``bus``."""
    ctx.set(bus.araddr, addr)
    ctx.set(bus.arvalid, 1)
    await ctx.tick().until(bus.arready)
    ctx.set(bus.arvalid, 0)
    ctx.set(bus.rready, 1)
    (data,) = await ctx.tick().sample(bus.rdata).until(bus.rvalid)
    ctx.set(bus.rready, 0)
    return data


def simulate(config: VtaConfig, dram: bytes, dram_base: int, insn_addr: int, insn_count: int,
             *, data_width: int = DEFAULT_DATA_WIDTH, max_cycles: int = 10**6,
             vcd: Path | None = None) -> RtlRun:
    """Run ``insn_count`` instructions from ``insn_addr`` on the core; return DRAM and counts.

    The same contract as :func:`.verilator.simulate`: ``vcd`` receives a waveform. Raises
    RtlError if the core touches memory outside DRAM or is not done within
    ``max_cycles`` cycles (a deadlock, for instance).
    """
    core = VtaCore(config, data_width)
    ram = AxiRam(core.axi, dram, dram_base)
    result = {}

    async def host(ctx):
        await lite_write(ctx, core.ctrl, vcr.INSN_ADDR, insn_addr)
        await lite_write(ctx, core.ctrl, vcr.INSN_COUNT, insn_count)
        await lite_write(ctx, core.ctrl, vcr.CTRL, vcr.CTRL_START)
        waited = 0
        while not await lite_read(ctx, core.ctrl, vcr.CTRL) & vcr.CTRL_DONE:
            if waited > max_cycles:
                raise RtlError(f"the core is not done after {max_cycles} cycles "
                               "(deadlocked tokens or a runaway program?)")
            await ctx.tick().repeat(POLL_CYCLES)
            waited += POLL_CYCLES
        result["counters"] = {name: await lite_read(ctx, core.ctrl, vcr.counter_offset(name))
                              for name in vcr.COUNTERS}

    sim = Simulator(core)
    sim.add_clock(1e-8)
    sim.add_process(ram.serve)
    sim.add_testbench(host)
    start = time.perf_counter()
    try:
        if vcd is None:
            sim.run()
        else:
            with sim.write_vcd(str(vcd)):
                sim.run()
    except AxiError as err:
        raise RtlError(str(err)) from None
    seconds = time.perf_counter() - start
    return RtlRun(bytes(ram.data), result["counters"], seconds)
