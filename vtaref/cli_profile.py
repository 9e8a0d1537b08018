"""``vta profile``: ResNet-18 on VTA layer by layer, as a table, JSON and a PNG (docs/compiler.md).

Registered on the ``vta`` group by :mod:`vtaref.cli`, whose helpers it uses; the same one-line
errors and all-or-nothing outputs.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from vtaref.cli import Failure, _config, _outputs, config_option, resnet18_options
from vtaref.spec import VtaError
from vtaref.spec.backends import BackendError


@click.command()
@resnet18_options
@click.option("--backend", type=click.Choice(["spec", "rtl"]), default="spec", show_default=True,
              help="spec: cycles predicted by the cost model; rtl: counted by the simulated "
                   "core (Verilator), checked against the spec.")
@click.option("--data-width", type=click.Choice(["64", "128", "256", "512"]), default="64",
              show_default=True, help="Bits of the core's AXI4 memory port: the bus ceiling.")
@click.option("--png", "png_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write utilization per layer and a roofline to this PNG file.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the layers and totals as JSON instead of a table.")
@config_option
def profile(resolution, width, seed, backend, data_width, png_path, as_json, config_path):
    """Profile ResNet-18 (random int8 weights) on VTA, node by node.

    Per node: cycles (the RTL's, or predicted), ideal cycles (MACs / GEMM lanes), utilization,
    bytes loaded and stored, and with --backend rtl each stage's busy and token-wait share and
    the cost model's error. Then the totals.
    """
    from vtaref.compiler import CompileError
    from vtaref.compiler.networks import random_input, resnet18
    from vtaref.compiler.profiling import layers, plot, table, totals
    from vtaref.compiler.timing import Timing
    from vtaref.spec.backends import get_backend

    config = _config(config_path)
    bits = int(data_width)
    options = {"data_width": bits} if backend == "rtl" else {}
    title = f"ResNet-18 {resolution}x{resolution} width {width}"
    with _outputs() as outputs:
        if png_path is not None:
            outputs.reserve(png_path)  # a path that cannot be written fails before the run
        try:
            graph = resnet18(resolution, seed, width=width, config=config)
            x = random_input(graph.input_shape, seed + 1, config=config)
            measured = graph.profile(x, config=config, backend=get_backend(backend, **options),
                                     timing=Timing(data_width=bits))
        except (CompileError, VtaError, BackendError, ValueError) as err:
            raise Failure(f"{title}: {err}") from None
        rows = layers(measured, config)
        if png_path is not None:
            outputs.write(png_path, plot(rows, config, bits, title))
        outputs.commit()
    figures = {"network": title, "config": config.name, "backend": backend,
               "data_width": bits, **totals(measured, config)}
    if as_json:
        click.echo(json.dumps({"layers": [row.as_dict() for row in rows], "totals": figures}))
        return
    for line in table(rows):
        click.echo(line)
    click.echo(json.dumps(figures, indent=2))
