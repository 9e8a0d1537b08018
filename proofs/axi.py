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
and bound the engine's queue of read bursts, which makes all assertions inductive: k-induction
proves them for every reachable state.
"""

from __future__ import annotations

from collections.abc import Callable

from amaranth.asserts import AnySeq
from amaranth.hdl import Assert, Assume, Cat, Cover, Elaboratable, Module, Mux, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In
from amaranth.utils import exact_log2

from vtaref.impl import axi, ports
from vtaref.impl.dma import READ_BURSTS, WRITE_AHEAD, DmaEngine

BURST_COUNT_BITS = 8  # the burst proofs' commands have fewer than 2**BURST_COUNT_BITS elements


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


def _queue(m: Module, width: int, depth: int, push: Value, value: Value, pop: Value,
           name: str) -> tuple[list[Signal], Signal]:
    """Return a checker's queue of up to ``depth`` entries, oldest first, and its level:
    ``value`` enters on ``push``, the oldest leaves on ``pop`` (both in one cycle: both)."""
    entries = [Signal(width, name=f"{name}_{k}") for k in range(depth)]
    level = Signal(range(depth + 1), name=f"{name}_level")
    for k, entry in enumerate(entries):
        shifted = Mux(pop, entries[k + 1] if k + 1 < depth else entry, entry)
        m.d.sync += entry.eq(Mux(push & (level - pop == k), value, shifted))
    m.d.sync += level.eq(level + push - pop)
    return entries, level


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
        beat = Signal(8)
        send = bus.wvalid & bus.wready
        lens, level = _queue(m, 8, depth, bus.awvalid & bus.awready, bus.awlen,
                             send & bus.wlast, "awlen")
        with m.If(bus.wvalid):
            m.d.comb += Assert(level != 0)
        with m.If(send):
            m.d.comb += Assert(bus.wlast == (beat == lens[0]))
            m.d.sync += beat.eq(Mux(bus.wlast, 0, beat + 1))

        # Helper invariants: the checker's queue is the engine's, plus the burst whose last beat
        # waits in the W register (the engine let go of it when it loaded that beat).
        # And the read bursts' queue holds no more than it can (its room gates ARVALID).
        m.d.comb += Assert(dut.reads.bursts.level <= READ_BURSTS)
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


class _Command:
    """The checker's record of the command one direction of the engine serves: taken from the
    element ports ``port_list`` (with element sizes ``bits``), its port ``client``, its byte
    address ``addr``, element count, its end ``end`` (one past its last byte) and the span of bus
    beats it covers (``first`` and ``total``), computed from the bytes, not as the engine
    does."""

    def __init__(self, m: Module, port_list: list, bits: list[int], beat_bytes: int, name: str):
        self.taken = Signal(name=f"{name}_cmd_taken")
        self.addr = Signal(ports.ADDR_WIDTH, name=f"{name}_cmd_addr")
        self.count = Signal(ports.COUNT_WIDTH, name=f"{name}_cmd_count")
        self.client = Signal(range(max(len(port_list), 2)), name=f"{name}_client")
        self.end = Signal(ports.ADDR_WIDTH + 1, name=f"{name}_cmd_end")
        for index, (port, size) in enumerate(zip(port_list, bits)):
            cmd = port.cmd
            end = cmd.payload.addr + (cmd.payload.count << exact_log2(size // 8))
            # The stages' side of the contract: an element-aligned span below 4 GiB; and (to keep
            # the solver's arithmetic small) fewer than 2**BURST_COUNT_BITS elements.
            with m.If(cmd.valid):
                m.d.comb += [Assume(cmd.payload.addr % (size // 8) == 0),
                             Assume(end <= 1 << ports.ADDR_WIDTH),
                             Assume(cmd.payload.count >> BURST_COUNT_BITS == 0)]
            with m.If(cmd.valid & cmd.ready):
                m.d.comb += self.taken.eq(1)
                m.d.sync += [self.addr.eq(cmd.payload.addr), self.count.eq(cmd.payload.count),
                             self.end.eq(end), self.client.eq(index)]
        log_beat = exact_log2(beat_bytes)
        self.first = self.addr >> log_beat
        self.total = Mux(self.count == 0, 0, ((self.end - 1) >> log_beat) - self.first + 1)


class AxiBurstSpec(Elaboratable):
    """A :class:`~vtaref.impl.dma.DmaEngine` moves what its element commands ask for, no more
    and no less, and reports a write done only after its last B response: in ``direction``
    ``read`` (AR, R) or ``write`` (AW, W, B).

    The element ports are driven arbitrarily, within their contract (an element-aligned span
    below 4 GiB); the subordinate answers arbitrarily within AXI4's rules: an R beat only for a
    requested beat, a B response only for a burst whose last W beat went out, each held until
    taken. For each read port's command, and for the command the write direction serves (taken
    on any port):

    - AR and AW: each burst starts at the beat after the previous burst of the command (the
      first at the beat holding the command's first byte), and the bursts request exactly the
      beats that hold the command's bytes: never more, and all of them before the next command
      (of that port, for reads: the port of an AR burst is the engine's ``ar_client``);
    - W: the beats go out in order, each with WSTRB set on exactly the command's bytes in it;
    - R: an element is delivered from the right beat and byte lanes, the beats of a port being
      those of its bursts, in the order the bursts were accepted (an element as wide as two
      beats or more: its last two beats are the last two R beats of its port);
    - ``done``: only when every burst of the command has been requested and sent and has had
      its B response.

    A bounded proof: the checker counts beats and bursts per command. Its cover (reads): another
    port's burst is granted between two bursts of one command.
    """

    def __init__(self, dut: DmaEngine, direction: str):
        self.dut = dut
        self.direction = direction

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = self.dut
        drive_arbitrarily(m, dut)
        bus, width = dut.axi, dut.data_width
        beat_bytes = width // 8
        log_beat = exact_log2(beat_bytes)
        check = self._reads if self.direction == "read" else self._writes
        check(m, dut, bus, width, beat_bytes, log_beat)
        return m

    @staticmethod
    def _subordinate(m: Module, valid, ready, payload, outstanding, name: str) -> None:
        """Assume a response channel is valid only with ``outstanding`` and held until taken."""
        with m.If(valid):
            m.d.comb += Assume(outstanding != 0)
        waited = Signal(name=f"{name}_waited")
        held = Signal(len(payload), name=f"{name}_held")
        m.d.sync += [waited.eq(valid & ~ready), held.eq(payload)]
        with m.If(waited):
            m.d.comb += Assume(valid & (payload == held))

    def _reads(self, m, dut, bus, width, beat_bytes, log_beat):
        reads = dut.reads
        ar_fires = bus.arvalid & bus.arready
        r_fires = bus.rvalid & bus.rready
        burst = bus.arlen + 1
        outstanding = Signal(ports.COUNT_WIDTH + 8)  # beats requested and not yet taken
        self._subordinate(m, bus.rvalid, bus.rready, Cat(bus.rdata, bus.rresp, bus.rlast),
                          outstanding, "r")
        m.d.sync += outstanding.eq(outstanding + Mux(ar_fires, burst, 0) - r_fires)
        # The accepted bursts, oldest first (port and AXLEN): R beats come back in their order.
        client_bits = len(reads.ar_client)
        beat = Signal(8)  # beats of the oldest burst taken
        oldest_ends = Signal()
        entries, level = _queue(m, client_bits + 8, READ_BURSTS + 1, ar_fires,
                                Cat(reads.ar_client, bus.arlen), oldest_ends, "read_burst")
        oldest_port, oldest_len = entries[0][:client_bits], entries[0][client_bits:]
        m.d.comb += oldest_ends.eq(r_fires & (beat == oldest_len))
        with m.If(r_fires):
            m.d.sync += beat.eq(Mux(oldest_ends, 0, beat + 1))

        # Per port: the bursts of its command tile the command's beats; its elements come from
        # the beats of its own bursts, in order, at the element's byte lanes.
        interleaved = []
        for index, (name, bits) in enumerate(reads.readers.items()):
            port = getattr(dut, name)
            cmd = _Command(m, [port], [bits], beat_bytes, f"read_{name}")
            requested = Signal(ports.COUNT_WIDTH + 8, name=f"{name}_requested")  # on AR
            received = Signal(ports.COUNT_WIDTH + 8, name=f"{name}_received")  # taken on R
            previous = Signal(width, name=f"{name}_previous")  # its R beat taken before
            granted = reads.ar_client == index
            with m.If(r_fires & (oldest_port == index)):
                m.d.sync += [received.eq(received + 1), previous.eq(bus.rdata)]
            with m.If(ar_fires & granted):
                m.d.sync += requested.eq(requested + burst)
            with m.If(cmd.taken):
                m.d.comb += Assert(requested == cmd.total)
                m.d.sync += [requested.eq(0), received.eq(0)]
            with m.If(bus.arvalid & granted):
                m.d.comb += [Assert(bus.araddr >> log_beat == cmd.first + requested),
                             Assert(requested + burst <= cmd.total)]
            # Another port's burst granted between two of this command's.
            interleaved.append(ar_fires & ~granted & (requested != 0)
                               & (requested < cmd.total))

            element_bytes = bits // 8
            start = Signal(ports.ADDR_WIDTH, name=f"{name}_element")  # the element's first byte
            with m.If(port.cmd.valid & port.cmd.ready):
                m.d.sync += start.eq(port.cmd.payload.addr)
            with m.Elif(port.data.valid & port.data.ready):
                m.d.sync += start.eq(start + element_bytes)
            last_beat = (start + element_bytes - 1) >> log_beat
            with m.If(port.data.valid):
                m.d.comb += [Assert(bus.rvalid), Assert(level != 0),
                             Assert(oldest_port == index),
                             Assert(last_beat == cmd.first + received)]
                if bits <= width:
                    lane = start[:log_beat] >> exact_log2(element_bytes)
                    m.d.comb += Assert(port.data.payload == bus.rdata.word_select(lane, bits))
                else:
                    m.d.comb += Assert(port.data.payload[bits - width:] == bus.rdata)
                    m.d.comb += Assert(port.data.payload[bits - 2 * width:bits - width]
                                       == previous)
        m.d.comb += Cover(Cat(interleaved).any())

    def _writes(self, m, dut, bus, width, beat_bytes, log_beat):
        writers = dut.writes.writers
        port_list = [getattr(dut, name) for name in writers]
        cmd = _Command(m, port_list, list(writers.values()), beat_bytes, "write")
        requested = Signal(ports.COUNT_WIDTH + 8)  # beats of the command requested on AW
        sent = Signal(ports.COUNT_WIDTH + 8)  # beats of the command sent on W
        bursts = Signal(ports.COUNT_WIDTH)  # bursts of the command accepted on AW
        answered = Signal(ports.COUNT_WIDTH)  # B responses received for the command
        unanswered = Signal(8)  # bursts whose last W beat went out, not yet answered (any)
        aw_fires = bus.awvalid & bus.awready
        w_fires = bus.wvalid & bus.wready
        b_fires = bus.bvalid & bus.bready
        burst = bus.awlen + 1
        self._subordinate(m, bus.bvalid, bus.bready, bus.bresp, unanswered, "b")
        m.d.sync += unanswered.eq(unanswered + (w_fires & bus.wlast) - b_fires)
        with m.If(aw_fires):
            m.d.sync += [requested.eq(requested + burst), bursts.eq(bursts + 1)]
        with m.If(w_fires):
            m.d.sync += sent.eq(sent + 1)
        with m.If(b_fires):
            m.d.sync += answered.eq(answered + 1)
        with m.If(cmd.taken):
            m.d.sync += [requested.eq(0), sent.eq(0), bursts.eq(0), answered.eq(0)]
        with m.If(bus.awvalid):
            m.d.comb += [Assert(bus.awaddr >> log_beat == cmd.first + requested),
                         Assert(requested + burst <= cmd.total)]

        # WSTRB: the command's bytes within the beat.
        beat_start = (cmd.first + sent) << log_beat
        with m.If(bus.wvalid):
            m.d.comb += Assert(sent < cmd.total)
            for lane in range(beat_bytes):
                byte = beat_start + lane
                m.d.comb += Assert(bus.wstrb[lane] == ((byte >= cmd.addr) & (byte < cmd.end)))

        # done: every beat requested and sent, every burst answered.
        for port in port_list:
            with m.If(port.done.valid):
                m.d.comb += [Assert(requested == cmd.total), Assert(sent == cmd.total),
                             Assert(answered == bursts)]


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
