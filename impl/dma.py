"""The DMA engine: element transfers (:mod:`.ports`) carried out as AXI4 bursts (:mod:`.axi`).

:class:`DmaEngine` serves any number of element read ports and element write ports on one AXI4
manager port. Reads and writes are independent: :class:`ReadDma` owns the AR and R channels,
:class:`WriteDma` the AW, W and B channels, so a store can write while loads read.

A command (``addr``, ``count``) on a port of ``element_bits``-bit elements covers the DRAM bytes
``[addr, addr + count * element_bits / 8)``; it becomes INCR bursts of full-width beats over the
beat-aligned span of those bytes, each burst as long as possible: it ends at the end of the
command, at a 4 KiB boundary or after 256 beats. An element narrower than the bus is picked out
of its beat by address; a write of one sets only its own WSTRB byte lanes, so the other bytes of
the beat keep their DRAM contents. An element wider than the bus spans consecutive beats. A
command with ``count == 0`` moves nothing (a write's ``done`` still comes).

Reads are arbitrated per burst: every read port runs its own command, and the AR channel is
granted one burst at a time, round robin among the ports with beats still to request, so a short
read (a bias row) waits behind at most one burst of each other port, not behind a whole long
command. R beats are routed back to their port by a queue of the accepted bursts, in order.
Writes run one command at a time, granted round robin among the ports with a command waiting;
the granted port keeps the write channels until its ``done`` is taken. In steady state data moves
at one beat per cycle: the next burst's address goes out while the current burst's data moves.

Read data is passed through without a register: the element of a port is valid in the cycle its
last beat is on R (so it stays valid and stable until taken, as R does). The engine counts beats
itself (RLAST is not looked at).

An error response (RRESP or BRESP other than OKAY: SLVERR or DECERR) halts the engine: the
first one is latched in ``error`` (:data:`BUS_ERROR`: the direction, the response, the port and
the DRAM address of the command it belongs to) until reset, and from the next cycle on no port's
command is taken. The commands under way finish (read data with an error response is delivered
as it came), and so do its bursts, as AXI4 requires; the stages waiting for DRAM then wait for
good. :mod:`vtaref.proofs.bus_error` proves the latch and the halt. Write beats
leave from a register, and write data is taken one element per handshake (a wide element is held
while its beats go out), so the AXI rules hold whatever the stages and the subordinate do;
:mod:`vtaref.proofs.axi` proves them.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value
from amaranth.lib import data, fifo, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from . import axi, ports

READ_BURSTS = 4  # read bursts whose address may be accepted before their data is all in
WRITE_AHEAD = 2  # write bursts whose address may be accepted before their data is all sent
MAX_WRITE_RESPONSES = 8  # write bursts that may await their response (B) at once
PORT_INDEX_BITS = 8  # the error's port field: at most 256 ports
# The first error response, latched: ``port`` indexes the readers then the writers, in the order
# they were given; ``addr`` is the byte address of that port's command.
BUS_ERROR = data.StructLayout({"valid": 1, "write": 1, "resp": 2, "port": PORT_INDEX_BITS,
                               "addr": axi.ADDR_WIDTH})
RESERVED_NAMES = ("axi", "halt", "error")
READ_CHANNELS = ("ar", "r")
WRITE_CHANNELS = ("aw", "w", "b")


def check_ports(readers: dict[str, int], writers: dict[str, int]) -> None:
    """Raise ValueError unless the port names are usable and every element size is valid."""
    for kind, group in (("reader", readers), ("writer", writers)):
        for name, bits in group.items():
            if not isinstance(name, str) or not name.isidentifier() or name.startswith("_") \
                    or name in RESERVED_NAMES:
                raise ValueError(f"DMA port name must be an identifier not starting with '_' "
                                 f"and other than {', '.join(map(repr, RESERVED_NAMES))}, "
                                 f"not {name!r}")
            if not isinstance(bits, int) or bits < 8 or bits & (bits - 1):
                raise ValueError(f"Element size of {kind} {name!r} must be a power of two of "
                                 f"at least 8 bits, not {bits!r}")
    for name in readers:
        if name in writers:
            raise ValueError(f"DMA port name {name!r} is used by both a reader and a writer")
    if len(readers) + len(writers) > 1 << PORT_INDEX_BITS:
        raise ValueError(f"A DMA engine serves at most {1 << PORT_INDEX_BITS} ports, not "
                         f"{len(readers) + len(writers)}")


def bus_half(data_width: int, channels: tuple[str, ...]) -> wiring.Signature:
    """Return the members of ``axi4(data_width)`` that belong to ``channels`` (``ar``, ``r``...).

    A member belongs to the channel its name starts with, less its last (5 or 4) letters:
    ``arvalid`` to ``ar``, ``rdata`` to ``r``.
    """
    members = axi.axi4(data_width).members
    return wiring.Signature({name: member for name, member in members.items()
                             if _channel(name) in channels})


def _channel(name: str) -> str:
    for suffix in ("addr", "len", "size", "burst", "valid", "ready", "data", "strb", "last",
                   "resp"):
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    raise AssertionError(name)


def total_beats(addr: Value, count: Value, element_bytes: int, beat_bytes: int) -> Value:
    """Return the number of bus beats covering ``count`` elements from byte address ``addr``."""
    if element_bytes >= beat_bytes:
        return count << exact_log2(element_bytes // beat_bytes)
    span_end = addr[:exact_log2(beat_bytes)] + (count << exact_log2(element_bytes)) - 1
    return Mux(count == 0, 0, (span_end >> exact_log2(beat_bytes)) + 1)


def burst_beats(beat: Value, beats: Value, beat_bytes: int) -> Value:
    """Return the beats of the burst from beat index ``beat`` with ``beats`` left to move.

    That is ``beats``, at most 256 and at most up to the next 4 KiB boundary.
    """
    page = axi.BOUNDARY_BYTES // beat_bytes
    to_boundary = page - beat[:exact_log2(page)]
    limit = to_boundary if page <= axi.MAX_BURST_BEATS else Mux(
        to_boundary > axi.MAX_BURST_BEATS, axi.MAX_BURST_BEATS, to_boundary)
    return Mux(beats < limit, beats, limit)


def round_robin(m: Module, requests: list[Value], last: Signal) -> Signal:
    """Return the index of the request to grant: the first one after ``last``, cyclically."""
    grant = Signal(range(max(len(requests), 2)))
    with m.Switch(last):
        for previous in range(len(requests)):
            with m.Case(previous):
                # The last assignment that applies wins: go from lowest to highest priority.
                for offset in range(len(requests), 0, -1):
                    index = (previous + offset) % len(requests)
                    with m.If(requests[index]):
                        m.d.comb += grant.eq(index)
    return grant


class _Commands:
    """The arbitration of one direction: which port's command is taken, and its payload."""

    def __init__(self, m: Module, port_list: list, idle: Value):
        self.last = Signal(range(max(len(port_list), 2)), name="last_grant")
        self.grant = round_robin(m, [port.cmd.valid for port in port_list], self.last)
        self.payload = Signal(ports.command_layout(), name="granted_cmd")
        self.taken = Signal(name="cmd_taken")
        for index, port in enumerate(port_list):
            m.d.comb += port.cmd.ready.eq(idle & (self.grant == index))
            with m.If(self.grant == index):
                m.d.comb += [self.payload.eq(port.cmd.payload),
                             self.taken.eq(idle & port.cmd.valid)]
        with m.If(self.taken):
            m.d.sync += self.last.eq(self.grant)


