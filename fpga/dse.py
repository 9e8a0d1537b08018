"""Design-space exploration: each point of a sweep (:mod:`.dse_space`) evaluated in stages, on
Dask (:mod:`vtaref.spec.jobs`), with results cached per stage (:mod:`.dse_cache`).

The stages, in order, each run only if the one before succeeded:

- ``cost``: the workload compiled for the point's config and its cycles predicted by the
  timing model (:func:`vtaref.compiler.timing.predict`, at the point's data width); the
  compiler's refusal is the point's reason;
- ``synth``: the core synthesized with yosys for the part (behind the pin wrapper on ECP5, as
  placed; GEMM products the part's DSPs cannot take on LUT multipliers, :mod:`.budget`) and its
  counts checked against the part: a point that does not fit stops here;
- ``pnr``: placed and routed by nextpnr on the part, for the Fmax.

Before ``synth``, the internal step ``design`` converts the point's core to RTLIL and keeps its
SHA-256: the tools' results are cached on that digest (with the yosys script, the part, the
nextpnr options and the tools' versions: :meth:`Sweep.key`), not on vtaref's sources, so an
edit that leaves the RTLIL alone keeps hours of place and route, and two configs that make the
same RTLIL share them. The digest itself is cached on the sources (a cheap job to redo).

After the sweep, the step ``rtl`` confirms the front-runners (:func:`front_runners`): the
workload run on the core under Verilator, checked against the spec, for the measured cycles
the timing model predicted (:attr:`Row.model_error`); cached on the RTLIL digest, the point,
the workload and the compiler's sources.

:func:`evaluate` is the job: a module-level function of plain data that returns every failure
it expects as a result (``{"error": reason}``), so that one point's failure never stops the
sweep (``vta dse`` runs them with :func:`vtaref.spec.jobs.run_jobs`). :func:`plan` says what the
cache holds of a point and which stages are left; a :class:`Row` is a point's outcome.
"""

from __future__ import annotations

import csv
import hashlib
import io
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from vtaref.spec import VtaConfig, VtaError

from .dse_cache import Cache
from .dse_space import FIELDS, Point
from .parts import PARTS, RESOURCES

STAGES = ("cost", "synth", "pnr")
# The steps a point goes through: the stages and, before synth, its design's RTLIL digest.
STEPS = ("cost", "design", "synth", "pnr")
CONFIRM_STEPS = ("design", "rtl")  # a front-runner's, after the sweep
# Per step, the versions its result depends on (as :func:`.dse_cache.versions` names them);
# synth and pnr depend on vtaref only through the design's RTLIL.
STEP_TOOLS = {"cost": ("vtaref", "compiler-sources"),
              "design": ("vtaref", "hardware-sources", "amaranth"),
              "synth": ("yosys",),
              "pnr": ("yosys", "nextpnr"),
              "rtl": ("vtaref", "compiler-sources")}
TOP_NAME = "vta_core"  # the top module's name in the RTLIL and the netlist


@dataclass(frozen=True)
class ResNet18:
    """ResNet-18 (:func:`vtaref.compiler.networks.resnet18`) on one random image."""

    resolution: int = 224
    width: int = 64
    seed: int = 0

    @property
    def label(self) -> str:
        return f"ResNet-18 {self.resolution}x{self.resolution} width {self.width}"

    def key(self) -> dict:
        """Return what identifies the workload in a cache key."""
        return {"workload": "resnet18", "resolution": self.resolution, "width": self.width,
                "seed": self.seed}

    def build(self, config: VtaConfig):
        """Return the network for ``config`` and its input."""
        from vtaref.compiler.networks import random_input, resnet18

        graph = resnet18(self.resolution, self.seed, width=self.width, config=config)
        return graph, random_input(graph.input_shape, self.seed + 1, config=config)


