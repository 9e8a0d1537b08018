"""The proofs that no index wraps reject a micro-op loop whose running sums wrap."""

from vtaref.impl.gemm import TAG
from vtaref.impl.uop_loop import UopLoop
from vtaref.proofs import FAULT_DEPTH, sby
from vtaref.proofs.fault import UopLoopFaultSpec
from vtaref.proofs.gemm import tiny_gemm_config
from vtaref.spec.isa import Gemm


class WrappingSumsLoop(UopLoop):
    """Keeps its running index sums as wide as the buffer's address, so they wrap."""

    SUM_MARGIN_BITS = 0


def test_wrapping_sums_fail_the_fault_proof():
    spec = UopLoopFaultSpec(tiny_gemm_config(), Gemm, TAG, WrappingSumsLoop)
    result = sby.prove("wrapping_sums_loop", spec, mode="bmc", depth=FAULT_DEPTH)
    assert result.status == "FAIL", result.log
    assert "Assert failed" in result.log
