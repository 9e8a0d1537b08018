"""The space ``vta dse`` sweeps: values of configuration fields, and the points they make.

Each swept field is given as a list of values in the units people use (BLOCK 16, not
``LOG_BLOCK`` 4; buffer sizes as the log2 of their bytes, as in ``vta_config.json``; the AXI4
data width in bits). :func:`parse_values` checks each value on its own against the ranges of
:mod:`vtaref.spec.config` (and :data:`vtaref.impl.axi.DATA_WIDTHS`) and raises
:class:`SpaceError` naming the field and the value; :func:`points` makes every combination a
:class:`Point`, valid or not: one :class:`~vtaref.spec.config.VtaConfig` rejects carries the
config's reason instead of a config.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, replace

from vtaref.impl.axi import DATA_WIDTHS
from vtaref.spec.config import KEY_RANGES, VtaConfig
from vtaref.spec.errors import ConfigError


class SpaceError(ValueError):
    """A swept value that no configuration can take (the message names the field and value)."""


@dataclass(frozen=True)
class Field:
    """A swept field: the config key it sets (``DATA_WIDTH`` for the AXI4 port, which is not in
    the config), how a given value becomes that key's value, and how to print it back."""

    name: str
    key: str
    to_key: Callable[[int], int]
    from_key: Callable[[int], int]
    help: str


def _log2(value: int) -> int:
    if value < 1 or value & (value - 1):
        raise SpaceError("not a power of two")
    return value.bit_length() - 1


def _identity(value: int) -> int:
    return value


def _power(log: int) -> int:
    return 1 << log


def _alu_mul(value: int) -> bool:
    if value not in (0, 1):
        raise SpaceError("not 0 or 1")
    return bool(value)


def _data_width(value: int) -> int:
    if value not in DATA_WIDTHS:
        raise SpaceError(f"not one of {', '.join(map(str, DATA_WIDTHS))}")
    return value


DATA_WIDTH = "DATA_WIDTH"  # the key of the AXI4 data width among a point's settings
FIELDS = {field.name: field for field in (
    Field("batch", "LOG_BATCH", _log2, _power, "Images per GEMM (BATCH), powers of two."),
    Field("block", "LOG_BLOCK", _log2, _power, "GEMM block (BLOCK_IN = BLOCK_OUT), powers of two."),
    Field("inp_width", "LOG_INP_WIDTH", _log2, _power, "Input (and output) bits."),
    Field("wgt_width", "LOG_WGT_WIDTH", _log2, _power, "Weight bits."),
    Field("acc_width", "LOG_ACC_WIDTH", _log2, _power, "Accumulator bits."),
    Field("log_uop_buff", "LOG_UOP_BUFF_SIZE", _identity, _identity,
          "log2 of the micro-op buffer's bytes."),
    Field("log_inp_buff", "LOG_INP_BUFF_SIZE", _identity, _identity,
          "log2 of the input buffer's bytes."),
    Field("log_wgt_buff", "LOG_WGT_BUFF_SIZE", _identity, _identity,
          "log2 of the weight buffer's bytes."),
    Field("log_acc_buff", "LOG_ACC_BUFF_SIZE", _identity, _identity,
          "log2 of the accumulator buffer's bytes."),
    Field("alu_mul", "ALU_MUL", _alu_mul, int, "Whether the ALU has MUL: 1 or 0."),
    Field("data_width", DATA_WIDTH, _data_width, _identity, "Bits of the AXI4 data port."),
)}
DEFAULT_DATA_WIDTH = 64


def parse_values(name: str, text: str) -> tuple:
    """Return the config-key values of the comma list ``text`` for field ``name``, in order,
    without repeats. Raises SpaceError naming the first value no configuration takes (not an
    integer, not a power of two, outside the key's range) and why."""
    field = FIELDS[name]
    values = []
    for item in text.split(","):
        item = item.strip()
        try:
            value = field.to_key(int(item))
        except ValueError as err:
            reason = err if isinstance(err, SpaceError) else "not an integer"
            raise SpaceError(f"{item or repr(item)}: {reason}") from None
        if field.key in KEY_RANGES:
            low, high = KEY_RANGES[field.key]
            if not low <= value <= high:
                raise SpaceError(f"{item}: outside [{field.from_key(low)}, "
                                 f"{field.from_key(high)}]")
        if value not in values:
            values.append(value)
    return tuple(values)


@dataclass(frozen=True)
class Point:
    """One combination of swept values over a base config: ``keys``, every config key's value
    and :data:`DATA_WIDTH`'s; ``swept``, the keys swept; ``config``, the VtaConfig they make,
    or None with the config's ``reason``; ``baseline``, the name of the configuration it
    stands for if it is a baseline the sweep is compared with (:func:`baseline`) rather than
    one of its points."""

    keys: tuple[tuple[str, int | bool], ...]
    swept: tuple[str, ...]
    config: VtaConfig | None
    reason: str | None = None
    baseline: str = ""

    @property
    def data_width(self) -> int:
        return dict(self.keys)[DATA_WIDTH]

    @property
    def label(self) -> str:
        """Return the config's name and data width (and the baseline's name), or the swept
        values of a rejected point."""
        if self.config is not None:
            return (f"{self.config.name} {self.data_width}-bit"
                    + (f" (baseline {self.baseline})" if self.baseline else ""))
        return " ".join(f"{field.name}={field.from_key(dict(self.keys)[field.key])}"
                        for field in FIELDS.values() if field.key in self.swept)

    def values(self) -> dict[str, int]:
        """Return each field of :data:`FIELDS` in its own units (BLOCK 16, not LOG_BLOCK 4)."""
        keys = dict(self.keys)
        return {name: field.from_key(keys[field.key]) for name, field in FIELDS.items()}

    def key(self) -> dict:
        """Return what identifies the point's hardware: every config key and the data width
        (not whether it is a baseline: a baseline shares the results of an equal point)."""
        return dict(self.keys)


def baseline(config: VtaConfig, name: str) -> Point:
    """Return the baseline ``config`` (with TVM-VTA's 64-bit data port), called ``name``."""
    return replace(points({}, config)[0], baseline=name)


def points(space: dict[str, tuple], base: VtaConfig | None = None) -> list[Point]:
    """Return every combination of ``space`` (field name -> config-key values, as
    :func:`parse_values` returns them) over ``base`` (default: TVM-VTA's default config, a
    64-bit data port) as a :class:`Point`, in the order of :data:`FIELDS` and of the values."""
    base = base or VtaConfig()
    start = {**base.to_dict(), "ALU_MUL": base.ALU_MUL, DATA_WIDTH: DEFAULT_DATA_WIDTH}
    names = [name for name in FIELDS if name in space]
    swept = tuple(FIELDS[name].key for name in names)
    result = []
    for values in itertools.product(*(space[name] for name in names)):
        keys = {**start, **dict(zip(swept, values))}
        settings = {key: value for key, value in keys.items() if key != DATA_WIDTH}
        try:
            config = VtaConfig(**settings)
        except ConfigError as err:
            result.append(Point(tuple(keys.items()), swept, None, str(err)))
        else:
            result.append(Point(tuple(keys.items()), swept, config))
    return result
