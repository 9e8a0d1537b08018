"""Proofs of the dependency-token protocol of the load, store and compute stages.

Each spec instantiates one stage and drives every input with arbitrary values in every cycle
(``AnySeq``), the reset included. Assumptions only keep the environment within its contracts:
the instruction stream keeps a VALID up, with its payload, until READY; a DRAM element port
delivers an element only when one of the current command is outstanding (:mod:`..impl.ports`),
and a write port reports ``done`` only after every element of its command. Token streams, their
READYs and all data are unconstrained. The properties observe only ports:

- a token is popped only by the instruction being executed, only if it has the matching pop
  flag, and at most once; the instruction retires only after it popped (so the instructions
  accepted with a pop flag and the tokens popped differ by at most the one being executed);
- an instruction's visible effects (element commands, element transfers, scratchpad reads and
  writes) happen only after its pops;
- a token is pushed only by an instruction with the matching push flag, at most once, and only
  once its effects are complete: no effect of any kind after the push, and every write reported
  ``done`` (store);
- the stage's token pushes keep a VALID up until READY.

The token queues between stages count pushes minus pops (:class:`.queue.TokenQueueSpec`), so
together the tokens are conserved end to end.

The load and store proofs are unbounded (k-induction), in two flavours. Without ``size_bits``
every instruction is allowed, and the properties that need to count elements are left out
(yices does not close inductions over the 16-bit products of ``x_size`` and ``y_size``). With
``size_bits``, sizes are limited (:data:`SIZE_BITS`) and the specs also count elements: the load
stage has no element still to arrive at its push and sends an element command only after the
previous one delivered its last element (and holds it until taken); the store stage's acc reads
count as effects (none before the pop, none after the push). The helper invariants read the
stage's internal registers by name (:func:`internal`: the instruction register ``raw``, the FSM
state, the counters): they tie what the ports showed so far to the stage's state, and say
nothing about the ports themselves. The compute stage (GEMM and ALU pipelines, the local loader)
is proved for a bounded run on a tiny configuration, by ports only.
"""

from __future__ import annotations

from amaranth.asserts import AnySeq
from amaranth.hdl import Assert, Assume, Cat, Elaboratable, Fragment, Module, Mux, Signal, Value
from amaranth.lib import data
from amaranth.lib.wiring import In

from vtaref.impl.compute import Compute
from vtaref.impl.isa import MemType, Opcode, generic_layout, insn_layout
from vtaref.impl.load import Load
from vtaref.impl.memop import command_count
from vtaref.impl.store import Store
from vtaref.spec import isa as spec_isa
from vtaref.spec.config import VtaConfig

COUNT_BITS = 8  # width of the instruction and token counters (they agree modulo 2**COUNT_BITS)
SIZE_BITS = 3  # the counting proofs allow x_size and y_size below 2**SIZE_BITS


def internal(fragment: Fragment, name: str) -> Signal:
    """Return the one signal called ``name`` that the statements of ``fragment`` use."""
    found = {}
    for statements in fragment.statements.values():
        for statement in statements:
            for signal in statement._lhs_signals() | statement._rhs_signals():
                if signal.name == name:
                    found[id(signal)] = signal
    if len(found) != 1:
        raise LookupError(f"{len(found)} signals called {name!r} in the stage, expected one")
    return next(iter(found.values()))


def fsm_states(state: Signal) -> dict[str, int]:
    """Return the encoding of each state of the FSM whose state register is ``state``."""
    states = {}
    for code in range(1 << len(state)):
        try:
            label = state.decoder(code)
        except KeyError:
            continue
        states[label.rsplit("/", 1)[0]] = code
    return states


def _drive_inputs(m: Module, dut) -> None:
    """Drive every input port of ``dut`` with an arbitrary value in every cycle."""
    for _, member, value in dut.signature.flatten(dut):
        if member.flow == In:
            m.d.comb += Value.cast(value).eq(AnySeq(len(Value.cast(value))))


