"""The ``vta`` command line.

Every error caused by bad input prints one line, ``vta: error: ...``, and exits with status 1;
no output file is left behind by a failed run.

``vta run`` is the spec's everyday use, so this module imports only what it needs; other
commands import their own modules when they run.
"""

from __future__ import annotations

import contextlib
import io
import sys
import time
from pathlib import Path

import click

from vtaref.spec import FLAVORS, ProgramImage, VtaConfig, VtaError
from vtaref.spec.backends import (
    Backend,
    BackendError,
    BackendUnavailableError,
    SpecBackend,
    get_backend,
)
from vtaref.spec.jobs import JobsError
from vtaref.spec.outputs import OutputError, Outputs
from vtaref.spec.pipeline import DEFAULT_TOKEN_DEPTH

PROGRESS_MIN_INSNS = 20_000


class Failure(click.ClickException):
    """A one-line error with exit status 1."""

    def show(self, file=None):
        click.echo(f"vta: error: {self.message}", err=True)


def _load(image_dir: Path) -> ProgramImage:
    try:
        return ProgramImage.load(image_dir)
    except VtaError as err:
        raise Failure(str(err)) from None


@contextlib.contextmanager
def _progress(total: int, label: str = "instructions", minimum: int = PROGRESS_MIN_INSNS):
    """Yield a progress callback: a bar on an interactive stderr for ``total`` steps of at
    least ``minimum``, else None."""
    if total < minimum or not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update


class _Commands(click.Group):
    """The ``vta`` group. The hardware commands (:mod:`vtaref.cli_hw`), the ONNX ones
    (:mod:`vtaref.cli_onnx`) and ``vta profile`` (:mod:`vtaref.cli_profile`) live in modules of
    their own that use this one's helpers; they join the group when it is first asked for its
    commands, so either module imports first."""

    def _join_others(self) -> None:
        from vtaref.cli_dse import dse
        from vtaref.cli_hw import export, prove, synth
        from vtaref.cli_onnx import compile_model, infer
        from vtaref.cli_profile import profile

        for command in (synth, export, prove, compile_model, infer, profile, dse):
            self.add_command(command)

    def list_commands(self, ctx):
        self._join_others()
        return super().list_commands(ctx)

    def get_command(self, ctx, name):
        self._join_others()
        return super().get_command(ctx, name)


@click.group(cls=_Commands)
@click.version_option(package_name="vtaref")
def main():
    """vtaref: the reference implementation of the VTA tensor accelerator."""


def backend_options(function):
    """Attach the options that choose and set up the backend of a command that runs programs."""
    decorators = [
        click.option("--backend", default="spec", show_default=True,
                     help="Which implementation runs the programs: the spec, the simulated core "
                          "(rtl, checked against the spec), an external command (external), "
                          "or another name registered in vtaref.spec.backends.BACKENDS."),
        click.option("--runner", metavar="CMD",
                     help="The external backend's command: it gets an image folder as {image} "
                          "and writes the final DRAM to {out}. Implies --backend external."),
        click.option("--timeout", type=float, default=600.0, show_default=True,
                     help="Seconds allowed per program for --runner."),
        click.option("--simulator", type=click.Choice(["verilator", "amaranth"]),
                     default="verilator", show_default=True,
                     help="With --backend rtl: compiled (fast) or Amaranth's simulator."),
        click.option("--data-width", type=click.Choice(["64", "128", "256", "512"]),
                     default="64", show_default=True,
                     help="With --backend rtl: bits of the core's AXI4 memory port."),
        click.option("--bus-stall", type=click.FloatRange(0, 1, max_open=True), default=0.0,
                     show_default=True,
                     help="With --backend rtl: the chance, in each cycle, that DRAM withholds "
                          "each READY and puts off each VALID."),
        click.option("--bus-delay", type=click.IntRange(0), default=0, show_default=True,
                     help="With --backend rtl: DRAM delays each read burst and each write "
                          "response by a random 0..N further cycles."),
        click.option("--bus-seed", type=int, default=0, show_default=True,
                     help="With --backend rtl: the seed of DRAM's random stalls and delays."),
        click.option("--bus-fault", "bus_faults", multiple=True,
                     metavar="read|write:START[-END]:slverr|decerr",
                     help="With --backend rtl: DRAM answers the bursts of that direction that "
                          "touch bytes [START, END) with that error response (repeatable)."),
        click.option("--flavor", type=click.Choice(sorted(FLAVORS)), default="fsim",
                     show_default=True,
                     help="Whose behaviour to follow where TVM-VTA's implementations differ "
                          "(docs/divergences.md)."),
        click.option("--strict", is_flag=True,
                     help="Reject empty uop loops, on which TVM-VTA's implementations differ."),
        click.option("--allow-races", is_flag=True,
                     help="Run racy programs in a fixed stage order instead of failing."),
        click.option("--token-depth", type=click.IntRange(1), default=DEFAULT_TOKEN_DEPTH,
                     show_default=True, help="Hardware depth of each dependency-token queue."),
    ]
    for decorate in reversed(decorators):
        function = decorate(function)
    return function


