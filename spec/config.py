"""The VTA hardware configuration (TVM-VTA's ``vta_config.json``) and every value derived from it.

Derived names follow TVM-VTA's ``hw_spec_const.h`` in lower case (``VTA_LOG_INP_BUFF_DEPTH``
becomes ``log_inp_buff_depth``).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from .errors import ConfigError
from .symbolic import maximum

# Instruction-format constants of hw_spec_const.h (independent of the configuration).
INS_WIDTH = 128
UOP_WIDTH = 32
OPCODE_BIT_WIDTH = 3
ALU_OPCODE_BIT_WIDTH = 3
MEMOP_ID_BIT_WIDTH = 3
MEMOP_SRAM_ADDR_BIT_WIDTH = 16
MEMOP_DRAM_ADDR_BIT_WIDTH = 32
MEMOP_SIZE_BIT_WIDTH = 16
MEMOP_STRIDE_BIT_WIDTH = 16
MEMOP_PAD_BIT_WIDTH = 4
LOOP_ITER_WIDTH = 14
ALUOP_IMM_BIT_WIDTH = 16

TARGETS = ("sim", "tsim", "bsim", "pynq", "ultra96", "zcu104", "de10nano", "intelfocl")

# Allowed range of every integer key. Operand widths go down to 1 bit (sub-byte packing);
# accumulators are 8 to 32 bits (TVM-VTA's simulator computes in int32).
KEY_RANGES: dict[str, tuple[int, int]] = {
    "LOG_INP_WIDTH": (0, 4),
    "LOG_WGT_WIDTH": (0, 4),
    "LOG_ACC_WIDTH": (3, 5),
    "LOG_BATCH": (0, 6),
    "LOG_BLOCK": (0, 7),
    "LOG_UOP_BUFF_SIZE": (3, 18),
    "LOG_INP_BUFF_SIZE": (3, 24),
    "LOG_WGT_BUFF_SIZE": (3, 26),
    "LOG_ACC_BUFF_SIZE": (3, 26),
}
# Keys of this project's own that a vta_config.json may leave out, with their defaults: TVM-VTA's
# files do not name them. ALU_MUL: whether the ALU has MUL (fsim and Chisel do, HLS does not).
OPTIONAL_KEYS = {"ALU_MUL": True}
# Keys of older vta_config.json files that must agree with the key they restate.
ALIASES = {"LOG_BLOCK_IN": "LOG_BLOCK", "LOG_BLOCK_OUT": "LOG_BLOCK",
           "LOG_OUT_WIDTH": "LOG_INP_WIDTH"}
# A scratchpad index must fit the 16-bit sram_base field and a named C bit-field is >= 1 bit.
LOG_DEPTH_RANGE = (1, MEMOP_SRAM_ADDR_BIT_WIDTH)
# The keys whose log2 widths add up to an element's bits, which must fill whole bytes (>= 3).
ELEMENT_KEYS = {
    "INP": ("LOG_INP_WIDTH", "LOG_BATCH", "LOG_BLOCK"),
    "WGT": ("LOG_WGT_WIDTH", "LOG_BLOCK", "LOG_BLOCK"),
    "ACC": ("LOG_ACC_WIDTH", "LOG_BATCH", "LOG_BLOCK"),
}
# The keys each scratchpad's depth (log_<name>_buff_depth, in LOG_DEPTH_RANGE) depends on.
BUFFER_KEYS = {
    "uop": ("LOG_UOP_BUFF_SIZE",),
    "inp": ("LOG_INP_BUFF_SIZE", "LOG_INP_WIDTH", "LOG_BATCH", "LOG_BLOCK"),
    "wgt": ("LOG_WGT_BUFF_SIZE", "LOG_WGT_WIDTH", "LOG_BLOCK"),
    "acc": ("LOG_ACC_BUFF_SIZE", "LOG_ACC_WIDTH", "LOG_BATCH", "LOG_BLOCK"),
}


@dataclass(frozen=True)
class VtaConfig:
    """A validated VTA configuration; construction raises ConfigError for invalid values."""

    LOG_INP_WIDTH: int = 3
    LOG_WGT_WIDTH: int = 3
    LOG_ACC_WIDTH: int = 5
    LOG_BATCH: int = 0
    LOG_BLOCK: int = 4
    LOG_UOP_BUFF_SIZE: int = 15
    LOG_INP_BUFF_SIZE: int = 15
    LOG_WGT_BUFF_SIZE: int = 18
    LOG_ACC_BUFF_SIZE: int = 17
    TARGET: str = "sim"
    HW_VER: str = "0.0.2"
    ALU_MUL: bool = OPTIONAL_KEYS["ALU_MUL"]

    def __post_init__(self):
        if type(self.ALU_MUL) is not bool:
            raise ConfigError(f"ALU_MUL must be true or false, not {self.ALU_MUL!r}")
        if not isinstance(self.TARGET, str) or self.TARGET not in TARGETS:
            raise ConfigError(f"TARGET must be one of {', '.join(TARGETS)}, not {self.TARGET!r}")
        if not isinstance(self.HW_VER, str) or not re.fullmatch(r"\d+\.\d+\.\d+", self.HW_VER):
            raise ConfigError(f"HW_VER must be a version string like '0.0.2', not {self.HW_VER!r}")
        for key, (low, high) in KEY_RANGES.items():
            value = getattr(self, key)
            if type(value) is not int or not low <= value <= high:
                raise ConfigError(f"{key} must be an integer in [{low}, {high}], not {value!r}")
        for name, keys in ELEMENT_KEYS.items():
            if sum(getattr(self, k) for k in keys) < 3:
                raise ConfigError(
                    f"{' + '.join(keys)} must be >= 3: a {name} element must fill whole bytes"
                )
        for name, keys in BUFFER_KEYS.items():
            depth = getattr(self, f"log_{name}_buff_depth")
            low, high = LOG_DEPTH_RANGE
            if not low <= depth <= high:
                raise ConfigError(
                    f"{keys[0]} gives log2({name} buffer depth) = {depth}, which must be in "
                    f"[{low}, {high}] (depends on {', '.join(keys)})"
                )
        uop_bits = self.log_acc_buff_depth + self.uop_src_idx_width + self.log_wgt_buff_depth
        if uop_bits > UOP_WIDTH:
            raise ConfigError(
                f"LOG_ACC_BUFF_SIZE, LOG_INP_BUFF_SIZE, LOG_WGT_BUFF_SIZE give micro-op fields of "
                f"{uop_bits} bits, which must be <= {UOP_WIDTH}"
            )
        # Late import: the instruction layouts are derived from this config.
        from .isa import check_layouts_fit

        check_layouts_fit(self)

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: dict, *, complete: bool = False) -> VtaConfig:
        """Build a config from vta_config.json keys; unknown keys are refused.

        With ``complete``, every key must be named (an interchange file that leaves one out
        would otherwise run with TVM-VTA's default, say 32-bit accumulators for a 16-bit
        design); without it, missing keys take their defaults.
        """
        if not isinstance(data, dict):
            raise ConfigError(f"a config must be a JSON object, not {type(data).__name__}")
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(known) - set(ALIASES))
        if unknown:
            raise ConfigError(f"unknown config key {unknown[0]!r} (known: {', '.join(known)})")
        missing = [key for key in known if key not in data and key not in OPTIONAL_KEYS]
        if complete and missing:
            raise ConfigError(f"missing config key {missing[0]!r} (a config file names every "
                              f"key: {', '.join(known)})")
        for alias, key in ALIASES.items():
            if alias in data and data[alias] != data.get(key, getattr(cls, key)):
                raise ConfigError(f"{alias} must equal {key} (VTA has square blocks, out = inp)")
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def from_json(cls, path: str | Path) -> VtaConfig:
        """Read a vta_config.json file, which must name every key (see :meth:`from_dict`)."""
        try:
            data = json.loads(Path(path).read_text())
        except OSError as err:
            raise ConfigError(f"{path}: cannot read: {err.strerror}") from None
        except json.JSONDecodeError as err:
            raise ConfigError(f"{path}: bad JSON at line {err.lineno}: {err.msg}") from None
        try:
            return cls.from_dict(data, complete=True)
        except ConfigError as err:
            raise ConfigError(f"{path}: {err}") from None

    def to_dict(self) -> dict:
        """Return the vta_config.json keys (an optional key only when it is not its default,
        so that a TVM-VTA config reads and writes back unchanged)."""
        return {key: value for key, value in asdict(self).items()
                if key not in OPTIONAL_KEYS or value != OPTIONAL_KEYS[key]}

    @property
    def name(self) -> str:
        """Return TVM-VTA's bitstream-style name, e.g. ``1x16_i8w8a32_15_15_18_17``, with
        ``_nomul`` after it for a config without ALU MUL."""
        return (
            f"{self.batch}x{self.block}_i{self.inp_width}w{self.wgt_width}a{self.acc_width}_"
            f"{self.LOG_UOP_BUFF_SIZE}_{self.LOG_INP_BUFF_SIZE}_{self.LOG_WGT_BUFF_SIZE}_"
            f"{self.LOG_ACC_BUFF_SIZE}" + ("" if self.ALU_MUL else "_nomul")
        )

    # -- widths and shapes ---------------------------------------------------------------

    @property
    def inp_width(self) -> int:
        return 1 << self.LOG_INP_WIDTH

    @property
    def wgt_width(self) -> int:
        return 1 << self.LOG_WGT_WIDTH

    @property
    def acc_width(self) -> int:
        return 1 << self.LOG_ACC_WIDTH

    @property
    def log_out_width(self) -> int:
        return self.LOG_INP_WIDTH

    @property
    def out_width(self) -> int:
        return 1 << self.log_out_width

    @property
    def batch(self) -> int:
        return 1 << self.LOG_BATCH

    @property
    def block(self) -> int:
        return 1 << self.LOG_BLOCK

    block_in = block
    block_out = block

    # -- elements ------------------------------------------------------------------------

    @property
    def inp_matrix_width(self) -> int:
        return self.inp_width * self.batch * self.block_in

    @property
    def wgt_matrix_width(self) -> int:
        return self.wgt_width * self.block_out * self.block_in

    @property
    def acc_matrix_width(self) -> int:
        return self.acc_width * self.batch * self.block_out

    @property
    def out_matrix_width(self) -> int:
        return self.out_width * self.batch * self.block_out

    @property
    def ins_elem_bytes(self) -> int:
        return INS_WIDTH // 8

    @property
    def uop_elem_bytes(self) -> int:
        return UOP_WIDTH // 8

    @property
    def inp_elem_bytes(self) -> int:
        return self.inp_matrix_width // 8

    @property
    def wgt_elem_bytes(self) -> int:
        return self.wgt_matrix_width // 8

    @property
    def acc_elem_bytes(self) -> int:
        return self.acc_matrix_width // 8

    @property
    def out_elem_bytes(self) -> int:
        return self.out_matrix_width // 8

    # -- buffers -------------------------------------------------------------------------

    @property
    def log_out_buff_size(self) -> int:
        return self.LOG_ACC_BUFF_SIZE + self.log_out_width - self.LOG_ACC_WIDTH

    @property
    def log_uop_buff_depth(self) -> int:
        return self.LOG_UOP_BUFF_SIZE - 5 + 3

    @property
    def log_inp_buff_depth(self) -> int:
        return self.LOG_INP_BUFF_SIZE - self.LOG_BATCH - self.LOG_BLOCK - self.LOG_INP_WIDTH + 3

    @property
    def log_wgt_buff_depth(self) -> int:
        return self.LOG_WGT_BUFF_SIZE - 2 * self.LOG_BLOCK - self.LOG_WGT_WIDTH + 3

    @property
    def log_acc_buff_depth(self) -> int:
        return self.LOG_ACC_BUFF_SIZE - self.LOG_BATCH - self.LOG_BLOCK - self.LOG_ACC_WIDTH + 3

    @property
    def uop_buff_depth(self) -> int:
        return 1 << self.log_uop_buff_depth

    @property
    def inp_buff_depth(self) -> int:
        return 1 << self.log_inp_buff_depth

    @property
    def wgt_buff_depth(self) -> int:
        return 1 << self.log_wgt_buff_depth

    @property
    def acc_buff_depth(self) -> int:
        return 1 << self.log_acc_buff_depth

    @property
    def out_buff_depth(self) -> int:
        return self.acc_buff_depth

    @property
    def uop_src_idx_width(self) -> int:
        """Width of the micro-op ``src_idx`` field (it indexes INP for GEMM, ACC for ALU)."""
        return maximum(self.log_acc_buff_depth, self.log_inp_buff_depth)


DEFAULT_CONFIG = VtaConfig()
