"""The proofs that no index wraps reject a micro-op loop whose running sums wrap, and a store
that wraps its acc rows."""

from types import SimpleNamespace

from amaranth.hdl import Signal

from vtaref.impl.gemm import TAG
from vtaref.impl.store import Store
from vtaref.impl.uop_loop import UopLoop
from vtaref.proofs import BMC_DEPTH, FAULT_DEPTH, sby
from vtaref.proofs.fault import UopLoopFaultSpec
from vtaref.proofs.gemm import tiny_gemm_config
from vtaref.proofs.store import StoreReadsSpec
from vtaref.spec.isa import Gemm

from .test_proofs import substituted


class WrappingSumsLoop(UopLoop):
    """Keeps its running index sums as wide as the buffer's address, so they wrap."""

    SUM_MARGIN_BITS = 0


def test_wrapping_sums_fail_the_fault_proof():
    spec = UopLoopFaultSpec(tiny_gemm_config(), Gemm, TAG, WrappingSumsLoop)
    result = sby.prove("wrapping_sums_loop", spec, mode="bmc", depth=FAULT_DEPTH)
    assert result.status == "FAIL", result.log
    assert "Assert failed" in result.log


def read_port_like(real) -> SimpleNamespace:
    return SimpleNamespace(addr=Signal.like(real.addr), en=Signal(), data=real.data)


def read_wrapping_at_half(m, real, fake):
    """Connect ``fake`` to read port ``real``, dropping the top bit of the row address."""
    m.d.comb += [real.addr.eq(fake.addr[:-1]), real.en.eq(fake.en)]


HalfWrapStore = substituted(Store, "acc", read_port_like, read_wrapping_at_half,
                            title="HalfWrapStore")


def test_a_store_wrapping_at_half_fails_the_read_proof():
    spec = StoreReadsSpec(tiny_gemm_config(), HalfWrapStore)
    result = sby.prove("half_wrap_store", spec, mode="bmc", depth=BMC_DEPTH)
    assert result.status == "FAIL", result.log
    assert "Assert failed" in result.log
