"""Valid VTA configurations: every config the derived limits allow, drawn without filtering."""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from ..config import KEY_RANGES, LOG_DEPTH_RANGE, VtaConfig
from ..errors import ConfigError

__all__ = ["configs", "small_configs"]


def _span(value, name: str, allowed: tuple[int, int]) -> tuple[int, int]:
    """Return the range ``value`` (an int or a pair) within ``allowed``."""
    low, high = (value, value) if isinstance(value, int) else value
    low, high = max(low, allowed[0]), min(high, allowed[1])
    if low > high:
        raise InvalidArgument(f"{name}={value!r} allows no value in {list(allowed)}")
    return low, high


@st.composite
def configs(draw, *, log_inp_width=(0, 3), log_wgt_width=(0, 3), log_acc_width=(3, 5),
            log_batch=(0, 2), log_block=(0, 4), log_depth=(1, 16), log_uop_depth=None,
            log_inp_depth=None, log_wgt_depth=None, log_acc_depth=None) -> VtaConfig:
    """Draw a valid :class:`VtaConfig`.

    Every argument is an ``int`` or an inclusive ``(low, high)`` range: the base-2 logarithms of
    the operand widths (``log_inp_width``, ``log_wgt_width``: sub-byte widths from 0), the
    accumulator width, BATCH and BLOCK, and of the scratchpad depths in elements (``log_depth``
    for all four buffers, or ``log_uop_depth`` ... ``log_acc_depth`` for one). Configs are
    constructed inside the derived limits (an element fills whole bytes, the buffer sizes stay
    in range, micro-ops fit 32 bits and instructions 128 bits), shrinking the largest buffer
    depth when the fields would not fit; nothing is filtered. Bounds that no config satisfies
    raise InvalidArgument.
    """
    ranges = {key: _span(value, name, KEY_RANGES[name.upper()]) for key, value, name in (
        ("inp_w", log_inp_width, "log_inp_width"), ("wgt_w", log_wgt_width, "log_wgt_width"),
        ("acc_w", log_acc_width, "log_acc_width"), ("batch", log_batch, "log_batch"),
        ("block", log_block, "log_block"))}
    depth_range = {
        name: _span(log_depth if override is None else override, f"log_{name}_depth",
                    LOG_DEPTH_RANGE)
        for name, override in (("uop", log_uop_depth), ("inp", log_inp_depth),
                               ("wgt", log_wgt_depth), ("acc", log_acc_depth))}
    # LOG_<X>_BUFF_SIZE = log depth + (width + batch + block terms) - 3 must be >= 3, and each
    # element must fill whole bytes: the terms must reach max(3, 6 - the largest log depth).
    need = {name: max(3, 6 - depth_range[name][1]) for name in ("inp", "wgt", "acc")}
    hi = {key: high for key, (_, high) in ranges.items()}

    def pick(key, low):
        low = max(low, ranges[key][0])
        if low > ranges[key][1]:
            raise InvalidArgument(f"no valid config within the given bounds ({key})")
        return draw(st.integers(low, ranges[key][1]))

    block = pick("block", max(need["inp"] - hi["inp_w"] - hi["batch"],
                              -((hi["wgt_w"] - need["wgt"]) // 2),
                              need["acc"] - hi["acc_w"] - hi["batch"]))
    batch = pick("batch", max(need["inp"] - hi["inp_w"] - block,
                              need["acc"] - hi["acc_w"] - block))
    keys = {"LOG_BLOCK": block, "LOG_BATCH": batch,
            "LOG_INP_WIDTH": pick("inp_w", need["inp"] - batch - block),
            "LOG_WGT_WIDTH": pick("wgt_w", need["wgt"] - 2 * block),
            "LOG_ACC_WIDTH": pick("acc_w", need["acc"] - batch - block)}
    terms = {"uop": 5, "inp": keys["LOG_INP_WIDTH"] + batch + block,
             "wgt": keys["LOG_WGT_WIDTH"] + 2 * block,
             "acc": keys["LOG_ACC_WIDTH"] + batch + block}
    limits = {"uop": 18, "inp": 24, "wgt": 26, "acc": 26}
    depths, lows = {}, {}
    for name in ("uop", "inp", "wgt", "acc"):
        low, high = depth_range[name]
        low = max(low, 6 - terms[name])
        high = min(high, limits[name] + 3 - terms[name])
        if low > high:
            raise InvalidArgument(f"no valid {name} buffer depth within the given bounds")
        lows[name] = low
        depths[name] = draw(st.integers(low, high))
    while True:
        sizes = {f"LOG_{name.upper()}_BUFF_SIZE": depths[name] + terms[name] - 3
                 for name in depths}
        try:
            return VtaConfig(**keys, **sizes)
        except ConfigError:
            shrinkable = [name for name in depths if depths[name] > lows[name]]
            if not shrinkable:
                raise InvalidArgument("no valid config within the given depth bounds") from None
            largest = max(shrinkable, key=lambda name: (depths[name], name))
            depths[largest] -= 1


def small_configs(**bounds) -> st.SearchStrategy[VtaConfig]:
    """Draw configs whose buffers are at most 2^6 elements deep (quick to simulate)."""
    return configs(**{"log_depth": (1, 6), **bounds})

