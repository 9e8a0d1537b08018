"""The whole VTA core: fetch, load, compute and store around shared scratchpads.

::

               ctrl (AXI4-Lite)                              axi (AXI4 manager)
                     |                                              ^
                    VCR --start--> fetch ---------------------------+ (DmaEngine)
                                   | | |                            |
           +-----------------------+ | +---------------+            |
        load queue          compute queue         store queue       |
           |                         |                 |            |
         load  <==tokens==>       compute  <==tokens==> store ------+
           |  inp, wgt               | uop, acc, GEMM, ALU  | acc
           +--> inp/wgt scratchpads -+--> acc scratchpad --+

Fetch dispatches instructions to three queues; the stages synchronize only through the four
dependency-token queues, as in TVM-VTA. One :class:`~.dma.DmaEngine` serves every DRAM
transfer on the AXI4 port. The control registers are those of :mod:`.vcr`.
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from vtaref.spec.config import INS_WIDTH, VtaConfig
from vtaref.spec.pipeline import DEFAULT_TOKEN_DEPTH

from . import axi, scratchpad
from . import retire as retire_port
from .compute import Compute
from .dma import DmaEngine
from .fault import FirstFault
from .fetch import Fetch
from .load import Load
from .queue import Queue, TokenQueue
from .store import Store
from .vcr import Vcr

INSN_QUEUE_DEPTH = 32  # entries of each stage's instruction queue
DEFAULT_DATA_WIDTH = 64  # bits of the AXI4 memory port


def dma_ports(config: VtaConfig) -> tuple[dict[str, int], dict[str, int]]:
    """Return the DMA engine's readers and writers (port name -> element bits) for ``config``,
    in the order of the ERROR register's port numbers (:mod:`.vcr`)."""
    readers = {"fetch": INS_WIDTH, "load_inp": config.inp_elem_bytes * 8,
               "load_wgt": config.wgt_elem_bytes * 8, "compute_uop": 32,
               "compute_acc": config.acc_elem_bytes * 8,
               "compute_acc8": config.batch * config.block_out * 8}
    writers = {"store": config.out_elem_bytes * 8}
    return readers, writers


