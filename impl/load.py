"""The load stage: LOADs of input and weight tiles from DRAM into the inp and wgt scratchpads."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from vtaref.spec import isa as spec_isa
from vtaref.spec.config import INS_WIDTH, VtaConfig

from . import fault, ports, scratchpad
from . import retire as retire_port
from .isa import MemType, Opcode, insn_layout
from .memop import BlockCommands, PaddedWalk, stage_members, take_insn


class Load(wiring.Component):
    """Run the load stage's instructions in order: LOADs of INP and WGT elements.

    Per instruction taken from ``insn``: if ``pop_next_dep``, pop a token from ``from_compute``;
    then load as :func:`vtaref.spec.semantics.load` does: ``y_size`` rows of ``x_size``
    elements, element ``x`` of row ``y`` from byte address ``(dram_base + y*x_stride + x) *
    elem_bytes`` (truncated to 32 bits) on ``inp_mem`` or ``wgt_mem``, zero-padded by
    ``x_pad_0``/``x_pad_1`` columns and ``y_pad_0``/``y_pad_1`` rows, the padded block written
    to consecutive scratchpad rows from ``sram_base``. A row past the end of the buffer is not
    written: the stage stops there and reports it on ``fault`` (:mod:`.fault`), still reading
    the rest of its elements from DRAM, unwritten, so that every burst completes.
    ``x_size == 0`` moves nothing, and so does an instruction that is not a LOAD of INP or WGT.
    Then, once every write has landed, if ``push_next_dep``, push a token to ``to_compute``.
    ``pop_prev_dep`` and ``push_prev_dep`` are ignored (the load stage has no previous stage).

    Padded rows are written at one per cycle while DRAM data is on its way, DRAM rows at one
    element per cycle as they arrive. Rows that are contiguous in DRAM (``x_stride == x_size``)
    are read with a single element command, other rows with one command each. ``busy`` is high
    while an instruction executes (token waits included); ``token_wait`` while it waits for a
    token to pop or for room to push one.

    With ``retire``, the stage reports to :mod:`.retire`: ``insn_index`` is the program index
    of the instruction on offer on ``insn``; ``retired`` has each instruction in the cycle its
    token is pushed (or would be), ``inp_written`` and ``wgt_written`` every scratchpad write.
    """

    def __init__(self, config: VtaConfig, *, retire: bool = False):
        self._config = config
        self.retire = retire
        events = {}
        if retire:
            events = {f"{space}_written": Out(retire_port.event(retire_port.write_layout(
                space, config))) for space in ("inp", "wgt")}
        super().__init__({
            **stage_members(retire),
            **events,
            "inp_mem": Out(ports.element_read(config.inp_elem_bytes * 8)),
            "wgt_mem": Out(ports.element_read(config.wgt_elem_bytes * 8)),
            "inp_wr": In(scratchpad.write_port("inp", config)),
            "wgt_wr": In(scratchpad.write_port("wgt", config)),
            "fault": Out(fault.UNIT_FAULT),
        })

    def elaborate(self, platform):
        m = Module()
        config = self._config
        raw = Signal(INS_WIDTH)  # the instruction being executed
        insn = data.View(insn_layout(spec_isa.Load, config), raw)
        is_wgt = insn.memory_type == MemType.WGT
        moves = ((insn.opcode == Opcode.LOAD) & (is_wgt | (insn.memory_type == MemType.INP))
                 & (insn.x_size != 0))
        log_bytes = {"inp": exact_log2(config.inp_elem_bytes),
                     "wgt": exact_log2(config.wgt_elem_bytes)}

        # The DRAM side.
        commands = BlockCommands()
        pitch = Mux(is_wgt, insn.x_stride << log_bytes["wgt"], insn.x_stride << log_bytes["inp"])
        arriving = Signal(ports.COUNT_WIDTH)  # elements of the last command still to arrive
        running = Signal()
        for port, selected in ((self.inp_mem, ~is_wgt), (self.wgt_mem, is_wgt)):
            m.d.comb += [port.cmd.valid.eq(running & selected & (commands.left != 0)
                                           & (arriving == 0)),
                         port.cmd.payload.addr.eq(commands.addr),
                         port.cmd.payload.count.eq(commands.count)]
        cmd_taken = ((self.inp_mem.cmd.valid & self.inp_mem.cmd.ready)
                     | (self.wgt_mem.cmd.valid & self.wgt_mem.cmd.ready))
        with m.If(cmd_taken):
            m.d.sync += [*commands.sent(pitch), arriving.eq(commands.count)]

        # The scratchpad side.
        # Stopped on a row past the end of the buffer, the stage writes nothing more but still
        # reads the rest of its elements, unwritten, so every burst completes on the bus.
        walk = PaddedWalk(insn)
        stopped = running & Mux(is_wgt, fault.past_end(walk.sram, "wgt", config),
                                fault.past_end(walk.sram, "inp", config))
        m.d.comb += [self.fault.valid.eq(stopped),
                     self.fault.buffer.eq(Mux(is_wgt, fault.buffer_code("wgt"),
                                              fault.buffer_code("inp")))]
        data_valid = Mux(is_wgt, self.wgt_mem.data.valid, self.inp_mem.data.valid)
        step = running & ~stopped & Mux(walk.in_data, data_valid, 1)
        for port, wr, selected in ((self.inp_mem, self.inp_wr, ~is_wgt),
                                   (self.wgt_mem, self.wgt_wr, is_wgt)):
            m.d.comb += [port.data.ready.eq(running & selected & (walk.in_data | stopped)),
                         wr.en.eq(step & selected), wr.addr.eq(walk.sram),
                         wr.data.as_value().eq(Mux(walk.in_data, port.data.payload, 0))]
        taken = ((self.inp_mem.data.valid & self.inp_mem.data.ready)
                 | (self.wgt_mem.data.valid & self.wgt_mem.data.ready))
        with m.If(taken):
            m.d.sync += arriving.eq(arriving - 1)
        walk.advance(m, step, running)

        # Instructions and tokens.
        if self.retire:
            retirements = retire_port.Retirements(self)
            element = retire_port.ArrivingElement()
            element.track(m, cmd_taken, commands.addr, step & walk.in_data,
                          Mux(is_wgt, config.wgt_elem_bytes, config.inp_elem_bytes))
            for space in ("inp", "wgt"):
                retire_port.report_write(m, getattr(self, f"{space}_written"),
                                         getattr(self, f"{space}_wr"), retirements.index,
                                         walk.in_data, element.addr)
        with m.FSM():
            with m.State("IDLE"):
                take_insn(m, self.insn, raw, "POP")
                if self.retire:
                    retirements.take(m, self.insn.valid)
            with m.State("POP"):
                m.d.comb += self.busy.eq(1)
                with m.If(ports.pop_token(m, insn.pop_next_dep, self.from_compute,
                                          self.token_wait)):
                    first = Mux(is_wgt, insn.dram_base << log_bytes["wgt"],
                                insn.dram_base << log_bytes["inp"])
                    m.d.sync += [*walk.start(insn.sram_base), *commands.start(insn, first),
                                 arriving.eq(0)]
                    with m.If(moves & (walk.y_total != 0)):
                        m.d.sync += running.eq(1)
                        m.next = "RUN"
                    with m.Else():
                        m.next = "PUSH"
            with m.State("RUN"):
                m.d.comb += self.busy.eq(1)
                with m.If(step & walk.last):
                    m.next = "PUSH"
            with m.State("PUSH"):
                # The last write landed at the end of the previous cycle.
                m.d.comb += self.busy.eq(1)
                with m.If(ports.push_token(m, insn.push_next_dep, self.to_compute,
                                           self.token_wait)):
                    m.next = "IDLE"
                    if self.retire:
                        retirements.retire(m, raw, pop_next=insn.pop_next_dep,
                                           push_next=insn.push_next_dep)
        return m
