"""Print what the compiler makes of ResNet-18, and check it bit for bit against numpy.

Usage: python benchmarks/compiler_resnet18.py [--resolution 224] [--width 64] [--seed 0]
                                              [--backend spec] [--json]

Builds ResNet-18 with fixed-seed random int8 weights (:func:`vtaref.compiler.networks.resnet18`;
building calibrates the shifts with one reference run), runs it on one random image node by node
on the backend (the spec, with race checking, by default) and on the CPU int8 reference. Prints
a line per node to stderr as it finishes, then the totals: build, compile and run times,
instructions and micro-ops emitted, DRAM bytes moved, the network's MACs, the ideal cycle count
(MACs / (batch * block_in * block_out)), the cycles the cost model predicts and so the predicted
GEMM utilization (ideal / predicted) (:func:`vtaref.compiler.profiling.totals`). The RTL backend
adds the measured cycles, utilization and counters to each node's line (cycles, GEMM and ALU
visits, compute token waits; ``vta profile`` shows every counter per layer) and to the totals:
the whole network's, and those of the layers TVM-VTA's tsim runs on VTA
(``tsim_layer_cycles``: every node but the stem, the pools and the dense layer), each with its
measured utilization. Exits with status 1 if any node's result differs from the reference.
"""

import argparse
import json
import sys
import time

import numpy as np

# The operators TVM-VTA's ResNet-18 leaves on the CPU, besides the stem (the convolution of the
# image): in the tsim figure of issue 11 they are not counted.
NOT_IN_TSIM = {"max_pool2d", "global_avg_pool", "dense"}


def in_tsim(node, graph) -> bool:
    """Return whether TVM-VTA's tsim runs ``node`` on VTA (not the stem, pools, dense)."""
    return node.op not in NOT_IN_TSIM and graph.input not in node.inputs


def node_line(p, lanes: int) -> str:
    """Return one node's figures as a table row, with the RTL's counters if it counted."""
    name = f"{p.node.output:<20} {p.node.op:<16}"
    if p.cost is None:
        return f"{name} on the host {p.run_seconds * 1e3:8.1f} ms"
    c = p.cost
    utilization = p.macs / lanes / c.predicted_cycles
    line = (f"{name} {p.macs / 1e6:8.1f} M MACs {c.instructions:6d} insns {c.uops:5d} uops "
            f"{c.dram_bytes / 1e6:7.2f} MB {c.predicted_cycles / 1e3:8.1f} k cycles "
            f"{utilization:6.1%} util  compile {p.compile_seconds * 1e3:6.1f} ms  "
            f"run {p.run_seconds * 1e3:7.1f} ms")
    if p.counters is not None:
        counters = p.counters
        line += (f"  measured {counters['cycles'] / 1e3:8.1f} k cycles "
                 f"{p.macs / lanes / counters['cycles']:6.1%} util, visits "
                 f"{counters['gemm_visits'] / 1e3:7.1f} k GEMM {counters['alu_visits'] / 1e3:6.1f}"
                 f" k ALU, compute token wait {counters['compute_token_wait'] / 1e3:6.1f} k")
    return line


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=224)
    parser.add_argument("--width", type=int, default=64, help="channels of the first stage")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", default="spec", help="a name in vtaref.spec.backends.BACKENDS")
    parser.add_argument("--json", action="store_true", help="print the totals only, as JSON")
    args = parser.parse_args()
    from vtaref.compiler.backend import get_backend
    from vtaref.compiler.networks import random_input, resnet18
    from vtaref.compiler.profiling import lanes as macs_per_cycle
    from vtaref.compiler.profiling import totals
    from vtaref.spec import VtaConfig

    config = VtaConfig()
    lanes = macs_per_cycle(config)
    started = time.perf_counter()
    graph = resnet18(args.resolution, args.seed, width=args.width, config=config)
    build_seconds = time.perf_counter() - started
    x = random_input(graph.input_shape, args.seed + 1, config=config)
    profile = graph.profile(x, config=config, backend=get_backend(args.backend),
                            on_node=lambda p: print(node_line(p, lanes), file=sys.stderr))
    started = time.perf_counter()
    expected = graph.trace(x, config=config)
    figures = {"network": f"ResNet-18 {args.resolution}x{args.resolution} width {args.width}",
               "config": config.name, "backend": args.backend,
               "build_seconds": round(build_seconds, 3)}
    figures.update(totals(profile, config))
    figures["reference_seconds"] = round(time.perf_counter() - started, 3)
    if "backend_cycles" in figures:
        tsim = [p for p in profile.nodes if p.cost is not None and in_tsim(p.node, graph)]
        tsim_cycles = sum(p.counters["cycles"] for p in tsim)
        tsim_ideal = sum(p.macs for p in tsim) / lanes
        figures["tsim_layer_cycles"] = tsim_cycles
        figures["tsim_layer_ideal_cycles"] = round(tsim_ideal)
        figures["tsim_layer_measured_gemm_utilization"] = round(tsim_ideal / tsim_cycles, 4)
        figures["backend_cycles_by_node"] = {p.node.output: p.counters["cycles"]
                                             for p in profile.nodes if p.counters is not None}
    differing = [p.node.output for p in profile.nodes
                 if not np.array_equal(profile.tensors[p.node.output], expected[p.node.output])]
    figures["bit_exact"] = not differing
    if differing:
        figures["first_differing_node"] = differing[0]
    print(json.dumps(figures, indent=None if args.json else 2))
    return 0 if figures["bit_exact"] else 1


if __name__ == "__main__":
    sys.exit(main())
