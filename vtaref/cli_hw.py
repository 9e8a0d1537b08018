"""``vta synth``, ``vta export`` and ``vta prove``: the hardware's synthesis, Verilog and
formal proofs (docs/fpga.md, docs/proofs.md).

Registered on the ``vta`` group by :mod:`vtaref.cli`, whose helpers they use; the same one-line
errors and all-or-nothing outputs.
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

import click

from vtaref.cli import (
    Failure,
    _config,
    _flag,
    _given,
    _make_folder,
    _outputs,
    _status_line,
    config_option,
    scheduler_option,
)
from vtaref.spec.jobs import JobsError

# The choices of vtaref.fpga (TARGETS, UNITS, PARTS), spelled out so that `vta` starts without
# amaranth.
FPGA_TARGETS = ("ecp5", "xc7", "xcup")
FPGA_UNITS = ("core", "gemm", "alu")
FPGA_PARTS = ("LFE5U-25F", "LFE5U-45F", "LFE5U-85F", "xc7z020", "xczu7ev")


class _Checked(click.ParamType):
    """``inner`` (a click type), whose rejection of a value is one ``vta: error:`` line naming
    the option, as every bad input is (click's own is a usage message)."""

    def __init__(self, inner: click.ParamType):
        self.inner, self.name = inner, inner.name

    def convert(self, value, param, ctx):
        try:
            return self.inner.convert(value, param, ctx)
        except click.BadParameter as err:
            raise Failure(f"{param.opts[0]}: {err.message}") from None


def _build(unit: str, config, data_width: int, packed: bool = False,
           gemm_dsps: int | None = None):
    """Return the design ``vta synth`` or ``vta export`` maps: ``unit`` of ``config``."""
    from vtaref.fpga import build

    try:
        return build(unit, config, data_width, packed=packed, gemm_dsps=gemm_dsps)
    except ValueError as err:
        raise Failure(str(err)) from None
    except ImportError as err:
        raise Failure(f"cannot build the {unit}: {err}") from None


@click.command()
@config_option
@click.option("--target", type=click.Choice([*FPGA_TARGETS, "all"]), default="all",
              show_default=True, help="Lattice ECP5, Xilinx 7-series or UltraScale+, or all.")
@click.option("--part", "part_names", type=click.Choice(FPGA_PARTS), multiple=True,
              help="Fit the design on this part (repeatable) instead: place and route on ECP5, "
                   "the synthesis counts against the part on Xilinx.")
@click.option("--freq", type=click.FloatRange(0, min_open=True), default=100.0,
              show_default=True, help="With an ECP5 --part: the clock nextpnr aims at, in MHz.")
@click.option("--bitstream", type=click.Path(dir_okay=False, path_type=Path),
              help="With one ECP5 --part: write the bitstream (ecppack) to this file.")
@click.option("--timing-driven/--no-timing-driven", default=None,
              help="With an ECP5 --part: place and route towards --freq, or for wirelength and "
                   "congestion alone (nextpnr's --no-tmdriv; the Fmax is still measured). "
                   "Default: timing-driven unless yosys's LUTs fill over half the part.")
@click.option("--seed", type=_Checked(click.IntRange(0, 2**31 - 1)), metavar="N",
              help="With an ECP5 --part: nextpnr's random seed.")
@click.option("--unit", type=click.Choice(FPGA_UNITS), default="core", show_default=True,
              help="The whole core, or the GEMM or ALU unit with the scratchpads it uses.")
@click.option("--data-width", type=int, default=64, show_default=True,
              help="Bits of the core's AXI4 data port (--unit core only).")
@click.option("--packed", is_flag=True,
              help="The GEMM takes two int8 products per multiplier, as a Xilinx DSP48E1 "
                   "packs them (core and gemm units).")
@click.option("--gemm-dsps", type=_Checked(click.IntRange(0)), metavar="N",
              help="Build N of the GEMM's products on DSP blocks and the others as LUT "
                   "multipliers (core and gemm units). Default: all on DSPs, or with --part as "
                   "many as the smallest part holds.")
@click.option("--check-netlist", "netlist_root", metavar="ROOT",
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Instead: synthesize the core to gates for each config of the conformance "
                   "images under ROOT, simulate that netlist under Verilator on every image "
                   "and compare with the expected DRAM.")
@click.option("--timeout", type=click.FloatRange(0, min_open=True),
              help="Seconds allowed per target (per tool run with --part).")
@click.option("--workdir", type=click.Path(path_type=Path),
              help="Keep the tools' files in this folder, one subfolder per target: RTLIL, "
                   "scripts, logs, netlists, nextpnr's log and report (files of the same names "
                   "are overwritten). Default: a temporary folder.")
def synth(config_path, target, part_names, freq, bitstream, timing_driven, seed, unit,
          data_width, packed, gemm_dsps, netlist_root, timeout, workdir):
    """Synthesize the core, or one unit, for FPGAs with yosys and print what it uses.

    Prints one line per target: logic LUTs, flip-flops, 18 Kbit block RAMs, DSP blocks and
    LUT-RAM cells, and the synthesis time; then the memories not mapped to block RAM, if any.
    With --part, also each part's utilization: on ECP5 after place and route with nextpnr,
    with the Fmax and the critical path. Exits with status 1 if the design has latches, does
    not fit a part, or a tool fails (docs/fpga.md).
    """
    from vtaref.fpga import SynthError, synthesize

    if netlist_root is not None:
        _check_netlist(netlist_root, data_width, timeout)
        return
    if part_names and _given("target"):
        raise Failure("--target and --part choose the same thing: give one")
    for name in ("freq", "bitstream", "timing_driven", "seed"):
        if _given(name) and not any(part.startswith("LFE5U") for part in part_names):
            raise Failure(f"{_flag(name)} needs an ECP5 --part")
    if bitstream and sum(part.startswith("LFE5U") for part in part_names) != 1:
        raise Failure("--bitstream needs exactly one ECP5 --part")
    if workdir is not None:
        _make_folder(workdir)
    config = _config(config_path)
    dsps = _gemm_dsps(unit, config, part_names, gemm_dsps, packed)
    design = _build(unit, config, data_width, packed, dsps)
    click.echo(f"{unit} of VTA {config.name}" + (
        f" with a {data_width}-bit AXI4 port" if unit == "core" else "")
        + (" with packed multipliers" if packed else ""))
    if dsps is not None:
        from vtaref.fpga.budget import gemm_products

        products = gemm_products(config)
        click.echo(f"gemm: {dsps} of its {products} products on DSP blocks, "
                   f"{products - dsps} on LUT multipliers ("
                   + ("--gemm-dsps)" if gemm_dsps is not None else "what the --part holds)"))
    if part_names:
        from vtaref.fpga.pnr import NextpnrOptions

        _fit_parts(design, unit, part_names, freq, NextpnrOptions(seed, timing_driven),
                   bitstream, timeout, workdir)
        return
    for name in FPGA_TARGETS if target == "all" else (target,):
        try:
            with _status_line(f"{name}: yosys ") as progress:
                result = synthesize(design, name, name=f"vta_{unit}", timeout=timeout,
                                    progress=progress,
                                    workdir=None if workdir is None else workdir / name)
        except SynthError as err:
            raise Failure(str(err)) from None
        _report_synthesis(result)


def _gemm_dsps(unit: str, config, part_names, requested: int | None,
               packed: bool) -> int | None:
    """Return how many GEMM products use DSP blocks (None: all): ``requested`` (--gemm-dsps)
    if given, else as many as every one of ``part_names`` holds (all when ``packed``)."""
    from vtaref.fpga import PARTS
    from vtaref.fpga.budget import gemm_dsp_products, gemm_products

    if requested is None:
        return None if packed else gemm_dsp_products(
            unit, config, [PARTS[name] for name in part_names])
    if unit == "alu":
        raise Failure("--gemm-dsps needs a GEMM: the alu has none")
    if packed:
        raise Failure("--gemm-dsps and --packed both choose the GEMM's multipliers: give one")
    products = gemm_products(config)
    if requested > products:
        raise Failure(f"--gemm-dsps {requested}: the GEMM of VTA {config.name} has "
                      f"{products} products")
    return requested


def _check_netlist(root: Path, data_width: int, timeout: float | None) -> None:
    """Run the images under ``root`` on the core's gate netlist (vta synth --check-netlist);
    print a line per case and a summary, and exit with status 1 unless every case passes."""
    from vtaref.fpga.netlist import netlist_backend
    from vtaref.spec.backends import BackendUnavailableError
    from vtaref.spec.conform import check_cases, find_cases

    for name in ("config_path", "target", "part_names", "freq", "bitstream", "timing_driven",
                 "seed", "unit", "packed", "gemm_dsps", "workdir"):
        if _given(name):
            raise Failure(f"--check-netlist checks the whole core of each image's config: "
                          f"it takes no {_flag(name)}")
    cases = find_cases(root)
    if not cases:
        raise Failure(f"{root}: no image with an expected_dram.bin")
    counts = {True: 0, False: 0}
    try:
        backend = netlist_backend(timeout=timeout, data_width=data_width)
        for result in check_cases(cases, backend, root):
            counts[result.passed] += 1
            click.echo(f"PASS {result.name}" if result.passed
                       else f"FAIL {result.name}: {result.detail}")
    except (BackendUnavailableError, ValueError) as err:
        raise Failure(str(err)) from None
    click.echo(f"{counts[True]} passed, {counts[False]} failed")
    sys.exit(1 if counts[False] else 0)


def _report_synthesis(result) -> None:
    """Print a synthesis result and the memories it did not put in block RAM."""
    click.echo(str(result))
    if result.not_in_bram:
        click.echo(f"{result.target}: not in block RAM: " + ", ".join(
            f"{memory} ({kind})" for memory, kind in sorted(result.not_in_bram.items())))


def _fit_parts(design, unit: str, part_names, freq: float, nextpnr, bitstream: Path | None,
               timeout: float | None, workdir: Path | None) -> None:
    """Print how ``design`` fits each part (vta synth --part), placed and routed with
    ``nextpnr`` (:class:`vtaref.fpga.pnr.NextpnrOptions`); write the bitstream if asked."""
    from vtaref.fpga import PARTS, SynthError, fit

    def synthesized(part, result) -> None:
        if part.nextpnr_device is not None:
            click.echo(f"{result.target}: behind the pin wrapper (docs/fpga.md):")
        _report_synthesis(result)

    misfits = []
    with _outputs() as outputs, _status_line("") as show:
        path = outputs.reserve(bitstream) if bitstream else None
        progress = None if show is None else (lambda status: show(f"vta synth: {status}"))
        try:
            for result in fit(design, [PARTS[name] for name in part_names], name=f"vta_{unit}",
                              frequency=freq, nextpnr=nextpnr, bitstream=path,
                              timeout=timeout, workdir=workdir, on_synthesis=synthesized,
                              progress=progress):
                if show is not None:
                    show("")
                click.echo(str(result))
                if result.misfit:
                    misfits.append(result.misfit)
        except SynthError as err:
            raise Failure(str(err)) from None
        if misfits:
            raise Failure("; ".join(misfits))
        if path is not None:
            outputs.commit()
            click.echo(f"wrote {bitstream}")


@click.command()
@config_option
@click.option("--data-width", type=click.Choice(["64", "128", "256", "512"]), default="64",
              show_default=True, help="Bits of the core's AXI4 data port.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="The Verilog file to write (module vta_core).")
def export(config_path, data_width, output):
    """Write the core (AXI4 manager, AXI4-Lite control) as a Verilog module, vta_core.

    Its ports, widths, directions and protocols are listed in docs/fpga.md. Prints the module
    name and its port count.
    """
    from vtaref.fpga import SynthError
    from vtaref.fpga.export import ports, verilog

    config = _config(config_path)
    design = _build("core", config, int(data_width))
    header = (f"vta_core: the VTA core {config.name} with a {data_width}-bit AXI4 port, "
              "written by vta export (vtaref); ports: docs/fpga.md")
    with _outputs() as outputs:
        outputs.reserve(output)
        try:
            text = verilog(design, "vta_core", header)
        except SynthError as err:
            raise Failure(str(err)) from None
        outputs.write(output, text.encode())
        outputs.commit()
    listed = ports(design)
    click.echo(f"wrote {output}: module vta_core, VTA {config.name}, {data_width}-bit AXI4, "
               f"{len(listed)} ports ({sum(port.width for port in listed)} bits)")


@click.command()
@config_option
@click.option("--only", multiple=True, metavar="NAME",
              help="Run only this proof (repeatable), slow or not. Default: every proof that "
                   "is not slow.")
@click.option("--all", "everything", is_flag=True,
              help="Run the slow proofs too (minutes each).")
@click.option("--timeout", type=click.FloatRange(0, min_open=True),
              help="Seconds allowed per proof.")
@click.option("-j", "--jobs", type=click.IntRange(1), metavar="N",
              help="How many proofs to run at once, each in a worker process of a local Dask "
                   "cluster (1: in this process). Default: the number of CPUs.")
@scheduler_option
@click.option("--traces", type=click.Path(file_okay=False, path_type=Path),
              default=Path("proof-traces"), show_default=True,
              help="Folder for the counterexample trace of each proof that fails (NAME.vcd) "
                   "or whose induction does not close (NAME.induction.vcd).")
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write a JUnit XML report of the proofs to this file (for CI).")
def prove(config_path, only, everything, timeout, jobs, scheduler, traces, junit):
    """Run the formal proofs, N at a time: SymbiYosys on the RTL, z3 on the encodings, the
    DRAM addresses and the compiler (docs/proofs.md).

    Prints each proof's name, result, mode, depth, engine and time as it finishes, with the path
    of the counterexample trace of one that fails; the output of any that does not pass goes to
    stderr (a z3 counterexample's values among it). Exits with status 1 unless every proof
    passes; at once if a tool is missing or the scheduler cannot be reached.
    """
    from vtaref.impl.tools import ToolError
    from vtaref.proofs import proofs, run_proofs
    from vtaref.proofs.report import junit_xml

    chosen = proofs(_config(config_path))
    known = [proof.name for proof in chosen]
    unknown = [name for name in only if name not in known]
    if unknown:
        raise Failure(f"unknown proof {unknown[0]!r} (known: {', '.join(known)})")
    chosen = [proof for proof in chosen
              if proof.name in only or not only and (everything or not proof.slow)]
    new_folder = not traces.exists()
    _make_folder(traces)
    started, clock = time.time(), time.perf_counter()
    try:
        with _outputs() as outputs, _status_line("") as show:
            if junit is not None:
                outputs.reserve(junit)
            progress = _ProofProgress(len(chosen), show)
            try:
                results = run_proofs(chosen, jobs=jobs, scheduler=scheduler, timeout=timeout,
                                     traces=traces, verbose=False, on_start=progress.started,
                                     on_result=progress.finished)
            except (ToolError, JobsError) as err:
                raise Failure(str(err)) from None
            if junit is not None:
                outputs.write(junit, junit_xml(results, started=started,
                                               seconds=time.perf_counter() - clock))
                outputs.commit()
    finally:
        if new_folder:
            with contextlib.suppress(OSError):  # only an empty folder goes
                traces.rmdir()
    failed = [f"{result.name} ({result.status})" for result in results if not result.passed]
    click.echo(f"{len(chosen) - len(failed)} passed, {len(failed)} failed"
               + (f": {', '.join(failed)}" if failed else ""))
    sys.exit(1 if failed else 0)


class _ProofProgress:
    """Print each proof's result as it finishes (and its log to stderr unless it passed); keep
    the status line ``show`` (see :func:`_status_line`), if any, on the proofs done and running."""

    def __init__(self, total: int, show):
        self.total, self.show = total, show
        self.done, self.running = 0, []

    def started(self, proof) -> None:
        self.running.append(proof.name)
        self._update()

    def finished(self, result) -> None:
        self.running.remove(result.name)
        self.done += 1
        if self.show is not None:
            self.show("")  # clears the status line for the result line
        click.echo(str(result))
        if not result.passed:
            click.echo(result.log, err=True)
        self._update()

    def _update(self) -> None:
        if self.show is not None:
            self.show(f"vta prove: {self.done} of {self.total} done"
                      + (f", running {', '.join(self.running)}" if self.running else ""))
