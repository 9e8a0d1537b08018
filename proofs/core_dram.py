"""The core's DRAM seen as a memory, and the checks of what LOADs and STOREs move through it.

:class:`Dram` turns the arbitrary AXI4 subordinate of :class:`.core_insn.CoreChecks` into a
memory for one arbitrary tracked byte (riscv-formal's trick, as for scratchpad entries): the
subordinate stays free in everything but what a memory must do with that byte. The checks
(:func:`load_data`, :func:`local_load_data`, :func:`store_data`) then speak of the spec's DRAM
addresses through it.
"""

from __future__ import annotations

from amaranth.asserts import AnyConst
from amaranth.hdl import Assert, Assume, Cat, Cover, Module, Mux, Signal, Value
from amaranth.lib import data
from amaranth.utils import exact_log2

from vtaref.impl import axi, ports, scratchpad
from vtaref.impl.compute import LOCAL_TYPES
from vtaref.impl.isa import MemType, Opcode, insn_layout
from vtaref.spec import isa as spec_isa
from vtaref.spec.config import VtaConfig
from vtaref.spec.state import element_formats

# Bits of the element coordinates a check picks in a LOAD's or STORE's block: enough to reach
# every row of the small configurations' buffers (at most 32 rows).
COORD_BITS = 6


class Dram:
    """The AXI4 subordinate ``bus`` (the manager's side, driven arbitrarily) assumed to behave
    as a memory for the byte at the arbitrary address ``addr``, whose contents are ``value``:

    - it serves one read burst at a time (ARREADY only when none is under way) and puts R
      beats out only for it; a beat that covers ``addr`` carries ``value`` in its lane;
    - it serves one write burst at a time (AWREADY only when no write is under way), takes W
      beats only for it and answers B only after its last one; a W beat that covers ``addr``
      with its WSTRB bit set lands in ``value`` when the burst's B response is given.

    Everything else (READYs, VALIDs, the other bytes, the responses, RLAST) stays arbitrary,
    unless :meth:`answer_within` bounds the waits.
    """

    def __init__(self, m: Module, bus):
        self.bus = bus
        beat_bytes = len(bus.rdata) // 8
        shift = exact_log2(beat_bytes)
        self.addr = Signal(ports.ADDR_WIDTH, name="dram_tracked")
        initial, stored, landed = Signal(8, name="dram_initial"), Signal(8), Signal()
        m.d.comb += [self.addr.eq(AnyConst(ports.ADDR_WIDTH)), initial.eq(AnyConst(8))]
        self.value = Signal(8, name="dram_value")
        m.d.comb += self.value.eq(Mux(landed, stored, initial))
        beat, lane = self.addr[shift:], self.addr[:shift]

        # Reads: the beats of the burst under way, in order.
        self.r_left = r_left = Signal(9, name="r_left")
        r_beat = Signal(len(beat), name="r_beat")
        m.d.comb += [Assume(~bus.arready | (r_left == 0)), Assume(~bus.rvalid | (r_left != 0))]
        with m.If(bus.arvalid & bus.arready):
            m.d.sync += [r_left.eq(bus.arlen + 1), r_beat.eq(bus.araddr[shift:])]
        with m.Elif(bus.rvalid & bus.rready):
            m.d.sync += [r_left.eq(r_left - 1), r_beat.eq(r_beat + 1)]
        with m.If(bus.rvalid & (r_beat == beat)):
            m.d.comb += Assume(bus.rdata.word_select(lane, 8) == self.value)

        # Writes: the burst under way takes its beats, then gets its response.
        self.w_left = w_left = Signal(9, name="w_left")
        self.b_due = b_due = Signal(name="b_due")
        w_beat, pending, pending_set = Signal(len(beat), name="w_beat"), Signal(8), Signal()
        m.d.comb += [Assume(~bus.awready | ((w_left == 0) & ~b_due)),
                     Assume(~bus.wready | (w_left != 0)), Assume(~bus.bvalid | b_due)]
        with m.If(bus.awvalid & bus.awready):
            m.d.sync += [w_left.eq(bus.awlen + 1), w_beat.eq(bus.awaddr[shift:])]
        with m.If(bus.wvalid & bus.wready):
            m.d.sync += [w_left.eq(w_left - 1), w_beat.eq(w_beat + 1), b_due.eq(w_left == 1)]
            with m.If((w_beat == beat) & bus.wstrb.bit_select(lane, 1)):
                m.d.sync += [pending.eq(bus.wdata.word_select(lane, 8)), pending_set.eq(1)]
        with m.If(bus.bvalid & bus.bready):
            m.d.sync += [b_due.eq(0), pending_set.eq(0)]
            with m.If(pending_set):
                m.d.sync += [stored.eq(pending), landed.eq(1)]

    def answer_within(self, m: Module, cycles: int) -> None:
        """Assume the subordinate answers OKAY and keeps nobody waiting more than ``cycles``
        cycles in a row: a VALID it can take (AR, AW: no burst under way; W: beats due) gets
        its READY, and a due R beat or B response its VALID."""
        bus = self.bus
        reads_free = self.r_left == 0
        writes_free = (self.w_left == 0) & ~self.b_due
        for name, waiting, answered in (
                ("ar", bus.arvalid & reads_free, bus.arready),
                ("r", self.r_left != 0, bus.rvalid),
                ("aw", bus.awvalid & writes_free, bus.awready),
                ("w", bus.wvalid & (self.w_left != 0), bus.wready),
                ("b", self.b_due, bus.bvalid)):
            waited = Signal(range(cycles + 1), name=f"{name}_waited")
            with m.If(waiting & ~answered & (waited < cycles)):
                m.d.sync += waited.eq(waited + 1)
            with m.Elif(~waiting | answered):
                m.d.sync += waited.eq(0)
            m.d.comb += Assume(~waiting | answered | (waited < cycles))
        m.d.comb += [Assume(~bus.rvalid | (bus.rresp == axi.RESP_OKAY)),
                     Assume(~bus.bvalid | (bus.bresp == axi.RESP_OKAY))]

    def offset_in(self, start, size: int) -> tuple[Value, Value]:
        """Return whether the tracked byte lies in the ``size`` bytes from byte address
        ``start`` (modulo 2**32, as the RTL's addresses), and its offset there."""
        offset = (self.addr - start)[:ports.ADDR_WIDTH]
        return offset < size, offset[:max(exact_log2(size), 1)]