@dataclass(frozen=True)
class OnnxModel:
    """A quantized ONNX model (:func:`vtaref.compiler.onnx.import_model`, lowered for each
    config) on a random input of its shape (:meth:`~vtaref.compiler.onnx.Imported.sample`).
    ``digest``, the file's SHA-256, identifies it in cache keys; the workers read ``path``
    (on a cluster, a path they all see)."""

    path: str
    digest: str
    seed: int = 0

    @classmethod
    def read(cls, path: str | Path, seed: int = 0) -> OnnxModel:
        """Return the workload of the model file ``path``. Raises OSError if it cannot be
        read, OnnxImportError (a ValueError) if it is not an ONNX model the importer reads."""
        from vtaref.compiler.onnx.reader import read_model

        read_model(path)
        return cls(str(path), hashlib.sha256(Path(path).read_bytes()).hexdigest(), seed)

    @property
    def label(self) -> str:
        return Path(self.path).name

    def key(self) -> dict:
        return {"workload": "onnx", "sha256": self.digest, "seed": self.seed}

    def build(self, config: VtaConfig):
        """Return the model's graph for ``config`` and its input."""
        from vtaref.compiler.onnx import import_model

        imported = import_model(self.path, config)
        return imported.graph, imported.sample(self.seed)


@dataclass(frozen=True)
class Sweep:
    """What every point of a sweep shares: the ``workload`` (any picklable object with
    ``label``, ``key()`` and ``build(config) -> (Graph, input)``, as :class:`ResNet18`), the
    last ``stage`` to run, the ``part``'s name, the clock in MHz (nextpnr's target, and the
    nominal clock of the figures without an Fmax), the ``timeout`` per tool run and the
    ``versions`` results depend on (:func:`.dse_cache.versions`)."""

    workload: object
    stage: str
    part: str
    freq: float
    timeout: float | None
    versions: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.stage not in STAGES:
            raise ValueError(f"unknown stage {self.stage!r} (known: {', '.join(STAGES)})")
        if self.part not in PARTS:
            raise ValueError(f"unknown part {self.part!r} (known: {', '.join(PARTS)})")
        if self.stage == "pnr" and PARTS[self.part].nextpnr_device is None:
            raise ValueError(f"stage pnr needs an ECP5 part: no open place and route for "
                             f"the {PARTS[self.part].label}")

    @property
    def steps(self) -> tuple[str, ...]:
        """Return the steps each point goes through, in order (:data:`STEPS`)."""
        return STEPS[:STEPS.index(self.stage) + 1]

    def key(self, point: Point, step: str, rtlil: str | None = None) -> dict:
        """Return the cache key of ``step`` of ``point``: what that step's result depends on.
        ``rtlil``, the SHA-256 of the point's design (:func:`design`), is needed for synth and
        pnr, whose key holds it instead of the point: the yosys script and the rules that
        count its cells (the part's target), the part, and for pnr the clock, nextpnr's
        options, the size up to which it runs timing-driven and when a route has stalled; and
        for rtl, with the point and the workload (whose programs it runs)."""
        from .pnr import ROUTER, STALL_ITERATIONS, TIMING_DRIVEN_UP_TO, NextpnrOptions
        from .synth import script
        from .targets import TARGETS

        key = {"stage": step, **{tool: self.versions.get(tool) for tool in STEP_TOOLS[step]}}
        if step in ("cost", "design", "rtl"):
            key["point"] = point.key()
        if step in ("cost", "rtl"):
            key["workload"] = self.workload.key()
        if step == "cost":
            return key
        if step == "design":
            return {**key, "part": self.part}
        if rtlil is None:
            raise ValueError(f"the {step} key needs the design's RTLIL digest")
        if step == "rtl":
            return {**key, "rtlil": rtlil}
        key["part"] = self.part
        part = PARTS[self.part]
        target = TARGETS[part.target]
        key.update(rtlil=rtlil, target=repr(target),
                   script=script(TOP_NAME, target.command, part.nextpnr_device is not None,
                                 after=target.after))
        if step == "pnr":
            # Whether a point is placed timing-driven is chosen by its size against the rule,
            # and again by whether that route stalls.
            key.update(freq=self.freq, router=ROUTER,
                       nextpnr_options=NextpnrOptions().arguments(),
                       timing_driven_up_to=TIMING_DRIVEN_UP_TO, stall_iterations=STALL_ITERATIONS)
        return key


