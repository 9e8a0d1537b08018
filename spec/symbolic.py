"""The few operations of the layout arithmetic that need more than ``+ - * << >> & |``.

The configuration's derived widths (:mod:`.config`) and the bit-field layouts (:mod:`.bitfields`)
are written so that symbolic integers evaluate them as well as ints: :mod:`vtaref.proofs.smt`
runs them on z3 bit-vectors to prove the encodings for every configuration at once. A choice
on a condition is the only thing Python cannot do on such terms (``if`` needs a bool), so it
goes through :func:`choose`, which the proofs extend to their terms' type.
"""

from __future__ import annotations

from functools import singledispatch


@singledispatch
def choose(condition, if_true, if_false):
    """Return ``if_true`` if ``condition`` holds, else ``if_false``.

    For a bool this is Python's conditional expression; a symbolic condition's type registers
    its own (``choose.register(z3.BoolRef, ...)``).
    """
    return if_true if condition else if_false


def maximum(a, b):
    """Return the larger of ``a`` and ``b``."""
    return choose(a >= b, a, b)
