"""An AXI4 subordinate memory for Amaranth's simulator, to serve a DUT's AXI4 manager port.

API::

    ram = AxiRam(dut.axi, dram_bytes, base, read_latency=1, write_latency=1,
                 bus=BusModel(), max_bursts=8)
    sim.add_process(ram.serve)   # or sim.add_testbench(ram.serve, background=True)
    sim.run()
    ram.data                     # a bytearray: the RAM's contents, byte k at address base + k
    ram.load(other_bytes, base)  # new contents (between runs, while nothing is under way)

- ``port`` is the manager's ``axi4(data_width)`` interface (:func:`vtaref.impl.axi.axi4`); the
  model drives its ``In`` members (``arready``, ``rdata``...) and samples the others.
- The RAM covers ``[base, base + len(data))``; ``data`` is copied.
- Timing, with the default ``bus`` (:class:`~.bus_model.BusModel`): AR and AW are always ready
  while fewer than ``max_bursts`` bursts of that direction are outstanding; the first beat of a
  read burst is on R ``read_latency`` (>= 1) cycles after its AR handshake, the next ones follow
  one per cycle (bursts back to back); W is ready while an accepted AW awaits data (the model
  takes no data before its address); B comes ``write_latency`` (>= 1) cycles after the burst's
  last W beat. ``bus`` adds random stalls and delays (seeded: runs repeat) and error responses.
- A write burst's data reaches ``data`` when its response is taken (not at all if that response
  is an error).
- ``read_beats``, ``write_beats``, ``read_bursts``, ``write_bursts`` count the transfers;
  ``unanswered_writes`` is the number of write bursts whose address was taken and whose
  response was not.
- Any access outside the RAM, and any protocol violation the model can see (a VALID dropped
  before READY, a payload changed while waiting, AxSIZE not the full width, a burst type other
  than INCR, an unaligned address, a burst crossing 4 KiB, WLAST on the wrong beat) raises
  :class:`AxiError` naming the burst's address, from ``sim.run()``.

The model wakes once per clock cycle while a transfer is under way (and sleeps otherwise),
and only sets the signals whose values change.
"""

from __future__ import annotations

import random
from collections import deque

from . import axi
from .bus_model import IDEAL_BUS, BusModel


class AxiError(AssertionError):
    """The manager broke the AXI4 protocol or accessed memory outside the RAM."""


_AR = ("arvalid", "araddr", "arlen", "arsize", "arburst")
_AW = ("awvalid", "awaddr", "awlen", "awsize", "awburst")
_W = ("wvalid", "wdata", "wstrb", "wlast")
_SAMPLED = _AR + ("rready",) + _AW + _W + ("bready",)


