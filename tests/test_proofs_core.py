# amaranth: UnusedElaboratable=no
"""The per-instruction checks of the whole core on its retirement port (proofs/core_insn.py)."""

import os

import pytest
from amaranth.hdl import Cover, Elaboratable, Module, Mux, Signal
from amaranth.lib import memory

from vtaref.impl.alu import AluDatapath, TensorAlu
from vtaref.impl.compute import Compute, LocalLoad
from vtaref.impl.core import VtaCore
from vtaref.impl.fetch import Fetch
from vtaref.impl.gemm import TensorGemm
from vtaref.impl.isa import AluOp, MemType
from vtaref.impl.load import Load
from vtaref.impl.store import Store
from vtaref.proofs import CORE_DEPTHS, CORE_GEMM_DEPTH, proofs, sby
from vtaref.proofs.core_insn import CoreChecks, batched_core_config, check_names
from vtaref.proofs.gemm import tiny_gemm_config
from vtaref.spec import VtaConfig

from .test_impl_bus import DroppedArvalid, EarlyDoneWrites, dma_with
from .test_proofs import (
    DoneBeforeDataWrites,
    EarlyPushCompute,
    HalfWrapLoad,
    HalfWrapLocalLoad,
    RowZeroGemm,
    SwappedUopFieldsLoad,
    UnscaledAccLoad,
    UnsignedGemm,
    leaky_tag,
    substituted,
    tokenless,
    with_global,
)

CORE_RETIRE_DEPTH = CORE_DEPTHS["retire_bound"]
TWO_ALU_VISITS = 16  # steps to a second ALU visit on the tiny config (the first is at step 13)


def test_ci_checks_alu_visits_lane_by_lane():
    # With 8-bit accumulators the datapath's b lanes (16 bits, to hold imm) were narrowed as
    # one row: the port reported lane 0's high byte as lane 1. core_alu_add, run in CI by
    # tests/test_proofs.py, fails on that within two ALU visits.
    chosen = {proof.name: proof for proof in proofs(VtaConfig())}
    check = chosen["core_alu_add"]
    assert not check.slow and check.mode == "bmc" and check.depth >= TWO_ALU_VISITS
    assert not chosen["core_alu_add_cover"].slow


def test_an_unknown_check_is_refused():
    with pytest.raises(ValueError, match="unknown core check 'alu_div'"):
        CoreChecks(tiny_gemm_config(), "alu_div")
    assert "alu_shr_imm" in check_names() and "gemm_reset" in check_names()


class MemoryNotZero(Elaboratable):
    """Covers a row of a zero-initialised memory called ``name`` holding something else."""

    def __init__(self, name: str, arbitrary_memories: str = ""):
        self.name = name
        self.arbitrary_memories = arbitrary_memories

    def elaborate(self, platform):
        m = Module()
        m.submodules[self.name] = rows = memory.Memory(shape=8, depth=4, init=[])
        read = rows.read_port(domain="comb")
        m.d.comb += [read.addr.eq(1), Cover(read.data != 0)]
        return m


@pytest.mark.parametrize("pattern, status", [("", "FAIL"), ("*_buffer", "PASS")])
def test_only_the_memories_asked_for_start_arbitrary(pattern, status):
    start = sby.prove("memory_not_zero", MemoryNotZero("rows_buffer", pattern), mode="cover",
                      depth=2, verbose=False)
    assert start.status == status, start.log
    other = sby.prove("memory_not_zero", MemoryNotZero("rows", pattern), mode="cover", depth=2,
                      verbose=False)
    assert other.status == "FAIL", other.log


class StoresAlsoToComputeFetch(Fetch):
    """Dispatches each STORE to the compute queue as well as to the store queue."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        with m.If(self.store.valid):
            m.d.comb += self.compute.valid.eq(1)
        return m


def core_with(component: type, mutant: type) -> type:
    """Return VtaCore built with ``mutant`` in place of the stage class ``component``."""
    return with_global(VtaCore, component.__name__, mutant, title=f"{mutant.__name__}Core")


def compute_with(unit: type, mutant: type) -> type:
    """Return VtaCore whose compute stage has ``mutant`` in place of the unit class ``unit``."""
    return core_with(Compute, with_global(Compute, unit.__name__, mutant,
                                          title=f"{mutant.__name__}Compute"))


def swap_min_max(m, real, fake):
    """Drive the datapath's opcode ``fake`` from ``real`` with MIN and MAX exchanged."""
    m.d.comb += fake.eq(Mux(real == AluOp.MIN, AluOp.MAX,
                            Mux(real == AluOp.MAX, AluOp.MIN, real)))


SwappedMinMaxDatapath = substituted(AluDatapath, "op", lambda real: Signal(AluOp),
                                    swap_min_max, title="SwappedMinMaxDatapath")


class SwappedMinMaxAlu(TensorAlu):
    """Computes MAX for MIN and MIN for MAX."""

    def __init__(self, config):
        super().__init__(config)
        self.datapath = SwappedMinMaxDatapath(config)


def drop_imm(m, real, fake):
    """Pass ALU commands from ``real`` to ``fake`` with ``use_imm`` cleared."""
    m.d.comb += [fake.valid.eq(real.valid), real.ready.eq(fake.ready),
                 fake.payload.eq(real.payload), fake.payload.tag.use_imm.eq(0)]


ImmBlindAlu = substituted(TensorAlu, "cmd", lambda real: real.signature.create(), drop_imm,
                          title="ImmBlindAlu")


