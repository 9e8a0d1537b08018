"""The ``vta`` command line.

Every error caused by bad input prints one line, ``vta: error: ...``, and exits with status 1;
no output file is left behind by a failed run.
"""

from __future__ import annotations

import contextlib
import io
import sys
import time
from pathlib import Path

import click
import numpy as np

from vtaref.spec import FLAVORS, ProgramImage, VtaError, run_image
from vtaref.spec.conform import check_case, find_cases
from vtaref.spec.disasm import disassemble
from vtaref.spec.image import write_atomically
from vtaref.spec.runner import DEFAULT_TOKEN_DEPTH
from vtaref.spec.trace import JsonTracer

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


def _run_options(flavor: str, strict: bool, allow_races: bool, token_depth: int) -> dict:
    return {"flavor": FLAVORS[flavor], "strict": strict, "check_races": not allow_races,
            "token_depth": token_depth}


def run_options(function):
    """Attach the options shared by every command that runs programs."""
    decorators = [
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


@contextlib.contextmanager
def _progress(total: int):
    """Yield a progress callback: a bar on an interactive stderr for long programs, else None."""
    if total < PROGRESS_MIN_INSNS or not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=total, label="instructions", file=sys.stderr) as bar:
        yield bar.update


@click.group()
@click.version_option(package_name="vtaref")
def main():
    """vtaref: the reference implementation of the VTA tensor accelerator."""


@main.command()
@click.argument("image_dir", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="Where to write the final DRAM contents (same base and size as dram.bin).")
@click.option("--trace", type=click.Path(path_type=Path),
              help="Write one JSON line per executed instruction to this file.")
@click.option("--backend", type=click.Choice(["spec"]), default="spec", show_default=True,
              help="Which implementation runs the program.")
@run_options
def run(image_dir, output, trace, backend, **options):
    """Run the program image IMAGE_DIR and write the final DRAM to OUTPUT."""
    image = _load(image_dir)
    options = _run_options(**options)
    tracer = options["tracer"] = JsonTracer() if trace else None
    started = time.perf_counter()
    try:
        with _progress(image.insn_count) as update:
            state, stats = run_image(image, progress=update, **options)
    except VtaError as err:
        raise Failure(f"{image_dir}: {err}") from None
    elapsed = time.perf_counter() - started
    try:
        write_atomically(output, state.dram.data.tobytes())
        if tracer is not None:
            lines = io.StringIO()
            tracer.dump(lines)
            write_atomically(trace, lines.getvalue().encode())
    except OSError as err:
        raise Failure(f"cannot write {err.filename}: {err.strerror}") from None
    counts = ", ".join(f"{n} {name}" for name, n in sorted(stats.instructions.items()))
    click.echo(f"{image_dir}: {sum(stats.instructions.values())} instructions ({counts}), "
               f"{stats.macs} MACs in {elapsed:.3f} s; wrote {output}")


@main.command()
@click.argument("image_dir", type=click.Path(path_type=Path))
def disasm(image_dir):
    """Print a readable listing of the program in IMAGE_DIR."""
    image = _load(image_dir)
    start = image.insn_addr - image.dram_base
    raw = image.dram[start:start + image.insn_count * 16]
    for line in disassemble(raw, image.config, image.insn_addr):
        click.echo(line)


@main.command()
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--runner", metavar="CMD",
              help="Check another implementation: a command with {image} and {out} that runs "
                   "the image and writes the final DRAM to {out}. Default: this spec.")
@click.option("--timeout", type=float, default=600.0, show_default=True,
              help="Seconds allowed per case for --runner.")
@click.option("-v", "--verbose", is_flag=True, help="Also print passing cases.")
@run_options
def conform(root, runner, timeout, verbose, **options):
    """Check every image under ROOT that has an expected_dram.bin."""
    cases = find_cases(root)
    if not cases:
        raise Failure(f"{root}: no image with an expected_dram.bin")
    passed = failed = 0
    for case in cases:
        result = check_case(case, root, runner, timeout, **_run_options(**options))
        if result.passed:
            passed += 1
            if verbose:
                click.echo(f"PASS {result.name}")
        else:
            failed += 1
            click.echo(f"FAIL {result.name}: {result.detail}")
    click.echo(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


@main.command()
@click.option("--save", type=click.Path(path_type=Path),
              help="Also write the example image (with expected_dram.bin) to this folder.")
def demo(save):
    """Run the bundled example program (a requantized int8 matmul) and show its result."""
    from vtaref.spec.examples import bundled_example, read_matrices, reference

    image, layout = bundled_example()
    state, stats = run_image(image)
    result = state.dram.data.tobytes()
    matrices = read_matrices(image.config, layout, result, image.dram_base)
    expected = reference(matrices["a"], matrices["b"], layout["shift"], image.config)
    m, k, n = layout["m"], layout["k"], layout["n"]
    click.echo(f"VTA {image.config.name}: C = clip((A @ B) >> {layout['shift']}, -128, 127) "
               f"with A {m}x{k}, B {k}x{n} (int8)")
    click.echo(f"ran {sum(stats.instructions.values())} instructions, {stats.uops} micro-ops, "
               f"{stats.macs} MACs; no races, no deadlock")
    with np.printoptions(linewidth=120):
        click.echo("C =")
        click.echo(str(matrices["c"]))
    same = np.array_equal(matrices["c"], expected)
    click.echo("matches numpy: " + ("yes" if same else "NO"))
    if save:
        image.expected = result
        image.save(save)
        click.echo(f"wrote the image to {save}")
    sys.exit(0 if same else 1)
