"""Hypothesis strategies that draw valid VTA configurations and programs, for any configuration.

Every program strategy draws a :class:`ProgramImage` (built with :class:`ProgramBuilder`) that
:func:`vtaref.spec.run_image` runs with its default options (fsim flavor, race checking on, token
queues 8 deep) without any error. Each program is valid by construction:

- every LOAD, STORE, GEMM and ALU access lies inside the scratchpads and inside DRAM, and every
  field fits its bit width;
- no scratchpad element (micro-ops included) is read before some instruction wrote it, so the
  result never depends on the zeroed start-up state;
- every pair of accesses from different stages to the same scratchpad element or DRAM byte, at
  least one of them a write, is ordered by dependency tokens (so the result does not depend on
  how the stages interleave), and every instruction of every stage is ordered before FINISH,
  which comes last;
- tokens are balanced (every push is popped), no pop waits forever, and no token queue may ever
  hold more than ``max_tokens`` tokens (in any legal interleaving, as the runner counts them).

The programs follow the default (fsim) semantics: ALU MUL, signed SHR amounts and ACC_8BIT loads
appear; pass ``alu_ops`` to leave operations out.

Tokens are placed by :class:`vtaref.spec.schedule.TokenSchedule` (its module describes the
algorithm) through the :class:`~.assembler.Assembler`: each push sits on the earliest producer
instruction that can carry it, so stages still run ahead of each other, and NOP handshakes are
added as soon as a token queue's producer lags ``max_tokens`` pops behind, as TVM-VTA's runtime
does.

The package's modules: :mod:`.configurations` (configs), :mod:`.assembler`,
:mod:`.actions` (random programs as actions), :mod:`.arguments` (the actions' arguments),
:mod:`.families` (structured programs) and :mod:`.reference` (their expected results).
Structured strategies can also return a :class:`Reference` holding their inputs and expected
outputs in logical (untiled) form; their images always carry ``expected`` (the whole DRAM after
the run), computed with numpy.
"""

from .actions import random_programs
from .configurations import configs, small_configs
from .families import (
    conv2d_programs,
    pipelined_programs,
    programs,
    requantize_programs,
    tiled_gemm_programs,
)
from .reference import Reference

__all__ = [
    "Reference", "configs", "conv2d_programs", "pipelined_programs", "programs",
    "random_programs", "requantize_programs", "small_configs", "tiled_gemm_programs",
]
