# amaranth: UnusedElaboratable=no
"""The per-instruction checks of the whole core on its retirement port (proofs/core_insn.py)."""

import pytest

from vtaref.proofs import sby
from vtaref.proofs.core_insn import CoreChecks, check_names
from vtaref.proofs.gemm import tiny_gemm_config

TWO_ALU_VISITS = 16  # steps to a second ALU visit on the tiny config (the first is at step 13)


def test_alu_visits_report_each_operand_lane():
    # With 8-bit accumulators the datapath's b lanes (16 bits, to hold imm) were narrowed as
    # one row: the port reported lane 0's high byte as lane 1.
    result = sby.prove("core_alu_add", CoreChecks(tiny_gemm_config(), "alu_add"), mode="bmc",
                       depth=TWO_ALU_VISITS)
    assert result.passed, result.log


def test_an_unknown_check_is_refused():
    with pytest.raises(ValueError, match="unknown core check 'alu_div'"):
        CoreChecks(tiny_gemm_config(), "alu_div")
    assert "alu_shr_imm" in check_names() and "gemm_reset" in check_names()
