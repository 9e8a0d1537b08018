"""A model of DRAM behind element ports (:mod:`vtaref.impl.ports`) for Amaranth's simulator.

:class:`ElementMemory` holds DRAM bytes at a physical base address. Its :meth:`~ElementMemory.
reader` and :meth:`~ElementMemory.writer` return testbenches that serve one
``element_read``/``element_write`` port of the unit under test as the DMA engine would, and
check the stage's side of the protocol: a command only once the previous one has finished, a
count of at least one, an address aligned to the element size and inside DRAM, and (for writes)
data only inside a command. A violation raises :class:`ProtocolError` from ``sim.run()``.

With ``stall > 0`` each ready the model drives is withheld with that probability in every cycle,
and each valid (read data, write ``done``) is delayed the same way but, once raised, held until
taken, as the stream rules require (seeded, so runs repeat). With ``stall == 0`` commands are
taken at once, the first element of a read arrives in the cycle after its command and one more
each cycle, and a write's ``done`` comes in the cycle after its last element. The model also
checks that what the unit offers (commands, write data) stays valid and unchanged until taken.
"""

from __future__ import annotations

import random
from collections import deque

import numpy as np


class ProtocolError(AssertionError):
    """The unit under test broke the element-port protocol."""


class ElementMemory:
    """DRAM bytes ``data`` (uint8) at physical byte address ``base``, served to element ports.

    ``commands`` logs every accepted command as ``(port name, addr, count)``; ``reads`` and
    ``writes`` count the elements moved.
    """

    def __init__(self, data: np.ndarray, base: int = 0):
        self.data = data
        self.base = base
        self.commands: list[tuple[str, int, int]] = []
        self.reads = 0
        self.writes = 0

    def _offset(self, name: str, addr: int, count: int, size: int) -> int:
        if count < 1:
            raise ProtocolError(f"{name}: command with count {count}")
        if addr % size:
            raise ProtocolError(f"{name}: address {addr:#x} is not a multiple of {size}")
        start = addr - self.base
        if start < 0 or start + count * size > len(self.data):
            raise ProtocolError(f"{name}: [{addr:#x}, {addr + count * size:#x}) is outside "
                                f"DRAM [{self.base:#x}, {self.base + len(self.data):#x})")
        return start

    def reader(self, port, *, name: str = "read", stall: float = 0.0, seed: int = 0):
        """Return a testbench serving element read port ``port`` (the unit's side)."""
        size = len(port.data.payload) // 8
        rng = random.Random(seed)

        async def serve(ctx):
            pending = deque()  # elements of the current command not yet delivered
            offer, waiting = False, None  # an offered element, a command held out to us
            while True:
                cmd_ready = not pending and rng.random() >= stall
                offer = bool(pending) and (offer or rng.random() >= stall)
                ctx.set(port.cmd.ready, cmd_ready)
                ctx.set(port.data.valid, offer)
                if offer:
                    ctx.set(port.data.payload, pending[0])
                _, _, cmd_valid, cmd, data_ready = await ctx.tick().sample(
                    port.cmd.valid, port.cmd.payload, port.data.ready)
                waiting = _check_held(name, "cmd", waiting, cmd_valid, cmd_ready,
                                      (cmd.addr, cmd.count))
                if cmd_valid and pending:
                    raise ProtocolError(f"{name}: command while {len(pending)} elements of "
                                        "the previous one are still to come")
                if cmd_valid and cmd_ready:
                    start = self._offset(name, cmd.addr, cmd.count, size)
                    self.commands.append((name, cmd.addr, cmd.count))
                    for k in range(cmd.count):
                        raw = self.data[start + k * size:start + (k + 1) * size]
                        pending.append(int.from_bytes(raw.tobytes(), "little"))
                if offer and data_ready:
                    pending.popleft()
                    self.reads += 1
                    offer = False

        return serve

    def writer(self, port, *, name: str = "write", stall: float = 0.0, seed: int = 0):
        """Return a testbench serving element write port ``port`` (the unit's side)."""
        size = len(port.data.payload) // 8
        rng = random.Random(seed)

        async def serve(ctx):
            start, left = 0, 0  # the current command: next byte offset, elements left
            active, done, offer_done = False, False, False
            waiting_cmd = waiting_data = None  # what the unit holds out to us
            while True:
                cmd_ready = not active and not done and rng.random() >= stall
                data_ready = active and rng.random() >= stall
                offer_done = done and (offer_done or rng.random() >= stall)
                ctx.set(port.cmd.ready, cmd_ready)
                ctx.set(port.data.ready, data_ready)
                ctx.set(port.done.valid, offer_done)
                _, _, cmd_valid, cmd, data_valid, payload, done_ready = await ctx.tick().sample(
                    port.cmd.valid, port.cmd.payload, port.data.valid, port.data.payload,
                    port.done.ready)
                waiting_cmd = _check_held(name, "cmd", waiting_cmd, cmd_valid, cmd_ready,
                                          (cmd.addr, cmd.count))
                waiting_data = _check_held(name, "data", waiting_data, data_valid, data_ready,
                                           payload)
                if cmd_valid and (active or done):
                    raise ProtocolError(f"{name}: command before the previous one's done "
                                        "was taken")
                if data_valid and not active:
                    raise ProtocolError(f"{name}: data outside a command")
                if data_valid and data_ready:
                    self.data[start:start + size] = np.frombuffer(
                        payload.to_bytes(size, "little"), dtype=np.uint8)
                    self.writes += 1
                    start, left = start + size, left - 1
                    if not left:
                        active, done = False, True
                if offer_done and done_ready:
                    done = offer_done = False
                if cmd_valid and cmd_ready:
                    start = self._offset(name, cmd.addr, cmd.count, size)
                    self.commands.append((name, cmd.addr, cmd.count))
                    left, active = cmd.count, True

        return serve


def _check_held(name: str, stream: str, waiting, valid, ready, payload):
    """Check the stream rule for a payload the unit offers: once valid, it stays valid and
    unchanged until taken. Return what is still held out after this cycle."""
    if waiting is not None and (not valid or payload != waiting):
        raise ProtocolError(f"{name}: {stream} withdrawn or changed before it was taken")
    return payload if valid and not ready else None
