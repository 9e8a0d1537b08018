"""How many GEMM products vta synth --part leaves on a part's DSP blocks."""

import dataclasses

from vtaref.fpga import PARTS
from vtaref.fpga.budget import ALU_MUL_DSPS_PER_LANE, CONTROL_DSPS, gemm_dsp_products
from vtaref.spec import VtaConfig

DEFAULT = VtaConfig()  # 1x16x16: 256 products, 16 ALU lanes
NO_MUL = dataclasses.replace(DEFAULT, ALU_MUL=False)
P85, P45 = PARTS["LFE5U-85F"], PARTS["LFE5U-45F"]


def test_core_on_the_85f_leaves_the_alu_and_control_their_dsps():
    assert gemm_dsp_products("core", DEFAULT, [P85]) == 156 - 16 * ALU_MUL_DSPS_PER_LANE \
        - CONTROL_DSPS
    assert gemm_dsp_products("core", NO_MUL, [P85]) == 156 - CONTROL_DSPS


def test_the_smallest_part_sets_the_budget_and_a_large_one_takes_every_product():
    assert gemm_dsp_products("core", NO_MUL, [P85, P45]) == 72 - CONTROL_DSPS
    assert gemm_dsp_products("gemm", DEFAULT, [P85]) == 156
    assert gemm_dsp_products("gemm", DEFAULT, [PARTS["xczu7ev"]]) is None
    assert gemm_dsp_products("core", DEFAULT, []) is None
    assert gemm_dsp_products("alu", DEFAULT, [P85]) is None


def test_a_part_smaller_than_the_rest_of_the_core_leaves_no_product_on_dsps():
    assert gemm_dsp_products("core", DEFAULT, [PARTS["LFE5U-25F"]]) == 0
