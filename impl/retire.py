"""The retirement port of :class:`~.core.VtaCore` (``retire=True``): what each instruction did.

Like Minerva's ``rvfi``, the port exists only when asked for, so the default core and synthesis
are untouched. It is a set of event streams (``valid`` + ``payload``, never back-pressured),
each payload a ``data.Struct`` whose layout is defined here once:

- ``load``, ``compute``, ``store``: one :func:`retirement_layout` record per instruction, in the
  stage's program order, in the cycle the stage is done with it (its tokens popped and pushed);
- ``inp``, ``wgt``, ``uop``, ``acc``: one :func:`write_layout` record per scratchpad row written,
  with the program index of the instruction that wrote it; the row and data are those the
  scratchpad's write port takes;
- ``gemm``, ``alu``: one record per micro-op visit in the cycle it writes ``acc``, with the
  entries it read and their values (:func:`gemm_visit_layout`, :func:`alu_visit_layout`);
- ``dram``: one :func:`dram_write_layout` record per OUT element a STORE hands to the DMA engine.

Program indices count the instructions of a run from 0, as the spec does; fetch numbers them and
the instruction queues carry the number along. Spaces are named as in :mod:`vtaref.spec.access`.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import Out

from vtaref.spec.config import INS_WIDTH, VtaConfig

from . import ports, scratchpad

INDEX_WIDTH = ports.COUNT_WIDTH  # bits of a program index (INSN_COUNT is this wide)
STAGES = ("load", "compute", "store")
SPACES = ("inp", "wgt", "uop", "acc")  # scratchpads, in the order of the port's members


def retirement_layout() -> data.StructLayout:
    """Return one retired instruction: its program index, its 128 bits, and which dependency
    tokens it popped and pushed (``prev``/``next`` as in the instruction's fields; a stage
    without that neighbour reports 0)."""
    return data.StructLayout({
        "index": unsigned(INDEX_WIDTH),
        "insn": unsigned(INS_WIDTH),
        "pop_prev": 1, "pop_next": 1, "push_prev": 1, "push_next": 1,
    })


def write_layout(space: str, config: VtaConfig) -> data.StructLayout:
    """Return one write of a row of scratchpad ``space`` by the instruction ``index``: with
    ``from_dram``, a LOAD read ``data`` from the element at byte address ``dram_addr``
    (else the row is padding, or a GEMM or ALU result, and ``dram_addr`` is 0)."""
    return data.StructLayout({
        "index": unsigned(INDEX_WIDTH),
        "addr": unsigned(scratchpad.addr_width(space, config)),
        "data": scratchpad.row_layout(space, config),
        "from_dram": 1,
        "dram_addr": unsigned(ports.ADDR_WIDTH),
    })


def gemm_visit_layout(config: VtaConfig) -> data.StructLayout:
    """Return one GEMM visit of the instruction ``index`` (its bits in ``insn``): it read
    ``inp[src]``, ``wgt[wgt]`` and ``acc[dst]`` (``acc_old``) and wrote ``acc_new`` to
    ``acc[dst]``."""
    acc = scratchpad.row_layout("acc", config)
    return data.StructLayout({
        "index": unsigned(INDEX_WIDTH),
        "insn": unsigned(INS_WIDTH),
        "dst": unsigned(scratchpad.addr_width("acc", config)),
        "src": unsigned(scratchpad.addr_width("inp", config)),
        "wgt": unsigned(scratchpad.addr_width("wgt", config)),
        "inp_value": scratchpad.row_layout("inp", config),
        "wgt_value": scratchpad.row_layout("wgt", config),
        "acc_old": acc,
        "acc_new": acc,
    })


def alu_visit_layout(config: VtaConfig) -> data.StructLayout:
    """Return one ALU visit of the instruction ``index`` (its bits in ``insn``): its operands
    were ``a`` (``acc[dst]``) and ``b`` (``acc[src]``, or with ``use_imm``
    the immediate, truncated to the lane width, in every lane); it wrote ``y`` to ``acc[dst]``."""
    acc = scratchpad.row_layout("acc", config)
    width = scratchpad.addr_width("acc", config)
    return data.StructLayout({
        "index": unsigned(INDEX_WIDTH),
        "insn": unsigned(INS_WIDTH),
        "dst": unsigned(width),
        "src": unsigned(width),
        "a": acc,
        "b": acc,
        "y": acc,
    })


def dram_write_layout(config: VtaConfig) -> data.StructLayout:
    """Return one OUT element a STORE ``index`` writes: ``data`` (lane 0 in the low bits, as in
    DRAM) to the ``out_elem_bytes`` bytes from byte address ``addr``."""
    return data.StructLayout({
        "index": unsigned(INDEX_WIDTH),
        "addr": unsigned(ports.ADDR_WIDTH),
        "data": unsigned(config.out_elem_bytes * 8),
    })


def event(layout) -> wiring.Signature:
    """Return the signature of an event stream of ``layout`` records: ``payload`` is an event in
    each cycle ``valid`` is high (there is no ``ready``: nothing waits for the observer)."""
    return wiring.Signature({"valid": Out(1), "payload": Out(layout)})


def signature(config: VtaConfig) -> wiring.Signature:
    """Return the signature of the whole retirement port, as the core drives it."""
    members = {stage: Out(event(retirement_layout())) for stage in STAGES}
    members |= {space: Out(event(write_layout(space, config))) for space in SPACES}
    members |= {"gemm": Out(event(gemm_visit_layout(config))),
                "alu": Out(event(alu_visit_layout(config))),
                "dram": Out(event(dram_write_layout(config)))}
    return wiring.Signature(members)


def stage_members() -> dict:
    """Return the members a stage has with the port: the program index of the instruction on
    offer on its ``insn`` queue, and its retirements."""
    return {"insn_index": wiring.In(INDEX_WIDTH),
            "retired": Out(event(retirement_layout()))}


class Retirements:
    """The retirement bookkeeping of a stage that takes instructions from ``stage.insn``:
    ``index`` holds the program index of the instruction being executed."""

    def __init__(self, stage):
        self._stage = stage
        self.index = Signal(INDEX_WIDTH)

    def take(self, m: Module, taken) -> None:
        """Latch the index of the instruction on offer whenever ``taken``."""
        with m.If(taken):
            m.d.sync += self.index.eq(self._stage.insn_index)

    def retire(self, m: Module, insn, *, pop_prev=0, pop_next=0, push_prev=0,
               push_next=0) -> None:
        """Report, in the current cycle, the retirement of ``insn`` (its bits) at ``index``."""
        record = self._stage.retired
        m.d.comb += [record.valid.eq(1), record.payload.index.eq(self.index),
                     record.payload.insn.eq(insn),
                     record.payload.pop_prev.eq(pop_prev), record.payload.pop_next.eq(pop_next),
                     record.payload.push_prev.eq(push_prev),
                     record.payload.push_next.eq(push_next)]


def report_write(m: Module, event, port, index, from_dram=0, dram_addr=0) -> None:
    """Drive the write ``event`` from scratchpad write ``port``, the writer being ``index``."""
    m.d.comb += [event.valid.eq(port.en), event.payload.index.eq(index),
                 event.payload.addr.eq(port.addr), event.payload.data.eq(port.data),
                 event.payload.from_dram.eq(from_dram),
                 event.payload.dram_addr.eq(Mux(from_dram, dram_addr, 0))]


class ArrivingElement:
    """The DRAM byte address ``addr`` of the next element to arrive for a stage that sends
    element commands one at a time and takes their elements in order."""

    def __init__(self):
        self.addr = Signal(ports.ADDR_WIDTH)

    def track(self, m: Module, cmd_taken, cmd_addr, arrived, elem_bytes) -> None:
        """Restart at ``cmd_addr`` when ``cmd_taken``; move on by ``elem_bytes`` when an
        element ``arrived``."""
        with m.If(cmd_taken):
            m.d.sync += self.addr.eq(cmd_addr)
        with m.Elif(arrived):
            m.d.sync += self.addr.eq(self.addr + elem_bytes)