def _held(m: Module, stream, name: str):
    """Return whether ``stream`` showed VALID without READY last cycle, and its payload then."""
    payload = Value.cast(stream.payload)
    waited = Signal(name=f"{name}_waited")
    held = Signal(len(payload), name=f"{name}_held")
    m.d.sync += [waited.eq(stream.valid & ~stream.ready), held.eq(payload)]
    return waited, held


def _assume_source(m: Module, stream, name: str) -> None:
    """Assume the environment's ``stream`` keeps VALID and the payload until READY."""
    waited, held = _held(m, stream, name)
    with m.If(waited):
        m.d.comb += Assume(stream.valid & (Value.cast(stream.payload) == held))


def _assert_source(m: Module, stream, name: str, payload: bool = True) -> None:
    """Assert the stage's ``stream`` keeps VALID (and with ``payload``, the payload) until
    READY."""
    waited, held = _held(m, stream, name)
    with m.If(waited):
        m.d.comb += Assert(stream.valid)
        if payload:
            m.d.comb += Assert(Value.cast(stream.payload) == held)


def _fires(stream) -> Value:
    return stream.valid & stream.ready


def _read_contract(m: Module, port, name: str, check: bool) -> Signal:
    """Hold the environment of element read ``port`` to its contract; return the number of
    elements of the current command still to arrive.

    With ``check``, assert that the stage sends no command before the previous one delivered
    its last element, and keeps a command up until it is taken.
    """
    pending = Signal(len(port.cmd.payload.count), name=f"{name}_pending")
    with m.If(_fires(port.cmd)):
        m.d.sync += pending.eq(port.cmd.payload.count)
    with m.Elif(_fires(port.data)):
        m.d.sync += pending.eq(pending - 1)
    with m.If(port.data.valid):
        m.d.comb += Assume(pending != 0)
    if check:
        with m.If(port.cmd.valid):
            m.d.comb += Assert(pending == 0)
        _assert_source(m, port.cmd, f"{name}_cmd")
    return pending


class _Ledger:
    """The tokens one queue owes the instruction being executed, as the ports showed them.

    ``accept`` starts an instruction; ``flag`` is its pop (or push) flag then. ``owed`` is the
    flag of the instruction being executed, ``settled`` whether its handshake (``fires``) has
    happened since. ``instructions`` counts the instructions accepted with the flag and
    ``tokens`` the handshakes, both modulo ``2**COUNT_BITS``.
    """

    def __init__(self, m: Module, name: str, accept, flag, fires):
        self.owed = Signal(name=f"{name}_owed")
        self.settled = Signal(name=f"{name}_settled")
        self.instructions = Signal(COUNT_BITS, name=f"{name}_instructions")
        self.tokens = Signal(COUNT_BITS, name=f"{name}_tokens")
        self.fires = fires
        with m.If(accept):
            m.d.sync += [self.owed.eq(flag), self.settled.eq(0)]
        with m.Elif(fires):
            m.d.sync += self.settled.eq(1)
        m.d.sync += [self.instructions.eq(self.instructions + (accept & flag)),
                     self.tokens.eq(self.tokens + fires)]

    @property
    def due(self) -> Value:
        """The instruction being executed still owes its handshake."""
        return self.owed & ~self.settled

    def check(self, m: Module, busy, ready_for_push=1) -> None:
        """Assert the protocol: handshakes only when due (and, for pushes, ``ready_for_push``),
        none due when the stage is not ``busy``, and the counts apart by what is due."""
        with m.If(self.fires):
            m.d.comb += [Assert(busy), Assert(self.due), Assert(ready_for_push)]
        with m.If(~busy):
            m.d.comb += Assert(~self.due)
        m.d.comb += Assert((self.instructions - self.tokens)[:COUNT_BITS] == self.due)


