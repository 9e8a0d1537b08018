"""Run a z3 proof: a list of obligations, each a goal that must hold under its assumptions.

A :class:`Z3Proof` has the interface of the SymbiYosys proofs (:class:`vtaref.proofs.Proof`):
a ``name``, ``slow``, and ``run(**options)`` returning a :class:`~vtaref.proofs.sby.ProofResult`
(engine "z3", mode "prove", depth 0 or the proof's bound). Each obligation is checked by asking
z3 for a model of its assumptions and the negated goal: none (unsat) proves it; one is a
counterexample, printed in the result's log as the values of the terms the obligation names.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import z3

from ..sby import ProofResult

ENGINE = "z3"
LOG_LINES = 60  # lines of the obligations' report kept in a result


@dataclass(frozen=True)
class Obligation:
    """``goal`` holds whenever every one of ``assumptions`` does; ``shown`` names the terms a
    counterexample prints (the fields, shape or inputs that break the goal)."""

    label: str
    assumptions: list
    goal: object
    shown: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Z3Proof:
    """A proof by z3: ``build(ctx)`` yields its obligations as terms of the z3 context ``ctx``.

    ``bound`` is the size bound of a bounded proof (0 for none), shown as its depth. A ``slow``
    proof runs only when asked for (``vta prove --all`` or ``--only NAME``).
    """

    name: str
    build: Callable[[z3.Context], Iterable[Obligation]]
    slow: bool = False
    bound: int = 0

    def run(self, *, timeout: float | None = None, on_line: Callable[[str], None] | None = None,
            verbose: bool = True, traces: Path | None = None) -> ProofResult:
        """Check every obligation; return (and with ``verbose``, print) the result.

        PASS when all hold, FAIL at the first with a counterexample (the log shows it),
        UNKNOWN when z3 gives up, TIMEOUT past ``timeout`` seconds in all. ``on_line`` gets a
        line per obligation checked; an exception it raises stops the proof and propagates.
        ``traces`` is accepted for the interface's sake: a z3 counterexample is in the log.
        """
        started = time.perf_counter()
        lines: list[str] = []
        status = "PASS"
        ctx = z3.Context()  # one per run: proofs run in threads, and a context is not shared
        for obligation in self.build(ctx):
            left = None if timeout is None else timeout - (time.perf_counter() - started)
            if left is not None and left <= 0:
                status = "TIMEOUT"
                break
            outcome, detail = check(obligation, ctx, left)
            lines.append(f"{obligation.label}: {outcome}")
            lines += detail
            if on_line is not None:
                on_line(lines[-1 - len(detail)])
            if outcome != "holds":
                status = {"counterexample": "FAIL", "timeout": "TIMEOUT"}.get(outcome, "UNKNOWN")
                break
        result = ProofResult(self.name, ENGINE, "prove", self.bound, status,
                             time.perf_counter() - started, "\n".join(lines[-LOG_LINES:]))
        if verbose:
            print(result)
        return result


def check(obligation: Obligation, ctx: z3.Context,
          seconds: float | None) -> tuple[str, list[str]]:
    """Return whether ``obligation`` ``holds``, has a ``counterexample`` (with its lines), or
    is ``unknown`` to z3 or hit the ``timeout`` of ``seconds``.

    Each obligation gets a fresh solver: z3's incremental mode (push/pop) skips the
    preprocessing that makes the bit-vector obligations quick.
    """
    solver = z3.Solver(ctx=ctx)
    if seconds is not None:
        solver.set("timeout", max(1, int(seconds * 1000)))
    solver.add(*obligation.assumptions)
    solver.add(z3.Not(obligation.goal))
    answer = solver.check()
    if answer == z3.unsat:
        return "holds", []
    if answer == z3.sat:
        return "counterexample", counterexample(solver.model(), obligation.shown)
    reason = solver.reason_unknown()
    return ("timeout" if reason in ("timeout", "canceled") else "unknown"), [f"  z3: {reason}"]


def counterexample(model: z3.ModelRef, shown: dict[str, object]) -> list[str]:
    """Return one ``name = value`` line per shown term, evaluated in ``model`` (signed for
    bit-vectors)."""
    lines = []
    for name, term in shown.items():
        value = model.eval(term, model_completion=True)
        if z3.is_bv_value(value):
            text = str(value.as_signed_long())
        else:
            text = str(value)
        lines.append(f"  {name} = {text}")
    return lines