def _final(result: dict) -> bool:
    """Return whether no later stage runs after ``result``: it failed, or does not fit."""
    return "error" in result or result.get("fit") is False


def evaluate(point: Point, sweep: Sweep, steps: tuple[str, ...]) -> dict[str, dict]:
    """Return the results of ``steps`` of ``point`` (consecutive steps of ``sweep.steps``,
    ``pnr`` with ``synth`` before it), stopping after one that fails or does not fit. A failure
    is ``{"error": reason}``, with ``"transient": True`` when a tool failed or timed out (worth
    running again; not cached). Synth and rtl build the design again, so their results come
    with the ``design`` result (the digest they are cached under); a design that cannot be
    built is the synth stage's failure too."""
    results = {}
    if "cost" in steps:
        results["cost"] = _cost(point, sweep)
        if _final(results["cost"]):
            return results
    if {"design", "synth", "rtl"} & set(steps):
        try:
            text, dsps = design(point, sweep)
        except ValueError as err:
            return {**results, "design": {"error": str(err)}, "synth": {"error": str(err)}}
        results["design"] = {"rtlil": hashlib.sha256(text.encode()).hexdigest()}
        if "synth" in steps:
            results.update(_hardware(text, dsps, sweep, place="pnr" in steps))
        if "rtl" in steps:
            results["rtl"] = _rtl(point, sweep)
    return results


def design(point: Point, sweep: Sweep) -> tuple[str, int | None]:
    """Return the RTLIL of ``point``'s core as yosys reads it for the sweep's part (module
    :data:`TOP_NAME`), and how many GEMM products it puts on DSPs (None: all). Raises
    ValueError if the core cannot be built."""
    from .budget import gemm_dsp_products
    from .fit import top_rtlil
    from .tops import build

    part = PARTS[sweep.part]
    dsps = gemm_dsp_products("core", point.config, [part])
    core = build("core", point.config, point.data_width, gemm_dsps=dsps)
    return top_rtlil(core, part, TOP_NAME), dsps


def _cost(point: Point, sweep: Sweep) -> dict:
    """Return the cycles the timing model predicts for the workload on ``point``."""
    from vtaref.compiler import CompileError
    from vtaref.compiler.profiling import totals
    from vtaref.compiler.timing import Timing

    started = time.perf_counter()
    label = sweep.workload.label
    try:
        graph, x = sweep.workload.build(point.config)
    except (CompileError, VtaError, ValueError) as err:
        return {"error": f"{label}: {err}"}
    done = []
    try:
        profile = graph.profile(x, config=point.config, backend=None, on_node=done.append,
                                timing=Timing(data_width=point.data_width))
    except (CompileError, VtaError, ValueError) as err:  # in the node after those done
        return {"error": f"{label}: {graph.nodes[len(done)].output}: {err}"}
    figures = totals(profile, point.config)
    return {"cycles": figures["predicted_cycles"], "macs": figures["macs"],
            "instructions": figures["instructions"], "host_nodes": figures["host_nodes"],
            "seconds": round(time.perf_counter() - started, 3)}


def programs(point: Point, sweep: Sweep):
    """Return the workload's programs for ``point``'s config, run on the spec: a
    :class:`~vtaref.compiler.demo.Recorder` holding each image with the DRAM it ends with, and
    the node each one computes, in order. Raises what compiling or running raises
    (CompileError, VtaError, BackendError)."""
    from vtaref.compiler.demo import Recorder
    from vtaref.compiler.graph import HOST
    from vtaref.spec.backends import SpecBackend

    graph, x = sweep.workload.build(point.config)
    recorder = Recorder(SpecBackend())
    graph.run(x, config=point.config, backend=recorder)
    return recorder, [node.output for node in graph.nodes if node.op not in HOST]