class _StageSpec(Elaboratable):
    """What the load and store specs share: one instruction at a time, one token queue in and
    one out, and a set of effects that must fall between the pop and the push.

    With ``size_bits`` given, the instructions are limited to ``x_size`` and ``y_size`` below
    ``2**size_bits`` and the spec also counts elements (see the subclasses); without it, every
    instruction is allowed and the properties that need element counts are left out.
    """

    def __init__(self, config: VtaConfig, stage: type, size_bits: int | None):
        self.config = config
        self.dut = stage(config)
        self.size_bits = size_bits

    def protocol(self, m: Module, layout, pop_flag: str, push_flag: str, pop_stream,
                 push_stream, effect, complete):
        """State the token protocol; return the pop and push ledgers.

        ``effect`` is high in a cycle with any visible effect, ``complete`` when every effect so
        far is complete (a push is allowed).
        """
        dut = self.dut
        _assume_source(m, dut.insn, "insn")
        _assert_source(m, push_stream, "push")
        accept = _fires(dut.insn)
        head = data.View(layout, dut.insn.payload)
        if self.size_bits is not None:
            with m.If(dut.insn.valid):
                m.d.comb += Assume(self.small(head))
        pops = _Ledger(m, "pop", accept, head[pop_flag], _fires(pop_stream))
        pushes = _Ledger(m, "push", accept, head[push_flag], _fires(push_stream))
        busy = dut.busy

        # busy rises only for an instruction just accepted, and no instruction is accepted while
        # busy: busy marks the execution of the instruction accepted last.
        executing = Signal()  # busy last cycle, or accepted an instruction
        m.d.sync += executing.eq((executing & busy) | accept)
        with m.If(busy):
            m.d.comb += Assert(executing)
        with m.If(accept):
            m.d.comb += Assert(~busy)

        pops.check(m, busy)
        pushes.check(m, busy, complete)
        with m.If(effect):
            m.d.comb += [Assert(busy), Assert(~pops.due), Assert(~pushes.settled)]
        with m.If(~busy):
            m.d.comb += Assert(complete)
        return pops, pushes

    def small(self, insn) -> Value:
        """Whether ``insn``'s sizes are within ``size_bits``."""
        return (insn.x_size >> self.size_bits == 0) & (insn.y_size >> self.size_bits == 0)

    def stage_fragment(self, m: Module, platform) -> Fragment:
        fragment = Fragment.get(self.dut, platform)
        m.submodules.dut = fragment
        _drive_inputs(m, self.dut)
        return fragment

    @staticmethod
    def follow_fsm(m: Module, state, states: dict, pops: _Ledger, pushes: _Ledger) -> None:
        """Assert the helper invariant: the ledgers agree with the stage's FSM."""
        with m.If(state == states["IDLE"]):
            m.d.comb += [Assert(~pops.due), Assert(pushes.settled == pushes.owed)]
        with m.Elif(state == states["POP"]):
            m.d.comb += [Assert(~pops.settled), Assert(~pushes.settled)]
        with m.Else():
            m.d.comb += [Assert(~pops.due), Assert(~pushes.settled)]


