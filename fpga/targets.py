"""The FPGA families ``vta synth`` maps to, and how their primitive cells count as resources.

The families' block RAMs hold 18 Kbit (ECP5's DP16KD, a 7-series RAMB18E1, an UltraScale+
RAMB18E2; a RAMB36 counts as two), so ``brams`` is comparable across targets. ``luts`` counts
logic LUTs: on ECP5 a LUT4, and two per CCU2C carry cell (a CCU2C is a slice's two LUT4s with
their carry chain); on Xilinx LUT1 to LUT6. Memories in LUTs are counted apart, as LUT-RAM
cells (``lutram``: ECP5's 16x4 TRELLIS_DPR16X4, Xilinx's RAM32M, RAM64M, ... and shift
registers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Cells that are latches, before technology mapping (yosys's) and after it (7-series').
LATCH_CELL = re.compile(r"^(\$_?(a?dlatch|dlatchsr|DLATCH|DLATCHSR)(_\w*)?|LD[CP]E?(_1)?)$")


@dataclass(frozen=True)
class Target:
    """One FPGA family: its yosys command and what each of its cell types counts as.

    Each resource maps cell types to how many units one cell uses. ``memory_cells`` tells the
    kind of memory (``bram`` or ``lutram``) from the cell name yosys's memory_libmap reports.
    ``after`` lists yosys commands run after ``command`` (which gets ``-top``).
    """

    name: str
    description: str
    command: str
    luts: dict[str, int]
    ffs: dict[str, int]
    brams: dict[str, int]
    dsps: dict[str, int]
    lutram: dict[str, int]
    memory_cells: dict[str, str]
    after: tuple[str, ...] = ()  # yosys commands that follow ``command``

    def count(self, cells: dict[str, int], resource: str) -> int:
        """Return how many units of ``resource`` (``luts``, ``ffs``...) ``cells`` use."""
        weights = getattr(self, resource)
        return sum(weights[cell] * n for cell, n in cells.items() if cell in weights)

    def memory_kind(self, mapped_via: str) -> str:
        """Return ``bram`` or ``lutram`` for a memory mapped via cell ``mapped_via``."""
        for fragment, kind in self.memory_cells.items():
            if fragment in mapped_via:
                return kind
        return mapped_via


ECP5 = Target(
    name="ecp5", description="Lattice ECP5", command="synth_ecp5",
    luts={"LUT4": 1, "CCU2C": 2},
    ffs={"TRELLIS_FF": 1},
    brams={"DP16KD": 1, "PDPW16KD": 1},
    dsps={"MULT18X18D": 1, "ALU54B": 1},
    lutram={"TRELLIS_DPR16X4": 1},
    memory_cells={"16KD": "bram", "DPR16X4": "lutram"},
)

XC7 = Target(
    name="xc7", description="Xilinx 7-series", command="synth_xilinx -family xc7 -flatten -noiopad",
    luts={f"LUT{n}": 1 for n in range(1, 7)},
    ffs={"FDRE": 1, "FDSE": 1, "FDCE": 1, "FDPE": 1},
    brams={"RAMB18E1": 1, "RAMB36E1": 2},
    dsps={"DSP48E1": 1},
    lutram={cell: 1 for cell in (
        "RAM16X1D", "RAM32X1D", "RAM64X1D", "RAM128X1D", "RAM32X1S", "RAM64X1S", "RAM128X1S",
        "RAM256X1S", "RAM32M", "RAM64M", "SRL16E", "SRLC32E")},
    memory_cells={"BLOCKRAM": "bram", "RAMB": "bram", "LUTRAM": "lutram"},
)

XCUP = Target(
    name="xcup", description="Xilinx UltraScale+",
    command="synth_xilinx -family xcup -flatten -noiopad",
    luts=XC7.luts, ffs=XC7.ffs,
    brams={"RAMB18E2": 1, "RAMB36E2": 2},
    dsps={"DSP48E2": 1},
    lutram={**XC7.lutram, "RAM32M16": 1, "RAM64M8": 1},
    memory_cells=XC7.memory_cells,
)

TARGETS = {target.name: target for target in (ECP5, XC7, XCUP)}
