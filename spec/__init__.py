"""The executable VTA specification: the oracle every other part is checked against.

Pure Python and numpy (it never imports amaranth). Start with :func:`run_image`::

    from vtaref.spec import ProgramImage, run_image
    result = run_image(ProgramImage.load("tests/conformance/default/matmul_00"))
"""

from .builder import ProgramBuilder
from .config import DEFAULT_CONFIG, VtaConfig
from .errors import (
    ConfigError,
    DeadlockError,
    ImageError,
    ProgramError,
    RaceError,
    TokenOverflowError,
    VtaError,
)
from .image import ProgramImage
from .isa import (
    Alu,
    AluOp,
    Finish,
    Gemm,
    Load,
    LoopInsn,
    MemType,
    Opcode,
    Stage,
    Store,
    Uop,
    decode,
    encode,
)
from .runner import RunStats, run_image, run_program
from .semantics import FLAVORS, Flavor
from .state import MachineState

__all__ = [
    "Alu", "AluOp", "ConfigError", "DEFAULT_CONFIG", "DeadlockError", "FLAVORS", "Finish",
    "Flavor", "Gemm", "ImageError", "Load", "LoopInsn", "MachineState", "MemType", "Opcode",
    "ProgramBuilder", "ProgramError", "ProgramImage", "RaceError", "RunStats", "Stage", "Store",
    "TokenOverflowError", "Uop", "VtaConfig", "VtaError", "decode", "encode", "run_image",
    "run_program",
]
