"""Proofs by z3 of facts the spec and the compiler rest on (run by ``vta prove``).

One module per fact: :mod:`.encoding` (encode/decode is a bijection for every configuration),
:mod:`.dram_address` (LOAD/STORE addresses never overflow 32 bits), :mod:`.conv_slots` (the
convolution tiles stay inside their scratchpad slots and DRAM arrays), :mod:`.requantize` and
:mod:`.average` (the compiler's requantization and average pooling compute their documented
definitions), :mod:`.packed_mul` (the packed DSP48E1 multiplier computes two separate int8
products), :mod:`.lut_mul` (the LUT multiplier's Booth recoding computes the product).
:mod:`.solver` runs them with the interface of the SymbiYosys proofs.
"""

from __future__ import annotations

from functools import partial

from .average import average_obligations
from .conv_slots import conv_obligations
from .dram_address import address_obligations
from .encoding import encoding_obligations
from .lut_mul import lut_mul_obligations
from .packed_mul import packed_obligations
from .requantize import requantize_obligations
from .solver import Obligation, Z3Proof

FAST_PLANES, SLOW_PLANES = 16, 256  # average pooling over every plane of up to this many
FAST_SHAPES, SLOW_SHAPES = 64, 1 << 16  # convolutions with every extent up to this

__all__ = ["Obligation", "Z3Proof", "z3_proofs"]


def z3_proofs() -> list[Z3Proof]:
    """Return the z3 proofs; each covers every configuration (none depends on one)."""
    return [
        Z3Proof("z3_encoding", encoding_obligations),
        Z3Proof("z3_dram_address", address_obligations),
        Z3Proof(f"z3_conv_slots_{FAST_SHAPES}", partial(conv_obligations, bound=FAST_SHAPES),
                bound=FAST_SHAPES),
        Z3Proof(f"z3_conv_slots_{SLOW_SHAPES}", partial(conv_obligations, bound=SLOW_SHAPES),
                slow=True, bound=SLOW_SHAPES),
        Z3Proof("z3_requantize", requantize_obligations),
        Z3Proof("z3_packed_mul", packed_obligations),
        Z3Proof("z3_lut_mul", lut_mul_obligations),
        Z3Proof(f"z3_average_{FAST_PLANES}", partial(average_obligations, planes=FAST_PLANES),
                bound=FAST_PLANES),
        Z3Proof(f"z3_average_{SLOW_PLANES}", partial(average_obligations, planes=SLOW_PLANES),
                slow=True, bound=SLOW_PLANES),
    ]