class LoadTokensSpec(_StageSpec):
    """The load stage pops ``from_compute`` and pushes ``to_compute`` as the module docstring
    says; its effects are the inp/wgt element ports and scratchpad writes.

    With ``size_bits``: also no element still to arrive at the push, and no element command
    before the previous one delivered its last element.
    """

    def __init__(self, config: VtaConfig, stage: type[Load] = Load, size_bits: int | None = None):
        super().__init__(config, stage, size_bits)

    def elaborate(self, platform):
        m = Module()
        dut, config = self.dut, self.config
        counts = self.size_bits is not None
        fragment = self.stage_fragment(m, platform)
        pending = {"inp": _read_contract(m, dut.inp_mem, "inp", counts),
                   "wgt": _read_contract(m, dut.wgt_mem, "wgt", counts)}
        effect = Cat(dut.inp_mem.cmd.valid, dut.wgt_mem.cmd.valid, dut.inp_mem.data.ready,
                     dut.wgt_mem.data.ready, dut.inp_wr.en, dut.wgt_wr.en).any()
        complete = (pending["inp"] == 0) & (pending["wgt"] == 0) if counts else 1
        layout = insn_layout(spec_isa.Load, config)
        pops, pushes = self.protocol(m, layout, "pop_next_dep", "push_next_dep",
                                     dut.from_compute, dut.to_compute, effect, complete)

        # Helper invariants (internal registers): the ledgers follow the FSM, and the elements
        # pending plus those of the commands not yet sent are those the walk has still to
        # write from DRAM.
        insn = data.View(layout, internal(fragment, "raw"))
        state = internal(fragment, "fsm_state")
        states = fsm_states(state)
        running = internal(fragment, "running")
        m.d.comb += [Assert(pops.owed == insn.pop_next_dep),
                     Assert(pushes.owed == insn.push_next_dep),
                     Assert(running == (state == states["RUN"]))]
        self.follow_fsm(m, state, states, pops, pushes)
        if counts:
            m.d.comb += Assert(self.small(insn))
            with m.If(state != states["RUN"]):
                m.d.comb += Assert(complete)
            with m.Else():
                self._walk_invariant(m, fragment, insn, pending, dut.fault.valid)
        return m

    @staticmethod
    def _walk_invariant(m: Module, fragment: Fragment, insn, pending: dict, stopped) -> None:
        """Tie the elements pending to the walk's position, unless the stage is ``stopped`` on
        an index fault: then it reads the rest of its elements without walking on."""
        x, y = internal(fragment, "x"), internal(fragment, "y")
        cmds_left = internal(fragment, "cmds_left")
        is_wgt = insn.memory_type == MemType.WGT
        selected = Mux(is_wgt, pending["wgt"], pending["inp"])
        other = Mux(is_wgt, pending["inp"], pending["wgt"])
        x_total = insn.x_pad_0 + insn.x_size + insn.x_pad_1
        y_total = insn.y_pad_0 + insn.y_size + insn.y_pad_1
        contiguous = insn.x_stride == insn.x_size
        in_rows = (y >= insn.y_pad_0) & (y < insn.y_pad_0 + insn.y_size)
        rows_done = Mux(y < insn.y_pad_0, 0,
                        Mux(in_rows, y - insn.y_pad_0, insn.y_size))
        cols_done = Mux(~in_rows | (x < insn.x_pad_0), 0,
                        Mux(x < insn.x_pad_0 + insn.x_size, x - insn.x_pad_0, insn.x_size))
        issued = insn.y_size - cmds_left  # row commands sent (rows not contiguous)
        m.d.comb += [Assert(other == 0), Assert(internal(fragment, "arriving") == selected),
                     Assert(internal(fragment, "cmd_count") == command_count(insn)),
                     Assert(insn.x_size != 0), Assert(x < x_total), Assert(y < y_total),
                     Assert(cmds_left <= Mux(contiguous, insn.y_size != 0, insn.y_size))]
        with m.If(~stopped):
            with m.If(contiguous & (cmds_left != 0)):
                m.d.comb += [Assert(selected == 0), Assert(rows_done == 0), Assert(cols_done == 0)]
            with m.Elif(contiguous):
                m.d.comb += Assert(selected + rows_done * insn.x_size + cols_done
                                   == insn.y_size * insn.x_size)
            with m.Else():
                # Before the command of the current row, after it, or after that of the next row
                # (sent in the right padding).
                m.d.comb += Assert(((issued == rows_done) & (selected == 0) & (cols_done == 0))
                                   | ((issued == rows_done + 1)
                                      & (selected == insn.x_size - cols_done))
                                   | ((issued == rows_done + 2) & (selected == insn.x_size)
                                      & (cols_done == insn.x_size)))


