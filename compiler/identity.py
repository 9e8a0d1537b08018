"""Moving activations into the accumulator with GEMM against a (scaled) identity weight.

The ALU only reads the accumulator, so operators on int8 activations (residual add, ReLU, pooling)
first bring them there: a GEMM with the weight ``scale * I`` adds ``scale * inp[src]`` to
``acc[dst]``. The activations then travel as narrow INP elements through the load stage, which
overlaps with compute, instead of as accumulator-wide elements.
"""

from __future__ import annotations

import numpy as np

from vtaref.spec import MemType

from .errors import CompileError
from .runtime import CommandStream


def load_identity(stream: CommandStream, scales: tuple[int, ...] = (1,), base: int = 0) -> None:
    """Load the weights ``scale * I`` for each of ``scales`` into weight entries ``base``,
    ``base + 1``, ..."""
    config = stream.config
    if max(scales) > (1 << (config.wgt_width - 1)) - 1:
        raise CompileError(f"{config.wgt_width}-bit weights cannot hold the scale {max(scales)}")
    eye = np.eye(config.block, dtype=np.int64)
    weights = stream.upload(MemType.WGT, np.stack([s * eye.reshape(-1) for s in scales]),
                            (len(scales),))
    stream.load_box(weights, base, (0,), (len(scales),))