def bitstream(point: Point, sweep: Sweep) -> bytes:
    """Return the ECP5 bitstream of ``point``'s core on the sweep's part, placed and routed as
    its pnr stage is (same design, clock, options and seed). Raises SynthError if a tool
    fails or times out, ValueError if the core does not fit the part."""
    from .fit import fit_rtlil
    from .pnr import NextpnrOptions

    text, _ = design(point, sweep)
    with tempfile.TemporaryDirectory(prefix="vtaref-dse-") as folder:
        path = Path(folder) / f"{TOP_NAME}.bit"
        fitted = fit_rtlil(text, PARTS[sweep.part], name=TOP_NAME, frequency=sweep.freq,
                           nextpnr=NextpnrOptions(), timeout=sweep.timeout,
                           workdir=Path(folder), bitstream=path)
        if fitted.pnr is None:
            raise ValueError(fitted.misfit)
        return path.read_bytes()


def _rtl(point: Point, sweep: Sweep) -> dict:
    """Return the cycles the workload takes on ``point``'s core under Verilator, each program
    checked against the spec, with the timing model's prediction for the same programs."""
    from vtaref.compiler import CompileError
    from vtaref.compiler.backend import get_backend
    from vtaref.compiler.profiling import totals
    from vtaref.compiler.timing import Timing
    from vtaref.spec.backends import BackendError, BackendUnavailableError

    started = time.perf_counter()
    graph, x = sweep.workload.build(point.config)
    try:
        profile = graph.profile(x, config=point.config,
                                backend=get_backend("rtl", data_width=point.data_width),
                                timing=Timing(data_width=point.data_width))
    except BackendUnavailableError as err:  # Verilator missing, or its build failed
        return {"error": f"RTL: {err}", "transient": True}
    except (BackendError, CompileError, VtaError, ValueError) as err:
        return {"error": f"RTL: {err}"}
    figures = totals(profile, point.config)
    return {"cycles": figures["backend_cycles"], "predicted_cycles": figures["predicted_cycles"],
            "seconds": round(time.perf_counter() - started, 1)}


def _hardware(text: str, dsps: int | None, sweep: Sweep, place: bool) -> dict[str, dict]:
    """Return the synth result of the RTLIL ``text`` on the part and, with ``place``, the pnr
    one (run only if it fits)."""
    from .fit import fit_rtlil
    from .pnr import NextpnrOptions, RouteStalled
    from .synth import SynthError

    synthesized = []
    try:
        fitted = fit_rtlil(text, PARTS[sweep.part], name=TOP_NAME, frequency=sweep.freq,
                           nextpnr=NextpnrOptions(), timeout=sweep.timeout, place=place,
                           on_synthesis=synthesized.append)
    except SynthError as err:  # nextpnr's, once synthesized (so the design fits)
        # A stalled route stalls again (nextpnr is deterministic); a tool failure may not.
        failure = {"error": str(err), **({} if isinstance(err, RouteStalled)
                                         else {"transient": True})}
        if not synthesized:
            return {"synth": failure}
        return {"synth": _synth_result(synthesized[0], None, dsps), "pnr": failure}
    except ValueError as err:
        return {"synth": {"error": str(err)}}
    results = {"synth": _synth_result(fitted.synthesis, fitted.misfit, dsps)}
    if fitted.pnr is not None:
        pnr = fitted.pnr
        results["pnr"] = {**pnr.used, "fmax_mhz": round(pnr.fmax_mhz, 2),
                          "critical_path": str(pnr.critical_path or ""),
                          "timing_driven": pnr.timing_driven, "stalled": pnr.stalled,
                          "seconds": round(pnr.seconds, 1)}
    return results