def core_with_dma(**halves) -> type:
    """Return VtaCore whose DMA engine has the given broken ``reads`` or ``writes`` half."""
    name = "".join(half.__name__ for half in halves.values())
    return type(f"{name}Core", (VtaCore,), {"dma_engine": dma_with(**halves)})


class IdleClaimingAlu(TensorAlu):
    """Claims to be idle while its visits are still in flight (compute drains too early)."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        m.d.comb += self.idle.eq(1)
        return m


class StuckAfterUopLoad(LocalLoad):
    """Stays busy forever once it has taken a LOAD of UOP: the compute stage stalls on it."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        stuck = Signal()
        with m.If(self.cmd.valid & self.cmd.ready
                  & (self.cmd.payload.memory_type == MemType.UOP)):
            m.d.sync += stuck.eq(1)
        with m.If(stuck):
            m.d.comb += self.busy.eq(1)
        return m


def tiny(check: str, core_type: type):
    """Return the checks ``check`` of ``core_type`` on the tiny GEMM configuration."""
    return lambda: CoreChecks(tiny_gemm_config(), check, core_type)


def batched(check: str, core_type: type):
    """Return the checks ``check`` of ``core_type`` on the config of proof
    ``core_gemm_batched`` (batch 2, 4-bit inputs), its scratchpads starting with arbitrary
    contents."""
    return lambda: CoreChecks(batched_core_config(), check, core_type, arbitrary_memories=True)


# Realistic one-line bugs, the core checks that catch each (built lazily) and the steps they
# need. The first few run in CI; VTAREF_ALL_CORE_MUTANTS=1 runs them all (minutes under load).
MUTANTS = [
    # The load stage's rows land where the scratchpad's write port takes them (the port reports
    # that row): a LOAD into the upper half of inp writes the lower half, before its retirement.
    ("half_wrap_load_core", tiny("load_data", core_with(Load, HalfWrapLoad)), 13),
    ("tokenless_load_core", tiny("tokens", core_with(Load, tokenless(Load, "from_compute"))),
     12),
    ("stores_to_compute_core", tiny("order", core_with(Fetch, StoresAlsoToComputeFetch)), 12),
    ("tokenless_compute_core",
     tiny("tokens", core_with(Compute, tokenless(Compute, "from_load"))), 12),
    ("tokenless_store_core", tiny("tokens", core_with(Store, tokenless(Store, "from_compute"))),
     12),
    ("early_push_compute_core", tiny("tokens", core_with(Compute, EarlyPushCompute)), 16),
    ("leaky_tag_alu_core", tiny("alu_add", compute_with(TensorAlu, leaky_tag(TensorAlu))), 18),
    ("swapped_min_max_core", tiny("alu_min_imm", compute_with(TensorAlu, SwappedMinMaxAlu)),
     16),
    ("imm_blind_alu_core", tiny("alu_add_imm", compute_with(TensorAlu, ImmBlindAlu)), 16),
    # The audit's bugs that passed the earlier proofs (issue 9).
    ("early_done_dma_core", tiny("store_data", core_with_dma(writes=EarlyDoneWrites)), 17),
    ("done_before_data_dma_core", tiny("store_data", core_with_dma(writes=DoneBeforeDataWrites)),
     16),
    # A read DMA asking for one beat too many (audit f) is no longer seen on the core: since the
    # read channel is arbitrated per burst, a port takes only its command's beats and the extra
    # one is dropped, so no check of data fails (bmc 17 passed). What the burst covers is the
    # unit proof's: tests/test_proofs.py's extra_beat_dma fails dma_bursts_read_tiny.
    ("dropped_arvalid_dma_core", tiny("liveness", core_with_dma(reads=DroppedArvalid)), 12),
    # A stage that stalls forever on one kind of instruction.
    ("stuck_uop_load_core",
     tiny("retire_bound", compute_with(LocalLoad, StuckAfterUopLoad)), CORE_RETIRE_DEPTH),
    # Both fail the check proof core_gemm_batched passes on the core, at its depth.
    ("row_zero_gemm_core", batched("gemm", compute_with(TensorGemm, RowZeroGemm)),
     CORE_GEMM_DEPTH),
    ("unsigned_gemm_core", batched("gemm", compute_with(TensorGemm, UnsignedGemm)),
     CORE_GEMM_DEPTH),
    ("idle_claiming_alu_core", tiny("finish", compute_with(TensorAlu, IdleClaimingAlu)), 14),
    # The compute stage's LOADs (its LocalLoad).
    ("unscaled_acc_load_core",
     tiny("local_load_data", compute_with(LocalLoad, UnscaledAccLoad)), 14),
    ("swapped_uop_fields_core",
     tiny("local_load_data", compute_with(LocalLoad, SwappedUopFieldsLoad)), 14),
    # Unlike the load stage's, LocalLoad's writes are reported after it, at the compute stage's
    # acc port: a row it wraps shows in local_load_data.
    ("half_wrap_local_load_core",
     tiny("local_load_data", compute_with(LocalLoad, HalfWrapLocalLoad)), 14),
]
CI_MUTANTS = 4


@pytest.mark.parametrize("name, checks, depth",
                         MUTANTS if os.environ.get("VTAREF_ALL_CORE_MUTANTS") else
                         MUTANTS[:CI_MUTANTS], ids=lambda value: value if isinstance(value, str)
                         else None)
def test_a_mutated_core_fails_a_check(name, checks, depth):
    result = sby.prove(name, checks(), mode="bmc", depth=depth)
    assert result.status == "FAIL", result.log
    assert "Assert failed" in result.log
