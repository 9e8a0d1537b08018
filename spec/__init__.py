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
from .runner import RunStats, run_program
from .semantics import FLAVORS, Flavor
from .state import MachineState


def run_image(image: ProgramImage, **options) -> tuple[MachineState, RunStats]:
    """Run a program image; return the final machine state and the run's counts.

    ``options``: flavor, check_races, strict, token_depth, tracer, progress (see Runner).
    """
    return run_program(image.config, image.make_dram(), image.insn_addr, image.insn_count,
                       **options)


__all__ = [
    "Alu", "AluOp", "ConfigError", "DEFAULT_CONFIG", "DeadlockError", "FLAVORS", "Finish",
    "Flavor", "Gemm", "ImageError", "Load", "LoopInsn", "MachineState", "MemType", "Opcode",
    "ProgramBuilder", "ProgramError", "ProgramImage", "RaceError", "RunStats", "Stage", "Store",
    "TokenOverflowError", "Uop", "VtaConfig", "VtaError", "decode", "encode", "run_image",
    "run_program",
]
