"""The spec's JSON-lines trace of a run on the RTL, from its retirement port (:mod:`.retire`).

A simulator feeds :class:`RetireLog` every event the port reports during one run, as raw
integers; :meth:`RetireLog.replay` then hands the run to :func:`vtaref.spec.trace.replay`,
which writes the same lines as the spec's own trace of that program when the core is right.
"""

from __future__ import annotations

from collections import defaultdict

from amaranth.lib import data

from vtaref.spec import isa
from vtaref.spec.image import ProgramImage
from vtaref.spec.isa import Stage
from vtaref.spec.pipeline import flag_queue
from vtaref.spec.runner import Tracer
from vtaref.spec.trace import Effects, replay

from . import retire, scratchpad

DEP_FLAGS = ("pop_prev", "pop_next", "push_prev", "push_next")


def unpack(layout: data.StructLayout, value: int) -> dict[str, int]:
    """Return the members of the ``layout`` record ``value`` as unsigned integers."""
    return {name: (value >> f.offset) & ((1 << f.width) - 1) for name, f in layout}


def lanes(space: str, config, row: int) -> list[int]:
    """Return the lanes of scratchpad ``space``'s ``row`` as the spec holds them: uop rows as
    one raw word, the others as signed lanes, lane 0 first."""
    if space == "uop":
        return [row]
    layout = scratchpad.row_layout(space, config)
    width = layout.elem_shape.elem_shape.width
    count = layout.length * layout.elem_shape.length
    values = [(row >> (k * width)) & ((1 << width) - 1) for k in range(count)]
    return [v - (1 << width) if v >> (width - 1) else v for v in values]


class RetireLog:
    """The retirement port's events of one run of the core for ``config``: all of them in
    ``events``, in the order they came; retirements and writes by program index."""

    def __init__(self, config):
        self.config = config
        self.layouts = {stage: retire.retirement_layout() for stage in retire.STAGES}
        self.layouts |= {space: retire.write_layout(space, config) for space in retire.SPACES}
        self.layouts |= {"gemm": retire.gemm_visit_layout(config),
                         "alu": retire.alu_visit_layout(config),
                         "dram": retire.dram_write_layout(config)}
        self.events: list[tuple[int, str, dict[str, int]]] = []  # cycle, member, record
        self.retired: dict[int, tuple[str, dict[str, int]]] = {}  # index -> stage, record
        self.effects: dict[int, Effects] = defaultdict(Effects)
        self.duplicates: list[int] = []  # indices retired more than once

    def record(self, member: str, payload: int, cycle: int) -> None:
        """Take one event of the port's ``member`` (its payload as an integer) in ``cycle``."""
        fields = unpack(self.layouts[member], payload)
        self.events.append((cycle, member, fields))
        index = fields["index"]
        if member in retire.STAGES:
            if index in self.retired:
                self.duplicates.append(index)
            self.retired[index] = (member, fields)
        elif member == "dram":
            size = self.config.out_elem_bytes
            for offset, byte in enumerate(fields["data"].to_bytes(size, "little")):
                self.effects[index].dram[(fields["addr"] + offset) & 0xFFFF_FFFF] = byte
        elif member in retire.SPACES:
            rows = self.effects[index].rows.setdefault(member, {})
            rows[fields["addr"]] = lanes(member, self.config, fields["data"])

    def members(self) -> tuple[str, ...]:
        """Return the port members whose events :meth:`record` takes."""
        return tuple(self.layouts)

    def replay(self, image: ProgramImage, tracer: Tracer) -> None:
        """Call ``tracer`` for each instruction the core retired in its run of ``image``.

        Raises ValueError if the core did not retire each instruction exactly once, or retired
        bits that are not an instruction.
        """
        if self.duplicates:
            raise ValueError(f"the core retired instruction {self.duplicates[0]} twice")
        missing = sorted(set(range(image.insn_count)) - set(self.retired))
        if missing or len(self.retired) != image.insn_count:
            which = missing[0] if missing else max(self.retired)
            raise ValueError(f"the core retired {len(self.retired)} of {image.insn_count} "
                             f"instructions (not instruction {which})" if missing else
                             f"the core retired an instruction {which} past the program's end")
        program, tokens = [], {}
        for index in range(image.insn_count):
            stage, fields = self.retired[index]
            bits = fields["insn"].to_bytes(isa.INSN_BYTES, "little")
            try:
                program.append(isa.decode(bits, self.config))
            except isa.DecodeError as err:
                raise ValueError(f"the core retired instruction {index} as {bits.hex()}: "
                                 f"{err}") from None
            taken = {"pop": [], "push": []}
            for flag in DEP_FLAGS:
                if fields[flag]:
                    queue = flag_queue(Stage[stage.upper()], f"{flag}_dep")
                    taken[flag.partition("_")[0]].append(queue)
            tokens[index] = taken
        replay(self.config, image.make_dram(), program, self.effects, tokens, tracer)
