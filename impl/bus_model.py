"""How the simulated DRAM behind the core's AXI4 port behaves: back-pressure, delays, faults.

One :class:`BusModel` drives both DRAM models, Verilator's harness
(:mod:`.verilator`) and Amaranth's :class:`~.axi_ram.AxiRam`:

- ``stall``: in every cycle, each READY the model drives (ARREADY, AWREADY, WREADY) is withheld,
  and each VALID it is about to raise (RVALID, BVALID) is put off, with this probability;
- ``max_delay``: each read burst's first beat and each write response come a further random
  0..``max_delay`` cycles late;
- ``seed``: the random choices repeat for the same seed;
- ``faults``: address ranges whose bursts (of one direction) get an error response
  (:class:`BusFault`): every beat of a read burst carries it in RRESP, a write burst gets it in
  BRESP and leaves DRAM unchanged.

The default, ``BusModel()``, is always ready with the fixed latencies each model documents: the
cycle counts of the two simulators are then equal. In both models a write burst reaches DRAM
when its response is taken, not before (a write is visible only once it is answered).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import axi

FAULT_RESPONSES = {"slverr": axi.RESP_SLVERR, "decerr": axi.RESP_DECERR}
_FAULT_SYNTAX = re.compile(r"(read|write):(0x[0-9a-f]+|\d+)(?:-(0x[0-9a-f]+|\d+))?:(\w+)",
                           re.IGNORECASE)


@dataclass(frozen=True)
class BusFault:
    """Bursts of one direction touching bytes ``[start, end)`` get the error response ``resp``."""

    write: bool
    start: int
    end: int
    resp: int = axi.RESP_SLVERR

    def __post_init__(self):
        if not 0 <= self.start < self.end:
            raise ValueError(f"a bus fault needs 0 <= start < end, not [{self.start:#x}, "
                             f"{self.end:#x})")
        if self.resp not in FAULT_RESPONSES.values():
            raise ValueError(f"a bus fault's response must be SLVERR ({axi.RESP_SLVERR}) or "
                             f"DECERR ({axi.RESP_DECERR}), not {self.resp!r}")

    @classmethod
    def parse(cls, text: str) -> BusFault:
        """Return the fault ``read|write:START[-END]:slverr|decerr`` (END defaults to
        START + 1; numbers decimal or 0x-prefixed), or raise ValueError."""
        match = _FAULT_SYNTAX.fullmatch(text.strip())
        if not match or match[4].lower() not in FAULT_RESPONSES:
            raise ValueError(f"bad bus fault {text!r}: expected read|write:START[-END]:"
                             "slverr|decerr, as in read:0x1000-0x2000:slverr")
        start = int(match[2], 0)
        end = int(match[3], 0) if match[3] else start + 1
        return cls(match[1].lower() == "write", start, end, FAULT_RESPONSES[match[4].lower()])

    def hits(self, write: bool, start: int, end: int) -> bool:
        """Return whether a burst of that direction over bytes ``[start, end)`` gets it."""
        return write == self.write and start < self.end and self.start < end


@dataclass(frozen=True)
class BusModel:
    """The behaviour of the simulated DRAM (module docstring)."""

    stall: float = 0.0
    max_delay: int = 0
    seed: int = 0
    faults: tuple[BusFault, ...] = ()

    def __post_init__(self):
        if not 0 <= self.stall < 1:
            raise ValueError(f"the bus stall must be a probability below 1, not {self.stall!r}")
        if not isinstance(self.max_delay, int) or self.max_delay < 0:
            raise ValueError(f"the bus delay must be a whole number of cycles, not "
                             f"{self.max_delay!r}")
        object.__setattr__(self, "faults", tuple(self.faults))

    def response(self, write: bool, start: int, end: int) -> int:
        """Return the response to a burst of that direction over bytes ``[start, end)``."""
        for fault in self.faults:
            if fault.hits(write, start, end):
                return fault.resp
        return axi.RESP_OKAY


IDEAL_BUS = BusModel()  # always ready, fixed latencies, no faults: the default everywhere