class StoreTokensSpec(_StageSpec):
    """The store stage pops and pushes its tokens as the module docstring says; its effects are
    the element write port, and it is complete when every command is reported done.

    With ``size_bits``: acc reads count as effects too (none before the pop or after the push).
    """

    def __init__(self, config: VtaConfig, stage: type[Store] = Store,
                 size_bits: int | None = None):
        super().__init__(config, stage, size_bits)

    def elaborate(self, platform):
        m = Module()
        dut, config = self.dut, self.config
        counts = self.size_bits is not None
        fragment = self.stage_fragment(m, platform)
        mem = dut.mem

        # The write port's contract: one command at a time, its elements, then done.
        open_cmd = Signal()  # a command was taken and its done not yet
        to_send = Signal(len(mem.cmd.payload.count))  # its elements not yet sent
        with m.If(_fires(mem.cmd)):
            m.d.sync += [open_cmd.eq(1), to_send.eq(mem.cmd.payload.count)]
        with m.If(_fires(mem.data)):
            m.d.sync += to_send.eq(to_send - 1)
        with m.If(_fires(mem.done)):
            m.d.sync += open_cmd.eq(0)
        with m.If(mem.done.valid):
            m.d.comb += Assume(open_cmd & (to_send == 0))
        with m.If(mem.cmd.valid):
            m.d.comb += Assert(~open_cmd)
        with m.If(mem.data.valid):
            m.d.comb += Assert(open_cmd)
            if counts:
                m.d.comb += Assert(to_send != 0)
        _assert_source(m, mem.cmd, "cmd", payload=counts)

        effect = mem.cmd.valid | mem.data.valid
        if counts:
            effect |= dut.acc.en
        layout = insn_layout(spec_isa.Store, config)
        pops, pushes = self.protocol(m, layout, "pop_prev_dep", "push_prev_dep",
                                     dut.from_compute, dut.to_compute, effect, ~open_cmd)

        # Helper invariants (internal registers): the ledgers follow the FSM, a command is open
        # exactly in SEND and DONE with the elements the FSM still has to send, and (counting)
        # the rows read ahead or still to read are the elements still to send.
        insn = data.View(layout, internal(fragment, "raw"))
        state = internal(fragment, "fsm_state")
        states = fsm_states(state)
        sending = internal(fragment, "sending")
        m.d.comb += [Assert(pops.owed == insn.pop_prev_dep),
                     Assert(pushes.owed == insn.push_prev_dep)]
        self.follow_fsm(m, state, states, pops, pushes)
        moving = (state == states["CMD"]) | (state == states["SEND"]) | (state == states["DONE"])
        with m.If(moving):
            m.d.comb += [Assert(insn.x_size != 0), Assert(insn.y_size != 0)]
        with m.If(state == states["SEND"]):
            m.d.comb += [Assert(open_cmd), Assert(to_send == sending)]
        with m.Elif(state == states["DONE"]):
            m.d.comb += [Assert(open_cmd), Assert(to_send == 0)]
        with m.Else():
            m.d.comb += Assert(~open_cmd)
        if counts:
            m.d.comb += Assert(self.small(insn))
            self._read_invariant(m, fragment, insn, state, states, sending)
        return m

    @staticmethod
    def _read_invariant(m: Module, fragment: Fragment, insn, state, states, sending) -> None:
        reads_left, held = internal(fragment, "reads_left"), internal(fragment, "held")
        cmds_left = internal(fragment, "cmds_left")
        contiguous = insn.x_stride == insn.x_size
        cmd_count = internal(fragment, "cmd_count")
        unsent = cmds_left * cmd_count  # elements of the commands not yet sent
        moving = (state == states["CMD"]) | (state == states["SEND"]) | (state == states["DONE"])
        with m.If(~moving):
            m.d.comb += [Assert(reads_left == 0), Assert(~held)]
        with m.Else():
            m.d.comb += [Assert(cmds_left <= Mux(contiguous, 1, insn.y_size)),
                         Assert(cmd_count == command_count(insn))]
        with m.If(state == states["CMD"]):
            m.d.comb += [Assert(cmds_left != 0), Assert(reads_left + held == unsent)]
        with m.If(state == states["SEND"]):
            m.d.comb += [Assert(sending != 0), Assert(reads_left + held == sending + unsent)]
        with m.If(state == states["DONE"]):
            m.d.comb += Assert(reads_left + held == unsent)


