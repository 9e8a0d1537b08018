"""Print what the compiler makes of a ResNet-style convolution, and how fast the spec runs it.

Usage: python benchmarks/compiler_conv.py [--shape N C H W O K STRIDE PAD] [--repeat N]

The default layer is ResNet-18's 56x56x64 -> 64, 3x3, stride 1, padding 1 (116 M MACs) under the
default configuration. Prints the chosen tiling, compile time (numpy in, program image out), spec
run time with race checking on, the instructions and micro-ops emitted and executed, and checks
the result against the numpy reference.
"""

import argparse
import json
import statistics
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=8, default=[1, 64, 56, 56, 64, 3, 1, 1],
                        metavar=("N", "C", "H", "W", "O", "K", "STRIDE", "PAD"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from vtaref.compiler import reference
    from vtaref.compiler.backend import SpecBackend
    from vtaref.compiler.conv import ConvShape, choose_tiling, compile_conv2d
    from vtaref.compiler.layout import ceil_div
    from vtaref.compiler.runtime import CommandStream
    from vtaref.spec import VtaConfig

    n, c, h, w, o, k, stride, pad = args.shape
    config = VtaConfig()
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, size=(n, c, h, w))
    weights = rng.integers(-128, 128, size=(o, c, k, k))
    bias = rng.integers(-2**16, 2**16, size=o)
    compile_times, run_times = [], []
    for _ in range(args.repeat):
        started = time.perf_counter()
        program = compile_conv2d(x, weights, bias, stride=stride, padding=pad, shift=12,
                                 relu=True, config=config)
        compile_times.append(time.perf_counter() - started)
        backend = SpecBackend()
        started = time.perf_counter()
        result = program.run(backend)
        run_times.append(time.perf_counter() - started)
    expected = reference.conv2d(x, weights, bias, stride=(stride, stride), padding=(pad, pad),
                                shift=12, relu=True, config=config)
    shape = ConvShape(ceil_div(n, config.batch), ceil_div(c, config.block), h, w,
                      ceil_div(o, config.block), k, k, stride, stride, pad, pad)
    tiling = choose_tiling(shape, config, CommandStream(config).kernel_budget)
    stats = backend.last_stats
    print(json.dumps({
        "layer": dict(zip(("N", "C", "H", "W", "O", "K", "stride", "pad"), args.shape)),
        "config": config.name, "tiling": vars(tiling),
        "bit_exact": bool(np.array_equal(result, expected)),
        "compile_seconds_median": round(statistics.median(compile_times), 3),
        "spec_run_seconds_median": round(statistics.median(run_times), 3),
        "instructions": program.stats["instructions"],
        "emitted": {key: value for key, value in program.stats.items() if key != "instructions"},
        "executed": {"instructions": dict(stats.instructions), "uop_visits": stats.uops,
                     "macs": stats.macs, "max_tokens": stats.max_tokens},
    }, indent=2))


if __name__ == "__main__":
    main()