def _byte(value, offset) -> Value:
    """Return byte ``offset`` of ``value`` (lowest byte first, as in DRAM)."""
    value = Value.cast(value)
    return value.word_select(offset, 8) if len(value) > 8 else value


def _padded_element(m: Module, insn, name: str) -> tuple[Value, Value, Value, Value]:
    """Pick an arbitrary element (y, x) of the padded block of the LOAD ``insn``: return whether
    it lies in the block, its scratchpad row, whether it comes from DRAM rather than padding,
    and its DRAM element index (the spec's ``dram_base + (y - y_pad_0)*x_stride + (x -
    x_pad_0)``, meaningful when it comes from DRAM)."""
    y_t, x_t = Signal(COORD_BITS, name=f"{name}_y"), Signal(COORD_BITS, name=f"{name}_x")
    m.d.comb += [y_t.eq(AnyConst(COORD_BITS)), x_t.eq(AnyConst(COORD_BITS))]
    x_total = insn.x_pad_0 + insn.x_size + insn.x_pad_1
    y_total = insn.y_pad_0 + insn.y_size + insn.y_pad_1
    inside = (insn.x_size != 0) & (y_t < y_total) & (x_t < x_total)
    row = insn.sram_base + y_t * x_total + x_t
    in_data = ((x_t >= insn.x_pad_0) & (x_t < insn.x_pad_0 + insn.x_size)
               & (y_t >= insn.y_pad_0) & (y_t < insn.y_pad_0 + insn.y_size))
    element = insn.dram_base + (y_t - insn.y_pad_0) * insn.x_stride + (x_t - insn.x_pad_0)
    return inside, row, in_data, element


def _byte_address(element, elem_bytes: int) -> Value:
    """Return the byte address of DRAM element ``element`` of ``elem_bytes`` bytes, in the RTL's
    32 bits."""
    return (element << exact_log2(elem_bytes))[:ports.ADDR_WIDTH]


def load_data(m: Module, config: VtaConfig, port, dram: Dram, shadows: dict) -> None:
    """Assert that every inp or wgt row a LOAD reads from DRAM holds the DRAM bytes at the
    address it reports, and that when the LOAD retires, its write of the tracked row of each
    buffer (``shadows``, :class:`.core_insn.WriteRecord`) is the one the spec makes: from DRAM
    at the spec's address for an element of its block, padding (zero) around it."""
    insn = data.View(insn_layout(spec_isa.Load, config), port.load.payload.insn)
    inside, row, in_data, element = _padded_element(m, insn, "load")
    for space, memory_type in (("inp", MemType.INP), ("wgt", MemType.WGT)):
        elem_bytes = getattr(config, f"{space}_elem_bytes")
        event = getattr(port, space)
        covers, offset = dram.offset_in(event.payload.dram_addr, elem_bytes)
        read = event.valid & event.payload.from_dram & covers
        m.d.comb += Cover(read)
        with m.If(read):
            m.d.comb += Assert(_byte(event.payload.data, offset) == dram.value)

        record = shadows[space]
        retires = (port.load.valid & (insn.opcode == Opcode.LOAD)
                   & (insn.memory_type == memory_type) & inside & (row == record.addr))
        m.d.comb += Cover(retires & in_data)
        with m.If(retires):
            m.d.comb += [Assert(record.written & (record.index == port.load.payload.index)),
                         Assert(record.from_dram == in_data)]
            with m.If(in_data):
                m.d.comb += Assert(record.dram_addr == _byte_address(element, elem_bytes))


