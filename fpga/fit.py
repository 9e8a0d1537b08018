"""Fit a design on FPGA parts (:mod:`.parts`): synthesis, the capacity check, place and route.

:func:`fit` synthesizes the design once per family. On an ECP5 part the design goes behind
the five-pin :class:`~.pins.PinWrapper` and, if yosys's counts fit the part, through nextpnr
(:mod:`.pnr`), whose counts are the ones reported; a design placed timing-driven by the size
rule (:meth:`.NextpnrOptions.resolved`) whose route stalls is placed and routed again for
congestion alone. A Xilinx part gets yosys's counts against its capacity: no open place and
route for 7-series or UltraScale+ is used. A design that needs more of a resource than a part
has is not placed there; its result says by how much.
"""

from __future__ import annotations

import contextlib
import functools
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from amaranth.back import rtlil
from amaranth.lib import wiring

from .parts import RESOURCES, Part
from .pins import PinWrapper
from .pnr import NextpnrOptions, PnrResult, RouteStalled, place_and_route
from .synth import SynthResult, synthesize, synthesize_rtlil


@dataclass(frozen=True)
class PartFit:
    """A design on one part: yosys's counts, nextpnr's result on an ECP5 part it fits, and
    ``misfit``, the line saying what it lacks if it does not fit (:meth:`.Part.misfit`)."""

    part: Part
    synthesis: SynthResult
    pnr: PnrResult | None
    misfit: str | None

    def __str__(self) -> str:
        if self.pnr is not None:
            return str(self.pnr)
        routed = self.part.nextpnr_device is not None
        note = ("not placed" if routed else
                f"synthesis only: no open place and route for {self.synthesis.target}")
        return (f"{self.part.label}: {self.part.utilization(_used(self.synthesis))} ({note})"
                + ("; does not fit" if self.misfit else ""))


def fit(design: wiring.Component, parts: list[Part], *, name: str, frequency: float,
        nextpnr: NextpnrOptions | None = None, bitstream: Path | None = None,
        timeout: float | None = None, workdir: Path | None = None,
        on_synthesis: Callable[[Part, SynthResult], None] | None = None,
        progress: Callable[[str], None] | None = None,
        place: bool = True) -> Iterator[PartFit]:
    """Yield how ``design`` (module ``name``) fits each of ``parts``, in order.

    ``frequency`` (MHz) is nextpnr's target and ``nextpnr`` its options (None: the defaults),
    whether timing-driven decided per part by :meth:`.pnr.NextpnrOptions.resolved` unless they
    say; ``bitstream`` (one ECP5 part only) is where ecppack writes the bitstream; with
    ``place`` false no part is placed and routed (yosys's counts only, of the same design). The
    tools' files (RTLIL, scripts, logs, netlist, nextpnr's log and report) go to
    ``workdir/<target>/`` (created if need be), or to a temporary directory.
    ``on_synthesis`` is called with each synthesis result as it comes, ``progress`` with
    yosys's passes and nextpnr's phases. A part too small gets no place and route
    (:attr:`PartFit.misfit`). Raises SynthError when a tool fails (``timeout`` is per tool
    run), RouteStalled when a route stalls that is not retried (see the module).
    """
    placed = [part for part in parts if part.nextpnr_device is not None]
    if bitstream is not None and len(placed) != 1:
        raise ValueError("a bitstream needs exactly one ECP5 part")
    synthesized: dict[str, SynthResult] = {}
    with contextlib.ExitStack() as stack:
        workdir = _workdir(stack, workdir)
        for part in parts:
            if part.target not in synthesized:
                synthesized[part.target] = synthesize(
                    _top(design, part), part.target, name=name, timeout=timeout,
                    progress=progress, workdir=workdir / part.target,
                    write_netlist=part.nextpnr_device is not None)
                if on_synthesis is not None:
                    on_synthesis(part, synthesized[part.target])
            yield _placed(synthesized[part.target], part, name=name, frequency=frequency,
                          nextpnr=nextpnr, bitstream=bitstream, timeout=timeout,
                          workdir=workdir, progress=progress, place=place)