scheduler_option = click.option(
    "--scheduler", metavar="ADDRESS",
    help="Run the jobs on the Dask cluster whose scheduler is at ADDRESS (such as "
         "tcp://host:8786), -j at a time (default: as many as its workers have threads), "
         "rather than on a local cluster of -j worker processes.")


def _backend(backend: str, runner: str | None, timeout: float, simulator: str, data_width: str,
             bus_stall: float, bus_delay: int, bus_seed: int, bus_faults: tuple[str, ...],
             flavor: str, strict: bool, allow_races: bool, token_depth: int,
             vcd: Path | None = None) -> Backend:
    """Return the backend that the options of :func:`backend_options` (and --vcd) describe."""
    if runner is not None:
        if backend not in ("spec", "external"):
            raise Failure(f"--runner and --backend {backend} are two implementations: choose one")
        backend = "external"
    if vcd and backend != "rtl":
        raise Failure("--vcd needs --backend rtl")
    for name, needs in (("simulator", "rtl"), ("data_width", "rtl"), ("bus_stall", "rtl"),
                        ("bus_delay", "rtl"), ("bus_seed", "rtl"), ("bus_faults", "rtl"),
                        ("timeout", "external")):
        if backend != needs and _given(name):
            raise Failure(f"{_flag(name)} needs --backend {needs}")
    if backend == "rtl" and flavor != "fsim":
        raise Failure("the RTL follows TVM-VTA's functional simulator: use --flavor fsim")
    if backend == "external" and runner is None:
        raise Failure("--backend external needs --runner 'CMD {image} {out}'")
    options = {
        "spec": {"flavor": flavor, "strict": strict, "check_races": not allow_races,
                 "token_depth": token_depth},
        "rtl": {"simulator": simulator, "data_width": int(data_width), "vcd": vcd},
        "external": {"command": runner, "timeout": timeout},
    }
    try:
        if backend == "rtl":
            from vtaref.impl.bus_model import BusFault, BusModel

            options["rtl"]["bus"] = BusModel(bus_stall, bus_delay, bus_seed,
                                             tuple(map(BusFault.parse, bus_faults)))
        return get_backend(backend, **options.get(backend, {}))
    except ValueError as err:
        raise Failure(str(err)) from None
    except ImportError as err:
        raise Failure(f"backend {backend!r} is not available: {err}") from None


@main.command()
@click.argument("image_dir", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="Where to write the final DRAM contents (same base and size as dram.bin).")
@click.option("--trace", type=click.Path(path_type=Path),
              help="Write one JSON line per executed instruction to this file (spec or rtl).")
@click.option("--trace-values", is_flag=True,
              help="With --trace: each line also holds the values written, not only digests.")
@click.option("--vcd", type=click.Path(path_type=Path),
              help="With --backend rtl: write a waveform of the run to this VCD file.")
