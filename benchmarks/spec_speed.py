"""Print the spec's CPU time on the three benchmark images against TVM-VTA's fsim.

Usage: python benchmarks/spec_speed.py [BENCH_DIR] [--repeat N]

BENCH_DIR (default ../shared/bench beside the repository) holds matmul_1g,
resnet18_conv_56x56x64 and resnet18_conv_7x7x512, each a program image with expected_dram.bin.
Every figure is a median over N fresh processes of CPU time (user + system), race checking on;
differences are taken within pairs of back-to-back processes, which meet the same load:

- start-up: ``vta --version`` (the interpreter, numpy and the modules ``vta run`` imports),
  and its excess over ``python -c 'import numpy'``;
- whole: ``vta run IMAGE -o OUT``, whose output must equal expected_dram.bin byte for byte;
- run: whole minus start-up (loading the image, running it, writing DRAM).

Each ratio is fsim's whole-process CPU time (measured with g++ -O2, tvm-vta d4a15f6, listed in
BENCH_DIR/README.md) over the spec's, so >= 1.0 means the spec is at least as fast. The load
average is printed too: other jobs on the machine slow every figure.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

DEFAULT_BENCH = Path(__file__).resolve().parents[2] / "shared" / "bench"
FSIM_CPU_SECONDS = {"matmul_1g": 0.376, "resnet18_conv_56x56x64": 0.044,
                    "resnet18_conv_7x7x512": 0.060}
VTA = [sys.executable, "-m", "vtaref"]
# Measured processes cache their bytecode, as an installed vtaref does (some shells set
# PYTHONDONTWRITEBYTECODE, which makes every start compile all of vtaref again).
ENVIRONMENT = {key: value for key, value in os.environ.items()
               if key != "PYTHONDONTWRITEBYTECODE"}


def cpu_seconds(command: list[str]) -> float:
    """Return the CPU time of one run of ``command`` (which must succeed)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=ENVIRONMENT)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def paired_medians(first: list[str], second: list[str], repeat: int) -> tuple[float, float]:
    """Run ``first`` then ``second`` ``repeat`` times (after one warm-up pair); return the
    median CPU time of ``second`` and the median of its excess over ``first`` in each pair,
    so that both runs of a pair meet the same load."""
    cpu_seconds(first), cpu_seconds(second)
    pairs = [(cpu_seconds(first), cpu_seconds(second)) for _ in range(repeat)]
    return (statistics.median(b for _, b in pairs),
            statistics.median(b - a for a, b in pairs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench", nargs="?", type=Path, default=DEFAULT_BENCH)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    missing = [name for name in FSIM_CPU_SECONDS
               if not (args.bench / name / "expected_dram.bin").is_file()]
    if missing:
        sys.exit(f"spec_speed: error: {args.bench} lacks {', '.join(missing)}: these images "
                 "(and fsim's expected_dram.bin) are not in the repository; ask the project "
                 "for shared/bench, or pass the folder that holds them")
    start_up, over_numpy = paired_medians([sys.executable, "-c", "import numpy"],
                                          VTA + ["--version"], args.repeat)
    report = {"load_average": [round(x, 2) for x in os.getloadavg()],
              "start_up_cpu_s": round(start_up, 3),
              "start_up_over_numpy_import_cpu_s": round(over_numpy, 3),
              "images": {}}
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "out.bin"
        for name, fsim in FSIM_CPU_SECONDS.items():
            image = args.bench / name
            whole, run = paired_medians(VTA + ["--version"],
                                        VTA + ["run", str(image), "-o", str(out)], args.repeat)
            if out.read_bytes() != (image / "expected_dram.bin").read_bytes():
                sys.exit(f"spec_speed: error: {name}: the spec's DRAM differs from fsim's")
            report["images"][name] = {
                "bit_exact": True, "whole_cpu_s": round(whole, 3), "run_cpu_s": round(run, 3),
                "fsim_whole_cpu_s": fsim, "whole_vs_fsim": round(fsim / whole, 2),
                "run_vs_fsim": round(fsim / run, 2) if run > 0 else None}
    report["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