def top_rtlil(design: wiring.Component, part: Part, name: str) -> str:
    """Return the RTLIL yosys reads for ``design`` (module ``name``) on ``part``: behind the
    :class:`~.pins.PinWrapper` on a part that is placed and routed (ECP5). Without source
    locations (``src`` attributes): the text is a function of the design alone, not of the
    folder vtaref is in or of where its lines are, so its digest can key the tools' results."""
    return rtlil.convert(_top(design, part), name=name, emit_src=False)


def _top(design: wiring.Component, part: Part) -> wiring.Component:
    """Return what is synthesized of ``design`` for ``part``: behind the pin wrapper if placed."""
    return PinWrapper(design) if part.nextpnr_device is not None else design


def fit_rtlil(text: str, part: Part, *, name: str, frequency: float,
              nextpnr: NextpnrOptions | None = None, bitstream: Path | None = None,
              timeout: float | None = None, workdir: Path | None = None,
              on_synthesis: Callable[[SynthResult], None] | None = None,
              progress: Callable[[str], None] | None = None, place: bool = True) -> PartFit:
    """Return how the design of the RTLIL ``text`` (:func:`top_rtlil`'s) fits ``part``: as
    :func:`fit` for one part (``on_synthesis`` gets the synthesis result before place and
    route), the tools' files in ``workdir/<target>/`` or a temporary directory."""
    with contextlib.ExitStack() as stack:
        workdir = _workdir(stack, workdir)
        synthesis = synthesize_rtlil(text, part.target, name=name, timeout=timeout,
                                     progress=progress, workdir=workdir / part.target,
                                     write_netlist=part.nextpnr_device is not None)
        if on_synthesis is not None:
            on_synthesis(synthesis)
        return _placed(synthesis, part, name=name, frequency=frequency, nextpnr=nextpnr,
                       bitstream=bitstream, timeout=timeout, workdir=workdir,
                       progress=progress, place=place)


def _workdir(stack: contextlib.ExitStack, workdir: Path | None) -> Path:
    """Return ``workdir``, or a temporary directory that ``stack`` removes when it closes."""
    if workdir is not None:
        return workdir
    return Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vtaref-fit-")))


def _placed(synthesis: SynthResult, part: Part, *, name: str, frequency: float,
            nextpnr: NextpnrOptions | None, bitstream: Path | None, timeout: float | None,
            workdir: Path, progress: Callable[[str], None] | None, place: bool) -> PartFit:
    """Return ``synthesis`` checked against ``part`` and, if it fits and ``place``, placed and
    routed there (the netlist in ``workdir/<target>/``)."""
    misfit = part.misfit(_used(synthesis))
    pnr = None
    if place and part.nextpnr_device is not None and misfit is None:
        requested = nextpnr or NextpnrOptions()
        options = requested.resolved(synthesis.luts, part)
        route = functools.partial(place_and_route, workdir / part.target / f"{name}.json", part,
                                  frequency=frequency, bitstream=bitstream, timeout=timeout,
                                  progress=progress)
        started = time.perf_counter()
        try:
            pnr = route(options=options)
        except RouteStalled as stall:
            if requested.timing_driven is not None or not options.timing_driven:
                raise
            if progress is not None:
                progress(f"{stall.detail}: placing and routing for congestion")
            pnr = route(options=replace(options, timing_driven=False))
            pnr = replace(pnr, stalled=stall.detail, seconds=time.perf_counter() - started)
    return PartFit(part, synthesis, pnr, misfit and f"{name} {misfit}")


def _used(synthesis: SynthResult) -> dict[str, int]:
    """Return what ``synthesis`` counted of each of :data:`.parts.RESOURCES`."""
    return {resource: getattr(synthesis, resource) for resource in RESOURCES}