def _synth_result(synthesis, misfit: str | None, dsps: int | None) -> dict:
    """Return the synth stage's result: yosys's counts, whether it fits, the GEMM's DSPs."""
    return {**{resource: getattr(synthesis, resource) for resource in RESOURCES},
            "fit": misfit is None, "misfit": misfit, "gemm_dsps": dsps,
            "seconds": round(synthesis.seconds, 1)}


@dataclass(frozen=True)
class Row:
    """One point's outcome: its results by stage and the stages that came from the cache."""

    point: Point
    results: dict[str, dict]
    cached: tuple[str, ...]
    sweep: Sweep

    @property
    def stage(self) -> str:
        """Return the last stage the point reached (``config`` if its config was rejected)."""
        return next((stage for stage in reversed(STAGES) if stage in self.results), "config")

    @property
    def reason(self) -> str | None:
        """Return why the point failed or stopped early: the config's, a stage's, the misfit."""
        if self.point.reason is not None:
            return self.point.reason
        last = self.results.get(self.stage, {})
        return last.get("error") or last.get("misfit") or self.results.get("rtl", {}).get(
            "error")

    @property
    def ok(self) -> bool:
        """Return whether every stage it reached succeeded (a misfit is a result, not an
        error; the RTL's confirmation is apart)."""
        return self.point.config is not None and not any(
            "error" in self.results.get(step, {}) for step in STEPS)

    @property
    def fit(self) -> bool | None:
        """Return whether it fits the part (None: not synthesized)."""
        return self.results.get("synth", {}).get("fit")

    @property
    def cycles(self) -> int | None:
        return self.results.get("cost", {}).get("cycles")

    @property
    def rtl_cycles(self) -> int | None:
        """Return the cycles measured on the RTL (None: not confirmed, or it failed)."""
        return self.results.get("rtl", {}).get("cycles")

    @property
    def model_error(self) -> float | None:
        """Return the cycles the timing model predicted for the programs run on the RTL over
        those measured, less 1 (None: not confirmed)."""
        rtl = self.results.get("rtl", {})
        return None if not rtl.get("cycles") else rtl["predicted_cycles"] / rtl["cycles"] - 1

    @property
    def fmax_mhz(self) -> float | None:
        return self.results.get("pnr", {}).get("fmax_mhz")

    @property
    def clock_mhz(self) -> float:
        """Return the clock of the point's figures: its Fmax if routed, else the nominal one."""
        return self.sweep.freq if self.fmax_mhz is None else self.fmax_mhz

    @property
    def fps(self) -> float | None:
        """Return the workload's frames per second at :attr:`clock_mhz`, or None."""
        return None if not self.cycles else self.clock_mhz * 1e6 / self.cycles

    def resources(self) -> dict[str, int] | None:
        """Return what it uses of each resource (nextpnr's if routed, else yosys's), or None."""
        for stage in ("pnr", "synth"):
            counts = self.results.get(stage, {})
            if "error" not in counts and all(resource in counts for resource in RESOURCES):
                return {resource: counts[resource] for resource in RESOURCES}
        return None

    @property
    def routing(self) -> str:
        """Return how nextpnr routed it: ``timing-driven``, ``congestion``, or ``congestion
        after a stall`` (its timing-driven route stalled); empty if not routed."""
        pnr = self.results.get("pnr", {})
        if "timing_driven" not in pnr:
            return ""
        if pnr["timing_driven"]:
            return "timing-driven"
        return "congestion after a stall" if pnr.get("stalled") else "congestion"

    @property
    def counted_by(self) -> str:
        """Return which tool counted :meth:`resources`: ``nextpnr``, ``yosys`` or none."""
        if self.resources() is None:
            return ""
        return "nextpnr" if "fmax_mhz" in self.results.get("pnr", {}) else "yosys"

    def as_dict(self) -> dict:
        """Return the point's CSV row (see :data:`COLUMNS`)."""
        resources = self.resources() or {}
        cost = self.results.get("cost", {})
        fps = self.fps
        return {
            **self.point.values(), "config": self.point.config.name if self.point.config else "",
            "baseline": self.point.baseline,
            "stage": self.stage, "status": "ok" if self.ok else "failed",
            "reason": self.reason or "", "cycles": self.cycles or "",
            "macs": cost.get("macs", ""), "host_nodes": len(cost.get("host_nodes", "")),
            "clock": "" if fps is None else "fmax" if self.fmax_mhz is not None else "nominal",
            "clock_mhz": "" if fps is None else self.clock_mhz,
            "fps": "" if fps is None else float(f"{fps:.6g}"),
            "gmac_per_s": "" if fps is None else float(f"{fps * cost['macs'] / 1e9:.6g}"),
            **{resource: resources.get(resource, "") for resource in RESOURCES},
            "counted_by": self.counted_by,
            "fit": {True: "yes", False: "no", None: ""}[self.fit],
            "gemm_dsps": self.results.get("synth", {}).get("gemm_dsps", ""),
            "fmax_mhz": self.fmax_mhz or "", "routing": self.routing,
            "rtl_cycles": self.rtl_cycles or "",
            "model_error": "" if self.model_error is None else round(self.model_error, 5),
            "cached": "+".join(self.cached),
        }


