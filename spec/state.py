"""The explicit machine state the instructions act on: DRAM and the on-chip scratchpads."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .config import VtaConfig
from .isa import MemType
from .packing import lane_dtype


@dataclass
class Scratchpad:
    """An on-chip buffer of ``depth`` elements, each ``lanes`` signed ``width``-bit integers."""

    name: str
    width: int
    lanes: int
    depth: int
    data: np.ndarray = field(repr=False, default=None)

    def __post_init__(self):
        if self.data is None:
            self.data = np.zeros((self.depth, self.lanes), dtype=lane_dtype(self.width))


@dataclass
class Dram:
    """Physical memory: ``data[i]`` is the byte at physical address ``base + i``."""

    base: int
    data: np.ndarray

    def contains(self, start: int, end: int) -> bool:
        """Return whether physical byte range ``[start, end)`` lies inside this DRAM."""
        return self.base <= start and end <= self.base + len(self.data)


@dataclass(frozen=True)
class ElementFormat:
    """How one element of a memory type sits in DRAM and which scratchpad it lands in."""

    buffer: str
    bytes: int
    width: int
    lanes: int


def element_formats(config: VtaConfig) -> dict[MemType, ElementFormat]:
    """Return the DRAM element format of every memory type under ``config``."""
    acc_lanes = config.batch * config.block_out
    return {
        MemType.UOP: ElementFormat("uop", config.uop_elem_bytes, 32, 1),
        MemType.WGT: ElementFormat("wgt", config.wgt_elem_bytes, config.wgt_width,
                                   config.block_out * config.block_in),
        MemType.INP: ElementFormat("inp", config.inp_elem_bytes, config.inp_width,
                                   config.batch * config.block_in),
        MemType.ACC: ElementFormat("acc", config.acc_elem_bytes, config.acc_width, acc_lanes),
        MemType.OUT: ElementFormat("out", config.out_elem_bytes, config.out_width, acc_lanes),
        MemType.ACC_8BIT: ElementFormat("acc", acc_lanes, 8, acc_lanes),
    }


class MachineState:
    """DRAM plus the uop, inp, wgt and acc scratchpads (and the HLS design's out buffer).

    Micro-ops are kept as raw 32-bit words; the other buffers hold sign-extended lanes.
    Scratchpads start zeroed.
    """

    def __init__(self, config: VtaConfig, dram: Dram):
        self.config = config
        self.dram = dram
        self.formats = element_formats(config)
        acc_lanes = config.batch * config.block_out
        self.buffers = {
            "uop": Scratchpad("uop", 32, 1, config.uop_buff_depth,
                              np.zeros((config.uop_buff_depth, 1), dtype=np.uint32)),
            "inp": Scratchpad("inp", config.inp_width, config.batch * config.block_in,
                              config.inp_buff_depth),
            "wgt": Scratchpad("wgt", config.wgt_width, config.block_out * config.block_in,
                              config.wgt_buff_depth),
            "acc": Scratchpad("acc", config.acc_width, acc_lanes, config.acc_buff_depth,
                              np.zeros((config.acc_buff_depth, acc_lanes), dtype=np.int64)),
            "out": Scratchpad("out", config.out_width, acc_lanes, config.out_buff_depth),
        }

    def __getitem__(self, name: str) -> Scratchpad:
        return self.buffers[name]
