"""``vta dse``: design-space exploration of VTA configurations for a workload and an FPGA part,
on Dask (docs/fpga.md, "Design-space exploration").

Registered on the ``vta`` group by :mod:`vtaref.cli`, whose helpers it uses; the same one-line
errors and all-or-nothing outputs. The work is :mod:`vtaref.fpga.dse`'s; this module parses the
options, runs the jobs (:func:`vtaref.spec.jobs.run_jobs`), reports and writes the outputs.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

import click

from vtaref.cli import (
    Failure,
    _config,
    _given,
    _make_folder,
    _outputs,
    _status_line,
    config_option,
    resnet18_options,
    scheduler_option,
)
from vtaref.cli_hw import FPGA_PARTS

# vtaref.fpga.dse.STAGES and .dse_space.FIELDS' names, spelled out so that `vta` starts
# without amaranth (tests/test_dse.py checks they agree).
STAGES = ("cost", "synth", "pnr")
SWEPT = ("batch", "block", "inp_width", "wgt_width", "acc_width", "log_uop_buff",
         "log_inp_buff", "log_wgt_buff", "log_acc_buff", "alu_mul", "data_width")
SWEPT_HELP = {
    "batch": "BATCH values (powers of two)", "block": "BLOCK values (powers of two)",
    "inp_width": "input bits", "wgt_width": "weight bits", "acc_width": "accumulator bits",
    "log_uop_buff": "log2 of the micro-op buffer's bytes",
    "log_inp_buff": "log2 of the input buffer's bytes",
    "log_wgt_buff": "log2 of the weight buffer's bytes",
    "log_acc_buff": "log2 of the accumulator buffer's bytes",
    "alu_mul": "ALU MUL or not (1, 0)", "data_width": "AXI4 data port bits (64 to 512)",
}
FILES = ("points.csv", "pareto.png", "vta_config.json")
WINNER = "winner"  # the winner's folder in --out: its config, programs and bitstream
BITSTREAM = "vta_core.bit"


def _swept_options(function):
    """Attach an option per swept field, ``--block 8,16``."""
    for name in reversed(SWEPT):
        default = "64" if name == "data_width" else "--config's"
        function = click.option(f"--{name.replace('_', '-')}", name, metavar="LIST",
                                help=f"Comma list of {SWEPT_HELP[name]}. Default: "
                                     f"{default}.")(function)
    return function


@click.command()
@_swept_options
@config_option
@click.option("--workload", default="resnet18", show_default=True, metavar="resnet18|MODEL",
              help="The network each point runs: ResNet-18 (random int8 weights), or a "
                   "quantized ONNX model file (on a --scheduler's cluster, at a path every "
                   "worker reads).")
@resnet18_options
@click.option("--part", type=click.Choice(FPGA_PARTS), default="LFE5U-85F", show_default=True,
              help="The FPGA each point is synthesized for and fitted on.")
@click.option("--stage", type=click.Choice(STAGES), default="pnr", show_default=True,
              help="The last stage per point: cost (cycles from the timing model), synth "
                   "(+ yosys's counts against the part), pnr (+ nextpnr's Fmax).")
@click.option("--freq", type=click.FloatRange(0, min_open=True), default=100.0,
              show_default=True,
              help="MHz: nextpnr's target, and the clock of the figures of a point without "
                   "an Fmax.")
@click.option("--confirm", type=click.IntRange(0), default=2, show_default=True, metavar="N",
              help="Run the workload on the RTL (Verilator) for the N fitting points with the "
                   "most frames per second, for the cycles measured against the model's. Two: "
                   "whether the model ranks the winner and the runner-up as the RTL does.")
@click.option("--bitstream", is_flag=True,
              help=f"Also write the winner's bitstream, OUT/{WINNER}/{BITSTREAM} (placed and "
                   "routed again in a job; ECP5 parts).")
@click.option("--baseline", "baselines", multiple=True, metavar="default|FILE",
              help="A configuration to compare the sweep with: TVM-VTA's default, or a "
                   "vta_config.json file. Evaluated as the points are (with a 64-bit data "
                   "port), marked in points.csv and pareto.png, never the winner. Repeatable.")
@click.option("-j", "--jobs", type=click.IntRange(1),
              help="Points evaluated at once. Default: the CPUs here, or all the scheduler's "
                   "worker threads.")
@scheduler_option
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder of cached results. Default: ~/.cache/vtaref/dse.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for points.csv, pareto.png and the winner's vta_config.json.")
@click.option("--timeout", type=click.FloatRange(0, min_open=True),
              help="Seconds allowed per tool run (yosys, nextpnr).")
def dse(config_path, workload, resolution, width, seed, part, stage, freq, confirm, bitstream,
        baselines, jobs, scheduler, cache_dir, out, timeout, **swept):
    """Sweep VTA configurations for a workload on an FPGA part (design-space exploration).

    Every combination of the swept fields' values (the others from --config) is a point. Each
    point's cycles come from the cost model, its resources from yosys against the part and its
    Fmax from nextpnr, as --stage asks; frames per second are the clock over the cycles. A point
    that fails (a config VTA rejects, a workload that does not compile, a tool that fails or
    times out) is marked with its reason and the sweep goes on. Results are cached per point
    (the tools' per RTLIL of its design), stage and tool version, so a sweep run again, or after
    an interruption, computes only what is missing. The --confirm fitting points with the most
    frames per second then run the workload on the RTL, for the cycles measured against those
    predicted. Writes OUT/points.csv (every point), OUT/pareto.png (frames per second against
    LUTs, DSPs and block RAM) and OUT/vta_config.json (the fitting point with the most frames
    per second), and in OUT/winner its vta_config.json, its programs as images vta conform
    replays and, with --bitstream, its bitstream. Each --baseline is evaluated too and the
    winner compared with it. Exits with status 1 if no point qualifies as the winner.
    """
    from vtaref.fpga import dse as dse_module
    from vtaref.fpga.dse_cache import DEFAULT_FOLDER, Cache, versions
    from vtaref.fpga.dse_plot import plot
    from vtaref.fpga.dse_space import SpaceError, baseline, parse_values, points
    from vtaref.fpga.parts import PARTS
    from vtaref.spec.jobs import JobsError

    space = {}
    for name, text in swept.items():
        if text is not None:
            try:
                space[name] = parse_values(name, text)
            except SpaceError as err:
                raise Failure(f"--{name.replace('_', '-')} {err}") from None
    base = _config(config_path)
    try:
        setup = dse_module.Sweep(_workload(workload, resolution, width, seed), stage, part,
                                 freq, timeout, versions())
    except ValueError as err:
        raise Failure(str(err)) from None
    if bitstream and PARTS[part].nextpnr_device is None:
        raise Failure(f"--bitstream needs an ECP5 part: no open place and route for the "
                      f"{PARTS[part].label}")
    cache = Cache(cache_dir or DEFAULT_FOLDER)
    every_point = points(space, base) + [baseline(_baseline_config(name), name)
                                         for name in dict.fromkeys(baselines)]
    made = not out.is_dir()
    _make_folder(out)
    try:
        with _outputs() as outputs, _status_line("") as show:
            outputs.reserve(out / "points.csv")  # an unwritable folder fails before the sweep
            progress = _Progress(len(every_point), show)
            order = {point: index for index, point in enumerate(every_point)}
            try:
                rows = sorted(_run(every_point, setup, cache, jobs, scheduler, progress),
                              key=lambda row: order[row.point])
                rows = _confirm(rows, confirm, setup, cache, jobs, scheduler, show)
            except JobsError as err:
                raise Failure(str(err)) from None
            outputs.write(out / "points.csv", dse_module.csv_text(rows).encode())
            title = f"{setup.workload.label} on the {part}"
            picture = plot(rows, title)
            if picture is not None:
                outputs.write(out / "pareto.png", picture)
            best = dse_module.winner(rows)
            if best is not None:
                config_text = (json.dumps(best.point.config.to_dict(), indent=2) + "\n").encode()
                outputs.write(out / "vta_config.json", config_text)
                _write_winner(best, config_text, outputs.reserve_folder(out / WINNER),
                              bitstream, jobs, scheduler)
            outputs.commit()
    except Failure:
        if made:
            with contextlib.suppress(OSError):
                out.rmdir()
        raise
    written = ["points.csv", *(["pareto.png"] if picture else []),
               *(["vta_config.json", f"{WINNER}/"] if best else [])]
    for stale in set(FILES) - set(written):  # a former run's, which this one's would replace
        (out / stale).unlink(missing_ok=True)
    if best is None and (out / WINNER).is_dir():
        shutil.rmtree(out / WINNER)
    _summary(rows, best, setup, out, written)


def _write_winner(best, config_text: bytes, folder: Path, bitstream: bool, jobs, scheduler):
    """Fill ``folder`` (the staged OUT/winner) with the winner's vta_config.json, its programs
    as images with their expected_dram.bin from the spec (a numbered folder per node run on
    VTA, as vta compile --save writes them: what vta conform replays) and, with
    ``bitstream``, its bitstream, placed and routed again in a job."""
    from vtaref.compiler import CompileError
    from vtaref.compiler.demo import save_runs
    from vtaref.fpga.dse import bitstream as make_bitstream
    from vtaref.fpga.dse import programs
    from vtaref.fpga.synth import SynthError
    from vtaref.spec import VtaError
    from vtaref.spec.backends import BackendError
    from vtaref.spec.jobs import Job, JobsError, run_jobs
    from vtaref.spec.outputs import OutputError, Outputs

    label = best.point.label
    try:
        (folder / "vta_config.json").write_bytes(config_text)
        recorder, names = programs(best.point, best.sweep)
    except OSError as err:
        raise OutputError(f"cannot write {folder}: {err.strerror}") from None
    except (CompileError, VtaError, BackendError) as err:
        raise Failure(f"the winner {label}'s programs: {err}") from None
    with Outputs() as images:
        save_runs(recorder, names, folder, images)
        images.commit()
    click.echo(f"winner {label}: {len(names)} programs for vta conform")
    if not bitstream:
        return
    try:
        ((_, bits),) = run_jobs([Job(f"{label} bitstream", make_bitstream,
                                     (best.point, best.sweep))], workers=jobs,
                                scheduler=scheduler)
    except (SynthError, ValueError) as err:
        raise Failure(f"the winner {label}'s bitstream: {err}") from None
    except JobsError as err:
        raise Failure(str(err)) from None
    try:
        (folder / BITSTREAM).write_bytes(bits)
    except OSError as err:
        raise OutputError(f"cannot write {folder / BITSTREAM}: {err.strerror}") from None


def _baseline_config(name: str):
    """Return the config --baseline ``name`` names: TVM-VTA's default, or a file's."""
    try:
        return _config(None if name == "default" else Path(name))
    except Failure as err:
        raise Failure(f"--baseline {err.message}") from None


def _workload(name: str, resolution: int, width: int, seed: int):
    """Return the workload --workload names: ResNet-18, or the ONNX model file ``name``."""
    from vtaref.fpga.dse import OnnxModel, ResNet18

    if name == "resnet18":
        return ResNet18(resolution, width, seed)
    for option in ("resolution", "width"):
        if _given(option):
            raise Failure(f"--{option} is ResNet-18's: give --workload resnet18")
    try:
        return OnnxModel.read(name, seed)
    except OSError as err:
        raise Failure(f"--workload {name}: neither resnet18 nor a readable file "
                      f"({err.strerror})") from None


def _run(evaluated, setup, cache, jobs, scheduler, progress, steps=None):
    """Yield a Row per point, through ``steps`` (default: the sweep's): the rejected and wholly
    cached ones first, then each job's as it finishes on Dask, caching its results. A point
    whose design's RTLIL digest is not cached gets it in a first round of jobs (with its cost
    if need be): only then can the cache say whether the steps after it are left, for a second
    round."""
    from vtaref.fpga.dse import Row, plan

    first, second, computed = [], [], {}
    for point in evaluated:
        cached, todo = (({}, ()) if point.config is None
                        else plan(point, setup, cache, steps))
        if not todo:
            row = Row(point, cached, tuple(cached), setup)
            progress.finished(row)
            yield row
            continue
        computed[point] = set()
        first.append(_job(point, setup, todo[:todo.index("design") + 1] if "design" in todo
                          else todo))
    for jobs_round in (first, second):
        for job, results in _finished(jobs_round, setup, cache, jobs, scheduler, progress):
            point = job.args[0]
            computed[point] |= set(results)
            cached, todo = plan(point, setup, cache, steps)
            if job.args[2][-1] == "design" and todo:
                second.append(_job(point, setup, todo))
                progress.paused()
                continue
            row = Row(point, {**cached, **results},
                      tuple(step for step in cached if step not in computed[point]), setup)
            progress.finished(row, job)
            yield row


def _job(point, setup, steps):
    """Return the job that computes ``steps`` of ``point``."""
    from vtaref.fpga.dse import evaluate
    from vtaref.spec.jobs import Job

    return Job(point.label, evaluate, (point, setup, steps))


def _finished(pending, setup, cache, jobs, scheduler, progress):
    """Run the ``pending`` jobs on Dask; yield each with its results once they are cached."""
    from vtaref.fpga.dse import store
    from vtaref.spec.jobs import run_jobs

    if not pending:  # no cluster to start
        return
    for job, results in run_jobs(pending, workers=jobs, scheduler=scheduler,
                                 on_start=progress.started):
        try:
            store(cache, setup, job.args[0], results)
        except OSError as err:
            raise Failure(f"cannot write the cache {cache.folder}: {err.strerror}") from None
        yield job, results


class _Progress:
    """Print a line per point as it finishes (``line(row)``); keep the status line ``show``
    (if any) on the points done, running and left, after ``title``."""

    def __init__(self, total: int, show, line=None, title: str = "vta dse"):
        self.total, self.show = total, show
        self.line, self.title = line or _line, title
        self.done, self.running = 0, 0

    def started(self, job) -> None:
        self.running += 1
        self._update()

    def paused(self) -> None:
        """Note that a point's job ended with more of it to come in a later job."""
        self.running -= 1
        self._update()

    def finished(self, row, job=None) -> None:
        self.done += 1
        self.running -= job is not None
        if self.show is not None:
            self.show("")
        click.echo(self.line(row))
        self._update()

    def _update(self) -> None:
        if self.show is not None:
            left = self.total - self.done - self.running
            self.show(f"{self.title}: {self.done} of {self.total} done, {self.running} "
                      f"running, {left} left")


def _line(row) -> str:
    """Return one point's outcome as a line."""
    if row.point.config is None:
        return f"{row.point.label}: rejected: {row.reason}"
    if not row.ok:
        text = f"{row.point.label}: failed at {row.stage}: {row.reason}"
    else:
        clock = (("Fmax" if row.routing in ("", "timing-driven") else f"Fmax, {row.routing}")
                 if row.fmax_mhz else "nominal")
        text = (f"{row.point.label}: {row.cycles:,} cycles, {row.fps:.2f} fps at "
                f"{row.clock_mhz:g} MHz ({clock})")
        resources = row.resources()
        if resources is not None:
            text += (f"; {resources['luts']} LUTs, {resources['ffs']} FFs, "
                     f"{resources['brams']} BRAMs, {resources['dsps']} DSPs ({row.counted_by})"
                     + ("" if row.fit else f"; {row.reason}"))
    return text + (f" (cached: {'+'.join(row.cached)})" if row.cached else "")


def _rtl_line(row) -> str:
    """Return a front-runner's confirmation on the RTL as a line."""
    rtl = row.results.get("rtl", {})
    if "cycles" not in rtl:
        return f"{row.point.label}: RTL: not confirmed: {rtl.get('error') or row.reason}"
    return (f"{row.point.label}: RTL: {rtl['cycles']:,} cycles measured, "
            f"{rtl['predicted_cycles']:,} predicted ({row.model_error:+.2%})"
            + (" (cached)" if "rtl" in row.cached else ""))


def _confirm(rows, count, setup, cache, jobs, scheduler, show):
    """Return ``rows`` with the ``count`` front-runners' confirmation on the RTL (their
    ``rtl`` result: the cycles measured, or why not)."""
    from vtaref.fpga.dse import CONFIRM_STEPS, Row, front_runners

    runners = [row.point for row in front_runners(rows, count)]
    if not runners:
        return rows
    progress = _Progress(len(runners), show, _rtl_line, "vta dse: RTL confirmation")
    confirmed = {row.point: row for row in _run(runners, setup, cache, jobs, scheduler,
                                                progress, CONFIRM_STEPS)}
    merged = []
    for row in rows:
        if row.point in confirmed:
            done = confirmed[row.point]
            rtl = done.results.get("rtl") or {"error": f"RTL: {done.reason}"}
            row = Row(row.point, {**row.results, "rtl": rtl},
                      row.cached + (("rtl",) if "rtl" in done.cached else ()), setup)
        merged.append(row)
    return merged


def _summary(rows, best, setup, out: Path, written: list[str]) -> None:
    """Print the sweep's counts, the winner and the files written."""
    import sys

    ok = sum(row.ok for row in rows)
    computed = sum(row.point.config is not None and len(row.cached) < len(row.results)
                   for row in rows)
    click.echo(f"{len(rows)} point{'s' if len(rows) > 1 else ''}: {ok} ok, "
               f"{len(rows) - ok} failed; {computed} computed, "
               f"{len(rows) - computed} from the cache or rejected")
    if best is None:
        click.echo("no point " + ("succeeded" if setup.stage == "cost" else "fits")
                   + ": no vta_config.json")
    else:
        click.echo(f"winner: {best.point.label}, {best.fps:.2f} fps at {best.clock_mhz:g} MHz"
                   + (" (fit not checked: --stage cost)" if setup.stage == "cost" else ""))
    for row in rows:
        if row.point.baseline:
            click.echo(_comparison(row, best))
    errors = [row.model_error for row in rows if row.model_error is not None]
    if errors:
        click.echo(f"model against RTL on {len(errors)} front-runner"
                   f"{'s' if len(errors) > 1 else ''} (predicted / measured cycles - 1): "
                   + (f"{errors[0]:+.2%}" if len(errors) == 1
                      else f"{min(errors):+.2%} to {max(errors):+.2%}"))
    if "pareto.png" not in written:
        click.echo("no pareto.png: no point has resource counts (--stage synth or pnr)")
    click.echo(f"wrote {', '.join(written)} in {out}")
    if best is None:
        sys.exit(1)


def _comparison(row, best) -> str:
    """Return the baseline ``row`` against the winner ``best`` (if any) as a line."""
    text = f"baseline {row.point.baseline} ({row.point.config.name}): "
    if not row.ok:
        return text + f"failed at {row.stage}: {row.reason}"
    if row.fit is False:
        text += f"does not fit the part ({row.reason}); "
    text += (f"{row.fps:.2f} fps at {row.clock_mhz:g} MHz "
             f"({'Fmax' if row.fmax_mhz else 'nominal'})")
    if best is None:
        return text
    return text + (f"; the winner has {best.fps / row.fps:.2f}x its frames per second"
                   f" and {best.cycles / row.cycles:.2f}x its cycles")
