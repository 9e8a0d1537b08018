"""Dependency tokens for the runtime: the spec's token scheduler over the runtime's footprints.

:mod:`vtaref.spec.schedule` describes the algorithm. The runtime's choices: footprints are
half-open scratchpad ranges and DRAM buffer identities; pushes are grouped (one token covers a
run of loads or stores that pop nothing); there are no proactive handshakes, and a token queue
overflow that a NOP handshake cannot resolve raises :class:`CompileError` (random streams never
get there at depths 2 and 8, but can at depth 1).
"""

from __future__ import annotations

from collections.abc import Mapping

from vtaref.spec.errors import TokenOverflowError
from vtaref.spec.isa import Insn
from vtaref.spec.schedule import NOTHING, Conflicts, Footprint, TokenSchedule

from .errors import CompileError

__all__ = ["Footprint", "Schedule"]


class Schedule(TokenSchedule):
    """An instruction queue that inserts the dependency tokens its instructions need.

    ``depths`` maps each scratchpad name to its depth; ``token_depth`` is the hardware's token
    queue depth, which no queue exceeds.
    """

    def __init__(self, depths: Mapping[str, int], token_depth: int):
        super().__init__(token_depth, Conflicts(depths), group_pushes=True)

    def append(self, insn: Insn, footprint: Footprint = NOTHING,
               after: Mapping | None = None) -> int:
        """Append ``insn`` after whatever it conflicts with; return its program index.

        Raises CompileError when the token queues cannot order it within ``token_depth``.
        """
        try:
            return super().append(insn, footprint, after)
        except TokenOverflowError as err:
            raise CompileError(str(err)) from None
