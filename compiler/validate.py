"""Argument checks shared by the operators; each raises ValueError with a one-line message."""

from __future__ import annotations

import numpy as np


def pair(value: int | tuple[int, int], name: str, low: int = 0) -> tuple[int, int]:
    """Return ``value`` as a ``(height, width)`` pair of integers >= ``low``."""
    values = (value, value) if np.ndim(value) == 0 else tuple(value)
    if len(values) != 2 or any(int(v) != v or v < low for v in values):
        raise ValueError(f"{name} must be an integer >= {low} or a pair of them, not {value!r}")
    return int(values[0]), int(values[1])


def integers(name: str, array, width: int, ndim: tuple[int, ...]) -> np.ndarray:
    """Return ``array`` as int64 after checking its rank and that it holds ``width``-bit values."""
    array = np.asarray(array)
    if array.ndim not in ndim:
        raise ValueError(f"{name} must have {' or '.join(map(str, ndim))} dimensions, "
                         f"not shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty (shape {array.shape})")
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must hold integers, not {array.dtype}")
    low, high = -(1 << (width - 1)), (1 << (width - 1)) - 1
    if array.min() < low or array.max() > high:
        raise ValueError(f"{name} must hold {width}-bit values in [{low}, {high}]")
    return array.astype(np.int64)


def same_shape_activations(inputs, width: int) -> list[np.ndarray]:
    """Return ``inputs`` as arrays of ``width``-bit integers (see :func:`integers`), named
    ``input i``; raise ValueError unless they share one shape."""
    arrays = [integers(f"input {i}", x, width, (np.ndim(x),)) for i, x in enumerate(inputs)]
    if any(x.shape != arrays[0].shape for x in arrays):
        raise ValueError(f"inputs must share one shape, not {[x.shape for x in arrays]}")
    return arrays


def shift_amount(shift: int, acc_width: int) -> int:
    """Return ``shift`` after checking it is a right shift the accumulator can take."""
    if int(shift) != shift or not 0 <= shift < acc_width:
        raise ValueError(f"shift must be an integer in [0, {acc_width - 1}], not {shift!r}")
    return int(shift)