@backend_options
def run(image_dir, output, trace, trace_values, vcd, **options):
    """Run the program image IMAGE_DIR and write the final DRAM to OUTPUT."""
    image = _load(image_dir)
    backend = _backend(**options, vcd=vcd)
    if trace_values and not trace:
        raise Failure("--trace-values needs --trace FILE")
    if trace and backend.name == "rtl":
        backend.trace = True
    elif trace and not isinstance(backend, SpecBackend):
        raise Failure(f"--trace needs --backend spec or rtl, not {backend.name}")
    tracer = None
    if isinstance(backend, SpecBackend) and trace:
        from vtaref.spec.trace import JsonTracer

        tracer = JsonTracer(values=trace_values)
    with _outputs() as outputs:
        for path in (output, trace):
            if path is not None:
                outputs.reserve(path)
        if vcd is not None:
            backend.vcd = outputs.reserve(vcd)
        started = time.perf_counter()
        try:
            with _progress(image.insn_count if isinstance(backend, SpecBackend) else 0) as update:
                if isinstance(backend, SpecBackend):
                    backend.tracer, backend.progress = tracer, update
                dram = backend.run(image)
        except (VtaError, BackendError) as err:
            if getattr(backend, "last_run", None) is not None:
                _report_rtl(image_dir, backend.last_run)
            raise Failure(f"{image_dir}: {err}") from None
        elapsed = time.perf_counter() - started
        outputs.write(output, dram)
        if trace and tracer is None:
            from vtaref.impl.run import rtl_trace

            tracer = rtl_trace(image, backend.last_run.rtl, values=trace_values)
        if tracer is not None:
            lines = io.StringIO()
            tracer.dump(lines)
            outputs.write(trace, lines.getvalue().encode())
        outputs.commit()
    if isinstance(backend, SpecBackend):
        stats = backend.last_stats
        counts = ", ".join(f"{n} {name}" for name, n in sorted(stats.instructions.items()))
        click.echo(f"{image_dir}: {sum(stats.instructions.values())} instructions ({counts}), "
                   f"{stats.macs} MACs in {elapsed:.3f} s; wrote {output}")
    elif backend.name == "rtl":
        _report_rtl(image_dir, backend.last_run)
        click.echo(f"wrote {output}" + (f" and {vcd}" if vcd else ""))
    else:
        click.echo(f"{image_dir}: ran on {backend.name} in {elapsed:.3f} s; wrote {output}")


@main.command("trace-diff")
@click.argument("trace_a", metavar="A", type=click.Path(path_type=Path))
@click.argument("trace_b", metavar="B", type=click.Path(path_type=Path))
def trace_diff(trace_a, trace_b):
    """Name the first instruction where the traces A and B (vta run --trace) of one program
    differ, the field, and (with --trace-values traces) the differing lanes or bytes.

    Exits with status 0 if the traces agree, 1 if they differ or cannot be compared.
    """
    from vtaref.spec.trace_diff import first_difference, read_trace

    try:
        records = [read_trace(path) for path in (trace_a, trace_b)]
        first = first_difference(*records)
    except VtaError as err:
        raise Failure(str(err)) from None
    if first is None:
        click.echo(f"{trace_a} and {trace_b} agree on all {len(records[0])} instructions")
        return
    click.echo(f"A = {trace_a}, B = {trace_b}: instruction {first.index} ({first.mnemonic}, "
               f"{first.stage} stage) is the first to differ, in {first.field}")
    for detail in first.details:
        click.echo(f"  {detail}")
    sys.exit(1)


def _given(parameter: str) -> bool:
    """Return whether the user set ``parameter`` of the running command (not its default)."""
    source = click.get_current_context().get_parameter_source(parameter)
    return source not in (None, click.core.ParameterSource.DEFAULT)


def _flag(parameter: str) -> str:
    """Return the option the user types for ``parameter`` of the running command."""
    command = click.get_current_context().command
    return next("/".join([param.opts[0], *param.secondary_opts])
                for param in command.params if param.name == parameter)


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise Failure(f"cannot write {folder}: {err.strerror}") from None


@contextlib.contextmanager
def _outputs():
    """Yield a set of output files (:class:`Outputs`); one that cannot be written fails the
    command with one line naming it, and leaves nothing behind."""
    try:
        with Outputs() as outputs:
            yield outputs
    except OutputError as err:
        raise Failure(str(err)) from None