class ReadDma(wiring.Component):
    """The read half of :class:`DmaEngine`: element read ports on the AR and R channels.

    Each port runs its own command: it takes one when its previous one is over (its last element
    delivered, its last burst requested) and ``halt`` is low. Bursts are granted one at a time,
    round robin among the ports with beats still to request, so that a long transfer does not
    hold the channel: a short one waits at most one burst per other port. Up to
    :data:`READ_BURSTS` bursts may have their address out and their data not all in; R beats
    come back in the order of their addresses (one ID), so a queue of the accepted bursts
    (``bursts``: the port and AXLEN of each) says which port each beat belongs to.

    Public state (for the proofs and the error report), lists indexed like ``readers``: ``busy``
    while a port's command has elements due, ``cmd_addr`` its address, ``left`` its elements
    still to deliver, ``ar_beat``/``ar_beats`` the beat index of its next burst and the beats it
    still has to request. ``ar_client`` is the port of the burst on AR, ``r_client`` the port
    of the oldest burst awaiting data (the one an R beat belongs to), ``r_cmd_addr`` that port's
    command address, ``ar_valid`` the AR channel's VALID as the engine means it.
    """

    def __init__(self, data_width: int, readers: dict[str, int]):
        axi.check_data_width(data_width)
        check_ports(readers, {})
        self.data_width = data_width
        self.readers = dict(readers)
        beat_bytes = data_width // 8
        names = list(readers) or ["none"]

        def per_port(shape, what):
            return [Signal(shape, name=f"{name}_{what}") for name in names]
        self.busy = per_port(1, "busy")
        self.cmd_addr = per_port(ports.ADDR_WIDTH, "cmd_addr")
        self.left = per_port(ports.COUNT_WIDTH, "left")
        self.ar_beat = per_port(axi.ADDR_WIDTH - exact_log2(beat_bytes), "ar_beat")
        self.ar_beats = [Signal(ports.COUNT_WIDTH + exact_log2(max(bits // data_width, 1)) + 1,
                                name=f"{name}_ar_beats") for name, bits in readers.items()]
        self.ar_client = Signal(range(max(len(readers), 2)))
        self.r_client = Signal(range(max(len(readers), 2)))
        self.r_cmd_addr = Signal(ports.ADDR_WIDTH)
        self.ar_valid = Signal()
        self.bursts = fifo.SyncFIFO(width=len(self.r_client) + 8, depth=READ_BURSTS)
        super().__init__({name: In(ports.element_read(bits)) for name, bits in readers.items()}
                         | {"axi": Out(bus_half(data_width, READ_CHANNELS)), "halt": In(1)})

    def elaborate(self, platform):
        m = Module()
        bus, width = self.axi, self.data_width
        beat_bytes = width // 8
        log_beat = exact_log2(beat_bytes)
        m.d.comb += [bus.arsize.eq(log_beat), bus.arburst.eq(axi.BURST_INCR)]
        m.submodules.bursts = bursts = self.bursts
        if not self.readers:
            return m
        port_list = [getattr(self, name) for name in self.readers]
        sizes = list(self.readers.values())
        # An element's position: its lane in the beat (narrow) or its beat so far (wide).
        pos = [Signal(exact_log2(max(bits, width) // min(bits, width)), name=f"{name}_pos")
               for name, bits in self.readers.items()]
        # The beats of a wide element taken so far.
        collect = [Signal(max(bits - width, 0), name=f"{name}_collect")
                   for name, bits in self.readers.items()]

        # Commands: each port takes its own.
        for index, (port, bits) in enumerate(zip(port_list, sizes)):
            m.d.comb += port.cmd.ready.eq(~self.halt & ~self.busy[index]
                                          & (self.ar_beats[index] == 0))
            with m.If(port.cmd.valid & port.cmd.ready):
                cmd = port.cmd.payload
                m.d.sync += [self.cmd_addr[index].eq(cmd.addr), self.left[index].eq(cmd.count),
                             self.busy[index].eq(cmd.count != 0),
                             self.ar_beat[index].eq(cmd.addr >> log_beat),
                             self.ar_beats[index].eq(
                                 total_beats(cmd.addr, cmd.count, bits // 8, beat_bytes))]
                if bits < width:
                    m.d.sync += pos[index].eq(cmd.addr[exact_log2(bits // 8):log_beat])
                else:
                    m.d.sync += pos[index].eq(0)

        # Addresses: one burst at a time, round robin among the ports with beats to request; a
        # burst on AR stays granted until accepted.
        last = Signal(range(max(len(port_list), 2)), name="last_grant")
        held, held_grant = Signal(), Signal.like(last)
        fair = round_robin(m, [beats != 0 for beats in self.ar_beats], last)
        grant = self.ar_client
        m.d.comb += grant.eq(Mux(held, held_grant, fair))
        lengths = [burst_beats(beat, beats, beat_bytes)
                   for beat, beats in zip(self.ar_beat, self.ar_beats)]
        burst = Signal(range(axi.MAX_BURST_BEATS + 1))
        for index in range(len(port_list)):
            with m.If(grant == index):
                m.d.comb += [self.ar_valid.eq((self.ar_beats[index] != 0) & bursts.w_rdy),
                             bus.araddr.eq(Cat(Const(0, log_beat), self.ar_beat[index])),
                             burst.eq(lengths[index])]
        m.d.comb += [bus.arvalid.eq(self.ar_valid), bus.arlen.eq(burst - 1)]
        accepted = bus.arvalid & bus.arready
        m.d.sync += [held.eq(bus.arvalid & ~bus.arready), held_grant.eq(grant)]
        m.d.comb += [bursts.w_en.eq(accepted), bursts.w_data.eq(Cat(grant, bus.arlen))]
        with m.If(accepted):
            m.d.sync += last.eq(grant)
            for index in range(len(port_list)):
                with m.If(grant == index):
                    m.d.sync += [self.ar_beat[index].eq(self.ar_beat[index] + burst),
                                 self.ar_beats[index].eq(self.ar_beats[index] - burst)]

        # Data: the port of the oldest burst awaiting data takes elements straight from R.
        head_len = bursts.r_data[len(self.r_client):]
        m.d.comb += self.r_client.eq(bursts.r_data[:len(self.r_client)])
        r_beat = Signal(8)  # beats of the oldest burst taken so far
        with m.If(bus.rvalid & bus.rready):
            with m.If(r_beat == head_len):
                m.d.comb += bursts.r_en.eq(1)
                m.d.sync += r_beat.eq(0)
            with m.Else():
                m.d.sync += r_beat.eq(r_beat + 1)
        for index, (port, bits) in enumerate(zip(port_list, sizes)):
            left, busy, slot = self.left[index], self.busy[index], pos[index]
            active = busy & bursts.r_rdy & (self.r_client == index)
            with m.If(self.r_client == index):
                m.d.comb += self.r_cmd_addr.eq(self.cmd_addr[index])
            last_element = left == 1
            if bits <= width:
                lanes = width // bits
                beat_ends = (slot == lanes - 1) | last_element
                m.d.comb += [port.data.valid.eq(active & bus.rvalid),
                             port.data.payload.eq(bus.rdata.word_select(slot, bits)
                                                  if lanes > 1 else bus.rdata)]
                with m.If(active):
                    m.d.comb += bus.rready.eq(port.data.ready & beat_ends)
                with m.If(port.data.valid & port.data.ready):
                    m.d.sync += [left.eq(left - 1), busy.eq(~last_element), slot.eq(slot + 1)]
            else:
                element_ends = slot == bits // width - 1
                m.d.comb += [port.data.valid.eq(active & bus.rvalid & element_ends),
                             port.data.payload.eq(Cat(collect[index], bus.rdata))]
                with m.If(active):
                    m.d.comb += bus.rready.eq(~element_ends | port.data.ready)
                with m.If(active & bus.rvalid & bus.rready):
                    with m.If(element_ends):
                        m.d.sync += [left.eq(left - 1), busy.eq(~last_element), slot.eq(0)]
                    with m.Else():
                        m.d.sync += [collect[index].eq(Cat(collect[index][width:], bus.rdata)),
                                     slot.eq(slot + 1)]
        return m


class WriteDma(wiring.Component):
    """The write half of :class:`DmaEngine`: element write ports on the AW, W and B channels.

    A write burst's data goes out only after its address has been accepted, at most
    :data:`WRITE_AHEAD` addresses ahead of the data, and at most :data:`MAX_WRITE_RESPONSES`
    bursts await their response.

    No command is taken while ``halt`` is high. Public state (for the proofs and the error
    report): ``active`` while a command runs, ``client`` its port and ``cmd_addr`` its command's
    address, ``aw_beat``/``aw_beats`` as in :class:`ReadDma`; ``lens``/``level`` the queue of the
    accepted bursts' AWLEN whose beats are not all in the W register yet (oldest first),
    ``w_beat`` the beats of the oldest one already in it, ``responses`` the bursts whose
    address is accepted and whose response is not.
    """

    def __init__(self, data_width: int, writers: dict[str, int]):
        axi.check_data_width(data_width)
        check_ports({}, writers)
        self.data_width = data_width
        self.writers = dict(writers)
        beat_bytes = data_width // 8
        wide = max([bits // data_width for bits in writers.values()] + [1])
        self.active = Signal()
        self.client = Signal(range(max(len(writers), 2)))
        self.cmd_addr = Signal(ports.ADDR_WIDTH)
        self.left = Signal(ports.COUNT_WIDTH)
        self.aw_beat = Signal(axi.ADDR_WIDTH - exact_log2(beat_bytes))
        self.aw_beats = Signal(ports.COUNT_WIDTH + exact_log2(wide) + 1)
        self.lens = [Signal(8, name=f"len_{k}") for k in range(WRITE_AHEAD)]
        self.level = Signal(range(WRITE_AHEAD + 1))
        self.w_beat = Signal(8)
        self.responses = Signal(range(MAX_WRITE_RESPONSES + 1))
        super().__init__({name: In(ports.element_write(bits)) for name, bits in writers.items()}
                         | {"axi": Out(bus_half(data_width, WRITE_CHANNELS)), "halt": In(1)})

    def elaborate(self, platform):
        m = Module()
        bus, width = self.axi, self.data_width
        beat_bytes = width // 8
        m.d.comb += [bus.awsize.eq(exact_log2(beat_bytes)), bus.awburst.eq(axi.BURST_INCR)]
        if not self.writers:
            return m
        port_list = [getattr(self, name) for name in self.writers]
        pos = Signal(max(exact_log2(max(bits, width) // min(bits, width))
                         for bits in self.writers.values()))
        hold = Signal(max([bits - width for bits in self.writers.values()] + [0]))
        held_beats = Signal(range(max(max(self.writers.values()) // width, 2)))
        gather = Signal(width)  # the narrow elements of the beat being filled...
        gather_strb = Signal(beat_bytes)  # ...and their byte lanes

        cmds = _Commands(m, port_list, ~self.halt & ~self.active)
        with m.If(cmds.taken):
            cmd = cmds.payload
            m.d.sync += [self.active.eq(1), self.client.eq(cmds.grant), self.cmd_addr.eq(cmd.addr),
                         self.left.eq(cmd.count),
                         self.aw_beat.eq(cmd.addr >> exact_log2(beat_bytes)), gather_strb.eq(0)]
            for index, bits in enumerate(self.writers.values()):
                with m.If(cmds.grant == index):
                    m.d.sync += self.aw_beats.eq(
                        total_beats(cmd.addr, cmd.count, bits // 8, beat_bytes))
                    if bits < width:
                        m.d.sync += pos.eq(cmd.addr[exact_log2(bits // 8):exact_log2(beat_bytes)])
                    else:
                        m.d.sync += pos.eq(0)

        # Addresses, each length queued for the data side.
        burst = burst_beats(self.aw_beat, self.aw_beats, beat_bytes)
        m.d.comb += [bus.awvalid.eq((self.aw_beats != 0) & (self.level < WRITE_AHEAD)
                                    & (self.responses < MAX_WRITE_RESPONSES)),
                     bus.awaddr.eq(Cat(Const(0, exact_log2(beat_bytes)), self.aw_beat)),
                     bus.awlen.eq(burst - 1)]
        push = bus.awvalid & bus.awready
        with m.If(push):
            m.d.sync += [self.aw_beat.eq(self.aw_beat + burst),
                         self.aw_beats.eq(self.aw_beats - burst)]

        # Responses.
        m.d.comb += bus.bready.eq(self.responses != 0)
        m.d.sync += self.responses.eq(self.responses + push - (bus.bvalid & bus.bready))

        # Data: a beat enters the W register when it is free and the beat's address is queued.
        load = Signal()
        beat, strb = Signal(width), Signal(beat_bytes)
        can_load = (~bus.wvalid | bus.wready) & (self.level != 0)
        ends_burst = self.w_beat == self.lens[0]
        with m.If(load):
            m.d.sync += [bus.wdata.eq(beat), bus.wstrb.eq(strb), bus.wlast.eq(ends_burst),
                         bus.wvalid.eq(1), self.w_beat.eq(Mux(ends_burst, 0, self.w_beat + 1))]
        with m.Elif(bus.wready):
            m.d.sync += bus.wvalid.eq(0)
        pop = load & ends_burst
        after_pop = [Mux(pop, self.lens[k + 1] if k + 1 < WRITE_AHEAD else entry, entry)
                     for k, entry in enumerate(self.lens)]
        for k, entry in enumerate(self.lens):
            m.d.sync += entry.eq(Mux(push & (self.level - pop == k), burst - 1, after_pop[k]))
        m.d.sync += self.level.eq(self.level + push - pop)

        last_element = self.left == 1
        for index, (port, bits) in enumerate(zip(port_list, self.writers.values())):
            active = self.active & (self.client == index)
            m.d.comb += port.done.valid.eq(
                active & (self.left == 0) & (held_beats == 0) & (self.aw_beats == 0)
                & (self.level == 0) & ~bus.wvalid & (self.responses == 0))
            with m.If(port.done.valid & port.done.ready):
                m.d.sync += self.active.eq(0)
            taken = port.data.valid & port.data.ready
            if bits <= width:
                lanes = width // bits
                lane = pos[:exact_log2(lanes)]
                flush = (lane == lanes - 1) | last_element
                m.d.comb += port.data.ready.eq(active & (self.left != 0) & (~flush | can_load))
                with m.If(active):
                    m.d.comb += [beat.eq(gather), strb.eq(gather_strb)]
                    if lanes > 1:
                        m.d.comb += [beat.word_select(lane, bits).eq(port.data.payload),
                                     strb.word_select(lane, bits // 8).eq(-1)]
                    else:
                        m.d.comb += [beat.eq(port.data.payload), strb.eq(-1)]
                with m.If(taken):
                    m.d.sync += [self.left.eq(self.left - 1), pos.eq((lane + 1)[:len(lane)])]
                    with m.If(flush):
                        m.d.comb += load.eq(1)
                        m.d.sync += gather_strb.eq(0)
                    with m.Else():
                        m.d.sync += [gather.eq(beat), gather_strb.eq(strb)]
            else:
                with m.If(active):
                    m.d.comb += strb.eq(-1)
                    with m.If(held_beats == 0):
                        m.d.comb += [port.data.ready.eq((self.left != 0) & can_load),
                                     beat.eq(port.data.payload[:width])]
                        with m.If(taken):
                            m.d.comb += load.eq(1)
                            m.d.sync += [hold.eq(port.data.payload[width:]),
                                         held_beats.eq(bits // width - 1),
                                         self.left.eq(self.left - 1)]
                    with m.Else():
                        m.d.comb += beat.eq(hold[:width])
                        with m.If(can_load):
                            m.d.comb += load.eq(1)
                            m.d.sync += [hold.eq(hold[width:]), held_beats.eq(held_beats - 1)]
        return m


class DmaEngine(wiring.Component):
    """Serve element read and write ports (:mod:`.ports`) on one AXI4 manager port.

    ``readers`` and ``writers`` map port names to element sizes in bits (powers of two of at
    least 8, narrower or wider than ``data_width``); each name becomes a member taking
    ``element_read(bits)`` or ``element_write(bits)`` flipped. ``axi`` is the ``axi4(data_width)``
    manager port. ``reads`` and ``writes`` are the two halves (:class:`ReadDma`,
    :class:`WriteDma`). ``error`` (:data:`BUS_ERROR`) holds the first error response until
    reset; from the cycle after it, both halves are halted. ``read_half`` and ``write_half``
    are the halves' classes (tests replace them with broken ones).
    """

    read_half = ReadDma
    write_half = WriteDma

    def __init__(self, data_width: int, readers: dict[str, int], writers: dict[str, int]):
        axi.check_data_width(data_width)
        check_ports(readers, writers)
        self.data_width = data_width
        self.reads = self.read_half(data_width, readers)
        self.writes = self.write_half(data_width, writers)
        members = {name: In(ports.element_read(bits)) for name, bits in readers.items()}
        members |= {name: In(ports.element_write(bits)) for name, bits in writers.items()}
        super().__init__(members | {"axi": Out(axi.axi4(data_width)), "error": Out(BUS_ERROR)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.reads = reads = self.reads
        m.submodules.writes = writes = self.writes
        bus, error = self.axi, self.error
        m.d.comb += [reads.halt.eq(error.valid), writes.halt.eq(error.valid)]
        read_error = bus.rvalid & bus.rready & (bus.rresp != axi.RESP_OKAY)
        write_error = bus.bvalid & bus.bready & (bus.bresp != axi.RESP_OKAY)
        with m.If(~error.valid & read_error):
            m.d.sync += [error.valid.eq(1), error.write.eq(0), error.resp.eq(bus.rresp),
                         error.port.eq(reads.r_client), error.addr.eq(reads.r_cmd_addr)]
        with m.Elif(~error.valid & write_error):
            m.d.sync += [error.valid.eq(1), error.write.eq(1), error.resp.eq(bus.bresp),
                         error.port.eq(len(reads.readers) + writes.client),
                         error.addr.eq(writes.cmd_addr)]
        for half, names in ((self.reads, self.reads.readers), (self.writes, self.writes.writers)):
            for name in names:
                wiring.connect(m, wiring.flipped(getattr(self, name)), getattr(half, name))
            for name, member in half.axi.signature.members.items():
                ours, theirs = getattr(self.axi, name), getattr(half.axi, name)
                if member.flow == Out:
                    m.d.comb += ours.eq(theirs)
                else:
                    m.d.comb += theirs.eq(ours)
        return m
