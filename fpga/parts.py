"""The FPGA parts ``vta synth --part`` fits a design on, with what each holds.

Each :class:`Part` names its family (a target of :mod:`.targets`) and its capacity in the units
:class:`~.synth.SynthResult` counts: logic LUTs, flip-flops, 18 Kbit block RAMs and DSP
blocks (an UltraScale+ RAMB36E2 counts as two, as on 7-series). ECP5 parts also carry what
nextpnr needs (its device option and package); the Xilinx parts have no open place and route.
"""

from __future__ import annotations

from dataclasses import dataclass

RESOURCES = ("luts", "ffs", "brams", "dsps")
RESOURCE_NAMES = {"luts": "LUTs", "ffs": "FFs", "brams": "BRAMs (18 Kbit)", "dsps": "DSPs"}


@dataclass(frozen=True)
class Part:
    """One FPGA: its family, the board it is on (if any), its capacities and nextpnr's
    device option (None: no open place and route)."""

    name: str
    target: str
    board: str
    capacity: dict[str, int]
    nextpnr_device: str | None = None
    package: str | None = None
    io_pins: int | None = None

    @property
    def label(self) -> str:
        """Return the part's name, and its board's if it has one: ``xc7z020 (PYNQ-Z1)``."""
        return f"{self.name} ({self.board})" if self.board else self.name

    def over(self, used: dict[str, int]) -> dict[str, int]:
        """Return, for each resource ``used`` needs more of than the part has, by how much."""
        return {resource: used[resource] - self.capacity[resource] for resource in RESOURCES
                if used[resource] > self.capacity[resource]}

    def utilization(self, used: dict[str, int], available: dict[str, int] | None = None) -> str:
        """Return ``used`` against ``available`` (default: the capacity), e.g.
        ``LUTs 10412/43848 (24%), ...``."""
        available = self.capacity if available is None else available
        return ", ".join(
            f"{RESOURCE_NAMES[resource]} {used[resource]}/{available[resource]} "
            f"({used[resource] / available[resource]:.0%})" for resource in RESOURCES)

    def misfit(self, used: dict[str, int]) -> str | None:
        """Return one line saying which resources ``used`` exceeds and by how much, or None."""
        over = self.over(used)
        if not over:
            return None
        return f"does not fit the {self.label}: " + ", ".join(
            f"{used[resource]} {RESOURCE_NAMES[resource]} of {self.capacity[resource]} "
            f"({excess} over)" for resource, excess in over.items())


# Lattice's ECP5 family data sheet (FPGA-DS-02012): LUT4s (one flip-flop each), sysMEM EBRs
# (18 Kbit DP16KD), 18x18 multipliers, user I/O of the CABGA381 package; nextpnr-ecp5 reports
# the same figures.
ECP5_PARTS = (
    Part("LFE5U-25F", "ecp5", "", {"luts": 24288, "ffs": 24288, "brams": 56, "dsps": 28},
         "--25k", "CABGA381", 197),
    Part("LFE5U-45F", "ecp5", "", {"luts": 43848, "ffs": 43848, "brams": 108, "dsps": 72},
         "--45k", "CABGA381", 203),
    Part("LFE5U-85F", "ecp5", "",
         {"luts": 83640, "ffs": 83640, "brams": 208, "dsps": 156}, "--85k", "CABGA381", 205),
)
# AMD's Zynq-7000 (DS190) and Zynq UltraScale+ (DS891) overviews: LUTs, flip-flops, 36 Kbit
# block RAMs (two 18 Kbit each), DSP slices.
XILINX_PARTS = (
    Part("xc7z020", "xc7", "PYNQ-Z1", {"luts": 53200, "ffs": 106400, "brams": 280, "dsps": 220}),
    Part("xczu7ev", "xcup", "ZCU104",
         {"luts": 230400, "ffs": 460800, "brams": 624, "dsps": 1728}),
)
PARTS = {part.name: part for part in (*ECP5_PARTS, *XILINX_PARTS)}
