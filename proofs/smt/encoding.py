"""Encode/decode of every instruction and the micro-op is a bijection, for every configuration.

The configuration is symbolic (:class:`.terms.SymbolicConfig` under the spec's validity rules),
and so are the field values: the layouts are the spec's own (``insn_layout``, ``uop_layout``)
computed on those terms, and encoding and decoding are the spec's ``bitfields.join`` (what
``pack`` does once the values are checked) and ``bitfields.unpack``.
For each format two obligations: every valid field tuple encodes into a word of the format's
width that sets no bit outside the fields, carries the opcode ``decode`` dispatches on, and
decodes back to the same tuple; every word decodes into valid fields that encode back to the
word's field bits. Together: a bijection between valid field tuples and the words that are
zero outside the fields.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import z3

from vtaref.spec import bitfields
from vtaref.spec.config import INS_WIDTH, OPCODE_BIT_WIDTH, UOP_WIDTH

from .solver import Obligation
from .terms import SymbolicConfig, constant, insn_layouts, micro_op_layout, validity


def encoding_obligations(ctx: z3.Context, *, join: Callable = bitfields.join,
                         split: Callable = bitfields.unpack) -> Iterator[Obligation]:
    """Yield the obligations of every instruction class and of the micro-op; ``join`` and
    ``split`` are the encoder and decoder under proof (tests pass broken ones)."""
    config = SymbolicConfig(ctx)
    valid = validity(config)
    for cls, layout in insn_layouts(config).items():
        yield from round_trips(cls.MNEMONIC, layout, INS_WIDTH, config, valid, join, split,
                               fixed={"opcode": int(cls.OPCODE)})
    yield from round_trips("micro-op", micro_op_layout(config), UOP_WIDTH, config, valid, join,
                           split, fixed={})


def round_trips(name: str, layout: list, width: int, config: SymbolicConfig, valid: list,
                join: Callable, split: Callable, fixed: dict[str, int]) -> Iterator[Obligation]:
    """Yield the two obligations of one format (see the module)."""
    ctx = config.ctx
    fields = {f.name: constant(f"{name}.{f.name}", ctx) for f in layout}
    in_range = [z3.And(f.low <= fields[f.name], fields[f.name] <= f.high) for f in layout]
    in_range += [fields[key] == value for key, value in fixed.items()]
    covered = 0
    for f in layout:
        covered |= f.mask << f.offset
    word = join(layout, fields)
    decoded = split(layout, word)
    goal = [0 <= word, word < 1 << width, word & ~covered == 0]
    goal += [decoded[f.name] == fields[f.name] for f in layout]
    if fixed:
        goal.append(word & ((1 << OPCODE_BIT_WIDTH) - 1) == fixed["opcode"])
    yield Obligation(f"{name}: every valid field tuple encodes into {width} bits and decodes "
                     "back", [*valid, *in_range], z3.And(goal),
                     {**config.keys, **named(name, fields), "word": word})

    raw = constant(f"{name}.word", ctx)
    fields = split(layout, raw)
    goal = [z3.And(f.low <= fields[f.name], fields[f.name] <= f.high) for f in layout]
    goal.append(join(layout, fields) == raw & covered)
    yield Obligation(f"{name}: every {width}-bit word decodes into valid fields that encode "
                     "back to its field bits", [*valid, 0 <= raw, raw < 1 << width],
                     z3.And(goal), {**config.keys, "word": raw, **named(name, fields)})


def named(name: str, fields: dict) -> dict:
    """Return ``fields`` keyed ``<format>.<field>``, as a counterexample shows them."""
    return {f"{name}.{key}": value for key, value in fields.items()}
