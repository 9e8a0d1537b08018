"""The compute stage: UOP and ACC loads, GEMM and ALU instructions, FINISH.

:class:`LocalLoad` moves micro-ops and accumulators from DRAM into the scratchpads;
:class:`Compute` runs the compute queue in order, issuing GEMMs and ALUs to
:class:`~.gemm.TensorGemm` and :class:`~.alu.TensorAlu` and taking and giving dependency tokens.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from vtaref.spec import isa as spec_isa
from vtaref.spec.config import INS_WIDTH, VtaConfig

from . import fault, ports, scratchpad
from . import retire as retire_port
from .alu import TensorAlu
from .gemm import TensorGemm
from .isa import MemType, Opcode, generic_layout, insn_layout
from .memop import BlockCommands, PaddedWalk

LOCAL_TYPES = (MemType.UOP, MemType.ACC, MemType.ACC_8BIT)  # what the compute stage loads


def is_local(memory_type):
    """Return whether a LOAD of ``memory_type`` (a ``MemType`` value) runs in the compute stage."""
    result = memory_type == LOCAL_TYPES[0]
    for kind in LOCAL_TYPES[1:]:
        result = result | (memory_type == kind)
    return result


def element_ports(config: VtaConfig) -> dict[MemType, wiring.Signature]:
    """Return the DRAM element port of each memory type the compute stage loads."""
    return {MemType.UOP: ports.element_read(config.uop_elem_bytes * 8),
            MemType.ACC: ports.element_read(config.acc_elem_bytes * 8),
            MemType.ACC_8BIT: ports.element_read(config.batch * config.block_out * 8)}


def fetched_once(view):
    """Return whether the LOAD ``view`` reads one DRAM element into every row: one element per
    row (``x_size == 1``) from one address (``x_stride == 0``)."""
    return (view.x_stride == 0) & (view.x_size == 1)


class LocalLoad(wiring.Component):
    """Run one LOAD of UOP, ACC or ACC_8BIT elements at a time.

    ``cmd`` takes a LOAD instruction (raw bits seen through ``insn_layout(Load)``) when
    ``busy`` is low. It loads as :func:`vtaref.spec.semantics.load` does: ``y_size`` rows of
    ``x_size`` elements, element ``x`` of row ``y`` from byte address ``(dram_base + y*x_stride
    + x) * elem_bytes`` (truncated to 32 bits) on ``uop_mem``, ``acc_mem`` or ``acc8_mem``,
    zero-padded by ``x_pad_0``/``x_pad_1`` columns and ``y_pad_0``/``y_pad_1`` rows, the padded
    block written to consecutive rows of uop or acc from ``sram_base``; a row past the end of
    the buffer is not written: the load stops there and reports it on ``fault``, still reading
    the rest of its elements from DRAM, unwritten, so that every burst completes. ACC_8BIT lanes
    are sign-extended to the accumulator width.
    ``x_size == 0``, or another memory type or opcode, moves nothing.

    With ``retire``, for :mod:`.retire`: ``from_dram`` is high while the row being written
    comes from DRAM (not padding), and ``element.addr`` is then the byte address it came from.

    ``busy`` is high from the cycle after ``cmd`` is taken until every write has landed. No
    write happens while ``hold`` is high, and no DRAM command goes out (so that the elements
    never wait on the read channel, which the DMA engine shares among its ports); each DRAM
    element is written in the cycle it arrives, padding rows at one per cycle. Rows contiguous
    in DRAM (``x_stride == x_size``) are read with a single element command, other rows with one
    each, except that a LOAD of one element per row from one address (:func:`fetched_once`:
    ``x_stride == 0``, ``x_size == 1``, as a bias broadcast to every row of a tile) reads its
    element once and writes it to every row, one per cycle.
    """

    def __init__(self, config: VtaConfig, *, retire: bool = False):
        self._config = config
        self.retire = retire
        if retire:
            self.element = retire_port.ArrivingElement()
            self.from_dram = Signal()
        members = {
            "cmd": In(stream.Signature(insn_layout(spec_isa.Load, config))),
            "hold": In(1),
            "busy": Out(1),
            "uop_wr": In(scratchpad.write_port("uop", config)),
            "acc_wr": In(scratchpad.write_port("acc", config)),
            "fault": Out(fault.UNIT_FAULT),
        }
        names = {MemType.UOP: "uop_mem", MemType.ACC: "acc_mem", MemType.ACC_8BIT: "acc8_mem"}
        members |= {names[kind]: Out(sig) for kind, sig in element_ports(config).items()}
        super().__init__(members)
        self._mem = {kind: getattr(self, name) for kind, name in names.items()}

    def elaborate(self, platform):
        m = Module()
        config = self._config
        log_bytes = {kind: exact_log2(len(port.data.payload) // 8)
                     for kind, port in self._mem.items()}

        def scaled(view, value):
            """``value`` elements of ``view``'s memory type, in bytes."""
            result = value << log_bytes[MemType.UOP]
            for kind in (MemType.ACC, MemType.ACC_8BIT):
                result = Mux(view.memory_type == kind, value << log_bytes[kind], result)
            return result

        def moves(view):
            """Whether the LOAD ``view`` moves anything."""
            y_total = view.y_pad_0 + view.y_size + view.y_pad_1
            return ((view.opcode == Opcode.LOAD) & is_local(view.memory_type)
                    & (view.x_size != 0) & (y_total != 0))

        raw = Signal(INS_WIDTH)  # the LOAD being executed
        insn = data.View(insn_layout(spec_isa.Load, config), raw)
        selected = {kind: insn.memory_type == kind for kind in LOCAL_TYPES}
        running = Signal()
        m.d.comb += [self.cmd.ready.eq(~running), self.busy.eq(running)]

        # The DRAM side.
        commands = BlockCommands()
        arriving = Signal(ports.COUNT_WIDTH)  # elements of the last command still to arrive
        cmd_taken = Signal()
        for kind, port in self._mem.items():
            m.d.comb += [port.cmd.valid.eq(running & selected[kind] & ~self.hold
                                           & (commands.left != 0) & (arriving == 0)),
                         port.cmd.payload.addr.eq(commands.addr),
                         port.cmd.payload.count.eq(commands.count)]
            with m.If(port.cmd.valid & port.cmd.ready):
                m.d.comb += cmd_taken.eq(1)
        with m.If(cmd_taken):
            m.d.sync += [*commands.sent(scaled(insn, insn.x_stride)),
                         arriving.eq(commands.count)]

        # The scratchpad side. Stopped on a row past the end of the buffer, the load writes
        # nothing more but still reads the rest of its elements, unwritten.
        walk = PaddedWalk(insn)
        in_data = walk.in_data
        once = fetched_once(insn)
        # Of the rows from DRAM, those whose element comes from the port (not ``kept``).
        from_port = in_data & (~once | (walk.y == insn.y_pad_0))
        to_uop = selected[MemType.UOP]
        stopped = running & Mux(to_uop, fault.past_end(walk.sram, "uop", config),
                                fault.past_end(walk.sram, "acc", config))
        m.d.comb += [self.fault.valid.eq(stopped),
                     self.fault.buffer.eq(Mux(to_uop, fault.buffer_code("uop"),
                                              fault.buffer_code("acc")))]
        data_valid = Signal()
        taken = Signal()
        for kind, port in self._mem.items():
            m.d.comb += port.data.ready.eq(running & selected[kind]
                                           & Mux(stopped, 1, ~self.hold & from_port))
            with m.If(selected[kind]):
                m.d.comb += [data_valid.eq(port.data.valid),
                             taken.eq(port.data.valid & port.data.ready)]
        step = running & ~stopped & ~self.hold & Mux(from_port, data_valid, 1)
        with m.If(taken):
            m.d.sync += arriving.eq(arriving - 1)
        if self.retire:
            self.element.track(m, cmd_taken, commands.addr, step & in_data & ~once,
                               scaled(insn, 1))
            m.d.comb += self.from_dram.eq(in_data)

        acc_row = Signal(scratchpad.row_layout("acc", config))
        with m.If(selected[MemType.ACC_8BIT]):
            acc8 = self._mem[MemType.ACC_8BIT].data.payload
            for k, lane in enumerate(scratchpad.lanes(acc_row)):
                m.d.comb += lane.eq(acc8.word_select(k, 8).as_signed())
        with m.Else():
            m.d.comb += acc_row.as_value().eq(self._mem[MemType.ACC].data.payload)
        m.d.comb += [self.uop_wr.en.eq(step & selected[MemType.UOP]),
                     self.uop_wr.addr.eq(walk.sram),
                     self.acc_wr.en.eq(step & ~selected[MemType.UOP]),
                     self.acc_wr.addr.eq(walk.sram)]
        uop = self._mem[MemType.UOP].data.payload
        kept = Signal(max(len(acc_row.as_value()), len(uop)))  # the element fetched once
        with m.If(taken):
            m.d.sync += kept.eq(Mux(to_uop, uop, acc_row.as_value()))
        with m.If(from_port):
            m.d.comb += [self.uop_wr.data.as_value().eq(uop), self.acc_wr.data.eq(acc_row)]
        with m.Elif(in_data):
            m.d.comb += [self.uop_wr.data.as_value().eq(kept),
                         self.acc_wr.data.as_value().eq(kept)]

        walk.advance(m, step, running)

        # Take a LOAD.
        with m.If(self.cmd.valid & self.cmd.ready):
            new = self.cmd.payload
            m.d.sync += [raw.eq(new.as_value()), running.eq(moves(new)),
                         *walk.start(new.sram_base),
                         *commands.start(new, scaled(new, new.dram_base)), arriving.eq(0)]
            with m.If(fetched_once(new) & (new.y_size != 0)):
                m.d.sync += commands.left.eq(1)
        return m


