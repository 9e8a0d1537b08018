"""The store stage: STOREs of accumulator rows, truncated to the output width, to DRAM."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal, Value
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from vtaref.spec import isa as spec_isa
from vtaref.spec.config import INS_WIDTH, VtaConfig

from . import fault, ports, scratchpad
from . import retire as retire_port
from .isa import Opcode, insn_layout
from .memop import BlockCommands, stage_members, take_insn


class Store(wiring.Component):
    """Run the store stage's instructions in order: STOREs of the acc scratchpad to DRAM.

    Per instruction taken from ``insn``: if ``pop_prev_dep``, pop a token from ``from_compute``;
    then store as :func:`vtaref.spec.semantics.store` does in the fsim flavor: acc row
    ``sram_base + y*x_size + x``, every lane
    truncated to ``out_width`` bits and packed lane 0 first, goes to the OUT element at byte
    address ``(dram_base + y*x_stride + x) * out_elem_bytes`` (truncated to 32 bits) on ``mem``,
    for ``y_size`` rows of ``x_size`` elements. ``x_size == 0`` or ``y_size == 0`` writes
    nothing; the padding fields and ``memory_type`` are ignored (the spec rejects padding and
    memory types other than OUT). Then, once ``mem`` reported every write ``done``, if
    ``push_prev_dep``, push a token to ``to_compute``. ``pop_next_dep`` and ``push_next_dep``
    are ignored (the store stage has no next stage). A STORE whose rows run past the end of acc
    moves nothing: the stage stops on it (after its pop) and reports it on ``fault``
    (:mod:`.fault`).

    Rows that are contiguous in DRAM (``x_stride == x_size``) go out with a single element
    command, other rows with one command each; elements go out at one per cycle. ``acc`` is a
    synchronous read port (data one cycle after ``addr``/``en``) that must hold its data while
    ``en`` is low. ``busy`` is high while an instruction executes (token waits included);
    ``token_wait`` while it waits for a token to pop or for room to push one.

    With ``retire``, the stage reports to :mod:`.retire`: ``insn_index`` is the program index
    of the instruction on offer on ``insn``; ``retired`` has each instruction in the cycle its
    token is pushed (or would be), ``dram_written`` every element handed to ``mem``.
    """

    def __init__(self, config: VtaConfig, *, retire: bool = False):
        self._config = config
        self.retire = retire
        events = {}
        if retire:
            events = {"dram_written": Out(retire_port.event(
                retire_port.dram_write_layout(config)))}
        super().__init__({
            **stage_members(retire),
            **events,
            "mem": Out(ports.element_write(config.out_elem_bytes * 8)),
            "acc": In(scratchpad.read_port("acc", config)),
            "fault": Out(fault.UNIT_FAULT),
        })

    def elaborate(self, platform):
        m = Module()
        config = self._config
        cmd, element, done = self.mem.cmd, self.mem.data, self.mem.done
        raw = Signal(INS_WIDTH)  # the instruction being executed
        insn = data.View(insn_layout(spec_isa.Store, config), raw)
        moves = (insn.opcode == Opcode.STORE) & (insn.x_size != 0) & (insn.y_size != 0)
        log_bytes = exact_log2(config.out_elem_bytes)

        # The DRAM side.
        commands = BlockCommands()
        sending = Signal(ports.COUNT_WIDTH)  # elements of the current command still to send
        m.d.comb += [cmd.payload.addr.eq(commands.addr), cmd.payload.count.eq(commands.count)]

        # The scratchpad side: read rows ahead into one output register, stalling the read
        # port (en low holds its data) while the element waits.
        reads_left = Signal(ports.COUNT_WIDTH)
        read_addr = Signal(fault.WALK_WIDTH)
        held = Signal()  # the read port's data is an element not yet sent
        sent = element.valid & element.ready
        read = (~held | sent) & (reads_left != 0)
        m.d.comb += [self.acc.addr.eq(read_addr), self.acc.en.eq(read),
                     element.payload.eq(Cat(Value.cast(lane)[:config.out_width]
                                            for lane in scratchpad.lanes(self.acc.data)))]
        with m.If(read):
            m.d.sync += [read_addr.eq(read_addr + 1), reads_left.eq(reads_left - 1),
                         held.eq(1)]
        with m.Elif(sent):
            m.d.sync += held.eq(0)

        if self.retire:
            retirements = retire_port.Retirements(self)
            element_addr = Signal(ports.ADDR_WIDTH)  # of the element on offer
            with m.If(cmd.valid & cmd.ready):
                m.d.sync += element_addr.eq(commands.addr)
            with m.Elif(sent):
                m.d.sync += element_addr.eq(element_addr + config.out_elem_bytes)
            written = self.dram_written
            m.d.comb += [written.valid.eq(sent), written.payload.index.eq(retirements.index),
                         written.payload.addr.eq(element_addr),
                         written.payload.data.eq(element.payload)]
        with m.FSM():
            with m.State("IDLE"):
                take_insn(m, self.insn, raw, "POP")
                if self.retire:
                    retirements.take(m, self.insn.valid)
            with m.State("POP"):
                m.d.comb += self.busy.eq(1)
                with m.If(ports.pop_token(m, insn.pop_prev_dep, self.from_compute,
                                          self.token_wait)):
                    elements = insn.y_size * insn.x_size
                    with m.If(moves & fault.past_end(insn.sram_base + elements - 1, "acc",
                                                     config)):
                        m.next = "STOPPED"
                    with m.Elif(moves):
                        m.d.sync += [read_addr.eq(insn.sram_base), reads_left.eq(elements),
                                     *commands.start(insn, insn.dram_base << log_bytes)]
                        m.next = "CMD"
                    with m.Else():
                        m.next = "PUSH"
            with m.State("CMD"):
                m.d.comb += [self.busy.eq(1), cmd.valid.eq(1)]
                with m.If(cmd.ready):
                    m.d.sync += [*commands.sent(insn.x_stride << log_bytes),
                                 sending.eq(commands.count)]
                    m.next = "SEND"
            with m.State("SEND"):
                m.d.comb += [self.busy.eq(1), element.valid.eq(held)]
                with m.If(sent):
                    m.d.sync += sending.eq(sending - 1)
                    with m.If(sending == 1):
                        m.next = "DONE"
            with m.State("DONE"):
                m.d.comb += [self.busy.eq(1), done.ready.eq(1)]
                with m.If(done.valid):
                    with m.If(commands.left != 0):
                        m.next = "CMD"
                    with m.Else():
                        m.next = "PUSH"
            with m.State("STOPPED"):
                m.d.comb += [self.busy.eq(1), self.fault.valid.eq(1),
                             self.fault.buffer.eq(fault.buffer_code("acc"))]
            with m.State("PUSH"):
                m.d.comb += self.busy.eq(1)
                with m.If(ports.push_token(m, insn.push_prev_dep, self.to_compute,
                                           self.token_wait)):
                    m.next = "IDLE"
                    if self.retire:
                        retirements.retire(m, raw, pop_prev=insn.pop_prev_dep,
                                           push_prev=insn.push_prev_dep)
        return m