class VtaCore(wiring.Component):
    """The VTA core for ``config`` with a ``data_width``-bit AXI4 memory port.

    Start a run through ``ctrl`` (:mod:`.vcr`): the core runs ``INSN_COUNT`` instructions from
    ``INSN_ADDR`` until FINISH retires, then reads DONE. Token queues hold ``token_depth``
    tokens (a push into a full queue waits), instruction queues ``insn_queue_depth``
    instructions (fetch waits while the target queue is full). ``dma_engine`` is the class of
    the DMA engine (tests replace it with broken ones).

    With ``retire``, the core also has the port ``retire`` (:mod:`.retire`), which reports every
    instruction each stage retires and what it read and wrote; without it, the design is the
    same as if the port had never been written. ``packed_gemm`` gives the GEMM two int8
    products per multiplier (:class:`.gemm.TensorGemm`'s ``packed``, for Xilinx DSP48E1s);
    ``gemm_dsps`` bounds its products on DSP blocks (its ``dsp_products``).
    """

    dma_engine = DmaEngine

    def __init__(self, config: VtaConfig, data_width: int = DEFAULT_DATA_WIDTH, *,
                 insn_queue_depth: int = INSN_QUEUE_DEPTH,
                 token_depth: int = DEFAULT_TOKEN_DEPTH, retire: bool = False,
                 packed_gemm: bool = False, gemm_dsps: int | None = None):
        axi.check_data_width(data_width)
        self.config = config
        self.data_width = data_width
        self.insn_queue_depth = insn_queue_depth
        self.token_depth = token_depth
        self.with_retire = retire  # the port itself is self.retire
        self.packed_gemm = packed_gemm  # TensorGemm's packed option
        self.gemm_dsps = gemm_dsps  # TensorGemm's dsp_products option
        super().__init__({
            "axi": Out(axi.axi4(data_width)),
            "ctrl": In(axi.axi4_lite()),
            **({"retire": Out(retire_port.signature(config))} if retire else {}),
        })

    def elaborate(self, platform):
        m = Module()
        config = self.config
        m.submodules.vcr = vcr = Vcr()
        m.submodules.fetch = fetch = Fetch(config, retire=self.with_retire)
        m.submodules.load = load = Load(config, retire=self.with_retire)
        m.submodules.compute = compute = Compute(config, retire=self.with_retire,
                                                       packed_gemm=self.packed_gemm,
                                                       gemm_dsps=self.gemm_dsps)
        m.submodules.store = store = Store(config, retire=self.with_retire)
        wiring.connect(m, wiring.flipped(self.ctrl), vcr.bus)

        # Control and counters.
        m.d.comb += [fetch.start.eq(vcr.start), fetch.insn_addr.eq(vcr.insn_addr),
                     fetch.insn_count.eq(vcr.insn_count), compute.start.eq(vcr.start),
                     vcr.done.eq(compute.done)]
        events = vcr.events
        m.d.comb += [
            events.fetch_busy.eq(fetch.busy),
            events.load_busy.eq(load.busy), events.load_token_wait.eq(load.token_wait),
            events.compute_busy.eq(compute.busy),
            events.compute_token_wait.eq(compute.token_wait),
            events.store_busy.eq(store.busy), events.store_token_wait.eq(store.token_wait),
            events.gemm_visits.eq(compute.gemm_visit), events.alu_visits.eq(compute.alu_visit),
        ]

        # Instruction queues.
        for name, stage in (("load", load), ("compute", compute), ("store", store)):
            if self.with_retire:
                self._numbered_queue(m, name, fetch, stage)
                continue
            queue = Queue(INS_WIDTH, self.insn_queue_depth)
            m.submodules[f"{name}_queue"] = queue
            wiring.connect(m, getattr(fetch, name), queue.w)
            wiring.connect(m, queue.r, stage.insn)

        # Dependency-token queues.
        for name, producer, consumer in (("load_to_compute", load.to_compute, compute.from_load),
                                         ("compute_to_load", compute.to_load, load.from_compute),
                                         ("compute_to_store", compute.to_store,
                                          store.from_compute),
                                         ("store_to_compute", store.to_compute,
                                          compute.from_store)):
            tokens = TokenQueue(self.token_depth)
            m.submodules[f"{name}_tokens"] = tokens
            wiring.connect(m, producer, tokens.push)
            wiring.connect(m, tokens.pop, consumer)

        # Scratchpads: acc reads that feed the units see their own writes (transparent).
        memories = {name: memory.Memory(shape=scratchpad.row_layout(name, config),
                                        depth=1 << scratchpad.addr_width(name, config), init=[])
                    for name in scratchpad.BUFFERS}
        for name, mem in memories.items():
            m.submodules[scratchpad.memory_name(name)] = mem
        inp_wr, wgt_wr = memories["inp"].write_port(), memories["wgt"].write_port()
        uop_wr, acc_wr = memories["uop"].write_port(), memories["acc"].write_port()
        wiring.connect(m, load.inp_wr, inp_wr)
        wiring.connect(m, load.wgt_wr, wgt_wr)
        wiring.connect(m, compute.uop_wr, uop_wr)
        wiring.connect(m, compute.acc_wr, acc_wr)
        for port, name in ((compute.inp, "inp"), (compute.wgt, "wgt"),
                           (compute.uop_gemm, "uop"), (compute.uop_alu, "uop")):
            wiring.connect(m, port, memories[name].read_port())
        for port in (compute.acc_gemm, compute.acc_dst, compute.acc_src):
            wiring.connect(m, port, memories["acc"].read_port(transparent_for=(acc_wr,)))
        wiring.connect(m, store.acc, memories["acc"].read_port())

        # DRAM.
        m.submodules.dma = dma = self.dma_engine(self.data_width, *dma_ports(config))
        for name, port in (("fetch", fetch.mem), ("load_inp", load.inp_mem),
                           ("load_wgt", load.wgt_mem), ("compute_uop", compute.uop_mem),
                           ("compute_acc", compute.acc_mem), ("compute_acc8", compute.acc8_mem),
                           ("store", store.mem)):
            wiring.connect(m, port, getattr(dma, name))
        wiring.connect(m, dma.axi, wiring.flipped(self.axi))
        m.d.comb += vcr.error.eq(dma.error)
        m.submodules.faults = faults = FirstFault()
        for name, stage in (("load", load), ("compute", compute), ("store", store)):
            m.d.comb += getattr(faults, name).eq(stage.fault)
        m.d.comb += vcr.fault.eq(faults.first)
        if self.with_retire:
            writes = {"inp": inp_wr, "wgt": wgt_wr, "uop": uop_wr, "acc": acc_wr}
            self._connect_retire_port(m, load, compute, store, writes)
        return m

    def _numbered_queue(self, m: Module, name: str, fetch: Fetch, stage) -> None:
        """Add the instruction queue from ``fetch`` to ``stage`` carrying program indices."""
        layout = data.StructLayout({"insn": INS_WIDTH, "index": retire_port.INDEX_WIDTH})
        queue = Queue(layout, self.insn_queue_depth)
        m.submodules[f"{name}_queue"] = queue
        offer = getattr(fetch, name)
        m.d.comb += [queue.w.payload.insn.eq(offer.payload), queue.w.payload.index.eq(fetch.index),
                     queue.w.valid.eq(offer.valid), offer.ready.eq(queue.w.ready),
                     stage.insn.payload.eq(queue.r.payload.insn),
                     stage.insn_index.eq(queue.r.payload.index),
                     stage.insn.valid.eq(queue.r.valid), queue.r.ready.eq(stage.insn.ready)]

    def _connect_retire_port(self, m: Module, load: Load, compute: Compute, store: Store,
                             writes: dict) -> None:
        """Drive the ``retire`` port from the stages' events; a scratchpad write's row and data
        from the memory's write port in ``writes`` (by space), where it lands, so a stage that
        writes elsewhere than it reports shows."""
        port = self.retire
        for event, source in ((port.load, load.retired), (port.compute, compute.retired),
                              (port.store, store.retired), (port.gemm, compute.gemm_visited),
                              (port.alu, compute.alu_visited), (port.dram, store.dram_written)):
            m.d.comb += [event.valid.eq(source.valid), event.payload.eq(source.payload)]
        for space, source in (("inp", load.inp_written), ("wgt", load.wgt_written),
                              ("uop", compute.uop_written), ("acc", compute.acc_written)):
            event, written = getattr(port, space), writes[space]
            m.d.comb += [event.valid.eq(written.en), event.payload.eq(source.payload),
                         event.payload.addr.eq(written.addr),
                         event.payload.data.eq(written.data)]