def local_load_data(m: Module, config: VtaConfig, port, dram: Dram, shadows: dict) -> None:
    """Assert that when the compute stage retires a LOAD of UOP, ACC or ACC_8BIT, its write of
    the tracked row of the buffer it fills (``shadows``: ``uop`` and ``acc``,
    :class:`.core_insn.WriteRecord`) is the one the spec makes: for an element of its block,
    from DRAM at the spec's address, the tracked DRAM byte, if that element covers it, being
    in the row as the spec puts it there (a UOP or ACC element's bytes as they are, an
    ACC_8BIT byte sign-extended into its lane); padding (zero) around the block."""
    insn = data.View(insn_layout(spec_isa.Load, config), port.compute.payload.insn)
    inside, row, in_data, element = _padded_element(m, insn, "local_load")
    formats = element_formats(config)
    # The tracked DRAM byte as it was when the tracked row of each buffer was last written.
    dram_then = {space: record.at_last_write(m, dram.value) for space, record in shadows.items()}
    for memory_type in LOCAL_TYPES:
        fmt = formats[spec_isa.MemType(memory_type.value)]
        record = shadows[fmt.buffer]
        spec_addr = _byte_address(element, fmt.bytes)
        covers, offset = dram.offset_in(spec_addr, fmt.bytes)
        retires = (port.compute.valid & (insn.opcode == Opcode.LOAD)
                   & (insn.memory_type == memory_type) & inside & (row == record.addr))
        m.d.comb += Cover(retires & in_data & covers)
        with m.If(retires):
            m.d.comb += [Assert(record.written & (record.index == port.compute.payload.index)),
                         Assert(record.from_dram == in_data)]
            with m.If(in_data):
                m.d.comb += Assert(record.dram_addr == spec_addr)
                with m.If(covers):
                    m.d.comb += Assert(_holds_byte(config, fmt, record.data, offset,
                                                       dram_then[fmt.buffer]))
            with m.Else():
                m.d.comb += Assert(Value.cast(record.data) == 0)


def _holds_byte(config: VtaConfig, fmt, row, offset, byte) -> Value:
    """Return whether scratchpad ``row``, loaded from a DRAM element of format ``fmt``
    (:func:`vtaref.spec.state.element_formats`), holds the element's byte ``offset``, ``byte``,
    as the spec puts it there: as it is, or for lanes narrower in DRAM than in the buffer
    (ACC_8BIT), sign-extended into lane ``offset``."""
    if fmt.buffer != "acc" or fmt.width == config.acc_width:
        return _byte(row, offset) == byte
    assert fmt.width == 8, "a widened DRAM lane is one byte"
    lane = Value.cast(row).word_select(offset, config.acc_width)
    return lane.as_signed() == byte.as_signed()


def store_data(m: Module, config: VtaConfig, port, dram: Dram, acc) -> None:
    """Assert that when a STORE retires, DRAM holds at the spec's address of each element of its
    block the acc row the spec stores there, each lane narrowed to ``out_width`` bits: checked
    for the tracked DRAM byte and the tracked acc row ``acc`` (a :class:`.core_insn.WriteRecord`
    that knows the acc rows' initial zeros), when that row was not written since the store
    stage's previous retirement (so the STORE read it unchanged whenever it did) and the
    STORE's rows do not overlap in DRAM (``x_stride >= x_size``, or one row)."""
    insn = data.View(insn_layout(spec_isa.Store, config), port.store.payload.insn)
    y_t, x_t = Signal(COORD_BITS, name="store_y"), Signal(COORD_BITS, name="store_x")
    m.d.comb += [y_t.eq(AnyConst(COORD_BITS)), x_t.eq(AnyConst(COORD_BITS))]
    written_since = Signal(name="acc_written_since_store")
    with m.If(port.store.valid):
        m.d.sync += written_since.eq(0)
    with m.If(port.acc.valid & (port.acc.payload.addr == acc.addr)):
        m.d.sync += written_since.eq(1)
    row = insn.sram_base + y_t * insn.x_size + x_t
    element = insn.dram_base + y_t * insn.x_stride + x_t
    out_bytes = config.out_elem_bytes
    start = _byte_address(element, out_bytes)
    covers, offset = dram.offset_in(start, out_bytes)
    stored = data.View(scratchpad.row_layout("acc", config), acc.data)
    narrowed = Cat(Value.cast(lane)[:config.out_width] for lane in scratchpad.lanes(stored))
    trigger = (port.store.valid & (insn.opcode == Opcode.STORE) & (y_t < insn.y_size)
               & (x_t < insn.x_size) & ((insn.x_stride >= insn.x_size) | (insn.y_size == 1))
               & (row == acc.addr) & ~written_since & covers)
    m.d.comb += Cover(trigger & (insn.y_size > 1))
    with m.If(trigger):
        m.d.comb += Assert(dram.value == _byte(narrowed, offset))
