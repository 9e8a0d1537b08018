"""How many of the GEMM's products a part's DSP blocks can take (``vta synth --part``).

yosys maps every ``*`` to DSP blocks whatever the part holds, so the design itself must leave
the products a part has no DSP for to LUT multipliers (:class:`vtaref.impl.lut_mul.LutMul`,
through :class:`vtaref.impl.gemm.TensorGemm`'s ``dsp_products``). The GEMM gets the part's DSP
blocks less those the rest of the design takes; those are the figures yosys gave for the core
(docs/fpga.md), not a second synthesis: if they grow, the fit check still says so.
"""

from __future__ import annotations

from vtaref.spec.config import VtaConfig

from .parts import Part

ALU_MUL_DSPS_PER_LANE = 3  # an acc_width x 16 ALU MUL lane, as synth_ecp5 and xc7 map it
# The core's element counts, measured on ECP5: the load stage's and the compute loader's counts
# set at decode, and the store stage's size check.
CONTROL_DSPS = 3


def other_dsps(unit: str, config: VtaConfig) -> int:
    """Return the DSP blocks ``unit`` (``core`` or ``gemm``) takes outside the GEMM's products."""
    if unit == "gemm":
        return 0
    alu = config.batch * config.block_out * ALU_MUL_DSPS_PER_LANE if config.ALU_MUL else 0
    return alu + CONTROL_DSPS


def gemm_products(config: VtaConfig) -> int:
    """Return how many products the GEMM of ``config`` computes per visit."""
    return config.batch * config.block_out * config.block_in


def gemm_dsp_products(unit: str, config: VtaConfig, parts: list[Part]) -> int | None:
    """Return how many GEMM products may use DSPs so that ``unit`` fits every one of ``parts``
    (None: all of them; 0 at least), or None for the ALU unit, which has no GEMM."""
    if unit == "alu" or not parts:
        return None
    products = gemm_products(config)
    room = min(part.capacity["dsps"] for part in parts) - other_dsps(unit, config)
    return None if room >= products else max(room, 0)
