"""Packing of two's-complement lanes into bytes, least-significant bit first, little-endian.

Lanes of ``width`` bits sit back to back: lane ``i`` occupies bits ``[i*width, (i+1)*width)`` of
the element, so 4-bit lane 0 is the low nibble of the first byte.
"""

from __future__ import annotations

import numpy as np

_NATIVE = {8: "<i1", 16: "<i2", 32: "<i4"}


def wrap(values: np.ndarray, width: int) -> np.ndarray:
    """Return ``values`` reduced to signed ``width``-bit two's complement (as int64)."""
    values = np.asarray(values, dtype=np.int64)
    if width >= 64:
        return values
    half = 1 << (width - 1)
    return ((values + half) & ((1 << width) - 1)) - half


def lane_dtype(width: int) -> np.dtype:
    """Return the narrowest numpy integer type that holds signed ``width``-bit lanes."""
    for bits, dtype in ((8, np.int8), (16, np.int16), (32, np.int32)):
        if width <= bits:
            return np.dtype(dtype)
    return np.dtype(np.int64)


def unpack(data: np.ndarray, width: int, lanes: int) -> np.ndarray:
    """Unpack rows of bytes ``(n, lanes*width/8)`` into signed lanes ``(n, lanes)``."""
    data = np.ascontiguousarray(data, dtype=np.uint8)
    rows = data.shape[0]
    if width in _NATIVE:
        return data.view(_NATIVE[width]).reshape(rows, lanes).astype(lane_dtype(width))
    bits = np.unpackbits(data, axis=1, bitorder="little").reshape(rows, lanes, width)
    weights = 1 << np.arange(width, dtype=np.int64)
    unsigned = (bits.astype(np.int64) * weights).sum(axis=2)
    signed = np.where(unsigned >= 1 << (width - 1), unsigned - (1 << width), unsigned)
    return signed.astype(lane_dtype(width))


def pack(values: np.ndarray, width: int) -> np.ndarray:
    """Pack signed lanes ``(n, lanes)`` into bytes ``(n, lanes*width/8)``, truncating each lane."""
    values = np.asarray(values)
    rows, lanes = values.shape
    if width in _NATIVE:
        # In two's complement a lane's low width/8 bytes (little-endian) are its truncation.
        octets = np.ascontiguousarray(values, dtype="<i8").view(np.uint8).reshape(rows, lanes, 8)
        return octets[:, :, :width // 8].reshape(rows, lanes * width // 8)
    unsigned = values.astype(np.int64) & ((1 << width) - 1)
    bits = (unsigned[:, :, None] >> np.arange(width, dtype=np.int64)) & 1
    return np.packbits(bits.reshape(rows, lanes * width).astype(np.uint8), axis=1,
                       bitorder="little")
