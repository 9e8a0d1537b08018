"""``vta compile`` and ``vta infer``: quantized ONNX models on VTA (docs/compiler.md §6).

Registered on the ``vta`` group by :mod:`vtaref.cli`, whose helpers they use; the same one-line
errors and all-or-nothing outputs.
"""

from __future__ import annotations

import io
from pathlib import Path

import click

from vtaref.cli import (
    Failure,
    _backend,
    _config,
    _make_folder,
    _outputs,
    _remove_if_empty,
    backend_options,
    config_option,
)
from vtaref.spec import VtaConfig, VtaError
from vtaref.spec.backends import BackendError, SpecBackend


def _import_onnx(model_path: Path, config: VtaConfig):
    """Return the imported ONNX model, or fail with its one-line reason."""
    from vtaref.compiler.onnx import OnnxImportError, import_model

    try:
        return import_model(model_path, config)
    except OnnxImportError as err:
        raise Failure(str(err)) from None


def _run_onnx(imported, x, config: VtaConfig, backend):
    """Run an imported model on ``backend``; a program that cannot be built or run fails."""
    from vtaref.compiler import CompileError

    try:
        return imported.graph.run(x, config=config, backend=backend)
    except (VtaError, BackendError, CompileError, ValueError) as err:
        raise Failure(str(err)) from None


@click.command(name="compile")
@click.argument("model_path", metavar="MODEL", type=click.Path(path_type=Path))
@config_option
@click.option("--save", type=click.Path(path_type=Path),
              help="Write each program, with its expected_dram.bin, to a numbered folder in "
                   "this one (for vta conform).")
def compile_model(model_path, config_path, save):
    """Compile a quantized ONNX model (QDQ or QOperator) into VTA programs.

    Prints where each ONNX node runs (VTA or the host, and why), then compiles and runs the
    programs on the spec for a fixed random input of the model's shape, since VTA programs
    carry their data.
    """
    from vtaref.compiler.demo import Recorder, save_runs

    config = _config(config_path)
    imported = _import_onnx(model_path, config)
    for line in imported.summary():
        click.echo(line)
    sample = imported.sample(0)
    recorder = Recorder(SpecBackend())
    made = save is not None and not save.is_dir()
    if save:
        _make_folder(save)
    try:
        with _outputs() as outputs:
            _run_onnx(imported, sample, config, recorder)
            instructions = sum(image.insn_count for image, _ in recorder.runs)
            click.echo(f"{len(recorder.runs)} programs, {instructions} instructions for "
                       f"config {config.name}")
            if save:
                names = [p.operator for p in imported.placements if p.where == "vta"]
                folders = save_runs(recorder, names, save, outputs)
                outputs.commit()
                click.echo(f"wrote {', '.join(folders)} in {save}")
    except Failure:
        if made:
            _remove_if_empty(save)
        raise


@click.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(path_type=Path))
@click.argument("input_path", metavar="INPUT.npy", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="Where to write the model's output tensor (.npy).")
@config_option
@backend_options
def infer(model_path, input_path, output, config_path, **options):
    """Run a quantized ONNX model on INPUT.npy and save its output tensor.

    The output is what the model defines: float32 after a final DequantizeLinear, as
    onnxruntime returns it. Nodes VTA cannot run exactly run on the host (see vta compile).
    """
    import numpy as np

    config = _config(config_path)
    backend = _backend(**options)
    imported = _import_onnx(model_path, config)
    try:
        x = np.load(input_path, allow_pickle=False)
    except OSError as err:
        raise Failure(f"{input_path}: cannot read it ({err.strerror or err})") from None
    except (ValueError, EOFError):
        raise Failure(f"{input_path}: not a .npy file holding one array") from None
    if not isinstance(x, np.ndarray):
        raise Failure(f"{input_path}: not a .npy file holding one array")
    if x.shape != imported.input_shape:
        raise Failure(f"{input_path}: shape {x.shape}, but the model takes "
                      f"{imported.input_shape}")
    if x.dtype.kind != imported.input_type.kind:
        raise Failure(f"{input_path}: {x.dtype} values, but the model takes "
                      f"{imported.input_type}")
    result = _run_onnx(imported, x, config, backend)
    buffer = io.BytesIO()
    np.save(buffer, result)
    with _outputs() as outputs:
        outputs.write(output, buffer.getvalue())
        outputs.commit()
    on_vta = sum(p.where == "vta" for p in imported.placements)
    click.echo(f"{model_path}: {on_vta} of {len(imported.placements)} operators on "
               f"{backend.name}; wrote {output} {result.shape} {result.dtype}")