COLUMNS = (*FIELDS, "config", "baseline", "stage", "status", "reason", "cycles", "macs",
           "host_nodes", "clock", "clock_mhz", "fps", "gmac_per_s", *RESOURCES, "counted_by",
           "fit", "gemm_dsps", "fmax_mhz", "routing", "rtl_cycles", "model_error", "cached")


def plan(point: Point, sweep: Sweep, cache: Cache, steps: tuple[str, ...] | None = None
         ) -> tuple[dict[str, dict], tuple[str, ...]]:
    """Return the results of ``point`` in the cache, and which of ``steps`` (default
    ``sweep.steps``) are still to compute (with synth again before a pnr not cached: place
    and route needs the netlist). A design that could not be built is the synth stage's
    failure."""
    steps = sweep.steps if steps is None else steps
    cached = {}
    for step in steps:
        result = cache.get(sweep.key(point, step, cached.get("design", {}).get("rtlil")))
        if result is None:
            break
        cached[step] = result
        if _final(result):
            if step == "design":
                cached["synth"] = result
            return cached, ()
    todo = steps[len(cached):]
    if todo == ("pnr",):
        todo = ("synth", "pnr")
        del cached["synth"]
    return cached, todo


def store(cache: Cache, setup: Sweep, point: Point, results: dict[str, dict]) -> None:
    """Cache the ``results`` :func:`evaluate` returned for ``point``, but transient failures
    (and the synth stage's copy of a design's failure). Raises OSError if the cache cannot be
    written."""
    rtlil = results.get("design", {}).get("rtlil")
    for step, result in results.items():
        if result.get("transient") or (step in ("synth", "pnr") and rtlil is None):
            continue
        cache.put(setup.key(point, step, rtlil), result)


def csv_text(rows: list[Row]) -> str:
    """Return ``rows`` as CSV, a header of :data:`COLUMNS` first."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(row.as_dict() for row in rows)
    return buffer.getvalue()


def front_runners(rows: list[Row], count: int) -> list[Row]:
    """Return the ``count`` points with the most frames per second among those swept (not the
    baselines) that succeeded and fit the part (with the cost stage alone, fit is not known:
    among those that succeeded), fastest first, the first of equals first."""
    candidates = [row for row in rows if row.ok and row.fps is not None and not row.point.baseline
                  and (row.fit or row.sweep.stage == "cost")]
    return sorted(candidates, key=lambda row: -row.fps)[:count]


def winner(rows: list[Row]) -> Row | None:
    """Return the first of :func:`front_runners`, or None if there is none."""
    return next(iter(front_runners(rows, 1)), None)
