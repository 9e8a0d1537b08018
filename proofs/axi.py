"""Proofs that the DMA engine (:mod:`vtaref.impl.dma`) obeys the AXI4 manager rules.

:class:`AxiManagerSpec` drives every input of a :class:`~vtaref.impl.dma.DmaEngine` with
arbitrary values in every cycle (``AnySeq``): the stages may break the element-port contract and
the subordinate may break its own rules (a VALID dropped, responses nobody asked for), and the
reset may come at any time. Under all of that it checks the manager's side of AXI4:

- AR, AW and W: a VALID stays up until its READY, and the payload holds meanwhile;
- AR and AW: full-width beats (AxSIZE), INCR bursts, a beat-aligned address, and a burst that
  ends at or before the next 4 KiB boundary (with AxLEN + 1 <= 256 beats by AxLEN's width);
- W: no data beat before the address of its burst is accepted, and WLAST on exactly the last
  beat of each burst, as the accepted AWLENs say.

The checker keeps the accepted AWLENs in a queue and counts the W beats of the oldest burst.
Helper invariants tie that queue to the engine's own queue of burst lengths and its W register,
which makes all assertions inductive: k-induction proves them for every reachable state.
"""

from __future__ import annotations

from collections.abc import Callable

from amaranth.asserts import AnySeq
from amaranth.hdl import Assert, Cat, Elaboratable, Module, Mux, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In
from amaranth.utils import exact_log2

from vtaref.impl import axi
from vtaref.impl.dma import WRITE_AHEAD, DmaEngine


def _hold(m: Module, valid, ready, payload: list[Value], name: str) -> None:
    """Assert that a VALID held without READY stays up with the same payload next cycle."""
    payload = Cat(*payload)
    waited = Signal(name=f"{name}_waited")
    held = Signal(len(payload), name=f"{name}_held")
    m.d.sync += [waited.eq(valid & ~ready), held.eq(payload)]
    with m.If(waited):
        m.d.comb += [Assert(valid), Assert(payload == held)]


def _address(m: Module, bus, prefix: str, beat_bytes: int) -> None:
    """Assert the burst attributes and the 4 KiB rule of the AR or AW channel ``prefix``."""
    addr, length = getattr(bus, f"{prefix}addr"), getattr(bus, f"{prefix}len")
    with m.If(getattr(bus, f"{prefix}valid")):
        offset = addr[:12]  # the offset in the 4 KiB page
        m.d.comb += [Assert(getattr(bus, f"{prefix}size") == exact_log2(beat_bytes)),
                     Assert(getattr(bus, f"{prefix}burst") == axi.BURST_INCR),
                     Assert(addr % beat_bytes == 0),
                     Assert(offset + (length + 1) * beat_bytes <= axi.BOUNDARY_BYTES)]


def drive_arbitrarily(m: Module, component: wiring.Component) -> None:
    """Drive every input port of ``component`` with an arbitrary value in every cycle."""
    for _, member, value in component.signature.flatten(component):
        if member.flow == In:
            m.d.comb += Value.cast(value).eq(AnySeq(len(Value.cast(value))))


class AxiManagerSpec(Elaboratable):
    """A :class:`~vtaref.impl.dma.DmaEngine` obeys the AXI4 manager rules (module docstring)."""

    def __init__(self, dut: DmaEngine):
        self.dut = dut

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = self.dut
        drive_arbitrarily(m, dut)
        bus, beat_bytes = dut.axi, dut.data_width // 8

        for prefix in ("ar", "aw"):
            valid, ready = getattr(bus, f"{prefix}valid"), getattr(bus, f"{prefix}ready")
            payload = [getattr(bus, f"{prefix}{name}") for name in ("addr", "len", "size",
                                                                     "burst")]
            _hold(m, valid, ready, payload, prefix)
            _address(m, bus, prefix, beat_bytes)
        _hold(m, bus.wvalid, bus.wready, [bus.wdata, bus.wstrb, bus.wlast], "w")

        # WLAST: the accepted AWLENs, oldest first, and the W beats of the oldest burst so far.
        depth = WRITE_AHEAD + 1
        lens = [Signal(8, name=f"awlen_{k}") for k in range(depth)]
        level = Signal(range(depth + 1))
        beat = Signal(8)
        push = bus.awvalid & bus.awready
        send = bus.wvalid & bus.wready
        pop = send & bus.wlast
        with m.If(bus.wvalid):
            m.d.comb += Assert(level != 0)
        with m.If(send):
            m.d.comb += Assert(bus.wlast == (beat == lens[0]))
            m.d.sync += beat.eq(Mux(bus.wlast, 0, beat + 1))
        for k, entry in enumerate(lens):
            shifted = Mux(pop, lens[k + 1] if k + 1 < depth else entry, entry)
            m.d.sync += entry.eq(Mux(push & (level - pop == k), bus.awlen, shifted))
        m.d.sync += level.eq(level + push - pop)

        # Helper invariants: the checker's queue is the engine's, plus the burst whose last beat
        # waits in the W register (the engine let go of it when it loaded that beat).
        writes = dut.writes
        m.d.comb += [Assert(level <= depth), Assert(writes.level <= WRITE_AHEAD),
                     Assert((writes.aw_beats == 0) | writes.active)]
        with m.If(writes.level == 0):
            m.d.comb += Assert(writes.w_beat == 0)
        with m.Else():
            m.d.comb += Assert(writes.w_beat <= writes.lens[0])
        last_waits = bus.wvalid & bus.wlast
        with m.If(last_waits):
            m.d.comb += [Assert(level == writes.level + 1), Assert(beat == lens[0]),
                         Assert(writes.w_beat == 0)]
        with m.Else():
            m.d.comb += [Assert(level == writes.level),
                         Assert(beat + bus.wvalid == writes.w_beat)]
        for k, entry in enumerate(writes.lens):
            with m.If(k < writes.level):
                m.d.comb += Assert(entry == Mux(last_waits, lens[k + 1], lens[k]))
        return m


def proof_engine(data_width: int, engine: type[DmaEngine] = DmaEngine) -> DmaEngine:
    """Return the ``engine`` the DMA proofs check: readers of 32-bit and 128-bit elements and
    writers of 16-bit and 1024-bit elements on a ``data_width``-bit bus."""
    return engine(data_width, {"narrow": 32, "wide": 128}, {"store": 16, "wide_store": 1024})


def axi_proofs() -> list[tuple[str, Callable[[], Elaboratable], str, int]]:
    """Return the AXI proofs as (name, build, mode, depth): unbounded, by k-induction.

    The engine is :func:`proof_engine` on a 64-bit bus (elements narrower and wider than a beat,
    both directions; 256 beats before a 4 KiB boundary) and on a 512-bit bus (64 beats to a
    4 KiB boundary). Each takes a few seconds.
    """
    def build(data_width: int):
        return lambda: AxiManagerSpec(proof_engine(data_width))
    return [("dma_axi_64", build(64), "prove", 1),
            ("dma_axi_512", build(512), "prove", 1)]