def _report_rtl(image_dir, checked) -> None:
    """Print an RTL run's cycles against the ideal and its per-stage counters."""
    rtl = checked.rtl
    ratio = rtl.cycles / checked.ideal_cycles if checked.ideal_cycles else float("nan")
    click.echo(f"{image_dir}: {rtl.cycles} cycles on the RTL, ideal {checked.ideal_cycles} "
               f"(micro-op visits), ratio {ratio:.3f}; {rtl.seconds:.3f} s simulated, DRAM "
               + ("matches the spec" if checked.matches else "DIFFERS from the spec"))
    for name, value in rtl.counters.items():
        if name != "cycles":
            click.echo(f"  {name:20s} {value:10d}  {value / max(1, rtl.cycles):6.1%}")


@main.command()
@click.argument("image_dir", type=click.Path(path_type=Path))
def disasm(image_dir):
    """Print a readable listing of the program in IMAGE_DIR."""
    from vtaref.spec.disasm import disassemble_image

    for line in disassemble_image(_load(image_dir)):
        click.echo(line)


def _config(path: Path | None) -> VtaConfig:
    """Return the config in the vta_config.json file ``path``, or the default config."""
    if path is None:
        return VtaConfig()
    try:
        return VtaConfig.from_json(path)
    except VtaError as err:
        raise Failure(str(err)) from None


config_option = click.option(
    "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
    help="A vta_config.json file (such as an image's config.json). Default: TVM-VTA's default.")


def resnet18_options(function):
    """Attach the options that size ResNet-18 (vtaref.compiler.networks.resnet18): resolution,
    width and seed."""
    for decorate in reversed([
        click.option("--resolution", type=click.IntRange(1), default=224, show_default=True,
                     help="ResNet-18's input height and width."),
        click.option("--width", type=click.IntRange(1), default=64, show_default=True,
                     help="Channels of ResNet-18's first stage."),
        click.option("--seed", type=int, default=0, show_default=True,
                     help="Seed of the random int8 weights and input."),
    ]):
        function = decorate(function)
    return function


@contextlib.contextmanager
def _status_line(prefix: str):
    """Yield a callback that shows ``prefix`` and a status in place on an interactive stderr,
    or None if stderr is not interactive."""
    if not sys.stderr.isatty():
        yield None
        return
    try:
        yield lambda status: click.echo(f"\r{prefix}{status}\033[K", nl=False, err=True)
    finally:
        click.echo("\r\033[K", nl=False, err=True)


@main.command()
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-v", "--verbose", is_flag=True, help="Also print passing cases.")
@click.option("-j", "--jobs", type=click.IntRange(1), metavar="N",
              help="Cases to run at once, each in a worker process of a local Dask cluster "
                   "(only for a backend that can run several programs at a time). Default: 1, "
                   "in this process.")
@scheduler_option
@click.option("--keep-output", "keep", metavar="KEPT",
              type=click.Path(file_okay=False, path_type=Path),
              help="Keep what each case's run left in KEPT/<case>/: out.bin (the file the "
                   "runner wrote, or the final DRAM), and the runner's stdout.txt and stderr.txt.")
