"""Check the timing model (compiler/timing.py) against the RTL node by node, and re-fit it.

Usage: python benchmarks/timing_fit.py [--network 224:64] [--network 32:16] [--fit]

Runs ResNet-18 (random int8 weights) at each RESOLUTION:WIDTH given (default: 224:64, the
issue's figure, and 32:16) on the Verilator model of the core, node by node, and prints per node
the RTL's cycles, the model's prediction and its error, then per network the worst and the
total error. With --fit, it then searches the model's parameters (coordinate descent, steps of
1, 2 and 4 cycles, minimizing the worst relative error over every node, then the sum of squared
errors) and prints the fitted Timing with its errors: make those the defaults of
``vtaref.compiler.timing.Timing`` after a change to the RTL's timing.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from vtaref.compiler.networks import random_input, resnet18
from vtaref.compiler.timing import DEFAULT_TIMING, Timing, predict
from vtaref.spec import VtaConfig
from vtaref.spec.runner import fetch

FITTED = ("read_command", "local_command", "write_command", "burst", "load_insn",
          "compute_insn", "store_insn", "gemm_insn", "alu_insn", "fetch_command", "run_overhead")


def measure(resolution: int, width: int, config: VtaConfig) -> list[tuple[str, list, int]]:
    """Return (node, instructions, RTL cycles) for each VTA node of ResNet-18."""
    graph = resnet18(resolution, 0, width=width, config=config)
    x = random_input(graph.input_shape, 1, config=config)
    profile = graph.profile(x, config=config, backend="rtl")
    return [(p.node.output, fetch(p.program.image.make_dram(), p.program.image.insn_addr,
                                  p.program.image.insn_count, config), p.counters["cycles"])
            for p in profile.nodes if p.cost is not None]


def errors(nodes, config: VtaConfig, timing: Timing) -> list[float]:
    """Return predicted / measured - 1 per node."""
    return [predict(insns, config, timing).cycles / cycles - 1 for _, insns, cycles in nodes]


def score(nodes, config: VtaConfig, timing: Timing) -> tuple[float, float]:
    """Return the worst absolute error and the sum of squared errors."""
    errs = errors(nodes, config, timing)
    return max(map(abs, errs)), sum(e * e for e in errs)


def fit(nodes, config: VtaConfig, start: Timing) -> Timing:
    """Return the parameters near ``start`` with the least :func:`score` (coordinate descent)."""
    best, timing = score(nodes, config, start), start
    improved = True
    while improved:
        improved = False
        for name in FITTED:
            for step in (1, -1, 2, -2, 4, -4):
                value = getattr(timing, name) + step
                if value < 0:
                    continue
                candidate = dataclasses.replace(timing, **{name: value})
                result = score(nodes, config, candidate)
                if result < best:
                    best, timing, improved = result, candidate, True
    return timing


def report(networks, config: VtaConfig, timing: Timing) -> None:
    """Print each node's measured and predicted cycles, and each network's errors."""
    for label, nodes in networks.items():
        errs = errors(nodes, config, timing)
        print(f"ResNet-18 {label}: node, RTL cycles, predicted, error")
        for (name, insns, cycles), err in zip(nodes, errs):
            print(f"  {name:20s} {cycles:9d} {predict(insns, config, timing).cycles:9.0f} "
                  f"{err:+6.1%}")
        total = sum(cycles for _, _, cycles in nodes)
        predicted = sum(predict(insns, config, timing).cycles for _, insns, _ in nodes)
        worst = max(range(len(errs)), key=lambda i: abs(errs[i]))
        print(f"  worst {errs[worst]:+.1%} ({nodes[worst][0]}), total {total} RTL, "
              f"{predicted:.0f} predicted ({predicted / total - 1:+.1%})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", action="append", metavar="RESOLUTION:WIDTH",
                        help="a ResNet-18 to measure (repeatable; default 224:64 and 32:16)")
    parser.add_argument("--fit", action="store_true", help="re-fit the model's parameters")
    args = parser.parse_args()
    config = VtaConfig()
    networks = {}
    for network in args.network or ["224:64", "32:16"]:
        resolution, width = map(int, network.split(":"))
        networks[f"{resolution}x{resolution} width {width}"] = measure(resolution, width, config)
    print(f"{DEFAULT_TIMING}")
    report(networks, config, DEFAULT_TIMING)
    if args.fit:
        fitted = fit([node for nodes in networks.values() for node in nodes], config,
                     DEFAULT_TIMING)
        print(f"fitted: {fitted}")
        report(networks, config, fitted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
