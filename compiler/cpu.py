"""Operators VTA has no instructions for, run on the host with numpy."""

from __future__ import annotations

import numpy as np

from .validate import pair


def upsample_nearest(x: np.ndarray, scale: int | tuple[int, int] = 2) -> np.ndarray:
    """Return ``x (N, C, H, W)`` with every pixel repeated ``scale`` times along H and W."""
    sh, sw = pair(scale, "scale", 1)
    return np.repeat(np.repeat(np.asarray(x), sh, axis=2), sw, axis=3)