class Compute(wiring.Component):
    """Run the compute stage's instructions in order: LOADs of UOP/ACC/ACC_8BIT, GEMM, ALU,
    FINISH (any other instruction does nothing but still takes and gives its tokens).

    Per instruction at the head of ``insn``: pop a token from ``from_load`` if ``pop_prev_dep``
    and from ``from_store`` if ``pop_next_dep`` (both once both are there); execute it; then, if
    it has ``push_prev_dep`` or ``push_next_dep``, wait until everything this stage was given
    so far has taken effect (every scratchpad write landed), push a token to ``to_load`` and/or
    ``to_store``, and only then take the next instruction. Execution is that of
    :mod:`vtaref.spec.semantics` (fsim flavor): LOADs as :class:`LocalLoad`, GEMM on
    :class:`~.gemm.TensorGemm`, ALU on :class:`~.alu.TensorAlu` (empty micro-op loops do
    nothing). FINISH waits like a push, then sets ``done``, which stays high until ``start``.

    A GEMM or ALU is issued in the cycle its tokens are there and its unit takes it, and then
    leaves the queue: consecutive GEMMs (or ALUs) without pushes run their micro-ops back to
    back, one per cycle. A GEMM waits until the ALU is idle and vice versa; a LOAD's
    scratchpad writes wait until both are idle. Memory ports are those of the units (``uop_gemm``,
    ``inp``, ``wgt``, ``acc_gemm`` for GEMM; ``uop_alu``, ``acc_dst``, ``acc_src`` for ALU); the
    acc read ports must be transparent for ``acc_wr``, which GEMM, ALU and ACC loads share.

    ``busy`` is high while an instruction waits at the head of ``insn`` or anything is in
    flight; ``token_wait`` while the head waits for a token to pop or for room to push one.
    ``gemm_visit`` and ``alu_visit`` are high in each cycle a micro-op visit writes its result.
    An index past the end of a buffer (a LOAD's row, a micro-op range or a visit's index) stops
    the stage in that instruction; ``fault`` names the buffer (:mod:`.fault`).

    With ``retire``, the stage reports to :mod:`.retire`: ``insn_index`` is the program index
    of the head of ``insn``; ``retired`` has each instruction in the cycle it leaves the queue
    (a GEMM or ALU without pushes leaves it when issued, before its visits write);
    ``uop_written`` and ``acc_written`` every scratchpad write, ``gemm_visited`` and
    ``alu_visited`` every micro-op visit, each with the index of its instruction.
    """

    def __init__(self, config: VtaConfig, *, retire: bool = False, packed_gemm: bool = False,
                 gemm_dsps: int | None = None):
        self._config = config
        self.retire = retire
        self.packed_gemm = packed_gemm  # TensorGemm's packed option
        self.gemm_dsps = gemm_dsps  # TensorGemm's dsp_products option
        mem = element_ports(config)
        events = {}
        if retire:
            events = {f"{space}_written": Out(retire_port.event(retire_port.write_layout(
                space, config))) for space in ("uop", "acc")}
            events |= {"gemm_visited": Out(retire_port.event(
                           retire_port.gemm_visit_layout(config))),
                       "alu_visited": Out(retire_port.event(
                           retire_port.alu_visit_layout(config))),
                       **retire_port.stage_members()}
        super().__init__({
            **events,
            "insn": In(ports.instructions()),
            "from_load": In(ports.token()),
            "to_load": Out(ports.token()),
            "from_store": In(ports.token()),
            "to_store": Out(ports.token()),
            "uop_mem": Out(mem[MemType.UOP]),
            "acc_mem": Out(mem[MemType.ACC]),
            "acc8_mem": Out(mem[MemType.ACC_8BIT]),
            "uop_wr": In(scratchpad.write_port("uop", config)),
            "uop_gemm": In(scratchpad.read_port("uop", config)),
            "uop_alu": In(scratchpad.read_port("uop", config)),
            "inp": In(scratchpad.read_port("inp", config)),
            "wgt": In(scratchpad.read_port("wgt", config)),
            "acc_gemm": In(scratchpad.read_port("acc", config)),
            "acc_dst": In(scratchpad.read_port("acc", config)),
            "acc_src": In(scratchpad.read_port("acc", config)),
            "acc_wr": In(scratchpad.write_port("acc", config)),
            "start": In(1),
            "done": Out(1),
            "busy": Out(1),
            "token_wait": Out(1),
            "gemm_visit": Out(1),
            "alu_visit": Out(1),
            "fault": Out(fault.UNIT_FAULT),
        })

    def elaborate(self, platform):
        m = Module()
        config = self._config
        m.submodules.gemm = gemm = TensorGemm(config, packed=self.packed_gemm,
                                                 dsp_products=self.gemm_dsps)
        m.submodules.alu = alu = TensorAlu(config)
        m.submodules.loader = loader = LocalLoad(config, retire=self.retire)
        for outer, inner in ((self.uop_gemm, gemm.uop), (self.inp, gemm.inp),
                             (self.wgt, gemm.wgt), (self.acc_gemm, gemm.acc_rd),
                             (self.uop_alu, alu.uop), (self.acc_dst, alu.acc_dst),
                             (self.acc_src, alu.acc_src), (self.uop_wr, loader.uop_wr),
                             (self.uop_mem, loader.uop_mem), (self.acc_mem, loader.acc_mem),
                             (self.acc8_mem, loader.acc8_mem)):
            wiring.connect(m, wiring.flipped(outer), inner)

        # The shared acc write port: at most one writer at a time.
        m.d.comb += self.acc_wr.en.eq(gemm.acc_wr.en | alu.acc_wr.en | loader.acc_wr.en)
        for writer in (gemm.acc_wr, alu.acc_wr, loader.acc_wr):
            with m.If(writer.en):
                m.d.comb += [self.acc_wr.addr.eq(writer.addr), self.acc_wr.data.eq(writer.data)]
        m.d.comb += [self.gemm_visit.eq(gemm.acc_wr.en), self.alu_visit.eq(alu.acc_wr.en)]
        for unit in (loader, gemm, alu):  # at most one stops: nothing runs after a stop
            with m.If(unit.fault.valid):
                m.d.comb += self.fault.eq(unit.fault)

        # Decode the head of the queue.
        word = self.insn.payload
        head = data.View(generic_layout(config), word)
        is_gemm = head.opcode == Opcode.GEMM
        is_alu = head.opcode == Opcode.ALU
        is_finish = head.opcode == Opcode.FINISH
        load = data.View(insn_layout(spec_isa.Load, config), word)
        is_load = ((head.opcode == Opcode.LOAD) & is_local(load.memory_type)
                   & (load.x_size != 0))
        for unit, cls in ((gemm, spec_isa.Gemm), (alu, spec_isa.Alu)):
            fields = data.View(insn_layout(cls, config), word)
            payload = unit.cmd.payload
            for name, _ in payload.shape():
                if name != "tag":
                    m.d.comb += payload[name].eq(fields[name])
            for name, _ in payload.shape()["tag"].shape:
                m.d.comb += payload.tag[name].eq(fields[name])
        m.d.comb += loader.cmd.payload.eq(word)

        units_idle = gemm.idle & alu.idle
        settled = units_idle & ~loader.busy  # every write issued so far has landed
        m.d.comb += loader.hold.eq(~units_idle)
        tokens_there = ((~head.pop_prev_dep | self.from_load.valid)
                        & (~head.pop_next_dep | self.from_store.valid))
        drains = head.push_prev_dep | head.push_next_dep | is_finish
        pushed_prev, pushed_next = Signal(), Signal()  # tokens the head already pushed
        m.d.comb += self.busy.eq(self.insn.valid | ~settled)
        with m.If(self.start):
            m.d.sync += self.done.eq(0)

        if self.retire:
            retirements = retire_port.Retirements(self)
            m.d.comb += retirements.index.eq(self.insn_index)  # the head's
            self._report_visits_and_writes(m, gemm, alu, loader, retirements.index)

        def retire():
            if self.retire:
                retirements.retire(m, word, pop_prev=head.pop_prev_dep,
                                   pop_next=head.pop_next_dep, push_prev=head.push_prev_dep,
                                   push_next=head.push_next_dep)
            m.d.comb += self.insn.ready.eq(1)
            m.d.sync += [pushed_prev.eq(0), pushed_next.eq(0)]
            m.next = "HEAD"

        def executed():
            with m.If(drains):
                m.next = "DRAIN"
            with m.Else():
                retire()

        def execute():
            """Issue the head (its tokens are taken in this cycle or before)."""
            with m.If(is_gemm | is_alu):
                m.d.comb += [gemm.cmd.valid.eq(is_gemm & alu.idle),
                             alu.cmd.valid.eq(is_alu & gemm.idle)]
                with m.If((gemm.cmd.valid & gemm.cmd.ready) | (alu.cmd.valid & alu.cmd.ready)):
                    executed()
                with m.Else():
                    m.next = "ISSUE"
            with m.Elif(is_load):
                m.d.comb += loader.cmd.valid.eq(1)
                with m.If(loader.cmd.ready):
                    m.next = "LOAD"
                with m.Else():
                    m.next = "ISSUE"
            with m.Else():
                executed()

        with m.FSM():
            with m.State("HEAD"):
                with m.If(self.insn.valid):
                    m.d.comb += self.token_wait.eq(~tokens_there)
                    with m.If(tokens_there):
                        m.d.comb += [self.from_load.ready.eq(head.pop_prev_dep),
                                     self.from_store.ready.eq(head.pop_next_dep)]
                        execute()
            with m.State("ISSUE"):
                execute()
            with m.State("LOAD"):
                with m.If(~loader.busy):
                    executed()
            with m.State("DRAIN"):
                with m.If(settled):
                    want_prev = head.push_prev_dep & ~pushed_prev
                    want_next = head.push_next_dep & ~pushed_next
                    m.d.comb += [self.to_load.valid.eq(want_prev),
                                 self.to_store.valid.eq(want_next)]
                    prev_done = ~want_prev | self.to_load.ready
                    next_done = ~want_next | self.to_store.ready
                    m.d.comb += self.token_wait.eq(~(prev_done & next_done))
                    with m.If(prev_done & next_done):
                        retire()
                        with m.If(is_finish):
                            m.d.sync += self.done.eq(1)
                    with m.Else():
                        m.d.sync += [pushed_prev.eq(pushed_prev | (want_prev & self.to_load.ready)),
                                     pushed_next.eq(pushed_next
                                                    | (want_next & self.to_store.ready))]
        return m

    def _report_visits_and_writes(self, m: Module, gemm, alu, loader, head_index) -> None:
        """Drive the retirement port's visit and write events (``retire``)."""
        issued = {}  # unit -> the instruction whose visits it is writing: index and bits
        for unit, visited in ((gemm, self.gemm_visited), (alu, self.alu_visited)):
            issued[unit] = _IssuedInstructions(m, unit, head_index, self.insn.payload)
            m.d.comb += [visited.valid.eq(unit.acc_wr.en),
                         visited.payload.index.eq(issued[unit].index),
                         visited.payload.insn.eq(issued[unit].insn),
                         visited.payload.dst.eq(unit.acc_wr.addr)]

        # GEMM: the inp and wgt rows a visit read arrive READ_TO_WRITE cycles before it
        # writes acc; the acc row it adds to is on acc_gemm in the cycle it writes.
        visit = self.gemm_visited.payload
        for port, addr, value in ((self.inp, visit.src, visit.inp_value),
                                  (self.wgt, visit.wgt, visit.wgt_value)):
            read_addr = Signal.like(port.addr)
            m.d.sync += read_addr.eq(port.addr)
            delayed_addr, delayed_value = read_addr, port.data
            for _ in range(TensorGemm.READ_TO_WRITE):
                delayed_addr, delayed_value = _registered(m, delayed_addr, delayed_value)
            m.d.comb += [addr.eq(delayed_addr), value.eq(delayed_value)]
        m.d.comb += [visit.acc_old.eq(self.acc_gemm.data), visit.acc_new.eq(gemm.acc_wr.data)]

        # ALU: a visit is on the datapath's ports the cycle before it writes acc (TensorAlu);
        # its src index was read one cycle before that.
        visit = self.alu_visited.payload
        src_addr = Signal.like(self.acc_src.addr)
        m.d.sync += src_addr.eq(self.acc_src.addr)
        src, operand_a = _registered(m, src_addr, alu.datapath.a)
        _, operand_b = _registered(m, src_addr, alu.datapath.b)
        m.d.comb += [visit.src.eq(src), visit.a.eq(operand_a), visit.y.eq(alu.acc_wr.data)]
        # The datapath's b lanes are wider (to hold imm): narrow each lane, not the whole row.
        m.d.comb += [visit.b[b][o].eq(operand_b[b][o])
                     for b in range(self._config.batch) for o in range(self._config.block_out)]

        # Scratchpad writes: LOADs write uop and acc, GEMM and ALU visits acc.
        loading = Signal.like(head_index)  # the index of the LOAD being executed
        with m.If(loader.cmd.valid & loader.cmd.ready):
            m.d.sync += loading.eq(head_index)
        acc_writer = Mux(gemm.acc_wr.en, issued[gemm].index,
                         Mux(alu.acc_wr.en, issued[alu].index, loading))
        retire_port.report_write(m, self.uop_written, self.uop_wr, loading, loader.from_dram,
                                 loader.element.addr)
        retire_port.report_write(m, self.acc_written, self.acc_wr, acc_writer,
                                 loader.acc_wr.en & loader.from_dram, loader.element.addr)