class AxiRam:
    """RAM bytes ``data`` at byte address ``base`` behind the AXI4 manager port ``port``."""

    def __init__(self, port, data: bytes, base: int = 0, *, read_latency: int = 1,
                 write_latency: int = 1, bus: BusModel = IDEAL_BUS, max_bursts: int = 8):
        if read_latency < 1 or write_latency < 1:
            raise ValueError("AxiRam latencies must be at least 1 cycle")
        self.port = port
        self.data = bytearray(data)
        self.base = base
        self.read_latency = read_latency
        self.write_latency = write_latency
        self.bus = bus
        self.max_bursts = max_bursts
        self.beat_bytes = len(port.wstrb)
        self.read_beats = self.write_beats = self.read_bursts = self.write_bursts = 0
        self.unanswered_writes = 0

    def load(self, data: bytes, base: int) -> None:
        """Replace the RAM's contents by ``data`` at byte address ``base``."""
        self.data[:] = data
        self.base = base

    def _burst(self, kind: str, addr: int, length: int, size: int, burst: int) -> int:
        """Check an accepted burst; return the RAM offset of its first byte."""
        beats, nbytes = length + 1, self.beat_bytes
        what = f"{kind} burst at {addr:#x} ({beats} beats of {nbytes} bytes)"
        if 1 << size != nbytes:
            raise AxiError(f"{what}: AxSIZE {size} is not the full width")
        if burst != axi.BURST_INCR:
            raise AxiError(f"{what}: AxBURST {burst} is not INCR")
        if addr % nbytes:
            raise AxiError(f"{what}: the address is not a multiple of the beat size")
        end = addr + beats * nbytes
        if addr // axi.BOUNDARY_BYTES != (end - 1) // axi.BOUNDARY_BYTES:
            raise AxiError(f"{what} crosses a 4 KiB boundary")
        if addr < self.base or end > self.base + len(self.data):
            raise AxiError(f"{what} is outside the RAM [{self.base:#x}, "
                           f"{self.base + len(self.data):#x})")
        return addr - self.base

    async def serve(self, ctx) -> None:
        """Serve the port forever (a simulator process; see the module docstring)."""
        port, nbytes, bus = self.port, self.beat_bytes, self.bus
        rng = random.Random(bus.seed)

        def go() -> bool:
            return bus.stall == 0 or rng.random() >= bus.stall

        def delay() -> int:
            return rng.randint(0, bus.max_delay) if bus.max_delay else 0

        reads = deque()  # accepted read bursts: [first cycle, offset, beats left, resp]
        writes = deque()  # accepted write bursts awaiting data: [offset, beats, addr, resp, beats]
        responses = deque()  # written bursts awaiting their B handshake: [cycle, resp, beats]
        driven = {name: 0 for name in ("arready", "rvalid", "rlast", "rdata", "rresp", "awready",
                                       "wready", "bvalid", "bresp")}
        waiting = {"ar": None, "aw": None, "w": None}  # payloads offered, not yet taken
        cycle = 0

        def drive(name: str, value: int) -> None:
            if driven[name] != value:
                driven[name] = value
                ctx.set(getattr(port, name), value)

        sampled = ctx.tick().sample(*(getattr(port, name) for name in _SAMPLED))
        requests = (port.arvalid, port.awvalid, port.wvalid)
        drive("arready", int(go()))
        drive("awready", int(go()))
        while True:
            await ctx.changed(*requests)  # nothing under way: sleep until the manager offers
            async for values in sampled:
                cycle += 1
                (arvalid, araddr, arlen, arsize, arburst, rready, awvalid, awaddr, awlen, awsize,
                 awburst, wvalid, wdata, wstrb, wlast, bready) = values[2:]
                ar = (araddr, arlen, arsize, arburst)
                aw = (awaddr, awlen, awsize, awburst)
                w = (wdata, wstrb, wlast)
                for channel, valid, payload in (("ar", arvalid, ar), ("aw", awvalid, aw),
                                                ("w", wvalid, w)):
                    held = waiting[channel]
                    if held is not None and (not valid or payload != held):
                        change = "dropped VALID" if not valid else "changed its payload"
                        raise AxiError(f"the manager {change} on {channel.upper()} before READY "
                                       f"(offered {_describe(channel, held)})")

                if arvalid and driven["arready"]:
                    offset = self._burst("read", araddr, arlen, arsize, arburst)
                    resp = bus.response(False, araddr, araddr + (arlen + 1) * nbytes)
                    reads.append([cycle + self.read_latency + delay(), offset, arlen + 1, resp])
                    self.read_bursts += 1
                if driven["rvalid"] and rready:
                    burst = reads[0]
                    burst[1] += nbytes
                    burst[2] -= 1
                    self.read_beats += 1
                    if not burst[2]:
                        reads.popleft()
                if awvalid and driven["awready"]:
                    offset = self._burst("write", awaddr, awlen, awsize, awburst)
                    resp = bus.response(True, awaddr, awaddr + (awlen + 1) * nbytes)
                    writes.append([offset, awlen + 1, awaddr, resp, []])
                    self.write_bursts += 1
                    self.unanswered_writes += 1
                if wvalid and driven["wready"]:
                    offset, beats, addr, resp, taken = writes[0]
                    if wlast != (len(taken) == beats - 1):
                        raise AxiError(f"WLAST is {wlast} on beat {len(taken) + 1} of {beats} "
                                       f"of the write burst at {addr:#x}")
                    taken.append((offset + len(taken) * nbytes, wdata, wstrb))
                    self.write_beats += 1
                    if len(taken) == beats:
                        writes.popleft()
                        responses.append([cycle + self.write_latency + delay(), resp, taken])
                if driven["bvalid"] and bready:
                    _, resp, taken = responses.popleft()
                    self.unanswered_writes -= 1
                    if resp == axi.RESP_OKAY:
                        self._write(taken)
                waiting["ar"] = ar if arvalid and not driven["arready"] else None
                waiting["aw"] = aw if awvalid and not driven["awready"] else None
                waiting["w"] = w if wvalid and not driven["wready"] else None

                # Outputs for the next cycle: a VALID stays up until its handshake.
                now = cycle + 1
                drive("arready", int(len(reads) < self.max_bursts and go()))
                drive("awready", int(len(writes) + len(responses) < self.max_bursts and go()))
                drive("wready", int(bool(writes) and go()))
                if driven["rvalid"] and not rready:
                    pass
                elif reads and reads[0][0] <= now and go():
                    _, offset, left, resp = reads[0]
                    drive("rdata", int.from_bytes(self.data[offset:offset + nbytes], "little"))
                    drive("rresp", resp)
                    drive("rlast", int(left == 1))
                    drive("rvalid", 1)
                else:
                    drive("rvalid", 0)
                if not (driven["bvalid"] and not bready):
                    ready = bool(responses) and responses[0][0] <= now and go()
                    drive("bresp", responses[0][1] if ready else 0)
                    drive("bvalid", int(ready))
                if not (arvalid or awvalid or wvalid or reads or writes or responses):
                    break

    def _write(self, beats: list[tuple[int, int, int]]) -> None:
        """Write each beat (RAM offset, data, strobes) into the RAM."""
        nbytes, data = self.beat_bytes, self.data
        for start, wdata, wstrb in beats:
            raw = wdata.to_bytes(nbytes, "little")
            if wstrb == (1 << nbytes) - 1:
                data[start:start + nbytes] = raw
            else:
                for k in range(nbytes):
                    if wstrb >> k & 1:
                        data[start + k] = raw[k]


def _describe(channel: str, payload: tuple) -> str:
    if channel == "w":
        return f"WDATA {payload[0]:#x}, WSTRB {payload[1]:#x}, WLAST {payload[2]}"
    return f"a burst at {payload[0]:#x}, AxLEN {payload[1]}"
