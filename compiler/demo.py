"""What ``vta demo`` runs: the digits classifier of :mod:`.digits` on a backend, against the CPU.

:func:`demo_digits` trains, quantizes and runs the classifier on a :class:`Recorder` around the
backend, and says each step through ``echo``; the recorder keeps every program image run with
its final DRAM, so that :func:`save_runs` can write them as conformance cases. The bundled
matmul program's demo is :func:`vtaref.spec.examples.demo_matmul`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from vtaref.spec import DEFAULT_CONFIG, ProgramImage, VtaConfig
from vtaref.spec.outputs import OutputError, Outputs

from . import digits
from .backend import Backend
from .graph import ON_VTA


class Recorder:
    """A backend that runs images on another one and keeps each image with its final DRAM."""

    def __init__(self, backend: Backend):
        self.backend = backend
        self.name = backend.name
        self.runs: list[tuple[ProgramImage, bytes]] = []

    def run(self, image: ProgramImage) -> bytes:
        dram = self.backend.run(image)
        self.runs.append((image, dram))
        return dram


def demo_digits(backend: Recorder, config: VtaConfig = DEFAULT_CONFIG,
                echo: Callable[[str], None] = print) -> tuple[bool, list[str]]:
    """Train, quantize and run the digits classifier on ``backend`` and on the CPU.

    Returns whether VTA's logits equal the CPU int8 reference's bit for bit, and the operator
    of each program run, in order. Raises ImportError without scikit-learn.
    """
    train_x, train_y, test_x, test_y = digits.load_split()
    echo(f"digits: {len(train_x)} training and {len(test_x)} test images of 8x8 pixels "
         "(scikit-learn's bundled set)")
    started = time.perf_counter()
    layers = digits.train_cnn(train_x, train_y)
    echo(f"float CNN: {digits.describe(layers)}; trained in "
         f"{time.perf_counter() - started:.1f} s")
    graph = digits.quantize_cnn(layers, train_x, config)
    shifts = ", ".join(str(node.attrs["shift"]) for node in graph.nodes if "shift" in node.attrs)
    echo(f"int8 for VTA {config.name}: power-of-two requantization, shifts {shifts}")
    images = digits.quantize_input(test_x, config)
    started = time.perf_counter()
    on_vta = graph.run(images, config=config, backend=backend)
    instructions = sum(image.insn_count for image, _ in backend.runs)
    echo(f"ran on {backend.name}: {len(backend.runs)} programs, {instructions} "
         f"instructions in {time.perf_counter() - started:.1f} s")
    on_cpu = graph.reference(images, config=config)
    in_float = digits.predict_float(layers, test_x)

    def accuracy(logits: np.ndarray) -> str:
        return f"{(logits.argmax(axis=1) == test_y).mean():.1%}"

    echo(f"accuracy on the {len(test_x)} test images: float {accuracy(in_float)}, "
         f"int8 on the CPU {accuracy(on_cpu)}, int8 on VTA ({backend.name}) {accuracy(on_vta)}")
    differ = int((on_vta.argmax(axis=1) != on_cpu.argmax(axis=1)).sum())
    same = np.array_equal(on_vta, on_cpu)
    echo("VTA predictions identical to the CPU int8 reference: " + (
        "yes (logits bit for bit)" if same else
        f"NO ({differ} predictions differ, {int((on_vta != on_cpu).sum())} logits)"))
    return same, [node.op for node in graph.nodes if node.op in ON_VTA]


def save_runs(recorder: Recorder, names: list[str], folder: Path, outputs: Outputs) -> list[str]:
    """Stage each recorded image, its final DRAM as ``expected_dram.bin``, as a numbered
    subfolder of ``folder`` named after ``names`` in ``outputs`` (they appear when it commits);
    return the subfolders' names. Raises OutputError naming a subfolder that cannot be
    written."""
    subfolders = [f"{index + 1}_{name}" for index, name in enumerate(names)]
    for (image, dram), subfolder in zip(recorder.runs, subfolders):
        image.expected = dram
        staging = outputs.reserve_folder(folder / subfolder)
        try:
            image.save(staging)
        except OSError as err:
            raise OutputError(f"cannot write {folder / subfolder}: {err.strerror}") from None
    return subfolders