@backend_options
def conform(root, verbose, jobs, scheduler, keep, **options):
    """Check every image under ROOT that has an expected_dram.bin.

    Prints a line for each failing case (with -v, for each case) in the order of the case
    names, whatever order they finish in, then a summary; a wrong DRAM byte comes with a
    listing of the program around the STORE that wrote it. Exits with status 1 unless every
    case passes, and at once if the backend cannot run at all or the scheduler cannot be
    reached.
    """
    from vtaref.spec.conform import check_cases, find_cases

    cases = find_cases(root)
    if not cases:
        raise Failure(f"{root}: no image with an expected_dram.bin")
    backend = _backend(**options)
    if keep is not None:
        _make_folder(keep)
    passed = failed = 0
    with _progress(len(cases), label="cases", minimum=1) as update:
        def echo(line: str) -> None:
            if update is not None:  # clear the bar; its next update draws it below this line
                click.echo("\r\033[K", nl=False, err=True)
            click.echo(line)

        try:
            for result in check_cases(cases, backend, root, jobs=jobs, scheduler=scheduler,
                                      keep=keep, progress=update):
                if result.passed:
                    passed += 1
                    if verbose:
                        echo(f"PASS {result.name}")
                else:
                    failed += 1
                    echo("\n".join([f"FAIL {result.name}: {result.detail}",
                                    *(f"    {line}" for line in result.listing)]))
        except (BackendUnavailableError, OutputError, JobsError) as err:
            raise Failure(str(err)) from None
    click.echo(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


FUZZ_EXAMPLES = 100  # vta fuzz's budget when neither --max-examples nor --seconds is given


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Fuzz this configuration only (a vta_config.json file such as an image's "
                   "config.json). Default: draw one per program, buffers at most 2^6 deep.")
@click.option("--max-examples", type=click.IntRange(1),
              help=f"Stop after this many programs (default {FUZZ_EXAMPLES} unless --seconds "
                   "is given).")
@click.option("--seconds", type=click.FloatRange(0, min_open=True),
              help="Stop drawing programs after this many seconds (a failure being shrunk is "
                   "shrunk to the end).")
@click.option("--db", type=click.Path(file_okay=False, path_type=Path),
              default=Path(".hypothesis/vta-fuzz"), show_default=True,
              help="Hypothesis's example database, shared by campaigns on the same backend "
                   "and config.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("fuzz-findings"), show_default=True,
              help="Where each failure is written as an image folder with expected_dram.bin.")
@backend_options
def fuzz(config_path, max_examples, seconds, db, out, **options):
    """Fuzz a backend against the spec and write each failure as a conformance image.

    Draws programs (random and structured) with Hypothesis, runs each on the spec and on the
    backend, and fails on any difference or backend error. Each failure is shrunk and written
    to OUT/<config>-<hash>/ (once per program), so that `vta conform OUT` with the same backend
    options replays it. Prints a summary line per failure and the totals.

    Exit status: 0 if no failure was found, 1 if any was (or on an error).
    """
    from vtaref.spec.fuzz import Budget, Campaign

    config = _config(config_path) if config_path else None
    backend = _backend(**options)
    target = " ".join(f"{_flag(name)} {value}"
                      for name, value in sorted(options.items()) if _given(name)) or "spec"
    if max_examples is None and seconds is None:
        max_examples = FUZZ_EXAMPLES
    with _status_line("vta fuzz: ") as show:
        progress = None if show is None else (lambda report: show(report.status()))
        campaign = Campaign(backend, target=target, budget=Budget(max_examples, seconds),
                            database=db, findings=out, config=config, progress=progress)
        try:
            report = campaign.run()
        except (BackendUnavailableError, OutputError) as err:
            raise Failure(str(err)) from None
    for line in report.summary(backend.name, config, out):
        click.echo(line)
    sys.exit(1 if report.findings else 0)


@main.command()
@click.option("--matmul", is_flag=True,
              help="Run the bundled example program (a requantized int8 matmul) instead.")
@click.option("--save", type=click.Path(path_type=Path),
              help="Also write each program run, with its expected_dram.bin, to a numbered "
                   "folder in this one (for vta conform).")
@backend_options
def demo(matmul, save, **options):
    """Classify handwritten digits with an int8 CNN on VTA and check it against the CPU.

    Trains a small CNN on scikit-learn's bundled 8x8 digits, quantizes it to int8, and runs it
    on the backend and on the CPU int8 reference; exits with status 1 unless the two agree bit
    for bit. With --matmul, runs the bundled matmul program and checks it against numpy.
    """
    from vtaref.compiler.demo import Recorder, demo_digits, save_runs
    from vtaref.spec.examples import demo_matmul

    recorder = Recorder(_backend(**options))
    made = save is not None and not save.is_dir()
    if save:
        _make_folder(save)  # before the run: a folder that cannot be made fails at once
    try:
        with _outputs() as outputs:
            try:
                if matmul:
                    same, names = demo_matmul(recorder, echo=click.echo)
                else:
                    same, names = demo_digits(recorder, echo=click.echo)
            except (VtaError, BackendError) as err:
                raise Failure(str(err)) from None
            except ImportError as err:  # scikit-learn, which only the digits data set needs
                raise Failure(f"the digits data set needs scikit-learn ({err})") from None
            if save:
                folders = save_runs(recorder, names, save, outputs)
                outputs.commit()
                click.echo(f"wrote {', '.join(folders)} in {save}")
    except Failure:
        if made:
            _remove_if_empty(save)
        raise
    sys.exit(0 if same else 1)