def _registered(m: Module, *values) -> tuple:
    """Return ``values`` delayed by one cycle."""
    delayed = tuple(Signal.like(value) for value in values)
    m.d.sync += [late.eq(value) for late, value in zip(delayed, values)]
    return delayed


class _IssuedInstructions:
    """The GEMM or ALU instructions issued to ``unit`` whose visits have not all written yet,
    oldest first: ``index`` and ``insn`` are those of the oldest, whose visit writes when
    ``unit.acc_wr.en``. An instruction without visits is never entered."""

    def __init__(self, m: Module, unit, head_index, head_insn):
        command = unit.cmd.payload
        visits = command.iter_out * command.iter_in * Mux(
            command.uop_end > command.uop_bgn, command.uop_end - command.uop_bgn, 0)
        layout = data.StructLayout({"index": len(head_index), "insn": INS_WIDTH,
                                    "visits": len(visits)})
        # At most one command enters per cycle, and each leaves with its last write, within
        # visits + LATENCY cycles of entering: twice that many entries for one-visit commands
        # leaves a margin.
        queue = fifo.SyncFIFO(width=layout.size, depth=2 * (unit.LATENCY + 1))
        m.submodules[f"{type(unit).__name__.lower()}_issued"] = queue
        entry = data.View(layout, queue.w_data)
        m.d.comb += [queue.w_en.eq(unit.cmd.valid & unit.cmd.ready & (visits != 0)),
                     entry.index.eq(head_index), entry.insn.eq(head_insn),
                     entry.visits.eq(visits)]
        oldest = data.View(layout, queue.r_data)
        written = Signal(len(visits))  # visits of the oldest that wrote
        with m.If(unit.acc_wr.en):
            with m.If(written + 1 == oldest.visits):
                m.d.comb += queue.r_en.eq(1)
                m.d.sync += written.eq(0)
            with m.Else():
                m.d.sync += written.eq(written + 1)
        self.index, self.insn = oldest.index, oldest.insn