class ComputeTokensSpec(Elaboratable):
    """The compute stage pops ``from_load``/``from_store`` and pushes ``to_load``/``to_store``
    as the module docstring says, for the instruction at the head of ``insn``, which leaves the
    queue (READY) when it is issued or, with a push flag or FINISH, once it has pushed.

    Effects are seen only at ports: any scratchpad read or write enable, any element command or
    element taken. The compute stage overlaps instructions, so an effect cannot be told apart
    from those of earlier instructions still in flight; the spec checks it where it can: from a
    push (or the retirement of a FINISH) until the next head has popped its tokens, the stage is
    quiet. That is: everything issued before a push has taken effect by the push, and a head
    after such a point does nothing before its pops.
    """

    def __init__(self, config: VtaConfig, stage: type[Compute] = Compute):
        self.config = config
        self.dut = stage(config)

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = self.dut
        _drive_inputs(m, dut)
        _assume_source(m, dut.insn, "insn")
        for name in ("uop_mem", "acc_mem", "acc8_mem"):
            _read_contract(m, getattr(dut, name), name, False)
        head = data.View(generic_layout(self.config), dut.insn.payload)
        retire = _fires(dut.insn)

        handshakes = {}  # flag -> (fires now, fired before for this head)
        for stream, flag in ((dut.from_load, "pop_prev_dep"), (dut.from_store, "pop_next_dep"),
                             (dut.to_load, "push_prev_dep"), (dut.to_store, "push_next_dep")):
            fires, fired = _fires(stream), Signal(name=f"{flag}_fired")
            with m.If(retire):
                m.d.sync += fired.eq(0)
            with m.Elif(fires):
                m.d.sync += fired.eq(1)
            with m.If(fires):
                m.d.comb += [Assert(dut.insn.valid), Assert(head[flag]), Assert(~fired)]
            with m.If(retire):
                m.d.comb += Assert(~head[flag] | fired | fires)
            handshakes[flag] = (fires, fired)
        for stream in (dut.to_load, dut.to_store):
            _assert_source(m, stream, stream.valid.name)

        def done(flag):
            fires, fired = handshakes[flag]
            return ~head[flag] | fired | fires

        popped = done("pop_prev_dep") & done("pop_next_dep")
        pushed_any = handshakes["push_prev_dep"][1] | handshakes["push_next_dep"][1]
        pushes_now = handshakes["push_prev_dep"][0] | handshakes["push_next_dep"][0]
        drains = head.push_prev_dep | head.push_next_dep | (head.opcode == Opcode.FINISH)
        activity = Cat(
            *(getattr(dut, port).en for port in ("uop_gemm", "uop_alu", "inp", "wgt",
                                                 "acc_gemm", "acc_dst", "acc_src", "acc_wr",
                                                 "uop_wr")),
            *(getattr(dut, port).cmd.valid for port in ("uop_mem", "acc_mem", "acc8_mem")),
            *(getattr(dut, port).data.ready for port in ("uop_mem", "acc_mem", "acc8_mem")),
        ).any()
        quiet = Signal(init=1)  # nothing may happen: nothing in flight, the head has not popped
        with m.If(pushes_now | (retire & drains)):
            m.d.sync += quiet.eq(1)
        with m.Elif(dut.insn.valid & popped & ~pushed_any):
            m.d.sync += quiet.eq(0)
        with m.If(quiet | pushes_now):
            m.d.comb += Assert(~activity)
        return m

    @staticmethod
    def bound() -> int:
        """Return the bmc depth: a few instructions, each with a short GEMM or ALU loop."""
        return 24
