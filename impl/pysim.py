"""Run the VTA core in Amaranth's simulator: slow (thousands of cycles per second) but
needs no compiler, and dumps waveforms. :mod:`.verilator` runs the same core compiled.

The testbench plays the host: it writes INSN_ADDR, INSN_COUNT and CTRL through the AXI4-Lite
port, polls CTRL until DONE, and reads every counter, while :class:`~.axi_ram.AxiRam` serves the
AXI4 memory port from a copy of DRAM.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from amaranth.sim import Simulator

from vtaref.spec.config import VtaConfig

from . import vcr
from .axi_ram import AxiError, AxiRam
from .bus_model import IDEAL_BUS, BusModel
from .core import DEFAULT_DATA_WIDTH, VtaCore
from .retire_trace import RetireLog
from .run import RtlError, RtlRun, RunRequest, stop_error

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


def simulate(config: VtaConfig, requests: list[RunRequest], *,
             data_width: int = DEFAULT_DATA_WIDTH, vcd: Path | None = None,
             bus: BusModel = IDEAL_BUS, retire: bool = False) -> list[RtlRun]:
    """Run ``requests`` back to back on the core, reset only before the first; return each
    run's DRAM and counts.

    The same contract as :func:`.verilator.simulate`: ``vcd`` receives a waveform. Raises
    RtlError if the core touches memory outside DRAM or a run is not done within its
    ``max_cycles`` (a deadlock, for instance), RtlBusError if the core stopped on an error
    response of ``bus``, RtlIndexFault if it stopped on an index past a scratchpad's end.
    With ``retire``, the core has its retirement port and each run's ``retired`` holds what
    the port reported.
    """
    core = VtaCore(config, data_width, retire=retire)
    ram = AxiRam(core.axi, b"", bus=bus)
    runs = []
    logs = [RetireLog(config)]  # the last one is the running run's

    async def observe(ctx):
        members = logs[0].members()
        ports = [getattr(core.retire, member) for member in members]
        signals = [value for port in ports for value in (port.valid, port.payload.as_value())]
        cycle = 0
        async for _, _, *values in ctx.tick().sample(*signals):
            for k, member in enumerate(members):
                if values[2 * k]:
                    logs[-1].record(member, values[2 * k + 1], cycle)
            cycle += 1

    async def host(ctx):
        for request in requests:
            ram.load(request.dram, request.dram_base)  # the core is idle: fill memory
            if runs:
                logs.append(RetireLog(config))
            await lite_write(ctx, core.ctrl, vcr.INSN_ADDR, request.insn_addr)
            await lite_write(ctx, core.ctrl, vcr.INSN_COUNT, request.insn_count)
            await lite_write(ctx, core.ctrl, vcr.CTRL, vcr.CTRL_START)
            waited = 0
            while not (ctrl := await lite_read(ctx, core.ctrl, vcr.CTRL)) & (
                    vcr.CTRL_DONE | vcr.CTRL_ERROR):
                if waited > request.max_cycles:
                    raise RtlError(f"the core is not done after {request.max_cycles} cycles "
                                   "(deadlocked tokens or a runaway program?)" + where())
                for _ in range(POLL_CYCLES):  # (not repeat(): it cannot be closed mid-way
                    await ctx.tick()          # when the RAM model stops the simulation)
                waited += POLL_CYCLES
            if ctrl & vcr.CTRL_ERROR:
                status = await lite_read(ctx, core.ctrl, vcr.ERROR)
                addr = await lite_read(ctx, core.ctrl, vcr.ERROR_ADDR)
                error = stop_error(config, status, addr)
                raise type(error)(f"{error}{where()}")
            if ram.unanswered_writes:
                raise RtlError(f"the core reported DONE before DRAM answered "
                               f"{ram.unanswered_writes} of its write bursts (their data is not "
                               "in DRAM yet)" + where())
            counters = {name: await lite_read(ctx, core.ctrl, vcr.counter_offset(name))
                        for name in vcr.COUNTERS}
            runs.append(RtlRun(bytes(ram.data), counters, 0.0, logs[-1] if retire else None))

    def where() -> str:
        return f" (run {len(runs) + 1} of {len(requests)})" if len(requests) > 1 else ""

    sim = Simulator(core)
    sim.add_clock(1e-8)
    sim.add_process(ram.serve)
    if retire:
        sim.add_process(observe)
    sim.add_testbench(host)
    start = time.perf_counter()
    try:
        if vcd is None:
            sim.run()
        else:
            with sim.write_vcd(str(vcd)):
                sim.run()
    except AxiError as err:
        raise RtlError(str(err) + where()) from None
    seconds = (time.perf_counter() - start) / max(1, len(requests))
    return [replace(run, seconds=seconds) for run in runs]
